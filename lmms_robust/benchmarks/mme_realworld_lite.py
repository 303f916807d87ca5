"""MME-RealWorld-Lite (lmms-eval's ``mmerealworld_lite`` task: Hugging Face
``yifanzhang114/MME-RealWorld-lite-lmms-eval``, split ``train``) rows -> Items.

``multi-choice options`` holds "(A) text" strings (A-E; some use full-width parentheses), ``answer`` the gold letter,
``bytes`` the base64 image, ``index`` the id, ``category`` ("Perception/...") and ``l2-category`` the type.
"""

from __future__ import annotations

import re

from lmms_robust.benchmarks._common import gold_from_letter, lmms_eval_images, require_fields, require_image
from lmms_robust.core.items import LETTERS, Item, ItemError

BENCHMARK = "mme_realworld_lite"
IMAGE_FIELD = "bytes"
REQUIRED_FIELDS = ("index", "question", "multi-choice options", "answer", "category", IMAGE_FIELD)
_OPTION = re.compile(r"^\s*[(（]\s*([A-Z])\s*[)）]\s*(.*)$", re.DOTALL)


def images(doc: dict) -> list:
    return lmms_eval_images(doc, IMAGE_FIELD, "mme_realworld.utils", "mme_realworld_doc_to_visual")


def to_item(row: dict) -> Item:
    item_id = require_fields(BENCHMARK, row, REQUIRED_FIELDS, "index")
    require_image(BENCHMARK, item_id, row, IMAGE_FIELD)
    options = []
    for position, raw in enumerate(row["multi-choice options"]):
        match = _OPTION.match(str(raw or ""))
        if match is None or match.group(1) != LETTERS[position]:
            raise ItemError(f"{BENCHMARK} item {item_id!r}: option {position + 1} is {raw!r}, expected "
                            f"'({LETTERS[position]}) text'; fix the option list or drop the row")
        options.append(match.group(2).strip())
    options = tuple(options)
    category = "/".join(str(row[key]) for key in ("category", "l2-category") if row.get(key))
    return Item(benchmark=BENCHMARK, item_id=item_id, question=str(row["question"]), options=options,
                answer=gold_from_letter(BENCHMARK, item_id, row["answer"], options), category=category)
