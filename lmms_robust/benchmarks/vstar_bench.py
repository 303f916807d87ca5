"""V*-Bench (lmms-eval's ``vstar_bench`` task: Hugging Face ``lmms-lab-encoder/vstar-bench``, split ``test``) rows
-> Items. ``text`` holds the question followed by its options "(A) ... (B) ..."; ``label`` is the gold letter,
``question_id`` the id, ``category`` (direct_attributes, relative_position) the type."""

from __future__ import annotations

import re

from lmms_robust.benchmarks._common import gold_from_letter, lmms_eval_images, require_fields, require_image
from lmms_robust.core.items import LETTERS, Item, ItemError

BENCHMARK = "vstar_bench"
IMAGE_FIELD = "image"
REQUIRED_FIELDS = ("question_id", "text", "label", "category", IMAGE_FIELD)
_MARK = re.compile(r"\(([A-Z])\)")


def images(doc: dict) -> list:
    return lmms_eval_images(doc, IMAGE_FIELD, "vstar_bench.utils", "vstar_doc_to_visual")


def split_options(item_id: str, text: str) -> tuple[str, tuple[str, ...]]:
    """"Q? (A) x (B) y" -> ("Q?", ("x", "y")); the marks must run A, B, C, ... from the first "(A)"."""
    start = text.find("(A)")
    if start < 0:
        raise ItemError(f"{BENCHMARK} item {item_id!r}: no options '(A) ...' in its text {text[:80]!r}; "
                        f"fix the row or drop it")
    question = text[:start].strip()
    marks = [m for m in _MARK.finditer(text, start)]
    # Only the run A, B, C, ... counts as option marks; a later "(A)" inside an option's words is text.
    run = []
    for mark in marks:
        if mark.group(1) == LETTERS[len(run)]:
            run.append(mark)
    options = []
    for index, mark in enumerate(run):
        end = run[index + 1].start() if index + 1 < len(run) else len(text)
        option = text[mark.end():end].strip()
        if index + 1 == len(run):
            option = option.split("\n")[0].strip()  # an instruction line after the last option is not the option
        options.append(option)
    if any(not option for option in options):
        raise ItemError(f"{BENCHMARK} item {item_id!r}: an empty option in {text[start:start + 120]!r}; fix the row")
    return question, tuple(options)


def to_item(row: dict) -> Item:
    item_id = require_fields(BENCHMARK, row, REQUIRED_FIELDS, "question_id")
    require_image(BENCHMARK, item_id, row, IMAGE_FIELD)
    question, options = split_options(item_id, str(row["text"]))
    return Item(benchmark=BENCHMARK, item_id=item_id, question=question, options=options,
                answer=gold_from_letter(BENCHMARK, item_id, row["label"], options), category=str(row["category"]))
