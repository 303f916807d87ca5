"""Agreement between consistency judges, and between the rules and a judge. Pure (scikit-learn for Cohen's kappa).

Labels are the judged verdicts ``consistent``, ``inconsistent``, ``no_conclusion``. How the rest is handled:

- ``not_applicable`` (nothing was judged) is dropped everywhere and not counted.
- ``undetermined`` (a judge could not be read) is never treated as a label: an item enters a pairwise statistic
  (Cohen's kappa, pairwise / rule-vs-judge agreement) only when both sides gave a label, and the strict
  (all-judges) agreement and Fleiss' kappa only when every judge gave one. The items left out are counted
  (``n_excluded_undetermined``) so a judge that fails often is visible rather than silently flattering.
- A kappa is None when it is undefined (no item, or chance agreement is 1: every rating is the same label).

Inputs are ``{judge: {key: verdict}}`` where ``key`` identifies an item under a variant (any hashable, e.g.
``(model, task, item_id, variant)``).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from itertools import combinations

from sklearn.metrics import cohen_kappa_score

__all__ = ["LABELS", "agreement_summary", "cohen_kappa", "fleiss_kappa", "fleiss_table", "pairwise",
           "rule_vs_judge", "strict_agreement"]

LABELS = ("consistent", "inconsistent", "no_conclusion")
UNDETERMINED = "undetermined"
NOT_APPLICABLE = "not_applicable"

Labels = Mapping[Hashable, str]


def _labelled(value) -> bool:
    return value in LABELS


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's kappa of two equal-length label sequences (already restricted to labelled items)."""
    if len(a) != len(b):
        raise ValueError(f"cohen_kappa: {len(a)} labels against {len(b)}")
    if not a:
        return None
    if len(set(a) | set(b)) == 1:  # chance agreement 1: undefined (sklearn would warn and give nan)
        return None
    value = float(cohen_kappa_score(list(a), list(b)))
    return None if math.isnan(value) else value


def fleiss_table(ratings: Sequence[Sequence[str]], labels: Sequence[str] = LABELS) -> list[list[int]]:
    """Counts ``n_ij`` (item i, label j) from per-item lists of labels, one per rater."""
    index = {label: j for j, label in enumerate(labels)}
    table = []
    for row in ratings:
        counts = [0] * len(labels)
        for label in row:
            counts[index[label]] += 1
        table.append(counts)
    return table


def fleiss_kappa(table: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa of an items × categories count table; every row must sum to the same number of raters n ≥ 2.

    ``P_i = (Σ_j n_ij² − n) / (n(n−1))``, ``P̄ = mean_i P_i``, ``p_j = Σ_i n_ij / (N n)``, ``P_e = Σ_j p_j²``,
    ``κ = (P̄ − P_e) / (1 − P_e)``; None when there is no item or ``P_e = 1``.
    """
    rows = [list(map(int, row)) for row in table]
    if not rows:
        return None
    n = sum(rows[0])
    if n < 2:
        raise ValueError(f"fleiss_kappa needs at least 2 ratings per item, got {n}")
    if any(sum(row) != n for row in rows) or any(c < 0 for row in rows for c in row):
        raise ValueError("fleiss_kappa: every item needs the same number of ratings (non-negative counts)")
    big_n = len(rows)
    p_bar = sum((sum(c * c for c in row) - n) / (n * (n - 1)) for row in rows) / big_n
    p_j = [sum(row[j] for row in rows) / (big_n * n) for j in range(len(rows[0]))]
    p_e = sum(p * p for p in p_j)
    if math.isclose(p_e, 1.0):
        return None
    return (p_bar - p_e) / (1 - p_e)


def _keys(labels_by_judge: Mapping[str, Labels]) -> list:
    keys = set()
    for labels in labels_by_judge.values():
        keys.update(k for k, v in labels.items() if v != NOT_APPLICABLE)
    return sorted(keys, key=repr)


def pairwise(a: Labels, b: Labels) -> dict:
    """Agreement and Cohen's kappa of two raters over the items both labelled."""
    keys = sorted({k for k, v in a.items() if v != NOT_APPLICABLE} | {k for k, v in b.items() if v != NOT_APPLICABLE},
                  key=repr)
    both = [k for k in keys if _labelled(a.get(k)) and _labelled(b.get(k))]
    xs, ys = [a[k] for k in both], [b[k] for k in both]
    agree = sum(x == y for x, y in zip(xs, ys))
    return {"n_items": len(keys), "n_compared": len(both), "n_excluded_undetermined": len(keys) - len(both),
            "agreement": agree / len(both) if both else None, "cohen_kappa": cohen_kappa(xs, ys)}


def strict_agreement(labels_by_judge: Mapping[str, Labels]) -> dict:
    """Share of items on which every judge gave the same label, over items every judge labelled; Fleiss' kappa."""
    judges = sorted(labels_by_judge)
    keys = _keys(labels_by_judge)
    complete = [k for k in keys if all(_labelled(labels_by_judge[j].get(k)) for j in judges)]
    rows = [[labels_by_judge[j][k] for j in judges] for k in complete]
    unanimous = sum(len(set(row)) == 1 for row in rows)
    fleiss = fleiss_kappa(fleiss_table(rows)) if rows and len(judges) >= 2 else None
    return {"judges": judges, "n_items": len(keys), "n_compared": len(complete),
            "n_excluded_undetermined": len(keys) - len(complete),
            "strict_agreement": unanimous / len(rows) if rows else None, "fleiss_kappa": fleiss}


DECIDED = ("consistent", "inconsistent")


def rule_vs_judge(rule: Labels, judge: Labels) -> dict:
    """The rules against one judge: agreement, Cohen's kappa and the confusion counts ``{rule: {judge: n}}``.

    Items the judge left ``undetermined`` (or the rules did not label) are excluded and counted. Also agreement
    where both decided (both said consistent or inconsistent): ``n_both_decided``, ``agreement_both_decided``.
    """
    result = pairwise(rule, judge)
    confusion = {r: {j: 0 for j in LABELS} for r in LABELS}
    for key, value in judge.items():
        if _labelled(value) and _labelled(rule.get(key)):
            confusion[rule[key]][value] += 1
    result["confusion"] = confusion
    both = [(rule[k], v) for k, v in judge.items() if v in DECIDED and rule.get(k) in DECIDED]
    result["n_both_decided"] = len(both)
    result["agreement_both_decided"] = sum(a == b for a, b in both) / len(both) if both else None
    return result


def agreement_summary(labels_by_judge: Mapping[str, Labels], rule: Labels | None = None) -> dict:
    """Everything at once: verdict counts per judge, strict/Fleiss across judges, pairwise Cohen, rules vs each."""
    counts = {}
    for judge, labels in sorted(labels_by_judge.items()):
        tally = {v: 0 for v in (*LABELS, UNDETERMINED, NOT_APPLICABLE)}
        for value in labels.values():
            tally[value if value in tally else UNDETERMINED] += 1
        counts[judge] = tally
    summary = {
        "undetermined_policy": "items a judge left undetermined are excluded from every statistic that involves "
                               "that judge and counted in n_excluded_undetermined; not_applicable items are dropped",
        "verdict_counts": counts,
        "pairwise": [{"a": a, "b": b, **pairwise(labels_by_judge[a], labels_by_judge[b])}
                     for a, b in combinations(sorted(labels_by_judge), 2)],
    }
    if len(labels_by_judge) >= 2:
        summary["across_judges"] = strict_agreement(labels_by_judge)
    if rule is not None:
        summary["rule_vs_judge"] = {judge: rule_vs_judge(rule, labels)
                                    for judge, labels in sorted(labels_by_judge.items())}
    return summary
