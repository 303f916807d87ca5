"""MME-RealWorld-Lite (lmms-eval's ``mmerealworld_lite`` task: Hugging Face
``yifanzhang114/MME-RealWorld-lite-lmms-eval``, split ``train``) rows -> Items.

``multi-choice options`` holds "(A) text" strings (A-E; some use full-width parentheses), ``answer`` the gold letter,
``bytes`` the base64 image, ``index`` the id, ``category`` ("Perception/...") and ``l2-category`` the type.

The official release (``MME-RealWorld-Lite.json`` + images; the hub copy needs an access token) is read by
``load_release``. Its rows are ``{"Question_id", "Image", "Text", "Answer choices", "Ground truth", "Task",
"Subtask", "Category", "Question Type" | "Question type", ...}`` (the question-type key is spelled both ways).

Repair (``REPEATED_LETTER_RULE``, recorded in ``Item.repairs``): an option lettered like the option before it is
dropped. The release has two such rows (Prediction_Intention_Ego/0045 and /0089: "(A)".."(D)", then a second
"(D) None of the above", then "(E) All the above answers are wrong." as gold); the gold letter refers to the letters
as written, so dropping the extra option keeps it.
"""

from __future__ import annotations

import base64
import re
import warnings
from collections import Counter
from pathlib import Path

from lmms_robust.benchmarks import spatial_mm
from lmms_robust.benchmarks._common import gold_from_letter, lmms_eval_images, require_fields, require_image
from lmms_robust.core.items import LETTERS, Item, ItemError

BENCHMARK = "mme_realworld_lite"
IMAGE_FIELD = "bytes"
SPLIT = "train"
REQUIRED_FIELDS = ("index", "question", "multi-choice options", "answer", "category", IMAGE_FIELD)
REPEATED_LETTER_RULE = "lmms-robust/mme-repeated-letter/v1"
RELEASE_FILE = "MME-RealWorld-Lite.json"
RELEASE_FIELDS = ("Question_id", "Image", "Text", "Answer choices", "Ground truth", "Task", "Subtask", "Category")
QUESTION_TYPE_KEYS = ("Question Type", "Question type")
IMAGE_SUBDIRS = ("imgs", "images", "data/imgs", "data/images")
_OPTION = re.compile(r"^\s*[(（]\s*([A-Z])\s*[)）]\s*(.*)$", re.DOTALL)


def images(doc: dict) -> list:
    return lmms_eval_images(doc, IMAGE_FIELD, "mme_realworld.utils", "mme_realworld_doc_to_visual")


def options_of(item_id: str, raw_options) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``["(A) x", "(B) y", ...]`` -> (option texts, repairs made); marks must run A, B, C... once the rule ran."""
    marked = []
    for position, raw in enumerate(raw_options):
        match = _OPTION.match(str(raw or ""))
        if match is None:
            raise ItemError(f"{BENCHMARK} item {item_id!r}: option {position + 1} is {raw!r}, expected "
                            f"'({LETTERS[min(position, 25)]}) text'; fix the option list or drop the row")
        marked.append((match.group(1), match.group(2).strip(), raw))
    kept, repairs = [], []
    for letter, text, raw in marked:
        if kept and letter == kept[-1][0]:
            repairs.append(f"{REPEATED_LETTER_RULE}: dropped {str(raw).strip()!r}, a second option lettered {letter}")
            continue
        kept.append((letter, text))
    letters = [letter for letter, _ in kept]
    if letters != list(LETTERS[: len(kept)]):
        raise ItemError(f"{BENCHMARK} item {item_id!r}: option letters {letters} do not run A, B, C...; fix the "
                        f"option list or drop the row")
    return tuple(text for _, text in kept), tuple(repairs)


def to_item(row: dict) -> Item:
    item_id = require_fields(BENCHMARK, row, REQUIRED_FIELDS, "index")
    require_image(BENCHMARK, item_id, row, IMAGE_FIELD)
    options, repairs = options_of(item_id, row["multi-choice options"])
    category = "/".join(str(row[key]) for key in ("category", "l2-category") if row.get(key))
    return Item(benchmark=BENCHMARK, item_id=item_id, question=str(row["question"]), options=options,
                answer=gold_from_letter(BENCHMARK, item_id, row["answer"], options), category=category,
                repairs=repairs)


def features():
    import datasets

    text = datasets.Value("string")
    return datasets.Features({"index": text, "question_id": text, "question": text,
                              "multi-choice options": datasets.Sequence(text), "answer": text, "category": text,
                              "l2-category": text, "image_name": text, IMAGE_FIELD: text})


def load_release(release_dir: str | Path, image_dir: str | Path | None = None):
    """``MME-RealWorld-Lite.json`` + its images -> a Dataset in the lmms-eval hub schema (``bytes``: base64).

    ``index`` is the release's ``Question_id``; the release repeats some rows word for word under one id (77 ids in
    the Lite file), and a repeat gets ``#1``, ``#2``... (a warning counts them). Only multiple-choice rows exist in
    the release; another question type, or none under either spelling of its key, is an error naming the record.
    """
    import datasets

    path = spatial_mm.find_release_file(release_dir, RELEASE_FILE, "github.com/yfzhang114/MME-RealWorld")
    records = spatial_mm.read_records(path, RELEASE_FIELDS)
    dirs = spatial_mm.image_dirs(release_dir, image_dir, IMAGE_SUBDIRS)
    seen: Counter = Counter()
    rows = []
    for number, record in enumerate(records):
        kind = next((record[key] for key in QUESTION_TYPE_KEYS if key in record), None)
        if kind != "Multiple Choice":
            raise ValueError(f"{path}: record {number} ({record['Question_id']!r}): question type {kind!r} under "
                             f"{' or '.join(repr(k) for k in QUESTION_TYPE_KEYS)}; only 'Multiple Choice' rows can "
                             f"become items")
        question_id = str(record["Question_id"])
        repeat = seen[question_id]
        seen[question_id] += 1
        index = question_id if repeat == 0 else f"{question_id}#{repeat}"
        image = spatial_mm.read_image(index, [d / str(record["Image"]) for d in dirs])
        rows.append({"index": index, "question_id": question_id, "question": str(record["Text"]),
                     "multi-choice options": [str(o) for o in record["Answer choices"]],
                     "answer": str(record["Ground truth"]), "category": f"{record['Task']}/{record['Subtask']}",
                     "l2-category": str(record["Category"]), "image_name": str(record["Image"]),
                     IMAGE_FIELD: base64.b64encode(image["bytes"]).decode("ascii")})
    repeats = {qid: n - 1 for qid, n in seen.items() if n > 1}
    if repeats:
        warnings.warn(f"{BENCHMARK}: {sum(repeats.values())} row(s) repeat an earlier row's Question_id "
                      f"({len(repeats)} ids); each repeat is kept as '<id>#k'", stacklevel=2)
    return datasets.Dataset.from_list(rows, features=features())
