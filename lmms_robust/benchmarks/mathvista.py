"""MathVista (Hugging Face ``AI4Math/MathVista``, split ``testmini``) rows -> Items.

The Item's category is ``metadata.task`` ("geometry problem solving", "figure question answering", ...) where the
row has one: the natural text generator reasons differently about a geometry figure and a chart.
"""

from __future__ import annotations

import math

from lmms_robust.benchmarks._common import rgb_images
from lmms_robust.core.items import Item, ItemError

BENCHMARK = "mathvista"
IMAGE_FIELD = "decoded_image"
REQUIRED_FIELDS = ("pid", "question", "choices", "answer", "question_type", "answer_type", IMAGE_FIELD)
_ANSWER_TYPES = {"integer": "integer", "float": "float", "list": "list", "text": "text"}


def images(doc: dict) -> list:
    return rgb_images(doc, IMAGE_FIELD)


def to_item(row: dict) -> Item:
    """Turn one MathVista row into an Item; a missing field is an error naming the field and the item."""
    missing = [field for field in REQUIRED_FIELDS if field not in row]
    if missing:
        pid = row.get("pid", "<no pid>")
        raise ItemError(
            f"mathvista item {pid!r}: missing field(s) {missing}; a local copy must keep MathVista's schema "
            f"(fields {list(REQUIRED_FIELDS)})"
        )
    pid = row["pid"]
    # A null is missing data, never the text "None": str(None) would become a question, an option or a gold answer.
    nulls = [field for field in ("pid", "question", "answer", "question_type") if row[field] is None]
    if nulls:
        raise ItemError(f"mathvista item {pid!r}: field(s) {nulls} are null; fill them in or drop the row")
    pid = str(pid)
    metadata = row.get("metadata")
    category = str(metadata["task"]) if isinstance(metadata, dict) and metadata.get("task") else None
    if row[IMAGE_FIELD] is None:
        raise ItemError(f"mathvista item {pid!r}: no image in {IMAGE_FIELD!r}; every item needs its image: restore it "
                        f"or drop the row")
    if row["question_type"] == "multi_choice":
        choices = row["choices"]
        if not choices:
            raise ItemError(f"mathvista item {pid!r}: multi_choice item without choices; give it its choices or drop "
                            f"the row")
        empty = [index for index, choice in enumerate(choices) if choice is None]
        if empty:
            raise ItemError(f"mathvista item {pid!r}: choice(s) at position(s) {empty} are null; fill them in or drop "
                            f"the row")
        return Item(
            benchmark=BENCHMARK,
            item_id=pid,
            question=str(row["question"]),
            options=tuple(str(choice) for choice in choices),
            answer=str(row["answer"]),
            answer_type="choice",
            unit=row.get("unit") or None,
            category=category,
        )
    if row["question_type"] != "free_form":
        raise ItemError(f"mathvista item {pid!r}: question_type {row['question_type']!r} is neither multi_choice nor free_form")
    answer_type = _ANSWER_TYPES.get(row["answer_type"])
    if answer_type is None:
        raise ItemError(f"mathvista item {pid!r}: unknown answer_type {row['answer_type']!r}")
    precision = row.get("precision")
    if isinstance(precision, float) and math.isnan(precision):  # NaN: how pandas writes a null float
        precision = None
    if precision is not None and not (float(precision).is_integer() and float(precision) >= 0):
        raise ItemError(f"mathvista item {pid!r}: precision {precision!r} is not a whole number of decimal places; "
                        f"fix it or drop the row")
    return Item(
        benchmark=BENCHMARK,
        item_id=pid,
        question=str(row["question"]),
        answer=str(row["answer"]),
        answer_type=answer_type,
        precision=int(precision) if precision is not None else None,
        unit=row.get("unit") or None,
        category=category,
    )
