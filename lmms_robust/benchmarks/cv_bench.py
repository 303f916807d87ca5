"""CV-Bench (lmms-eval's ``cv_bench`` task: Hugging Face ``nyu-visionx/CV-Bench``, split ``test``) rows -> Items.

``choices`` is the option list, ``answer`` the gold letter in parentheses ("(B)"), ``task`` the question type
(Count, Relation, Depth, Distance), ``idx`` the id.
"""

from __future__ import annotations

from lmms_robust.benchmarks._common import gold_from_letter, lmms_eval_images, require_fields, require_image
from lmms_robust.core.items import Item, ItemError

BENCHMARK = "cv_bench"
IMAGE_FIELD = "image"
REQUIRED_FIELDS = ("idx", "question", "choices", "answer", "task", IMAGE_FIELD)


def images(doc: dict) -> list:
    return lmms_eval_images(doc, IMAGE_FIELD, "cv_bench.utils", "cv_bench_doc_to_visual")


def to_item(row: dict) -> Item:
    item_id = require_fields(BENCHMARK, row, REQUIRED_FIELDS, "idx")
    require_image(BENCHMARK, item_id, row, IMAGE_FIELD)
    choices = row["choices"]
    if any(choice is None for choice in choices):
        raise ItemError(f"{BENCHMARK} item {item_id!r}: a choice is null; fill it in or drop the row")
    options = tuple(str(choice).strip() for choice in choices)
    return Item(benchmark=BENCHMARK, item_id=item_id, question=str(row["question"]), options=options,
                answer=gold_from_letter(BENCHMARK, item_id, row["answer"], options), category=str(row["task"]))
