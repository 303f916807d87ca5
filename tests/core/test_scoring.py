"""lmms_robust.core.scoring: per-item records and the metrics over them (PROTOCOL.md §4)."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmms_robust.core.items import Item, Parsed
from lmms_robust.core.perturb import perturb
from lmms_robust.core.scoring import HIGHER_IS_BETTER, METRICS, RECORD_KEYS, aggregate, score_item, summarize

ANGLE = Item(benchmark="mathvista", item_id="3", question="∠BOC = ?", options=("135°", "140°", "145°", "150°"),
             answer="145°")
DUP = Item(benchmark="demo", item_id="dup", question="How many?", options=("2", "3", "2", "4"), answer="2")
FLOAT = Item(benchmark="mathvista", item_id="1", question="Distance?", answer="1.2", answer_type="float", precision=1)
QUADRANT_METRICS = ("q_consistent_correct", "q_inconsistent_correct", "q_consistent_incorrect",
                    "q_inconsistent_incorrect", "q_undetermined")
CONSISTENCY_METRICS = ("consistency", "undetermined_rate", "consistent_acc", *QUADRANT_METRICS)
COUNTS = ("n_items", "n_scored", "n_not_applicable", "n_unparsed", "n_undetermined")


def answered(answer, conclusion=None, cot="<think>...</think>") -> Parsed:
    return Parsed(cot=cot, answer=answer, status="ok", source="answer_tag", cot_conclusion=conclusion)


def unparsed(conclusion=None, reason="no_answer") -> Parsed:
    return Parsed(cot="<think>...</think>", answer=None, status="unparsed", reason=reason, cot_conclusion=conclusion)


# --- score_item ------------------------------------------------------------------------------------------------

def test_record_has_every_key_and_survives_json():
    pert = perturb(ANGLE, "wrongthink")
    record = score_item(pert, answered("C", "A"), doc_id=12)
    assert tuple(record) == RECORD_KEYS
    assert json.loads(json.dumps(record)) == record
    assert record["doc_id"] == 12 and record["item_id"] == "3" and record["benchmark"] == "mathvista"
    assert record["prefill"] == pert.prefill and record["prefill_chars"] == len(pert.prefill)
    assert score_item(pert, answered("C", "A"), prefill_chars=7)["prefill_chars"] == 7


def test_stubborn_expert_is_inconsistent_correct_under_wrongthink():
    record = score_item(perturb(ANGLE, "wrongthink"), answered("C", "A"))
    assert (record["status"], record["correct"], record["consistent"], record["quadrant"]) == (
        "ok", True, False, "inconsistent_correct")
    assert (record["target"], record["gold"], record["cot_conclusion"]) == ("A", ["C"], "A")


def test_following_the_wrong_rationale_is_consistent_incorrect():
    record = score_item(perturb(ANGLE, "wrongthink"), answered("A", "A"))
    assert (record["correct"], record["consistent"], record["quadrant"]) == (False, True, "consistent_incorrect")


def test_repeated_choices_compare_by_option_text():
    record = score_item(perturb(DUP, "base"), answered("C", "A"))
    assert record["gold"] == ["A", "C"]
    assert (record["correct"], record["consistent"], record["quadrant"]) == (True, True, "consistent_correct")


def test_unparsed_answer_is_wrong_and_undetermined_never_guessed():
    record = score_item(perturb(ANGLE, "base"), unparsed(conclusion="C", reason="ambiguous"))
    assert (record["status"], record["unparsed_reason"], record["answer"]) == ("unparsed", "ambiguous", None)
    assert (record["correct"], record["consistent"], record["quadrant"]) == (False, None, "undetermined")


def test_no_cot_conclusion_is_undetermined():
    record = score_item(perturb(ANGLE, "base"), answered("C", None))
    assert (record["correct"], record["consistent"], record["quadrant"]) == (True, None, "undetermined")


def test_stopthink_has_no_consistency_to_judge():
    record = score_item(perturb(ANGLE, "stopthink"), answered("C", None))
    assert record["consistency_applicable"] is False
    assert (record["correct"], record["consistent"], record["quadrant"]) == (True, None, None)


def test_choosing_the_abstain_option_is_a_parsed_wrong_answer():
    pert = perturb(ANGLE, "wrongthink_abstain")
    record = score_item(pert, answered("E", "A"))
    assert (record["status"], record["abstained"], record["correct"], record["abstain_letter"]) == (
        "ok", True, False, "E")
    assert score_item(pert, answered("C", "A"))["abstained"] is False


def test_free_form_compares_values():
    record = score_item(perturb(FLOAT, "wrongthink"), answered("1.2", "1.1"))
    assert (record["gold"], record["target"], record["correct"], record["quadrant"]) == (
        "1.2", "1.1", True, "inconsistent_correct")


def test_not_applicable_item_keeps_every_key_and_no_verdict():
    record = score_item(perturb(FLOAT, "abstain"), None)
    assert tuple(record) == RECORD_KEYS
    assert (record["status"], record["quadrant"], record["consistent"], record["answer"]) == (
        "not_applicable", None, None, None)


def test_applicable_item_without_a_response_is_an_error():
    with pytest.raises(ValueError, match="needs a Parsed"):
        score_item(perturb(ANGLE, "base"), None)


# --- aggregate on hand-built records --------------------------------------------------------------------------

def rec(status="ok", correct=False, conclusion="A", consistent=None, variant="base", abstain_letter=None,
        abstained=False) -> dict:
    """A record as score_item writes it, built by hand so the metric math is tested on its own."""
    judged = variant != "stopthink"
    if status == "not_applicable":
        quadrant, consistent, correct = None, None, False
    elif not judged:
        quadrant, consistent = None, None
    elif status != "ok" or conclusion is None:
        quadrant, consistent = "undetermined", None
    else:
        quadrant = f"{'consistent' if consistent else 'inconsistent'}_{'correct' if correct else 'incorrect'}"
    record = dict.fromkeys(RECORD_KEYS)
    record.update(item_id="x", benchmark="demo", variant=variant, status=status, correct=correct,
                  cot_conclusion=conclusion, consistent=consistent, consistency_applicable=judged, quadrant=quadrant,
                  abstain_letter=abstain_letter, abstained=abstained, answer=None if status != "ok" else "A")
    return record


FIVE = [
    rec(correct=True, consistent=True),       # consistent_correct
    rec(correct=True, consistent=False),      # inconsistent_correct
    rec(correct=False, consistent=True),      # consistent_incorrect
    rec(correct=False, conclusion=None),      # undetermined: the CoT commits to nothing
    rec(status="unparsed", conclusion="C"),   # undetermined: unparsed, counts as wrong
]
EXPECTED_FIVE = {
    "acc": 2 / 5, "unparsed_rate": 1 / 5, "consistency": 2 / 3, "undetermined_rate": 2 / 5, "consistent_acc": 1 / 5,
    "q_consistent_correct": 1 / 5, "q_inconsistent_correct": 1 / 5, "q_consistent_incorrect": 1 / 5,
    "q_inconsistent_incorrect": 0.0, "q_undetermined": 2 / 5, "abstain_rate": None,
    "n_items": 5, "n_scored": 5, "n_not_applicable": 0, "n_unparsed": 1, "n_undetermined": 2,
    # no letter distributions in these records: the letter metrics have no item to average over
    "letter_entropy": None, "letter_entropy_norm": None, "p_correct": None, "letter_mass": None, "ece": None,
    "brier": None, "n_letter_items": 0,
    "truncated_rate": None,  # no backend said how these generations ended
    "unscorable_rate": 0.0, "n_unscorable": 0,
}


def test_five_records_give_the_hand_computed_metrics():
    assert summarize(FIVE) == pytest.approx(EXPECTED_FIVE)


def test_truncated_rate_is_the_share_cut_by_max_new_tokens_among_items_whose_end_is_known():
    ends = ["eos", "length", "stop", None, "length"]
    records = [{**r, "finish_reason": end} for r, end in zip(FIVE, ends)]
    records.append({**rec(status="not_applicable"), "finish_reason": "length"})  # left out like every metric
    assert aggregate(records, "truncated_rate") == pytest.approx(2 / 4)
    assert aggregate(FIVE, "acc") == pytest.approx(0.4)
    assert aggregate(FIVE, "consistency") == pytest.approx(2 / 3)


def test_not_applicable_records_are_counted_and_left_out():
    summary = summarize([*FIVE, rec(status="not_applicable"), rec(status="not_applicable", variant="stopthink")])
    assert summary == pytest.approx({**EXPECTED_FIVE, "n_items": 7, "n_not_applicable": 2})


def test_stopthink_consistency_metrics_are_none_not_zero():
    records = [rec(variant="stopthink", correct=True, conclusion=None), rec(variant="stopthink", status="unparsed")]
    summary = summarize(records)
    assert summary["acc"] == 0.5 and summary["unparsed_rate"] == 0.5
    assert all(summary[metric] is None for metric in CONSISTENCY_METRICS)
    assert summary["n_undetermined"] is None


def test_abstain_rate_is_over_items_with_an_abstain_option():
    records = [rec(abstain_letter="E", abstained=True), rec(abstain_letter="E"), rec(abstain_letter="C"),
               rec(abstain_letter="E"), rec(status="not_applicable")]
    assert aggregate(records, "abstain_rate") == 0.25
    assert aggregate(FIVE, "abstain_rate") is None


def test_empty_input_gives_none_for_every_metric_and_zero_counts():
    summary = summarize([])
    assert all(summary[metric] is None for metric in METRICS)
    assert summary["n_items"] == summary["n_scored"] == summary["n_not_applicable"] == summary["n_unparsed"] == 0
    assert summarize([rec(status="not_applicable")])["acc"] is None


def test_unknown_metric_suggests_a_close_name():
    with pytest.raises(ValueError, match="Did you mean 'consistency'"):
        aggregate(FIVE, "consistncy")


def test_every_metric_states_its_direction():
    assert set(HIGHER_IS_BETTER) == set(METRICS)


def test_records_from_score_item_aggregate():
    pert = perturb(ANGLE, "wrongthink")
    records = [score_item(pert, answered("C", "A")), score_item(pert, answered("A", "A")),
               score_item(pert, unparsed())]
    summary = summarize(records)
    assert summary["acc"] == pytest.approx(1 / 3)
    assert summary["consistency"] == 0.5
    for quadrant in ("q_inconsistent_correct", "q_consistent_incorrect", "q_undetermined"):
        assert summary[quadrant] == pytest.approx(1 / 3)


# --- properties ------------------------------------------------------------------------------------------------

record_strategy = st.builds(
    rec, status=st.sampled_from(["ok", "ok", "unparsed", "not_applicable"]), correct=st.booleans(),
    conclusion=st.sampled_from(["A", "B", None]), consistent=st.booleans(), abstain_letter=st.sampled_from([None, "E"]),
    abstained=st.booleans())


@settings(max_examples=300, deadline=None)
@given(records=st.lists(record_strategy, max_size=30), seed=st.integers(0, 2**32))
def test_quadrants_sum_to_one_and_order_never_matters(records, seed):
    summary = summarize(records)
    if summary["n_scored"]:
        assert sum(summary[metric] for metric in QUADRANT_METRICS) == pytest.approx(1.0)
        assert summary["undetermined_rate"] == summary["q_undetermined"]
        assert summary["consistent_acc"] == summary["q_consistent_correct"]
    else:
        assert all(summary[metric] is None for metric in METRICS)
    shuffled = records[:]
    random.Random(seed).shuffle(shuffled)
    assert summarize(shuffled) == summary


INTEGER = Item(benchmark="mathvista", item_id="2", question="Volume?", answer="1000", answer_type="integer", unit="g")


@pytest.mark.parametrize(("item", "gold", "wrong"), [(ANGLE, "C", "A"), (FLOAT, "1.2", "1.1"), (INTEGER, "1000", "999")],
                         ids=["choice", "float", "integer"])
@pytest.mark.parametrize("variant", ["wrongthink", "wrongthink_but", "truethink"])
def test_a_model_that_never_argues_past_the_prefill_concludes_its_target(item, gold, wrong, variant):
    from lmms_robust.core.parse import parse_response

    pert = perturb(item, variant)
    record = score_item(pert, parse_response(pert.prefill + "</think><answer>" + gold + "</answer>", pert.item))
    assert record["cot_conclusion"] == (gold if variant == "truethink" else wrong) == pert.target
    assert record["quadrant"] == ("consistent_correct" if variant == "truethink" else "inconsistent_correct")


def test_records_say_why_an_item_does_not_apply_and_who_wrote_its_text():
    free = Item(benchmark="mathvista", item_id="f1", question="How many?", options=(), answer="3",
                answer_type="integer")
    abstain = score_item(perturb(free, "abstain"), None)
    assert (abstain["status"], abstain["not_applicable_reason"]) == ("not_applicable",
                                                                     perturb(free, "abstain").reason)
    assert abstain["not_applicable_reason"]
    caption = perturb(free, "misleadcap")
    record = score_item(caption, Parsed(cot=None, answer="4", status="ok", source="answer_tag"))
    assert record["not_applicable_reason"] is None
    assert record["text_source"] == caption.text_source and record["text_source"]
    assert record["repairs"] == []


# --- scoring is bounded: math-verify's budget, unscorable items ----------------------------------------------

FREE = Item(benchmark="mathvista", item_id="f", question="Simplify.", answer="2", answer_type="float")


def test_an_answer_math_verify_cannot_finish_is_unscorable_counted_never_a_hang_or_a_guess():
    # (x+1)^{9999} took 112 s in math-verify (its timeouts are off off the main thread); towers and huge powers are
    # never sent, anything else gets the item's budget
    record = score_item(perturb(FREE, "base"), answered("(x+1)^{99999}", "(x+1)^{99999}"))
    assert (record["status"], record["correct"], record["unscorable"]) == ("ok", False, True)
    assert record["unscorable_reason"].startswith("answer vs gold")
    assert record["consistent"] is True  # conclusion and answer are the same text: no math needed
    summary = summarize([record, score_item(perturb(FREE, "base"), answered("2", "2"))])
    assert (summary["unscorable_rate"], summary["n_unscorable"], summary["acc"]) == (0.5, 1, 0.5)


def test_a_comparison_over_budget_is_undecided(monkeypatch):
    from lmms_robust.core import mathcheck

    asked = []
    monkeypatch.setattr(mathcheck, "verify", lambda gold, target, rounding, budget_s=None: asked.append(budget_s))
    monkeypatch.setenv("LMMS_ROBUST_SCORE_BUDGET_S", "3")
    record = score_item(perturb(FREE, "base"), answered("\\sqrt{4}", "\\frac{8}{4}"))
    assert asked == [1.5, 1.5]  # each of the item's two comparisons gets half its budget
    assert (record["correct"], record["consistent"], record["quadrant"], record["unscorable"]) == (
        False, None, "undetermined", True)
    assert record["unscorable_reason"].startswith("answer vs gold and CoT conclusion vs answer")


def test_math_verify_decides_within_the_budget():
    record = score_item(perturb(FREE, "base"), answered("\\sqrt{4}", "\\frac{8}{4}"))
    assert (record["correct"], record["consistent"], record["unscorable"], record["unscorable_reason"]) == (
        True, True, False, None)


def test_records_say_who_decided_consistency():
    from lmms_robust.core.scoring import rejudge

    record = score_item(perturb(ANGLE, "base"), answered("C", "A"))
    assert (record["consistency_source"], record["judge_model"], record["rules_consistent"]) == ("rules", None, False)
    judged = rejudge(record, "consistent", "qwen3-32b")
    assert (judged["consistency_source"], judged["judge_model"], judged["judge_verdict"]) == (
        "judge", "qwen3-32b", "consistent")
    assert (judged["consistent"], judged["rules_consistent"], judged["quadrant"]) == (True, False, "consistent_correct")
    assert tuple(judged) == RECORD_KEYS


def test_process_results_values_carry_the_record_once_and_what_each_metric_reads():
    from lmms_robust.core.scoring import METRIC_FIELDS, metric_values

    record = {"status": "ok", "item_id": "s1", "correct": True, "consistent": None, "consistency_applicable": True,
              "quadrant": "undetermined", "abstain_letter": None, "abstained": False, "finish_reason": "eos",
              "letter_probs": {"A": 0.25, "B": 0.75}, "letter_brier": 0.125, "letter_predicted": "B", "gold": ["B"],
              "letter_entropy": 0.56, "letter_entropy_norm": 0.81, "p_correct": 0.75, "letter_mass": 0.9,
              "unscorable": False, "caption": "a long caption " * 20}
    values = metric_values(record)
    assert set(values) == set(METRICS) and values["acc"] is record
    assert values["truncated_rate"] == {"status": "ok", "finish_reason": "eos"}
    assert values["ece"] == {"status": "ok", "letter_probs": {"A": 0.25, "B": 0.75}, "letter_predicted": "B", "gold": ["B"]}
    assert all("caption" not in v for m, v in values.items() if m != "acc")
    # every aggregation gives the same number on its slim values as on whole records
    for metric in METRICS:
        assert aggregate([values[metric]], metric) == aggregate([record], metric), metric
    assert set(METRIC_FIELDS) == set(METRICS)
