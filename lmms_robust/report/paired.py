"""Report math over plain per-item records (PROTOCOL.md §4 "Paired"): per-variant metrics, paired drops, flips, AUROC.

Pure: stdlib, numpy and scikit-learn (imported inside the functions that need them), plus
``lmms_robust.core``; never lmms_eval. A record is the dict ``lmms_robust.core.scoring.score_item`` returns
(every key of ``RECORD_KEYS``), optionally with the letter-distribution keys (``letter_entropy``, ``p_correct``,
...), which may be absent or None.

Pairing joins variants on ``item_id`` within one model x benchmark. Nothing is dropped silently: every item left
out of a metric (missing in one variant, duplicated, not applicable, no letter distribution) is counted in a
warning (see ``Warning kinds`` below).

Warning kinds (``kind``; ``level`` is ``warning`` or ``info``):
    ``missing_variant``: another model has this variant on this benchmark, this one does not.
    ``variant_not_run``: protocol variants that no model ran on this benchmark (info, once per model x benchmark).
    ``missing_base``: no ``base`` variant: the paired metrics of this model x benchmark are null.
    ``items_missing_from_variant``: item_ids present in ``base`` (without base: in any other variant) but absent
        from the variant (unpaired).
    ``items_missing_from_base``: item_ids present in the variant but absent from ``base`` (unpaired).
    ``duplicate_item_ids``: an item_id logged more than once in one variant; the first record is kept.
    ``not_applicable``: records with status ``not_applicable``; left out of the metrics and of the pairing.
    ``no_letter_distribution``: no record has ``letter_entropy``/``p_correct``: those means and AUROC are null.
    ``partial_letter_distribution``: some base-correct multiple-choice items lack the field an AUROC needs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from lmms_robust.core.perturb import VARIANT_NAMES
from lmms_robust.core.scoring import RECORD_KEYS, summarize

__all__ = [
    "BASE",
    "LETTER_FIELDS",
    "PAIRED_METRICS",
    "ROW_METRICS",
    "analyze",
    "auroc",
    "bootstrap_ci",
    "complete",
    "dedupe",
    "flip_rates",
    "letter_means",
    "order_variants",
    "paired_metrics",
    "variant_metrics",
]

BASE = "base"
N_RESAMPLES = 10_000
SEED = 0
CI_LEVEL = 0.95
BLOCK = 1_000
LETTER_FIELDS = ("letter_entropy", "letter_entropy_norm", "p_correct", "letter_mass")
COUNT_KEYS = ("n_items", "n_scored", "n_not_applicable", "n_unparsed", "n_undetermined")
PAIRED_METRICS = (
    "n_paired", "paired_acc_base", "paired_acc_variant", "drop", "drop_ci_low", "drop_ci_high",
    "n_base_correct", "n_base_wrong", "flip_correct_to_wrong", "flip_wrong_to_correct",
    "n_auroc_p_correct", "auroc_p_correct", "n_auroc_neg_entropy", "auroc_neg_entropy",
)
ROW_METRICS = (
    "acc", "unparsed_rate", "consistency", "undetermined_rate", "consistent_acc", "q_consistent_correct",
    "q_inconsistent_correct", "q_consistent_incorrect", "q_inconsistent_incorrect", "q_undetermined",
    "abstain_rate", *LETTER_FIELDS, "ece", "brier", "truncated_rate", "unscorable_rate", *COUNT_KEYS, "n_letter_items",
    *(f"n_{f}" for f in LETTER_FIELDS), *PAIRED_METRICS,
)
"""Every key of a row's ``metrics`` dict, in column order (values: float, int or None). Fixed, so the schema is:
it holds every ``lmms_robust.core.scoring.METRICS`` key (a test checks); keys ``summarize`` does not return (an
older scoring) are None."""
MAX_IDS = 50  # item_ids listed per warning (the count is always complete)


def order_variants(variants: Iterable[str]) -> list[str]:
    """``base`` first, then the protocol's order, then unknown variants alphabetically."""
    known = {name: i for i, name in enumerate(VARIANT_NAMES)}
    return sorted(set(variants), key=lambda v: (known.get(v, len(known)), v))


def dedupe(records: Sequence[dict]) -> tuple[list[dict], dict[str, int]]:
    """The first record of each item_id, and ``{item_id: extra copies}`` for the duplicated ones."""
    kept: dict[str, dict] = {}
    extra: dict[str, int] = {}
    for record in records:
        item_id = str(record["item_id"])
        if item_id in kept:
            extra[item_id] = extra.get(item_id, 0) + 1
        else:
            kept[item_id] = record
    return list(kept.values()), extra


def letter_means(records: Sequence[dict]) -> dict[str, float | int | None]:
    """Mean of each letter-distribution field over scored records that carry it, and how many did.

    Returns ``{field: mean or None, "n_<field>": count}`` for every field of ``LETTER_FIELDS``.
    """
    out: dict[str, float | int | None] = {}
    for field in LETTER_FIELDS:
        values = [float(r[field]) for r in records
                  if r.get("status") != "not_applicable" and _number(r.get(field)) is not None]
        out[field] = sum(values) / len(values) if values else None
        out[f"n_{field}"] = len(values)
    return out


def complete(record: dict) -> dict:
    """The record with every ``RECORD_KEYS`` key (absent ones None: records logged before a key existed)."""
    return record if all(key in record for key in RECORD_KEYS) else {**dict.fromkeys(RECORD_KEYS), **record}


def variant_metrics(records: Sequence[dict]) -> dict[str, float | int | None]:
    """``summarize`` (the protocol metrics and counts) plus the letter-distribution means and counts of one variant."""
    records = [complete(r) for r in records]
    return {**summarize(records), **letter_means(records)}


def bootstrap_ci(diffs: Sequence[float], n_resamples: int = N_RESAMPLES, seed: int = SEED,
                 level: float = CI_LEVEL) -> tuple[float | None, float | None]:
    """Percentile bootstrap CI of the mean of paired differences (one difference per item).

    ``rng = numpy.random.default_rng(seed)``; the items are resampled with replacement in blocks of
    ``BLOCK`` resamples, ``rng.integers(0, n, size=(BLOCK, n))`` (the last block smaller), so memory stays
    bounded and the same input gives the same interval in any process. The interval is
    ``numpy.quantile(means, [(1 - level) / 2, (1 + level) / 2])`` (linear interpolation).

    Returns:
        ``(low, high)``; ``(None, None)`` for no pairs.
    """
    import numpy as np

    d = np.asarray(diffs, dtype=float)
    if d.size == 0:
        return None, None
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, BLOCK):
        stop = min(n_resamples, start + BLOCK)
        means[start:stop] = d[rng.integers(0, d.size, size=(stop - start, d.size))].mean(axis=1)
    low, high = np.quantile(means, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(low), float(high)


def flip_rates(pairs: Sequence[tuple[bool, bool]]) -> dict[str, float | int | None]:
    """Flip rates over ``(base_correct, variant_correct)`` pairs.

    ``flip_correct_to_wrong`` = share of base-correct items wrong under the variant; ``flip_wrong_to_correct`` =
    share of base-wrong items (unparsed included: they count as wrong) correct under it. None on an empty base class.
    """
    base_correct = [v for b, v in pairs if b]
    base_wrong = [v for b, v in pairs if not b]
    return {
        "n_base_correct": len(base_correct),
        "n_base_wrong": len(base_wrong),
        "flip_correct_to_wrong": (sum(1 for v in base_correct if not v) / len(base_correct)) if base_correct else None,
        "flip_wrong_to_correct": (sum(1 for v in base_wrong if v) / len(base_wrong)) if base_wrong else None,
    }


def auroc(labels: Sequence[bool], scores: Sequence[float]) -> float | None:
    """ROC AUC (scikit-learn) of ``scores`` predicting ``labels``; None when either class is empty."""
    if len(labels) != len(scores):
        raise ValueError(f"auroc: {len(labels)} labels but {len(scores)} scores")
    if not labels or all(labels) or not any(labels):
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score([bool(x) for x in labels], [float(s) for s in scores]))


def paired_metrics(base: Mapping[str, dict], variant: Mapping[str, dict], n_resamples: int = N_RESAMPLES,
                   seed: int = SEED) -> dict[str, float | int | None]:
    """Paired metrics of one variant against ``base``, both given as ``{item_id: record}`` (deduplicated).

    Pairs are the item_ids present in both and scored (not ``not_applicable``) in both, in sorted item_id order.
    ``drop`` = mean over pairs of (base correct - variant correct), so positive means accuracy lost, with a
    ``bootstrap_ci`` over the pairs. Flip rates via ``flip_rates``. AUROCs over base-correct multiple-choice
    pairs (gold is a list of letters) whose base record has the score: label "still correct under the variant",
    scores base ``p_correct`` and ``-letter_entropy``.
    """
    ids = sorted(i for i in base.keys() & variant.keys()
                 if base[i]["status"] != "not_applicable" and variant[i]["status"] != "not_applicable")
    pairs = [(base[i]["correct"] is True, variant[i]["correct"] is True) for i in ids]
    out: dict[str, float | int | None] = {"n_paired": len(pairs)}
    if pairs:
        out["paired_acc_base"] = sum(b for b, _ in pairs) / len(pairs)
        out["paired_acc_variant"] = sum(v for _, v in pairs) / len(pairs)
        diffs = [float(b) - float(v) for b, v in pairs]
        out["drop"] = sum(diffs) / len(diffs)
        out["drop_ci_low"], out["drop_ci_high"] = bootstrap_ci(diffs, n_resamples=n_resamples, seed=seed)
    else:
        out.update(paired_acc_base=None, paired_acc_variant=None, drop=None, drop_ci_low=None, drop_ci_high=None)
    out.update(flip_rates(pairs))

    mc_correct = [i for i in ids if base[i]["correct"] is True and isinstance(base[i].get("gold"), list)]
    for name, field, sign in (("p_correct", "p_correct", 1.0), ("neg_entropy", "letter_entropy", -1.0)):
        usable = [i for i in mc_correct if _number(base[i].get(field)) is not None]
        out[f"n_auroc_{name}"] = len(usable)
        out[f"auroc_{name}"] = auroc([variant[i]["correct"] is True for i in usable],
                                     [sign * float(base[i][field]) for i in usable])
    return out


def analyze(groups: Mapping[tuple[str, str], Mapping[str, Sequence[dict]]], n_resamples: int = N_RESAMPLES,
            seed: int = SEED) -> tuple[list[dict], list[dict]]:
    """Rows and coverage warnings for records grouped as ``{(model, benchmark): {variant: [record, ...]}}``.

    Returns:
        ``(rows, warnings)``. A row is ``{"model", "benchmark", "variant", "metrics"}`` with ``metrics`` holding
        every key of ``ROW_METRICS`` (the paired ones None on ``base`` and where there is no base); rows are
        ordered by model, benchmark, then ``order_variants``. A warning is ``{"level", "kind", "model",
        "benchmark", "variant", "count", "item_ids", "message"}`` (kinds in the module docstring).
    """
    rows: list[dict] = []
    warnings: list[dict] = []
    by_benchmark: dict[str, set[str]] = {}
    for (_, benchmark), variants in groups.items():
        by_benchmark.setdefault(benchmark, set()).update(variants)

    for model, benchmark in sorted(groups):
        variants = groups[(model, benchmark)]

        def warn(kind, message, variant=None, ids=(), count=None, level="warning", model=model, benchmark=benchmark):
            ids = sorted(ids)
            warnings.append({"level": level, "kind": kind, "model": model, "benchmark": benchmark,
                             "variant": variant, "count": len(ids) if count is None else count,
                             "item_ids": ids[:MAX_IDS], "message": message})

        for missing in order_variants(by_benchmark[benchmark] - set(variants)):
            warn("missing_variant", f"variant {missing!r} is absent for this model (another model has it)",
                 variant=missing, count=1)
        not_run = [v for v in VARIANT_NAMES if v not in by_benchmark[benchmark]]
        if not_run:
            warn("variant_not_run", f"no model ran {len(not_run)} protocol variant(s): {', '.join(not_run)}",
                 count=len(not_run), level="info")
        if BASE not in variants:
            warn("missing_base", "no 'base' variant: drops, flip rates and AUROC are null", count=1)

        deduped: dict[str, dict[str, dict]] = {}
        for variant in order_variants(variants):
            kept, extra = dedupe([complete(r) for r in variants[variant]])
            deduped[variant] = {str(r["item_id"]): r for r in kept}
            if extra:
                warn("duplicate_item_ids", f"{sum(extra.values())} extra record(s) for {len(extra)} item_id(s); "
                     "the first record of each is kept", variant=variant, ids=extra)
            not_applicable = [i for i, r in deduped[variant].items() if r["status"] == "not_applicable"]
            if not_applicable:
                warn("not_applicable", f"{len(not_applicable)} not_applicable item(s) left out of the metrics "
                     "and of the pairing", variant=variant, ids=not_applicable, level="info")

        base = deduped.get(BASE)
        all_records = [r for recs in deduped.values() for r in recs.values()]
        if not any(_number(r.get(f)) is not None for r in all_records for f in ("letter_entropy", "p_correct")):
            warn("no_letter_distribution", "records carry no letter_entropy/p_correct: their means and the "
                 "AUROCs are null", count=len(all_records), level="info")

        union = {i for recs in deduped.values() for i in recs}
        for variant in order_variants(variants):
            records = deduped[variant]
            metrics = variant_metrics(list(records.values()))
            if base is None and union - records.keys():  # no base to pair with: still say which items differ
                missing = union - records.keys()
                warn("items_missing_from_variant", f"{len(missing)} item(s) that other variants have are absent "
                     f"from {variant!r}", variant=variant, ids=missing)
            if base is not None and variant != BASE:
                only_base = base.keys() - records.keys()
                only_variant = records.keys() - base.keys()
                if only_base:
                    warn("items_missing_from_variant", f"{len(only_base)} item(s) in base are absent from "
                         f"{variant!r}: left out of the paired metrics", variant=variant, ids=only_base)
                if only_variant:
                    warn("items_missing_from_base", f"{len(only_variant)} item(s) of {variant!r} are absent from "
                         "base: left out of the paired metrics", variant=variant, ids=only_variant)
                paired = paired_metrics(base, records, n_resamples=n_resamples, seed=seed)
                _warn_partial_letters(warn, base, records, paired, variant)
            else:
                paired = dict.fromkeys(PAIRED_METRICS)
            rows.append({"model": model, "benchmark": benchmark, "variant": variant,
                         "metrics": {key: {**metrics, **paired}.get(key) for key in ROW_METRICS}})
    return rows, warnings


def _warn_partial_letters(warn, base: Mapping[str, dict], variant_records: Mapping[str, dict], paired: dict,
                          variant: str) -> None:
    eligible = [i for i in base.keys() & variant_records.keys()
                if base[i]["status"] != "not_applicable" and variant_records[i]["status"] != "not_applicable"
                and base[i]["correct"] is True and isinstance(base[i].get("gold"), list)]
    for name, field in (("p_correct", "p_correct"), ("neg_entropy", "letter_entropy")):
        used = paired[f"n_auroc_{name}"]
        if 0 < used < len(eligible):
            lacking = [i for i in eligible if _number(base[i].get(field)) is None]
            warn("partial_letter_distribution", f"AUROC ({field}) uses {used} of {len(eligible)} base-correct "
                 f"multiple-choice items: the others have no base {field}", variant=variant, ids=lacking)


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)
