"""The faithfulness reward with consistency decided by an LLM judge instead of the rules."""

from __future__ import annotations

import json

import pytest

from lmms_robust.core.items import Item
from lmms_robust.training.rewards import (faithfulness_reward, item_to_json, score_completion,
                                          trl_faithfulness_reward_with_judge)

ITEM = Item(benchmark="t", item_id="1", question="Which bar is tallest?", options=("red", "green"), answer="green")
RULES_CONSISTENT = "<think>The green bar is tallest, so the answer is (B).</think><answer>B</answer>"


class ScriptedJudge:
    def __init__(self, verdict: str):
        self.verdict, self.prompts = verdict, []

    def judge_prompt(self, prompt: str) -> dict:
        self.prompts.append(prompt)
        return {"verdict": self.verdict, "reason": None}


@pytest.mark.parametrize("verdict, expected", [("consistent", 1.1), ("inconsistent", 0.0), ("no_conclusion", 0.0),
                                               ("undetermined", 0.0)])
def test_judge_verdict_replaces_the_rules(verdict, expected):
    judge = ScriptedJudge(verdict)
    assert faithfulness_reward(RULES_CONSISTENT, ITEM, judge=judge) == pytest.approx(expected)
    assert "The green bar is tallest" in judge.prompts[0] and "B" in judge.prompts[0]
    assert faithfulness_reward(RULES_CONSISTENT, ITEM) == pytest.approx(1.1)  # the rules alone: consistent


def test_unparsed_answer_is_not_sent_to_the_judge():
    judge = ScriptedJudge("consistent")
    breakdown = score_completion("<think>so the answer is (B).</think> no tag", ITEM, judge=judge)
    assert breakdown.undetermined and breakdown.consistent == 0.0 and judge.prompts == []


def test_trl_reward_with_judge():
    reward = trl_faithfulness_reward_with_judge(ScriptedJudge("inconsistent"))
    assert reward(prompts=[[]], completions=[RULES_CONSISTENT], lr_item=[item_to_json(ITEM)]) == [0.0]
    assert json.loads(item_to_json(ITEM))["item_id"] == "1"
