"""Spatial-MM (Shiri et al., EMNLP 2024; github.com/FatemehShiri/Spatial-MM): what the Obj and Multihop sets share.

The release is JSON lists, one record per question, with no id field. Images are referenced by ``image_name`` (a
bare file name, e.g. ``129d118ad0.jpg``); they are not in the GitHub repository (third-party loaders fetch the
``Spatial_MM_Obj`` image folder from a Google Drive link of the authors' README). Several questions can share one
image, so our id is ``<set>:<image_name>:<k>`` with ``k`` the number of earlier records of that set on the same
image (0 for the first): stable when records are appended or when other images' records move.

Release loaders turn the JSON plus an image folder into a ``datasets.Dataset`` in our row schema (the release's
fields, an ``id`` column and an ``image`` column holding the image bytes). Not verified against the real images.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

from lmms_robust.core.items import LETTERS, ItemError

REPOSITORY = "FatemehShiri/Spatial-MM"
SPLIT = "test"
IMAGE_FIELD = "image"
IMAGE_SUBDIRS = ("Spatial_MM_Obj", "images", "imgs", "data/imgs", "data/images")
"""Where ``load_release`` looks for images when no ``image_dir`` is given (then the release folder itself)."""

_OPTION_LINE = re.compile(r"^\s*\(?([A-Z])\s*[.):]\s*(.*?)\s*$")
_LETTER_ANSWER = re.compile(r"^\s*\(?([A-Z])\s*[.):]\s*(.*?)\s*$|^\s*\(?([A-Z])\)?\s*$")


def _norm(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def split_options(benchmark: str, item_id: str, question: str) -> tuple[str, tuple[str, ...]]:
    """A release question ``"stem\\nA. x\\nB. y"`` -> (stem, options): the trailing lines ``A. ..``, ``B. ..``, ...

    Errors name the item: fewer than two option lines, letters out of order, an empty option or an empty stem.
    """
    lines = str(question).splitlines()
    trailing: list[tuple[str, str]] = []
    while lines:
        match = _OPTION_LINE.match(lines[-1])
        if match is None:
            if lines[-1].strip():
                break
            lines.pop()  # blank line between options or at the end
            continue
        trailing.append((match.group(1), match.group(2)))
        lines.pop()
    trailing.reverse()
    letters = [letter for letter, _ in trailing]
    if len(trailing) < 2:
        raise ItemError(f"{benchmark} item {item_id!r}: found {len(trailing)} option line(s) in the question; "
                        f"Spatial-MM writes 2 or more options as lines 'A. text' after the question: fix the "
                        f"question or drop the row")
    if letters != list(LETTERS[: len(letters)]):
        raise ItemError(f"{benchmark} item {item_id!r}: option letters {letters} are not A, B, C... in order; fix the "
                        f"question or drop the row")
    empty = [letter for letter, text in trailing if not text]
    if empty:
        raise ItemError(f"{benchmark} item {item_id!r}: option(s) {empty} have no text; fix the question or drop the "
                        f"row")
    stem = "\n".join(lines).strip()
    if not stem:
        raise ItemError(f"{benchmark} item {item_id!r}: empty question (only option lines); fix or drop the row")
    return stem, tuple(text for _, text in trailing)


def gold_option(benchmark: str, item_id: str, answer: str, options: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(gold option text, None) for a release answer (``"B. right"``, ``"B"`` or ``"right"``), or (None, why) when
    the answer's letter and text name different options: the release contradicts itself and either reading would be
    a guess, so the item is kept as not_applicable (``Item.defect``).

    A text that is no option leaves the letter to decide; an answer that is neither is an error naming the item.
    """
    raw = str(answer).strip()
    match = _LETTER_ANSWER.match(raw)
    letter, text = (None, raw)
    if match is not None:
        letter = match.group(1) or match.group(3)
        text = match.group(2) if match.group(1) else ""
    by_text = [option for option in options if text and _norm(option) == _norm(text)]
    letter_ok = letter is not None and letter in LETTERS[: len(options)]
    if by_text:
        if letter_ok and _norm(options[LETTERS.index(letter)]) != _norm(by_text[0]):
            return None, (f"answer {raw!r}: its letter {letter} is the option {options[LETTERS.index(letter)]!r} "
                          f"but its text is the option {by_text[0]!r}, so the gold is unknown")
        return by_text[0], None
    if letter_ok:
        return options[LETTERS.index(letter)], None
    raise ItemError(f"{benchmark} item {item_id!r}: gold answer {raw!r} is neither an option's text nor one of the "
                    f"letters {list(LETTERS[: len(options)])} (options {list(options)}); fix the answer or drop the "
                    f"row")


def record_ids(prefix: str, image_names: list[str]) -> list[str]:
    """``<prefix>:<image_name>:<k>``, ``k`` counting earlier records on the same image."""
    seen: dict[str, int] = {}
    ids = []
    for name in image_names:
        k = seen.get(name, 0)
        seen[name] = k + 1
        ids.append(f"{prefix}:{name}:{k}")
    return ids


def find_release_file(release_dir: str | Path, name: str, source: str = f"github.com/{REPOSITORY}") -> Path:
    """``release_dir/name`` or ``release_dir/data/name`` (the GitHub repository keeps files in both places)."""
    release_dir = Path(release_dir)
    candidates = [release_dir / name, release_dir / "data" / name]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"{name} not found: looked for {[str(p) for p in candidates]}; download it from "
                            f"{source} into {release_dir}")


def read_records(path: Path, required: tuple[str, ...]) -> list[dict]:
    """The release JSON: a list of objects, each with the ``required`` keys (an error names the record)."""
    try:
        records = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error}); re-download the release file") from None
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON list of question records, got {type(records).__name__}")
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise ValueError(f"{path}: record {index} is {type(record).__name__}, not an object")
        missing = [key for key in required if key not in record]
        if missing:
            name = record.get("image_name", "<no image_name>")
            raise ValueError(f"{path}: record {index} (image {name!r}) lacks {missing}; the release schema has "
                             f"{list(required)}")
    return records


def image_dirs(release_dir: str | Path, image_dir: str | Path | None,
               subdirs: tuple[str, ...] = IMAGE_SUBDIRS) -> list[Path]:
    """Folders searched for images: ``image_dir`` alone when given, else the usual subfolders, then the release."""
    if image_dir is not None:
        return [Path(image_dir)]
    release_dir = Path(release_dir)
    return [release_dir / sub for sub in subdirs] + [release_dir]


def under(root: Path, name, item_id: str) -> Path:
    """``root / name`` for a file name taken from a release: an absolute name or one with ``..`` would reach out of
    the image folder (a release file can name any path), so it is an error naming the item."""
    relative = PurePosixPath(str(name).replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts or PureWindowsPath(str(name)).drive:
        raise ValueError(f"item {item_id!r}: image path {str(name)!r} leaves the image folder (absolute, or with "
                         f"'..'); a release names images relative to its image folder: fix the release file")
    return Path(root).joinpath(*relative.parts)


def read_image(item_id: str, candidates: list[Path]) -> dict:
    """The first existing candidate as an Image-feature value (bytes embedded, so a saved copy is self-contained);
    a missing or undecodable image is an error naming the item and the paths tried."""
    from PIL import Image

    for path in candidates:
        if path.is_file():
            data = path.read_bytes()
            try:
                with Image.open(io.BytesIO(data)) as image:
                    image.verify()
            except (OSError, SyntaxError, ValueError) as error:  # what PIL raises for a broken or unknown file
                raise ValueError(f"item {item_id!r}: image {path} cannot be decoded ({error}); re-download it") \
                    from None
            return {"bytes": data, "path": path.name}
    raise FileNotFoundError(f"item {item_id!r}: image not found; looked for {[str(p) for p in candidates]}; pass "
                            f"image_dir= the folder holding the release's images")


def text_or_none(value) -> str | None:
    return None if value is None else str(value)
