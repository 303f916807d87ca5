"""MathVista (Hugging Face ``AI4Math/MathVista``, split ``testmini``) rows -> Items."""

from __future__ import annotations

from lmms_robust.core.items import Item, ItemError

BENCHMARK = "mathvista"
IMAGE_FIELD = "decoded_image"
REQUIRED_FIELDS = ("pid", "question", "choices", "answer", "question_type", "answer_type", IMAGE_FIELD)
_ANSWER_TYPES = {"integer": "integer", "float": "float", "list": "list", "text": "text"}


def to_item(row: dict) -> Item:
    """Turn one MathVista row into an Item; a missing field is an error naming the field and the item."""
    missing = [field for field in REQUIRED_FIELDS if field not in row]
    if missing:
        pid = row.get("pid", "<no pid>")
        raise ItemError(
            f"mathvista item {pid!r}: missing field(s) {missing}; a local copy must keep MathVista's schema "
            f"(fields {list(REQUIRED_FIELDS)})"
        )
    pid = str(row["pid"])
    if row[IMAGE_FIELD] is None:
        raise ItemError(f"mathvista item {pid!r}: no image in {IMAGE_FIELD!r}; every item needs its image")
    if row["question_type"] == "multi_choice":
        choices = row["choices"]
        if not choices:
            raise ItemError(f"mathvista item {pid!r}: multi_choice item without choices")
        return Item(
            benchmark=BENCHMARK,
            item_id=pid,
            question=str(row["question"]),
            options=tuple(str(choice) for choice in choices),
            answer=str(row["answer"]),
            answer_type="choice",
            unit=row.get("unit") or None,
        )
    if row["question_type"] != "free_form":
        raise ItemError(f"mathvista item {pid!r}: question_type {row['question_type']!r} is neither multi_choice nor free_form")
    answer_type = _ANSWER_TYPES.get(row["answer_type"])
    if answer_type is None:
        raise ItemError(f"mathvista item {pid!r}: unknown answer_type {row['answer_type']!r}")
    precision = row.get("precision")
    return Item(
        benchmark=BENCHMARK,
        item_id=pid,
        question=str(row["question"]),
        answer=str(row["answer"]),
        answer_type=answer_type,
        precision=int(precision) if precision is not None else None,
        unit=row.get("unit") or None,
    )
