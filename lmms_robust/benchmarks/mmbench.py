"""MMBench, English dev (lmms-eval's ``mmbench_en_dev`` task: Hugging Face ``lmms-lab-encoder/MMBench``, config
``en``, split ``dev``) rows -> Items. Options in columns ``A``-``E``; a non-empty ``hint`` goes before the question
as lmms-eval does; ``index`` is the id, ``category`` the question type."""

from __future__ import annotations

from lmms_robust.benchmarks._common import (gold_from_letter, is_missing, letter_columns, lmms_eval_images,
                                            require_fields, require_image)
from lmms_robust.core.items import LETTERS, Item

BENCHMARK = "mmbench_en_dev"
IMAGE_FIELD = "image"
REQUIRED_FIELDS = ("index", "question", "hint", "answer", "category", IMAGE_FIELD)


def images(doc: dict) -> list:
    return lmms_eval_images(doc, IMAGE_FIELD, "mmbench.en_utils", "mmbench_doc_to_visual")


def to_item(row: dict) -> Item:
    item_id = require_fields(BENCHMARK, row, tuple(f for f in REQUIRED_FIELDS if f != "hint"), "index")
    if "hint" not in row:
        require_fields(BENCHMARK, row, REQUIRED_FIELDS, "index")  # names the missing hint column
    require_image(BENCHMARK, item_id, row, IMAGE_FIELD)
    options = letter_columns(BENCHMARK, item_id, row, LETTERS[:5])
    question = str(row["question"]).strip()
    if not is_missing(row["hint"]):
        question = f"{str(row['hint']).strip()}\n{question}"
    return Item(benchmark=BENCHMARK, item_id=item_id, question=question, options=options,
                answer=gold_from_letter(BENCHMARK, item_id, row["answer"], options), category=str(row["category"]))
