"""Letter distributions: where they are read, how they travel, what they summarise to (hand-computed)."""

from __future__ import annotations

import math

import pytest

from lmms_robust.core.items import Item
from lmms_robust.core.letters import (LetterError, answer_context, brier, expected_calibration_error,
                                      summarize_letters, validate_letters)
from lmms_robust.core.parse import parse_response
from lmms_robust.core.perturb import perturb
from lmms_robust.core.scoring import aggregate, score_item, summarize


@pytest.mark.parametrize("text, context, forced", [
    ("<think>so B.</think><answer>B</answer>", "<think>so B.</think>", False),
    ("<think>x</think><answer>A</answer> wait <answer>C</answer>", "<think>x</think><answer>A</answer> wait ", False),
    ("<think>x</think>The answer is B", "<think>x</think>", True),   # no <answer>: forced right after the think
    ("<think>still thinking", "<think>still thinking</think>", True),  # open think is closed, then forced
    ("<think>hm <answer>D</answer>", "<think>hm ", False),              # an <answer> ends an open think block
    ("B", "B", True),                                                # no think at all
    ("<think><answer>A</answer></think>", "<think><answer>A</answer></think>", True),  # <answer> inside the CoT
    ("<answer>B</answer>\n<think>so B</think>", "", False),                  # an answer written before the think
    ("x <answer>B</answer><think>a</think><answer>C</answer>", "x <answer>B</answer><think>a</think>", False),
])
def test_answer_context(text, context, forced):
    assert answer_context(text) == (context, forced)


@pytest.mark.parametrize("bad, says", [
    ({"raw": {"A": True}, "forced": False}, "not a probability"),         # true is not 1.0
    ({"raw": {"A": -0.1, "B": 0.5}, "forced": False}, "not a probability"),  # never clamped to 0
    ({"raw": {"A": float("nan")}, "forced": False}, "not a probability"),  # never dropped
    ({"raw": {"A": 0.7, "B": 0.6}, "forced": False}, "sum to"),
    ({"raw": {"a": 0.5}, "forced": False}, "not an option letter"),
    ({"raw": {"A": 0.5}, "forced": "no"}, "'forced' must be"),
    ({"raw": {"A": 0.5}}, "a letter distribution is"),
    ({"raw": [0.5], "forced": False}, "'raw' must map"),
])
def test_malformed_distributions_are_refused_never_repaired(bad, says):
    with pytest.raises(LetterError, match=says):
        validate_letters(bad)


def test_a_distribution_summing_to_one_up_to_float32_rounding_is_accepted():
    validate_letters({"raw": {"A": 0.50002, "B": 0.50002}, "forced": True})


def test_summary_of_a_hand_computed_distribution():
    # raw masses 0.3, 0.1, 0.1 on A, B, C (0.5 went elsewhere) -> 0.6, 0.2, 0.2
    out = summarize_letters({"A": 0.3, "B": 0.1, "C": 0.1, "Z": 0.4}, ("A", "B", "C"), ("B",))
    assert out["letter_mass"] == pytest.approx(0.5)
    assert out["letter_probs"] == pytest.approx({"A": 0.6, "B": 0.2, "C": 0.2})
    entropy = -(0.6 * math.log(0.6) + 2 * 0.2 * math.log(0.2))  # 0.9503 nats
    assert out["letter_entropy"] == pytest.approx(entropy)
    assert out["letter_entropy_norm"] == pytest.approx(entropy / math.log(3))
    assert out["p_correct"] == pytest.approx(0.2)
    assert out["predicted"] == "A"


def test_no_mass_on_any_letter_gives_no_distribution():
    out = summarize_letters({"Z": 1.0}, ("A", "B"), ("A",))
    assert out["letter_probs"] is None and out["letter_mass"] == 0.0 and out["p_correct"] is None


def test_brier_without_halving_and_with_repeated_gold():
    assert brier({"A": 0.6, "B": 0.2, "C": 0.2}, ("B",)) == pytest.approx(0.36 + 0.64 + 0.04)  # 1.04
    assert brier({"A": 0.5, "B": 0.2, "C": 0.3}, ("A", "C")) == pytest.approx(0.2**2 + 0.2**2)  # gold mass 0.8


def test_ece_fifteen_equal_width_bins():
    # bin [0.8, 0.867): 0.85 (right), 0.85 (wrong) -> |0.5 - 0.85| * 2/4 ; bin [0.533, 0.6): 0.55 right, 0.55 right
    # -> |1 - 0.55| * 2/4. ECE = 0.175 + 0.225 = 0.4
    assert expected_calibration_error([0.85, 0.85, 0.55, 0.55], [True, False, True, True]) == pytest.approx(0.4)
    assert expected_calibration_error([1.0], [True]) == pytest.approx(0.0)  # 1.0 falls in the last bin
    assert expected_calibration_error([], []) is None


def test_records_and_task_metrics_from_letter_distributions():
    item = Item(benchmark="t", item_id="1", question="q?", options=("cat", "dog", "fox"), answer="dog")
    free = Item(benchmark="t", item_id="2", question="q?", answer="7", answer_type="integer")
    mc = score_item(perturb(item, "base"), parse_response("<answer>B</answer>", item),
                    letters={"raw": {"A": 0.3, "B": 0.1, "C": 0.1}, "forced": False})
    mc2 = score_item(perturb(item, "base"), parse_response("<answer>B</answer>", item),
                     letters={"raw": {"A": 0.0, "B": 0.8, "C": 0.2}, "forced": True})
    ff = score_item(perturb(free, "base"), parse_response("<answer>7</answer>", free),
                    letters={"raw": {"A": 1.0}, "forced": False})
    assert mc["letter_forced"] is False and mc2["letter_forced"] is True
    assert ff["letter_probs"] is None and ff["p_correct"] is None  # free-form items are left out
    records = [mc, mc2, ff]
    assert aggregate(records, "p_correct") == pytest.approx((0.2 + 0.8) / 2)
    assert aggregate(records, "letter_mass") == pytest.approx((0.5 + 1.0) / 2)
    assert aggregate(records, "brier") == pytest.approx((1.04 + (0.04 + 0.04)) / 2)
    # top labels: A at 0.6 (wrong), B at 0.8 (right): bins hold one each -> (0.6 + 0.2) / 2
    assert aggregate(records, "ece") == pytest.approx(0.4)
    assert summarize(records)["n_letter_items"] == 2
