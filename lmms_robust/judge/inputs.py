"""What the judge is shown, rebuilt from one lmms-eval sample line (``--log_samples``). Pure.

A sample line holds our per-item record under each metric key (``sample["acc"]``), the doc without its image
(``sample["doc"]["lr_perturbation"]``: the item as shown, prefill included) and the response as our filter kept it
(``sample["filtered_resps"][0]``, JSON from ``encode_response``; ``sample["resps"]`` is the raw fallback). The
judged turn is the prefill plus the response, split at the think block exactly as the rule parser does.
"""

from __future__ import annotations

import json

from lmms_robust.core.items import LETTERS
from lmms_robust.core.parse import split_think
from lmms_robust.core.scoring import METRICS
from lmms_robust.harness.filters import decode_response

__all__ = ["judge_input", "response_text", "rule_label"]


def rule_label(record: dict) -> str | None:
    """The rule parser's verdict in the judge's vocabulary, for items the judge would see.

    ``consistent``/``inconsistent`` from ``record["consistent"]``; a parsed answer whose CoT concluded nothing
    (``consistent`` None) is ``no_conclusion``; not applicable or unparsed: None.
    """
    if not record.get("consistency_applicable", True) or record.get("status") != "ok":
        return None
    consistent = record.get("consistent")
    if consistent is None:
        return "no_conclusion"
    return "consistent" if consistent else "inconsistent"


def response_text(sample: dict) -> str:
    """The model's response (without the prefill) from a sample line."""
    filtered = sample.get("filtered_resps")
    if isinstance(filtered, list) and filtered:
        return decode_response(filtered[0])[0]
    raw = sample.get("resps")
    while isinstance(raw, list):
        raw = raw[0] if raw else ""
    return decode_response(raw)[0]


def judge_input(sample: dict, *, task: str | None = None, model: str | None = None) -> dict:
    """The ``records_with_text`` entry of ``judge_records`` for one sample line.

    Raises:
        ValueError: the line holds no lmms-robust record.
    """
    record = next((sample[m] for m in METRICS if isinstance(sample.get(m), dict) and "item_id" in sample[m]), None)
    if record is None:
        raise ValueError("sample line holds no lmms-robust per-item record (no metric key with an item_id)")
    doc = sample.get("doc") or {}
    payload = {}
    if isinstance(doc.get("lr_perturbation"), str):
        try:
            payload = json.loads(doc["lr_perturbation"])
        except json.JSONDecodeError:
            payload = {}
    item = payload.get("item") or {}
    option_texts = [str(t) for t in item.get("options") or ()]
    options = list(zip(LETTERS, option_texts))
    prefill = record.get("prefill") if record.get("prefill") is not None else payload.get("prefill")
    cot, _ = split_think((prefill or "") + response_text(sample))
    answer = record.get("answer") if record.get("status") == "ok" else None
    answer_text = None
    if answer is not None and options and len(str(answer)) == 1 and str(answer) in LETTERS[: len(options)]:
        answer_text = option_texts[LETTERS.index(str(answer))]
    question = item.get("question")
    if not question:  # no perturbation payload: the prompt as sent is the best description of the question
        args = sample.get("arguments") or []
        question = next((a for a in args if isinstance(a, str)), "")
    out = {"item_id": record["item_id"], "variant": record.get("variant"), "benchmark": record.get("benchmark"),
           "question": question, "options": options, "cot": cot, "answer": answer, "answer_text": answer_text,
           "consistency_applicable": bool(record.get("consistency_applicable", True)),
           "rule_label": rule_label(record)}
    if task is not None:
        out["task"] = task
    if model is not None:
        out["model"] = model
    return out
