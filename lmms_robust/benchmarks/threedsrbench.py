"""3DSRBench (lmms-eval's ``3dsrbench`` task: Hugging Face ``oscarqjh/3DSRBench_lmmseval``, config ``3dsr``, split
``test``) rows -> Items. Options sit in columns ``A``-``D`` (absent ones empty or "nan"); ``answer`` is the letter."""

from __future__ import annotations

from lmms_robust.benchmarks._common import (gold_from_letter, letter_columns, lmms_eval_images, require_fields,
                                            require_image)
from lmms_robust.core.items import Item

BENCHMARK = "3dsrbench"
IMAGE_FIELD = "image"
REQUIRED_FIELDS = ("qid", "question", "answer", "category", IMAGE_FIELD)


def images(doc: dict) -> list:
    return lmms_eval_images(doc, IMAGE_FIELD, "3dsrbench.utils", "doc_to_visual")


def to_item(row: dict) -> Item:
    item_id = require_fields(BENCHMARK, row, REQUIRED_FIELDS, "qid")
    require_image(BENCHMARK, item_id, row, IMAGE_FIELD)
    options = letter_columns(BENCHMARK, item_id, row)
    return Item(benchmark=BENCHMARK, item_id=item_id, question=str(row["question"]), options=options,
                answer=gold_from_letter(BENCHMARK, item_id, row["answer"], options), category=str(row["category"]))
