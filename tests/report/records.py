"""Hand-written per-item records and fake lmms-eval output folders for the report tests."""

from __future__ import annotations

import json
from pathlib import Path

from lmms_robust.core.scoring import RECORD_KEYS

METRIC_KEYS = ("acc", "unparsed_rate", "consistency")  # a samples line repeats the record under each metric key


def rec(item_id: str, variant: str = "base", correct: bool = True, *, status: str = "ok", benchmark: str = "bench",
        gold=("A",), p_correct: float | None = None, letter_entropy: float | None = None, quadrant: str | None = None,
        legacy: bool = False, **extra) -> dict:
    """One per-item record. ``gold`` a tuple of letters = multiple choice, a string = free-form.

    ``legacy``: only the keys records had before the letter distribution (no ``letter_*``/``p_correct`` keys).
    """
    applicable = status != "not_applicable"
    ok = status == "ok"
    if quadrant is None and applicable:
        quadrant = f"consistent_{'correct' if correct else 'incorrect'}" if ok else "undetermined"
    record = dict.fromkeys(RECORD_KEYS)
    determined = ok and quadrant != "undetermined"
    answer = ("A" if correct else "B") if ok else None
    record.update({
        "item_id": item_id, "benchmark": benchmark, "variant": variant, "status": status, "answer": answer,
        "gold": list(gold) if isinstance(gold, tuple) else gold, "correct": bool(correct and ok),
        "cot_conclusion": answer if determined else None,
        "consistent": quadrant.startswith("consistent") if determined else None,
        "consistency_applicable": variant != "stopthink", "quadrant": quadrant if applicable else None,
        "abstained": False, "prefill_chars": 0, "abstain_letter": None,
        "unparsed_reason": "no_answer" if status == "unparsed" else None,
    })
    if variant == "stopthink":
        record.update(quadrant=None, consistent=None)
    record["p_correct"] = p_correct
    record["letter_entropy"] = letter_entropy
    record.update(extra)
    if legacy:
        for key in ("letter_probs", "letter_mass", "letter_forced", "letter_entropy", "letter_entropy_norm",
                    "p_correct", "letter_predicted", "letter_brier"):
            record.pop(key, None)
    return record


def series(variant: str, correct: dict[str, bool], **kwargs) -> list[dict]:
    """Records of one variant from ``{item_id: correct}``."""
    return [rec(item_id, variant, value, **kwargs) for item_id, value in correct.items()]


def write_run(folder: Path, tasks: dict[str, list[dict]], *, model: str = "robust_replay",
              model_args: str = "path=/runs/alpha.jsonl", stamp: str = "20250101_000000", metadata: dict | None = None,
              log_samples: bool = True, sub: str = "model") -> Path:
    """A folder shaped like lmms-eval's ``--output_path``: ``<sub>/<stamp>_results.json`` and samples files."""
    where = folder / sub
    where.mkdir(parents=True, exist_ok=True)
    metadata = metadata if metadata is not None else {"version": 0.1, "protocol": {"seed": 0}}
    results = {
        "results": {task: {"alias": task, "acc,lmms_robust": 0.0, "acc_stderr,lmms_robust": "N/A"} for task in tasks},
        "configs": {task: {"task": task, "metadata": metadata} for task in tasks},
        "config": {"model": model, "model_args": model_args},
        "model_name": model_args.split("=", 1)[-1],
        "lmms_eval_version": "main@0000000",
        "n-samples": {task: {"original": len(records), "effective": len(records)} for task, records in tasks.items()},
    }
    (where / f"{stamp}_results.json").write_text(json.dumps(results))
    if log_samples:
        for task, records in tasks.items():
            lines = [json.dumps({"doc_id": i, **dict.fromkeys(METRIC_KEYS, r)}) + "\n" for i, r in enumerate(records)]
            (where / f"{stamp}_samples_{task}.jsonl").write_text("".join(lines))
    return folder
