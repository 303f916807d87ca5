"""Spatial-MM Obj (Spatial-Obj: one- and two-object questions, multiple choice) rows -> Items.

Release files (github.com/FatemehShiri/Spatial-MM): ``spatial_mm_one_obj.json`` and ``spatial_mm_two_obj.json``,
each a list of ``{"image_name", "question", "answer", "object1", "object2"}``. The options are lines of the
question (``"Where is dog located from camera's perspective?\\nA. left\\nB. right\\nC. behind\\nD. top left"``),
2 or 4 of them; ``answer`` is ``"B. right"``; ``object2`` is empty for one-object questions.

Our row schema (what ``load_release`` writes): those five fields, ``subset`` (``one_obj``/``two_obj``, the file a
row came from, used as the Item's category), ``id`` (``<subset>:<image_name>:<k>``, see ``spatial_mm``) and
``image`` (an Image feature). The Item's question is the stem without the option lines; options keep the
release's order. An answer whose letter and text disagree (the release has six, e.g. ``"C. middle"`` where C is
``left``) gives no gold: the item is kept as not_applicable in every variant (``Item.defect``, counted), never
settled by a guess; ``load_release`` warns with their ids.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from lmms_robust.benchmarks import spatial_mm
from lmms_robust.benchmarks._common import require_fields, require_image, rgb_images
from lmms_robust.core.items import Item, ItemError

BENCHMARK = "spatial_mm_obj"
IMAGE_FIELD = spatial_mm.IMAGE_FIELD
SPLIT = spatial_mm.SPLIT
RELEASE_FILES = {"one_obj": "spatial_mm_one_obj.json", "two_obj": "spatial_mm_two_obj.json"}
RELEASE_FIELDS = ("image_name", "question", "answer", "object1", "object2")
REQUIRED_FIELDS = ("id", "question", "answer", "subset", IMAGE_FIELD)


def images(doc: dict) -> list:
    return rgb_images(doc, IMAGE_FIELD)


def to_item(row: dict) -> Item:
    item_id = require_fields(BENCHMARK, row, REQUIRED_FIELDS, "id")
    require_image(BENCHMARK, item_id, row, IMAGE_FIELD)
    stem, options = spatial_mm.split_options(BENCHMARK, item_id, row["question"])
    gold, conflict = spatial_mm.gold_option(BENCHMARK, item_id, row["answer"], options)
    return Item(benchmark=BENCHMARK, item_id=item_id, question=stem, options=options, answer=gold or "",
                category=str(row["subset"]), defect=conflict)


def features():
    import datasets

    text = datasets.Value("string")
    return datasets.Features({"id": text, "subset": text, **{field: text for field in RELEASE_FIELDS},
                              IMAGE_FIELD: datasets.Image()})


def load_release(release_dir: str | Path, image_dir: str | Path | None = None):
    """The release JSON files + their images -> a Dataset in our row schema (one_obj rows, then two_obj rows).

    ``image_dir``: the folder holding the images (the authors' ``Spatial_MM_Obj`` folder); by default
    ``release_dir`` and its usual subfolders are searched. A missing file or image is an error naming its path.
    """
    import datasets

    dirs = spatial_mm.image_dirs(release_dir, image_dir)
    records = []
    for subset, name in RELEASE_FILES.items():
        path = spatial_mm.find_release_file(release_dir, name)
        rows = spatial_mm.read_records(path, ("image_name", "question", "answer"))
        ids = spatial_mm.record_ids(subset, [str(row["image_name"]) for row in rows])
        for item_id, row in zip(ids, rows, strict=True):
            record = {"id": item_id, "subset": subset,
                      **{field: spatial_mm.text_or_none(row.get(field)) for field in RELEASE_FIELDS}}
            record[IMAGE_FIELD] = spatial_mm.read_image(item_id, [spatial_mm.under(d, row["image_name"], item_id)
                                                                for d in dirs])
            records.append(record)
    _warn_conflicts(records)
    return datasets.Dataset.from_list(records, features=features())


def _warn_conflicts(records: list[dict]) -> None:
    conflicts = []
    for record in records:
        try:
            _, options = spatial_mm.split_options(BENCHMARK, record["id"], record["question"] or "")
            _, conflict = spatial_mm.gold_option(BENCHMARK, record["id"], record["answer"] or "", options)
        except ItemError:
            continue  # to_item reports it, naming the item, when the task runs
        if conflict:
            conflicts.append(record["id"])
    if conflicts:
        warnings.warn(f"{BENCHMARK}: {len(conflicts)} answer(s) whose letter and text disagree have no gold; they stay "
                      f"in the split as not_applicable: {conflicts[:20]}{' ...' if len(conflicts) > 20 else ''}",
                      stacklevel=3)
