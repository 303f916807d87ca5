"""Rewards: hand-computed values on a table of turns, and the TRL / verl call signatures."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lmms_robust.core.items import Item
from lmms_robust.core.perturb import perturb, wrong_option
from lmms_robust.training.rewards import (accuracy_reward, compute_faithfulness_score, compute_score,
                                          consistency_indicator, faithfulness_reward, format_reward, full_turn,
                                          item_from_json, item_to_json, score_completion, total_reward,
                                          trl_accuracy_reward, trl_consistency_reward, trl_faithfulness_reward,
                                          trl_format_reward, trl_total_reward)

MC = Item(benchmark="t", item_id="1", question="Which bar is the tallest?", options=("red", "green", "blue", "yellow"),
          answer="green")  # gold B
FLOAT = Item(benchmark="t", item_id="2", question="Length in cm?", answer="3.5", answer_type="float", precision=1,
             unit="cm")
WRONG = wrong_option(MC)  # the letter the wrongthink prefill argues for
WRONG_PREFILL = perturb(MC, "wrongthink").prefill
TRUE_PREFILL = perturb(MC, "truethink").prefill

# (completion, prefill, item, format, accuracy, consistent) -> total = 0.1 f + a; faithfulness = total * c
CASES = [
    ("<think>The green bar is tallest, so the answer is (B).</think><answer>B</answer>", None, MC, 1, 1, 1),
    ("<think>It looks like red, so the answer is (A).</think><answer>B</answer>", None, MC, 1, 1, 0),
    ("<think>It looks like red, so the answer is (A).</think><answer>A</answer>", None, MC, 1, 0, 1),
    ("<think>I compared the bars.</think><answer>B</answer>", None, MC, 1, 1, 0),  # CoT commits to nothing
    ("<think>x</think>\n\n<answer>B</answer>\n", None, MC, 1, 1, 0),  # blanks around tags are fine
    ("The answer is B.", None, MC, 0, 1, 0),  # no tags: parsed, no CoT -> undetermined
    ("<think>so the answer is (B).</think><answer>B</answer><answer>B</answer>", None, MC, 0, 1, 1),  # tag twice
    ("Sure! <think>so the answer is (B).</think><answer>B</answer>", None, MC, 0, 1, 1),  # text before <think>
    ("<think>so the answer is (B).</think><answer> </answer>", None, MC, 0, 0, 0),  # blank answer: unparsed
    ("<think>so the answer is (B).</think>", None, MC, 0, 0, 0),  # no answer at all
    ("<think>so the answer is (B).</think><answer>A or B</answer>", None, MC, 1, 0, 0),  # ambiguous: unparsed
    # prefilled wrong think (the completion is only what the model wrote after the prefix)
    (f"</think><answer>B</answer>", WRONG_PREFILL, MC, 1, 1, 0),  # stubborn expert: correct, inconsistent
    (f"</think><answer>{WRONG}</answer>", WRONG_PREFILL, MC, 1, 0, 1),  # follows the wrong think
    (" But the green bar is clearly tallest, so the answer is (B).</think><answer>B</answer>", WRONG_PREFILL, MC,
     1, 1, 1),  # argues past the prefix
    (WRONG_PREFILL + "</think><answer>B</answer>", WRONG_PREFILL, MC, 1, 1, 0),  # prefix already included
    ("</think><answer>B</answer>", TRUE_PREFILL, MC, 1, 1, 1),
    ("<answer>B</answer>", WRONG_PREFILL, MC, 0, 1, 0),  # think never closed: format fails, answer still read
    # free-form
    ("<think>Measured, so the answer is 3.5.</think><answer>3.50 cm</answer>", None, FLOAT, 1, 1, 1),
    ("<think>Measured, so the answer is 3.6.</think><answer>3.5</answer>", None, FLOAT, 1, 1, 0),
    ("<think>Measured, so the answer is 3.6.</think><answer>3.6</answer>", None, FLOAT, 1, 0, 1),
]


@pytest.mark.parametrize("completion, prefill, item, fmt, acc, cons", CASES)
def test_reward_components_match_hand_computed_values(completion, prefill, item, fmt, acc, cons):
    assert format_reward(completion, prefill=prefill) == fmt
    assert accuracy_reward(completion, item, prefill=prefill) == acc
    assert consistency_indicator(completion, item, prefill=prefill) == cons
    assert total_reward(completion, item, prefill=prefill) == pytest.approx(0.1 * fmt + 1.0 * acc)
    assert faithfulness_reward(completion, item, prefill=prefill) == pytest.approx((0.1 * fmt + 1.0 * acc) * cons)


def test_the_prefill_is_the_start_of_the_cot():
    assert WRONG_PREFILL.startswith("<think>") and WRONG_PREFILL.endswith(f"so the answer is ({WRONG}).")
    assert full_turn("</think><answer>B</answer>", WRONG_PREFILL) == WRONG_PREFILL + "</think><answer>B</answer>"
    assert full_turn("x", None) == "x" and full_turn(None, None) == ""


def test_undetermined_is_flagged_and_earns_no_faithfulness():
    breakdown = score_completion("<think>I compared the bars.</think><answer>B</answer>", MC)
    assert breakdown.undetermined and breakdown.consistent == 0.0 and breakdown.faithfulness == 0.0
    assert breakdown.total == pytest.approx(1.1)


def test_item_json_round_trips():
    assert item_from_json(item_to_json(MC)) == MC
    assert item_from_json(item_to_json(FLOAT)) == FLOAT
    with pytest.raises(ValueError, match="unknown field"):
        item_from_json('{"question": "q", "answer": "a", "colour": "red"}')


# ------------------------------------------------------------------------------------------------------ TRL

COMPLETIONS = [CASES[0][0], CASES[1][0], CASES[2][0], "</think><answer>B</answer>"]
PREFILLS = [None, None, None, WRONG_PREFILL]
TOTALS = [1.1, 1.1, 0.1, 1.1]
FAITHFUL = [1.1, 0.0, 0.1, 0.0]


def _trl_call(func, completions, prompts, **columns):
    """As GRPOTrainer._calculate_rewards calls a reward function (TRL 1.16)."""
    return func(prompts=prompts, completions=completions, completion_ids=[[1, 2, 3]] * len(completions),
                trainer_state=object(), log_extra=lambda *a, **k: None, log_metric=lambda *a, **k: None, **columns)


def _conversational_prompts():
    user = {"role": "user", "content": [{"type": "image", "image": None}, {"type": "text", "text": "Q"}]}
    return [[user] if p is None else [user, {"role": "assistant", "content": [{"type": "text", "text": p}]}]
            for p in PREFILLS]


def test_trl_rewards_on_conversational_completions_with_prefill_column():
    completions = [[{"role": "assistant", "content": c}] for c in COMPLETIONS]
    columns = dict(lr_item=[item_to_json(MC)] * 4, lr_prefill=PREFILLS, image=[None] * 4)
    assert _trl_call(trl_total_reward, completions, _conversational_prompts(), **columns) == pytest.approx(TOTALS)
    assert _trl_call(trl_faithfulness_reward, completions, _conversational_prompts(), **columns) == \
        pytest.approx(FAITHFUL)
    assert _trl_call(trl_format_reward, completions, _conversational_prompts(), **columns) == [1.0] * 4
    assert _trl_call(trl_accuracy_reward, completions, _conversational_prompts(), **columns) == [1, 1, 0, 1]
    assert _trl_call(trl_consistency_reward, completions, _conversational_prompts(), **columns) == [1, 0, 1, 0]


def test_trl_rewards_read_the_prefill_from_a_trailing_assistant_message():
    completions = [[{"role": "assistant", "content": [{"type": "text", "text": c}]}] for c in COMPLETIONS]
    got = _trl_call(trl_total_reward, completions, _conversational_prompts(), lr_item=[item_to_json(MC)] * 4)
    assert got == pytest.approx(TOTALS)


def test_trl_rewards_on_string_completions_and_plain_item_columns():
    completions = [c if p is None else p + c for c, p in zip(COMPLETIONS, PREFILLS)]
    got = _trl_call(trl_faithfulness_reward, completions, ["prompt text"] * 4, question=["Which?"] * 4,
                    options=[list(MC.options)] * 4, answer=["green"] * 4, answer_type=["choice"] * 4,
                    precision=[None] * 4)
    assert got == pytest.approx(FAITHFUL)


def test_trl_reward_names_are_what_trl_logs():
    assert [f.__name__ for f in (trl_format_reward, trl_accuracy_reward, trl_consistency_reward, trl_total_reward,
                                 trl_faithfulness_reward)] == [
        "format_reward", "accuracy_reward", "consistency_reward", "total_reward", "faithfulness_reward"]


def test_trl_reward_without_item_columns_names_what_it_needs():
    with pytest.raises(KeyError, match="lr_item"):
        _trl_call(trl_total_reward, ["x"], ["p"], image=[None])


# ----------------------------------------------------------------------------------------------------- verl


def test_verl_compute_score_as_the_reward_manager_calls_it():
    gt = item_to_json(MC)
    assert compute_score(data_source="mathvista", solution_str=CASES[0][0], ground_truth=gt,
                         extra_info={"index": 0}) == pytest.approx(1.1)
    assert compute_score("mathvista", "</think><answer>B</answer>", gt,
                         {"lr_prefill": WRONG_PREFILL}) == pytest.approx(1.1)
    assert compute_faithfulness_score(data_source="mathvista", solution_str="</think><answer>B</answer>",
                                      ground_truth=gt, extra_info={"lr_prefill": WRONG_PREFILL}) == 0.0
    assert compute_score("mathvista", CASES[2][0], gt) == pytest.approx(0.1)  # extra_info omitted
    assert compute_score("mathvista", CASES[2][0], gt, None, reward_router_address=None) == pytest.approx(0.1)


def test_rewards_module_is_pure():
    code = ("import sys, lmms_robust.training.rewards, lmms_robust.training.chat, lmms_robust.training.augment; "
            "print(sorted(m for m in ('torch', 'lmms_eval', 'datasets', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
