"""Row checks every adapter needs: required fields, lettered option columns, a gold letter's text."""

from __future__ import annotations

import hashlib
import math

from lmms_robust.core.items import LETTERS, ItemError


def is_missing(value) -> bool:
    """None, NaN (how pandas writes a null) or the text "nan" (how some converted sets write an absent option)."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in ("", "nan")


def require_fields(benchmark: str, row: dict, fields: tuple[str, ...], id_field: str) -> str:
    """The row's id as a string; a missing or null field is an ItemError naming the field, the item and the fix."""
    item_id = row.get(id_field)
    label = f"{benchmark} item {str(item_id)!r}" if item_id is not None else f"{benchmark} item <no {id_field}>"
    missing = [field for field in fields if field not in row]
    if missing:
        raise ItemError(f"{label}: missing field(s) {missing}; a local copy must keep {benchmark}'s schema "
                        f"(fields {list(fields)})")
    nulls = [field for field in fields if field != "image" and row[field] is None]
    if nulls:
        raise ItemError(f"{label}: field(s) {nulls} are null; fill them in or drop the row")
    return str(item_id)


def letter_columns(benchmark: str, item_id: str, row: dict, letters: str = LETTERS[:4]) -> tuple[str, ...]:
    """Options stored one per letter column (``A``, ``B``, ...): present columns, in order, with no gap."""
    present = [letter for letter in letters if not is_missing(row.get(letter))]
    expected = list(letters[: len(present)])
    if present != expected:
        raise ItemError(f"{benchmark} item {item_id!r}: option columns {present} have a gap (expected {expected}); "
                        f"fill the missing option or drop the row")
    return tuple(str(row[letter]).strip() for letter in present)


def gold_from_letter(benchmark: str, item_id: str, letter, options: tuple[str, ...]) -> str:
    """The text of the gold letter; a letter outside the options is an error, never a guess."""
    if len(options) < 2:  # said before the gold check, which would blame the answer
        raise ItemError(f"{benchmark} item {item_id!r}: a multiple-choice item needs at least 2 options, got "
                        f"{len(options)}; fix its options or drop the row")
    letter = str(letter).strip().strip("()").strip().upper() if letter is not None else ""
    if len(letter) != 1 or letter not in LETTERS[: len(options)]:
        raise ItemError(f"{benchmark} item {item_id!r}: gold answer {letter!r} is not one of the option letters "
                        f"{list(LETTERS[: len(options)])}; fix the answer or drop the row")
    return options[LETTERS.index(letter)]


def rgb_images(doc: dict, field: str) -> list:
    image = doc.get(field)
    return [image.convert("RGB")] if image is not None else []


def require_image(benchmark: str, item_id: str, row: dict, field: str) -> None:
    if row.get(field) is None:
        raise ItemError(f"{benchmark} item {item_id!r}: no image in {field!r}; every item needs its image: restore it "
                        f"or drop the row")


def lmms_eval_images(doc: dict, field: str, module: str, function: str) -> list:
    """The doc's images through lmms-eval's own loader ``lmms_eval.tasks.<module>.<function>`` (imported on first
    use, so adapters stay importable without lmms-eval); a doc without its image gives none."""
    import importlib

    if doc.get(field) is None:
        return []
    return getattr(importlib.import_module(f"lmms_eval.tasks.{module}"), function)(doc)


def keyed_order(key: str, values) -> list:
    """``values`` sorted by SHA-256 of ``key`` and the value's text: a deterministic permutation per key that
    spreads any one value uniformly over the positions across keys."""
    return sorted(values, key=lambda value: hashlib.sha256(f"{key}\x1f{value}".encode()).hexdigest())
