"""WhatsUp (Kamath et al., EMNLP 2023; github.com/amitakamath/whatsup_vlms), Controlled_Images A and B -> Items.

Release files: ``controlled_images_dataset.json`` (subset A, photographs, relations on/under/left of/right of) and
``controlled_clevr_dataset.json`` (subset B, CLEVR renders, in front of/behind/left of/right of), each a list of
``{"image_path": "data/controlled_images/beer-bottle_on_armchair.jpeg", "caption_options": [4 captions]}`` where
the FIRST caption is always the correct one (the repository's README). The images come as ``controlled_images`` and
``controlled_clevr`` folders (archives on the authors' Google Drive); the relation is in the file name.

A caption-choice item becomes a multiple-choice question: ``QUESTION``, options = the captions ordered by SHA-256
of (item id, caption) (``keyed_order``), gold = the release's first caption. Without the reordering the gold would
always be A. The order depends on the item id and the caption texts only, not on the release's order.

Our row schema (what ``load_release`` writes): ``image_path`` and ``caption_options`` as released (first = gold),
``subset`` (``controlled_a``/``controlled_b``), ``id`` (``<subset>:<image file name>:<k>``, ``k`` counting earlier
rows on the same image, so 0 in the release) and ``image`` (an Image feature). The Item's category is the relation
of the image file name (``left_of``, ``right_of``, ``on``, ``under``, ``in-front_of``, ``behind``), the grouping
the authors' evaluation reports. Not verified against the real release files.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from lmms_robust.benchmarks import spatial_mm
from lmms_robust.benchmarks._common import keyed_order, require_fields, require_image, rgb_images
from lmms_robust.core.items import Item, ItemError

BENCHMARK = "whatsup"
IMAGE_FIELD = "image"
SPLIT = "test"
QUESTION = "Which caption best describes the image?"
REPOSITORY = "amitakamath/whatsup_vlms"
SUBSETS = {
    "controlled_a": ("controlled_images_dataset.json", "controlled_images"),
    "controlled_b": ("controlled_clevr_dataset.json", "controlled_clevr"),
}
"""subset -> (annotation file, image folder) as the authors' loader names them."""
RELATIONS = ("left_of", "right_of", "in-front_of", "behind", "under", "on")
REQUIRED_FIELDS = ("id", "image_path", "caption_options", IMAGE_FIELD)


def relation(image_path: str) -> str | None:
    """The relation token of a WhatsUp image file name (``mug_left_of_plate.jpeg`` -> ``left_of``), or None."""
    name = PurePosixPath(str(image_path)).name.lower()
    for token in RELATIONS:
        if f"_{token}_" in name:
            return token
    return None


def images(doc: dict) -> list:
    return rgb_images(doc, IMAGE_FIELD)


def to_item(row: dict) -> Item:
    item_id = require_fields(BENCHMARK, row, REQUIRED_FIELDS, "id")
    require_image(BENCHMARK, item_id, row, IMAGE_FIELD)
    captions = row["caption_options"]
    if isinstance(captions, str) or not hasattr(captions, "__iter__"):
        raise ItemError(f"{BENCHMARK} item {item_id!r}: caption_options must be a list of captions, got "
                        f"{type(captions).__name__}; keep the release's schema")
    captions = list(captions)
    empty = [index for index, caption in enumerate(captions) if caption is None or not str(caption).strip()]
    if empty:
        raise ItemError(f"{BENCHMARK} item {item_id!r}: caption(s) at position(s) {empty} are empty; fill them in or "
                        f"drop the row")
    if len(captions) < 2:
        raise ItemError(f"{BENCHMARK} item {item_id!r}: {len(captions)} caption option(s); a caption-choice item "
                        f"needs the correct caption first and at least one wrong one; fix or drop the row")
    captions = [" ".join(str(caption).split()) for caption in captions]
    return Item(benchmark=BENCHMARK, item_id=item_id, question=QUESTION, options=tuple(keyed_order(item_id, captions)),
                answer=captions[0], category=relation(row["image_path"]))


def features():
    import datasets

    text = datasets.Value("string")
    return datasets.Features({"id": text, "subset": text, "image_path": text,
                              "caption_options": datasets.Sequence(text), IMAGE_FIELD: datasets.Image()})


def load_release(release_dir: str | Path, image_dir: str | Path | None = None,
                 subsets: tuple[str, ...] = tuple(SUBSETS)):
    """The release JSON files + image folders -> a Dataset in our row schema (subset A rows, then B rows).

    The JSON files are looked for in ``release_dir`` and ``release_dir/data``. An ``image_path`` such as
    ``data/controlled_images/x.jpeg`` is resolved against ``image_dir`` (default ``release_dir``): the path as
    written, without its leading ``data/``, in the subset's image folder, then the bare file name. A missing file
    or image is an error naming the paths tried.
    """
    import datasets

    unknown = [subset for subset in subsets if subset not in SUBSETS]
    if unknown:
        raise ValueError(f"unknown WhatsUp subset(s) {unknown}; known: {list(SUBSETS)}")
    root = Path(image_dir) if image_dir is not None else Path(release_dir)
    records = []
    for subset in subsets:
        annotation, folder = SUBSETS[subset]
        path = spatial_mm.find_release_file(release_dir, annotation,
                                            f"the Google Drive folder linked in github.com/{REPOSITORY}")
        rows = spatial_mm.read_records(path, ("image_path", "caption_options"))
        ids = spatial_mm.record_ids(subset, [PurePosixPath(str(row["image_path"])).name for row in rows])
        for item_id, row in zip(ids, rows, strict=True):
            captions = row["caption_options"]
            if not isinstance(captions, list):
                raise ValueError(f"{path}: item {item_id!r}: caption_options is {type(captions).__name__}, not a list")
            records.append({"id": item_id, "subset": subset, "image_path": str(row["image_path"]),
                            "caption_options": [spatial_mm.text_or_none(c) for c in captions],
                            IMAGE_FIELD: spatial_mm.read_image(item_id, _image_candidates(
                                root, folder, str(row["image_path"]), item_id))})
    return datasets.Dataset.from_list(records, features=features())


def _image_candidates(root: Path, folder: str, image_path: str, item_id: str) -> list[Path]:
    pure = PurePosixPath(image_path)
    parts = pure.parts[1:] if pure.parts and pure.parts[0] == "data" else pure.parts
    candidates = [spatial_mm.under(root, image_path, item_id), spatial_mm.under(root, "/".join(parts), item_id),
                  spatial_mm.under(root / folder, pure.name, item_id), spatial_mm.under(root, pure.name, item_id)]
    unique: list[Path] = []
    for candidate in candidates:
        if candidate not in unique:
            unique.append(candidate)
    return unique
