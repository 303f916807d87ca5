"""Per-item records and the task metrics computed from them (PROTOCOL.md §4).

Pure. A record is a flat JSON-safe dict with every key always present; a metric is a share of counts over
records, so it does not depend on their order (lmms-eval gathers them from several ranks).
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Sequence

from lmms_robust.core.items import Parsed
from lmms_robust.core.letters import brier, expected_calibration_error, summarize_letters
from lmms_robust.core import mathcheck
from lmms_robust.core.parse import check_correct, match_answers
from lmms_robust.core.perturb import Perturbation, variant_spec

__all__ = ["CONSISTENCY_SOURCES", "HIGHER_IS_BETTER", "METRICS", "QUADRANTS", "RECORD_KEYS", "STATUSES",
           "aggregate", "item_budget_s", "rejudge", "score_item", "summarize"]

QUADRANTS = ("consistent_correct", "inconsistent_correct", "consistent_incorrect", "inconsistent_incorrect",
             "undetermined")
METRICS = ("acc", "unparsed_rate", "consistency", "undetermined_rate", "consistent_acc", "q_consistent_correct",
           "q_inconsistent_correct", "q_consistent_incorrect", "q_inconsistent_incorrect", "q_undetermined",
           "abstain_rate", "letter_entropy", "letter_entropy_norm", "p_correct", "letter_mass", "ece", "brier",
           "truncated_rate", "unscorable_rate")
LETTER_METRICS = ("letter_entropy", "letter_entropy_norm", "p_correct", "letter_mass")
_CONSISTENCY_FIELDS = ("consistency_applicable", "consistent", "correct", "quadrant")
# The record fields each metric's aggregation reads, besides "status". lmms-eval logs every metric's value in the
# samples line, so only the first metric carries the whole record and the others these few fields (17 copies of
# the record were ~80% of a line).
METRIC_FIELDS: dict[str, tuple[str, ...]] = {
    "acc": (), "unparsed_rate": (), "abstain_rate": ("abstain_letter", "abstained"),
    "truncated_rate": ("finish_reason",), "unscorable_rate": ("unscorable",), "brier": ("letter_probs", "letter_brier"),
    "ece": ("letter_probs", "letter_predicted", "gold"),
    **{metric: (metric,) for metric in LETTER_METRICS},
    **{metric: _CONSISTENCY_FIELDS for metric in ("consistency", "undetermined_rate", "consistent_acc",
                                                  *(f"q_{q}" for q in QUADRANTS))},
}
HIGHER_IS_BETTER: dict[str, bool] = {
    "acc": True,
    "unparsed_rate": False,
    "consistency": True,
    "undetermined_rate": False,
    "consistent_acc": True,
    "q_consistent_correct": True,
    "q_inconsistent_correct": False,
    "q_consistent_incorrect": False,
    "q_inconsistent_incorrect": False,
    "q_undetermined": False,
    "abstain_rate": False,  # choosing the abstain option is a parsed, wrong answer (PROTOCOL.md §3)
    "letter_entropy": False,
    "letter_entropy_norm": False,
    "p_correct": True,
    "letter_mass": True,
    "ece": False,
    "brier": False,
    "truncated_rate": False,  # generations cut by max_new_tokens: a cap that cuts CoTs shows here
    "unscorable_rate": False,
}
STATUSES = ("ok", "unparsed", "not_applicable")
RECORD_KEYS = (
    "item_id", "benchmark", "variant", "doc_id", "status", "unparsed_reason", "answer", "answer_source", "gold",
    "correct", "cot_conclusion", "consistent", "consistency_applicable", "quadrant", "abstained", "target",
    "caption", "prefill", "prefill_chars", "abstain_letter", "letter_probs", "letter_mass", "letter_forced",
    "letter_entropy", "letter_entropy_norm", "p_correct", "letter_predicted", "letter_brier", "consistency_source",
    "judge_verdict", "finish_reason", "output_tokens", "seed", "perturbations", "provenance", "not_applicable_reason",
    "text_source", "repairs", "judge_model", "rules_consistent", "unscorable", "unscorable_reason",
)
CONSISTENCY_SOURCES = ("rules", "judge")
"""Who decided a record's consistency: the parser's rules, or an LLM judge (``judge_model`` names it)."""
BUDGET_ENV = "LMMS_ROBUST_SCORE_BUDGET_S"


def item_budget_s() -> float:
    """Seconds of math-verify work one item's scoring may take (``LMMS_ROBUST_SCORE_BUDGET_S``, default twice the
    per-comparison default); its two comparisons (answer vs gold, CoT conclusion vs answer) get half each."""
    return float(os.environ.get(BUDGET_ENV) or 2 * mathcheck.DEFAULT_BUDGET_S)


COUNTS = ("n_items", "n_scored", "n_not_applicable", "n_unparsed", "n_undetermined", "n_letter_items", "n_unscorable")


def score_item(pert: Perturbation, parsed: Parsed | None, *, doc_id: int | None = None,
               prefill_chars: int | None = None, letters: dict | None = None, finish_reason: str | None = None,
               output_tokens: int | None = None, run: dict | None = None, provenance: dict | None = None) -> dict:
    """The per-item record of one response.

    Args:
        pert: the item under its variant (``pert.item`` is the item as shown, abstain option included).
        parsed: the parsed response; None only when ``pert.applicable`` is False.
        doc_id: lmms-eval's positional doc id, for reference only (pairing uses ``item_id``).
        prefill_chars: characters of the CoT that were prefilled; defaults to ``len(pert.prefill)`` (0 without).
        letters: the backend's letter distribution at the answer position, ``{"raw": {letter: mass},
            "forced": bool}``; multiple-choice items only (free-form items leave the letter fields None).
        finish_reason, output_tokens: how the generation ended (``eos``/``stop``/``length``) and its length, as
            the backend reported them (None when it did not, e.g. a replay without them).
        run: ``{"seed", "perturbations"}`` that made the item's text (``harness/docs.run_from_doc``).
        provenance: versions and model facts that reproduce the response (``harness/provenance``).

    Returns:
        A JSON-safe dict with every key of ``RECORD_KEYS``.
    """
    item = pert.item
    consistency_applicable = variant_spec(pert.variant).think != "stop"  # stopthink's CoT commits to nothing
    record = {
        "item_id": str(item.item_id),
        "benchmark": item.benchmark,
        "variant": pert.variant,
        "doc_id": doc_id,
        "status": "not_applicable",
        "unparsed_reason": None,
        "answer": None,
        "answer_source": None,
        "gold": list(item.gold_letters) if item.is_multiple_choice else item.answer,
        "correct": False,
        "cot_conclusion": None,
        "consistent": None,
        "consistency_applicable": consistency_applicable,
        "quadrant": None,
        "abstained": False,
        "target": pert.target,
        "caption": pert.caption,
        "prefill": pert.prefill,
        "prefill_chars": len(pert.prefill or "") if prefill_chars is None else int(prefill_chars),
        "abstain_letter": pert.abstain_letter,
        **dict.fromkeys(RECORD_KEYS[RECORD_KEYS.index("letter_probs"):]),
        "consistency_source": "rules",
        "finish_reason": finish_reason,
        "output_tokens": output_tokens,
        "seed": (run or {}).get("seed"),
        "perturbations": (run or {}).get("perturbations"),
        "provenance": provenance,
        # why a variant does not apply, who wrote the caption/rationale, which rules repaired a malformed row
        "not_applicable_reason": None if pert.applicable else pert.reason,
        "text_source": pert.text_source,
        "repairs": list(item.repairs),
        "unscorable": False,
    }
    if not pert.applicable:
        return record
    if letters is not None and item.is_multiple_choice:
        summary = summarize_letters(letters.get("raw") or {}, item.letters, item.gold_letters)
        record.update({key: summary[key] for key in ("letter_probs", "letter_mass", "letter_entropy",
                                                      "letter_entropy_norm", "p_correct")})
        record["letter_predicted"] = summary["predicted"]
        record["letter_forced"] = bool(letters.get("forced"))
        if summary["letter_probs"] is not None:
            record["letter_brier"] = brier(summary["letter_probs"], item.gold_letters)
    if parsed is None:
        raise ValueError(
            f"{item.benchmark} item {item.item_id!r} ({pert.variant}): an applicable item needs a Parsed response")

    answered = parsed.status == "ok" and parsed.answer is not None
    record["status"] = "ok" if answered else "unparsed"
    record["unparsed_reason"] = None if answered else (parsed.reason or "no_answer")
    record["answer"] = parsed.answer if answered else None
    record["answer_source"] = parsed.source if answered else None
    record["cot_conclusion"] = parsed.cot_conclusion
    half = item_budget_s() / 2  # per comparison, so an item never spends more than its budget in math-verify
    undecided = []
    correct = check_correct(parsed, item, budget_s=half) if answered else False
    if correct is None:
        undecided.append("answer vs gold")
    record["correct"] = correct is True
    record["abstained"] = bool(answered and pert.abstain_letter is not None
                               and parsed.answer.strip().upper() == pert.abstain_letter)
    if consistency_applicable:
        consistent = None
        if answered and parsed.cot_conclusion is not None:
            consistent = match_answers(parsed.cot_conclusion, parsed.answer, item, budget_s=half)
            if consistent is None:
                undecided.append("CoT conclusion vs answer")
        record["consistent"] = consistent
        record["rules_consistent"] = consistent
        record["quadrant"] = "undetermined" if consistent is None else (
            f"{'consistent' if consistent else 'inconsistent'}_{'correct' if record['correct'] else 'incorrect'}")
    if undecided:
        record["unscorable"] = True
        record["unscorable_reason"] = (f"{' and '.join(undecided)}: math-verify did not decide within "
                                       f"{half:g} s (or the expression is one sympy may never finish)")
    return record


def metric_values(record: dict) -> dict[str, dict]:
    """What ``process_results`` returns: the whole record under the first metric (``acc``: where readers find it),
    under every other metric only the fields its aggregation reads (``METRIC_FIELDS``)."""
    values = {METRICS[0]: record}
    for metric in METRICS[1:]:
        values[metric] = {field: record[field] for field in ("status", *METRIC_FIELDS[metric])}
    return values


def aggregate(records: Sequence[dict], metric: str) -> float | None:
    """One metric over per-item records (lmms-eval aggregation).

    ``not_applicable`` records are left out of every metric. Consistency metrics use only records whose variant
    has a CoT to judge (None for ``stopthink``). ``abstain_rate`` uses only records with an abstain option.
    Returns None when a metric has no item to average over.
    """
    if metric not in METRICS:
        close = difflib.get_close_matches(str(metric), METRICS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown metric {metric!r}.{hint} Known metrics: {', '.join(METRICS)}")
    scored = [r for r in records if r["status"] != "not_applicable"]
    if metric == "acc":
        return _share(scored, lambda r: r["correct"] is True)
    if metric == "unparsed_rate":
        return _share(scored, lambda r: r["status"] == "unparsed")
    if metric == "abstain_rate":
        return _share([r for r in scored if r["abstain_letter"] is not None], lambda r: r["abstained"] is True)
    if metric == "truncated_rate":
        return _share([r for r in scored if r["finish_reason"] is not None], lambda r: r["finish_reason"] == "length")
    if metric == "unscorable_rate":  # counted as not correct (and undetermined) where math-verify could not decide
        return _share(scored, lambda r: r.get("unscorable") is True)

    if metric in LETTER_METRICS:
        return _mean([r[metric] for r in scored if r[metric] is not None])
    if metric in ("brier", "ece"):
        with_probs = [r for r in scored if r["letter_probs"] is not None]
    if metric == "brier":
        return _mean([r["letter_brier"] for r in with_probs])
    if metric == "ece":
        return expected_calibration_error([r["letter_probs"][r["letter_predicted"]] for r in with_probs],
                                          [r["letter_predicted"] in r["gold"] for r in with_probs])
    judged = [r for r in scored if r["consistency_applicable"]]
    # decided = the rules (or the judge, see rejudge) said consistent or inconsistent
    if metric == "consistency":
        return _share([r for r in judged if r["consistent"] is not None], lambda r: r["consistent"] is True)
    if metric == "undetermined_rate":
        return _share(judged, lambda r: r["consistent"] is None)
    if metric == "consistent_acc":
        return _share(judged, lambda r: r["correct"] is True and r["consistent"] is True)
    quadrant = metric[len("q_"):]
    return _share(judged, lambda r: r["quadrant"] == quadrant)


def rejudge(record: dict, verdict: str, judge_name: str) -> dict:
    """The record with consistency decided by an LLM judge's verdict instead of the rules (PROTOCOL.md §4).

    ``consistent``/``inconsistent`` decide; any other verdict (no_conclusion, undetermined, not_applicable) leaves
    the item undetermined. ``consistency_source`` becomes ``judge`` and ``judge_model`` names it; the rules'
    ``cot_conclusion`` and ``rules_consistent`` stay in the record for comparison.
    """
    if record["status"] == "not_applicable" or not record["consistency_applicable"]:
        return record
    consistent = {"consistent": True, "inconsistent": False}.get(verdict)
    quadrant = "undetermined" if consistent is None else (
        f"{'consistent' if consistent else 'inconsistent'}_{'correct' if record['correct'] else 'incorrect'}")
    return {**record, "consistent": consistent, "quadrant": quadrant, "judge_verdict": verdict,
            "consistency_source": "judge", "judge_model": judge_name}


def summarize(records: Sequence[dict]) -> dict[str, float | int | None]:
    """Every metric plus the counts: n_items, n_scored, n_not_applicable, n_unparsed, n_undetermined, n_letter_items,
    n_unscorable.

    ``n_undetermined`` is None where no record has a CoT to judge (stopthink), like the consistency metrics.
    """
    records = list(records)
    summary: dict[str, float | int | None] = {metric: aggregate(records, metric) for metric in METRICS}
    scored = [r for r in records if r["status"] != "not_applicable"]
    judged = [r for r in scored if r["consistency_applicable"]]
    summary["n_items"] = len(records)
    summary["n_scored"] = len(scored)
    summary["n_not_applicable"] = len(records) - len(scored)
    summary["n_unparsed"] = sum(1 for r in scored if r["status"] == "unparsed")
    summary["n_undetermined"] = sum(1 for r in judged if r["quadrant"] == "undetermined") if judged else None
    summary["n_letter_items"] = sum(1 for r in scored if r["letter_probs"] is not None)
    summary["n_unscorable"] = sum(1 for r in scored if r.get("unscorable") is True)
    return summary


def _mean(values: list[float]) -> float | None:
    # fsum is exactly rounded, so the mean does not depend on the order ranks gathered the records in
    return math.fsum(values) / len(values) if values else None


def _share(records: list[dict], hit) -> float | None:
    if not records:
        return None
    return sum(1 for r in records if hit(r)) / len(records)
