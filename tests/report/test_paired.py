"""The report math over hand-written records: drops, flips, AUROC, bootstrap, coverage warnings."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from lmms_robust.core.scoring import METRICS
from lmms_robust.report import auroc, bootstrap_ci, flip_rates, paired_metrics, variant_metrics
from lmms_robust.report.leaderboard import load_schema
from lmms_robust.report.paired import PAIRED_METRICS, ROW_METRICS, analyze, dedupe, order_variants

from .records import rec, series


def by_id(records):
    return {r["item_id"]: r for r in records}


def kinds(warnings):
    return {(w["kind"], w["model"], w["variant"]) for w in warnings}


# --- drop and flips ---------------------------------------------------------------------------------------------

def test_drop_is_base_minus_variant_accuracy_over_paired_items():
    base = by_id(series("base", {"a": True, "b": True, "c": True, "d": False}))
    variant = by_id(series("wrongthink", {"a": True, "b": False, "c": False, "d": False}))
    out = paired_metrics(base, variant, n_resamples=200)
    assert out["n_paired"] == 4
    assert out["paired_acc_base"] == 0.75 and out["paired_acc_variant"] == 0.25
    assert out["drop"] == pytest.approx(0.5)


def test_flip_rates_count_over_base_correct_and_base_wrong_items():
    base = by_id(series("base", {"a": True, "b": True, "c": True, "d": False, "e": False}))
    variant = by_id(series("misleadcap", {"a": False, "b": True, "c": False, "d": True, "e": False}))
    out = paired_metrics(base, variant, n_resamples=200)
    assert (out["n_base_correct"], out["n_base_wrong"]) == (3, 2)
    assert out["flip_correct_to_wrong"] == pytest.approx(2 / 3)
    assert out["flip_wrong_to_correct"] == pytest.approx(1 / 2)


def test_unparsed_base_item_counts_as_wrong_for_flips():
    base = by_id([rec("a", "base", True), rec("b", "base", False, status="unparsed")])
    variant = by_id([rec("a", "truecap", True), rec("b", "truecap", True)])
    out = paired_metrics(base, variant, n_resamples=200)
    assert out["n_base_wrong"] == 1 and out["flip_wrong_to_correct"] == 1.0
    assert out["drop"] == pytest.approx(-0.5)  # negative: the variant helped


def test_flip_rate_is_none_when_its_base_class_is_empty():
    assert flip_rates([(True, False), (True, True)]) == {
        "n_base_correct": 2, "n_base_wrong": 0, "flip_correct_to_wrong": 0.5, "flip_wrong_to_correct": None}
    assert flip_rates([]) == {"n_base_correct": 0, "n_base_wrong": 0, "flip_correct_to_wrong": None,
                              "flip_wrong_to_correct": None}


def test_pairs_are_items_in_both_and_scored_in_both():
    base = by_id([rec("a", "base", True), rec("b", "base", True), rec("c", "base", False),
                  rec("f", "base", True, gold="7")])
    variant = by_id([rec("a", "abstain", False), rec("c", "abstain", False), rec("z", "abstain", True),
                     rec("f", "abstain", False, status="not_applicable", gold="7")])
    out = paired_metrics(base, variant, n_resamples=200)
    assert out["n_paired"] == 2  # a, c: b only in base, z only in the variant, f not applicable in the variant
    assert out["drop"] == pytest.approx(0.5)


def test_no_pair_gives_null_paired_metrics():
    out = paired_metrics(by_id([rec("a")]), by_id([rec("b", "truecap")]), n_resamples=200)
    assert out["n_paired"] == 0
    assert out["drop"] is None and out["drop_ci_low"] is None and out["flip_correct_to_wrong"] is None


# --- AUROC ------------------------------------------------------------------------------------------------------

AUROC_BASE = [  # base-correct multiple-choice items with their letter distributions
    rec("i1", "base", True, p_correct=0.9, letter_entropy=0.2),
    rec("i2", "base", True, p_correct=0.8, letter_entropy=0.5),
    rec("i3", "base", True, p_correct=0.6, letter_entropy=0.1),
    rec("i4", "base", True, p_correct=0.4, letter_entropy=1.0),
    rec("i5", "base", True, p_correct=0.3, letter_entropy=0.9),
    # left out of the AUROC: base-wrong, and free-form (no letters)
    rec("w1", "base", False, p_correct=0.99, letter_entropy=0.01),
    rec("f1", "base", True, gold="12", p_correct=0.01, letter_entropy=3.0),
]
STILL_CORRECT = {"i1": True, "i2": False, "i3": True, "i4": False, "i5": False, "w1": True, "f1": True}


def test_auroc_matches_hand_computed_values():
    variant = by_id(series("wrongthink", STILL_CORRECT))
    out = paired_metrics(by_id(AUROC_BASE), variant, n_resamples=200)
    # P(correct): positives {0.9, 0.6} vs negatives {0.8, 0.4, 0.3}: 0.9 beats 3, 0.6 beats 2 -> 5 of 6 pairs
    assert out["n_auroc_p_correct"] == 5
    assert out["auroc_p_correct"] == pytest.approx(5 / 6)
    # -H: positives {-0.2, -0.1} vs negatives {-0.5, -1.0, -0.9}: every pair ordered -> 1.0
    assert out["n_auroc_neg_entropy"] == 5
    assert out["auroc_neg_entropy"] == pytest.approx(1.0)


def test_auroc_counts_a_tie_as_half():
    assert auroc([True, False, False], [0.7, 0.7, 0.2]) == pytest.approx((0.5 + 1) / 2)


def test_auroc_is_none_when_a_class_is_empty():
    variant = by_id(series("truecap", dict.fromkeys(STILL_CORRECT, True)))
    out = paired_metrics(by_id(AUROC_BASE), variant, n_resamples=200)
    assert out["auroc_p_correct"] is None and out["auroc_neg_entropy"] is None
    assert auroc([], []) is None


def test_auroc_is_none_when_records_have_no_letter_distribution():
    base = by_id(series("base", {"a": True, "b": True}, legacy=True))
    variant = by_id(series("wrongthink", {"a": True, "b": False}, legacy=True))
    out = paired_metrics(base, variant, n_resamples=200)
    assert out["n_auroc_p_correct"] == 0 and out["auroc_p_correct"] is None
    assert out["auroc_neg_entropy"] is None


# --- bootstrap --------------------------------------------------------------------------------------------------

def test_bootstrap_ci_is_deterministic_and_contains_the_point_estimate():
    diffs = [1, 0, 1, -1, 0, 1, 1, 0, 0, 1, -1, 1]
    first, second = bootstrap_ci(diffs), bootstrap_ci(list(diffs))
    assert first == second
    low, high = first
    assert low < sum(diffs) / len(diffs) < high


def test_bootstrap_ci_is_close_to_the_normal_interval_on_many_items():
    diffs = [1] * 60 + [0] * 120 + [-1] * 20
    mean = sum(diffs) / len(diffs)
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / len(diffs))
    low, high = bootstrap_ci(diffs)
    assert low == pytest.approx(mean - 1.96 * sd / math.sqrt(len(diffs)), abs=0.01)
    assert high == pytest.approx(mean + 1.96 * sd / math.sqrt(len(diffs)), abs=0.01)


def test_bootstrap_ci_depends_on_the_seed_only_through_the_draws():
    diffs = [1, 0, 1, -1, 0, 1, 1, 0]
    assert bootstrap_ci(diffs, seed=0) == bootstrap_ci(diffs, seed=0)
    assert bootstrap_ci(diffs, seed=0) != bootstrap_ci(diffs, seed=1)


def test_bootstrap_ci_edge_cases():
    assert bootstrap_ci([]) == (None, None)
    assert bootstrap_ci([1, 1, 1]) == (1.0, 1.0)
    assert bootstrap_ci([0.5]) == (0.5, 0.5)


def test_paired_ci_uses_the_protocol_default_of_10000_resamples_seed_0():
    base = by_id(series("base", {"a": True, "b": True, "c": False, "d": True}))
    variant = by_id(series("wrongthink", {"a": False, "b": True, "c": True, "d": False}))
    out = paired_metrics(base, variant)
    assert (out["drop_ci_low"], out["drop_ci_high"]) == bootstrap_ci([1, 0, -1, 1], n_resamples=10_000, seed=0)


# --- per-variant metrics ----------------------------------------------------------------------------------------

def test_variant_metrics_recompute_the_protocol_metrics_and_letter_means():
    records = [rec("a", p_correct=0.9, letter_entropy=0.3), rec("b", correct=False, p_correct=0.5),
               rec("c", status="unparsed", correct=False), rec("d", quadrant="undetermined"),
               rec("e", status="not_applicable", p_correct=0.1)]
    out = variant_metrics(records)
    assert out["acc"] == pytest.approx(2 / 4)
    assert out["unparsed_rate"] == pytest.approx(1 / 4)
    assert out["consistency"] == pytest.approx(2 / 2)
    assert out["consistent_acc"] == pytest.approx(1 / 4)
    assert out["undetermined_rate"] == pytest.approx(2 / 4)
    assert out["p_correct"] == pytest.approx(0.7) and out["n_p_correct"] == 2  # not_applicable left out
    assert out["letter_entropy"] == pytest.approx(0.3) and out["n_letter_entropy"] == 1
    assert (out["n_items"], out["n_scored"], out["n_not_applicable"]) == (5, 4, 1)


def test_variant_metrics_accept_records_logged_before_the_letter_fields():
    out = variant_metrics(series("base", {"a": True, "b": False}, legacy=True))
    assert out["acc"] == 0.5
    assert out["p_correct"] is None and out["letter_entropy"] is None and out["n_p_correct"] == 0


def test_stopthink_has_null_consistency_metrics():
    out = variant_metrics(series("stopthink", {"a": True, "b": False}))
    assert out["acc"] == 0.5
    assert out["consistency"] is None and out["consistent_acc"] is None and out["q_undetermined"] is None


def test_row_metrics_cover_every_scoring_metric_and_the_schema():
    assert set(METRICS) <= set(ROW_METRICS)
    assert len(set(ROW_METRICS)) == len(ROW_METRICS)
    assert load_schema()["$defs"]["metrics"]["required"] == list(ROW_METRICS)


# --- analyze: rows and coverage ---------------------------------------------------------------------------------

def two_models():
    ids = {"a": True, "b": True, "c": False, "d": True}
    return {
        ("m1", "bench"): {"base": series("base", ids), "wrongthink": series("wrongthink", ids),
                          "misleadcap": series("misleadcap", ids)},
        ("m2", "bench"): {"base": series("base", ids),
                          # c missing, x extra: a mismatched item set
                          "wrongthink": series("wrongthink", {"a": False, "b": True, "d": True, "x": True})},
    }


def test_analyze_gives_one_row_per_model_benchmark_variant_in_protocol_order():
    rows, _ = analyze(two_models(), n_resamples=200)
    assert [(r["model"], r["variant"]) for r in rows] == [
        ("m1", "base"), ("m1", "wrongthink"), ("m1", "misleadcap"), ("m2", "base"), ("m2", "wrongthink")]
    assert all(list(r["metrics"]) == list(ROW_METRICS) for r in rows)
    assert all(r["metrics"][key] is None for key in PAIRED_METRICS for r in rows if r["variant"] == "base")


def test_a_missing_variant_is_reported():
    _, warnings = analyze(two_models(), n_resamples=200)
    assert ("missing_variant", "m2", "misleadcap") in kinds(warnings)
    assert not any(w["kind"] == "missing_variant" and w["model"] == "m1" for w in warnings)
    not_run = next(w for w in warnings if w["kind"] == "variant_not_run" and w["model"] == "m1")
    assert not_run["count"] == 8 and not_run["level"] == "info" and "wrongthink_but" in not_run["message"]


def test_a_mismatched_item_set_is_reported_and_left_out_of_the_pairing():
    rows, warnings = analyze(two_models(), n_resamples=200)
    missing = next(w for w in warnings if w["kind"] == "items_missing_from_variant")
    extra = next(w for w in warnings if w["kind"] == "items_missing_from_base")
    assert (missing["model"], missing["variant"], missing["count"]) == ("m2", "wrongthink", 1)
    assert missing["item_ids"] == ["c"]
    assert (extra["model"], extra["variant"], extra["item_ids"]) == ("m2", "wrongthink", ["x"])
    row = next(r for r in rows if (r["model"], r["variant"]) == ("m2", "wrongthink"))
    assert row["metrics"]["n_paired"] == 3  # a, b, d
    assert row["metrics"]["drop"] == pytest.approx(1 / 3)  # base 3/3 correct, variant 2/3
    assert row["metrics"]["acc"] == pytest.approx(3 / 4)  # the variant's own accuracy keeps every item


def test_duplicate_item_ids_are_reported_and_the_first_record_kept():
    groups = {("m", "bench"): {"base": [rec("a", correct=True), rec("a", correct=False), rec("b")]}}
    rows, warnings = analyze(groups, n_resamples=200)
    duplicate = next(w for w in warnings if w["kind"] == "duplicate_item_ids")
    assert (duplicate["item_ids"], duplicate["count"], duplicate["level"]) == (["a"], 1, "warning")
    assert rows[0]["metrics"]["n_items"] == 2 and rows[0]["metrics"]["acc"] == 1.0
    assert dedupe([rec("a"), rec("a"), rec("a")])[1] == {"a": 2}


def test_not_applicable_items_are_reported():
    abstain = [rec("a", "abstain"), rec("f", "abstain", status="not_applicable", gold="7")]
    groups = {("m", "bench"): {"base": [rec("a"), rec("f", gold="7")], "abstain": abstain}}
    rows, warnings = analyze(groups, n_resamples=200)
    note = next(w for w in warnings if w["kind"] == "not_applicable")
    assert (note["variant"], note["item_ids"], note["level"]) == ("abstain", ["f"], "info")
    assert rows[1]["metrics"]["n_not_applicable"] == 1 and rows[1]["metrics"]["n_paired"] == 1


def test_missing_base_makes_paired_metrics_null_and_is_reported():
    groups = {("m", "bench"): {"wrongthink": series("wrongthink", {"a": True})}}
    rows, warnings = analyze(groups, n_resamples=200)
    assert ("missing_base", "m", None) in kinds(warnings)
    assert rows[0]["metrics"]["drop"] is None and rows[0]["metrics"]["acc"] == 1.0
    groups = {("m", "bench"): {"wrongthink": series("wrongthink", {"a": True, "b": True}),
                               "misleadcap": series("misleadcap", {"a": True})}}
    _, warnings = analyze(groups, n_resamples=200)
    missing = next(w for w in warnings if w["kind"] == "items_missing_from_variant")
    assert (missing["variant"], missing["item_ids"]) == ("misleadcap", ["b"])


def test_absent_and_partial_letter_distributions_are_reported():
    groups = {("m", "bench"): {"base": series("base", {"a": True}), "truecap": series("truecap", {"a": True})}}
    _, warnings = analyze(groups, n_resamples=200)
    assert ("no_letter_distribution", "m", None) in kinds(warnings)

    base = [rec("a", p_correct=0.9, letter_entropy=0.1), rec("b", p_correct=0.2, letter_entropy=1.0), rec("c")]
    variant = series("wrongthink", {"a": True, "b": False, "c": False})
    rows, warnings = analyze({("m", "bench"): {"base": base, "wrongthink": variant}}, n_resamples=200)
    partial = [w for w in warnings if w["kind"] == "partial_letter_distribution"]
    assert len(partial) == 2 and all(w["item_ids"] == ["c"] for w in partial)
    assert rows[1]["metrics"]["auroc_p_correct"] == 1.0 and rows[1]["metrics"]["n_auroc_p_correct"] == 2


def test_order_variants_puts_base_first_and_unknown_variants_last():
    assert order_variants(["zeta", "misleadcap", "base", "alpha", "stopthink"]) == [
        "base", "stopthink", "misleadcap", "alpha", "zeta"]


def test_analyze_output_is_json_safe():
    rows, warnings = analyze(two_models(), n_resamples=200)
    json.dumps({"rows": rows, "warnings": warnings}, allow_nan=False)


def test_the_math_module_imports_no_lmms_eval_and_nothing_heavy():
    code = ("import sys, lmms_robust.report.paired; "
            "print(sorted(m for m in ('lmms_eval', 'torch', 'matplotlib', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
