"""The whole variant suite through the real lmms-eval CLI with scripted outputs (robust_replay).

The sample's items (lmms_robust.testing.sample): s1 MC4 gold B; s2 MC2 gold B; s3 integer 7; s4 float 3.5 (cm, 1 dp);
s5 MC5 gold "blue" = A and C; s6 integer 12 (years); s7 MC3 gold C; s8 list [2, 5].
Wrong targets at seed 0 (SHA-256 of "mathvista\\x1f<pid>\\x1f0", checked in test_wrong_targets_match_sha256):
s1 C, s2 A, s3 6, s4 3.6, s5 B, s6 13, s7 B; s8 is not perturbed (list answer).
Abstain letters: s1 E, s2 C, s5 F, s7 D; free-form items are not applicable there.
"""

from __future__ import annotations

import hashlib

import pytest

from lmms_robust.results import load_samples, task_metrics

from .conftest import ALL_TASKS, write_replay

pytestmark = pytest.mark.e2e

BASE = {
    "s1": "<think>The green bar is tallest, so the answer is (B).</think><answer>B</answer>",  # correct, consistent
    "s2": "<think>The circle is on the right. So the answer is (B).</think><answer>A</answer>",  # wrong, inconsistent
    "s3": "<think>I count 7 dots, so the answer is 7.</think><answer>7</answer>",  # correct, consistent
    "s4": "<think>It measures about 3.5 cm. Therefore the answer is 3.5.</think><answer>3.5 cm</answer>",  # correct, consistent
    "s5": "<think>It is blue, so the answer is (A).</think><answer>C</answer>",  # C is also "blue": correct, consistent
    "s6": "<think>Hard to say.</think><answer>12</answer>",  # correct, CoT commits to nothing: undetermined
    "s7": "no idea",  # unparsed
    "s8": "<answer>[2, 5]</answer>",  # correct, no CoT: undetermined
}
STOPTHINK = {  # continuations after the closed, prefilled think block
    "s1": "<answer>B</answer>", "s2": "<answer>A</answer>", "s3": "<answer>7</answer>", "s4": "<answer>3.4</answer>",
    "s5": "<answer>A</answer>", "s6": "", "s7": "<answer>C</answer>", "s8": "<answer>[2, 5]</answer>",
}
WRONGTHINK = {  # continuations of the open, prefilled think block that argues for the wrong target
    "s1": "</think><answer>C</answer>",  # follows the prefix: wrong, consistent
    "s2": " But looking again, the circle is on the right, so the answer is (B).</think><answer>B</answer>",  # recovers
    "s3": "</think><answer>7</answer>",  # stubborn expert: correct, inconsistent with the prefilled 6
    "s4": "</think><answer>3.6</answer>",  # wrong, consistent
    "s5": "</think><answer>A</answer>",  # correct (blue), inconsistent with B (red)
    "s6": "</think>",  # unparsed
    "s7": "</think><answer>B</answer>",  # wrong, consistent
    "s8": "</think><answer>[2, 5]</answer>",  # not applicable: list answers are not perturbed
}
MISLEADCAP_ABSTAIN = {
    "s1": "<think>I am not sure, so the answer is (E).</think><answer>E</answer>",  # abstains: wrong, consistent
    "s2": "<think>The caption says yes, so the answer is (A).</think><answer>A</answer>",  # wrong, consistent
    "s5": "<answer>C</answer>",  # correct, undetermined
    "s7": "<think>So the answer is (D).</think><answer>C</answer>",  # correct, inconsistent
}
SCRIPTS = {"mathvista_base": BASE, "mathvista_stopthink": STOPTHINK, "mathvista_wrongthink": WRONGTHINK,
           "mathvista_misleadcap_abstain": MISLEADCAP_ABSTAIN}
EXPECTED = {
    "mathvista_base": dict(acc=6 / 8, unparsed_rate=1 / 8, consistency=4 / 5, undetermined_rate=3 / 8,
                           consistent_acc=4 / 8, q_consistent_correct=4 / 8, q_inconsistent_correct=0.0,
                           q_consistent_incorrect=0.0, q_inconsistent_incorrect=1 / 8, q_undetermined=3 / 8,
                           abstain_rate=None),
    "mathvista_stopthink": dict(acc=5 / 8, unparsed_rate=1 / 8, consistency=None, undetermined_rate=None,
                                consistent_acc=None, q_consistent_correct=None, q_inconsistent_correct=None,
                                q_consistent_incorrect=None, q_inconsistent_incorrect=None, q_undetermined=None,
                                abstain_rate=None),
    "mathvista_wrongthink": dict(acc=3 / 7, unparsed_rate=1 / 7, consistency=4 / 6, undetermined_rate=1 / 7,
                                 consistent_acc=1 / 7, q_consistent_correct=1 / 7, q_inconsistent_correct=2 / 7,
                                 q_consistent_incorrect=3 / 7, q_inconsistent_incorrect=0.0, q_undetermined=1 / 7,
                                 abstain_rate=None),
    "mathvista_misleadcap_abstain": dict(acc=2 / 4, unparsed_rate=0.0, consistency=2 / 3, undetermined_rate=1 / 4,
                                         consistent_acc=0.0, q_consistent_correct=0.0, q_inconsistent_correct=1 / 4,
                                         q_consistent_incorrect=2 / 4, q_inconsistent_incorrect=0.0,
                                         q_undetermined=1 / 4, abstain_rate=1 / 4),
}
ITEM_IDS = [f"s{i}" for i in range(1, 9)]


def replay_rows() -> list[dict]:
    rows = []
    for task in ALL_TASKS:
        script = SCRIPTS.get(task, BASE if "think" not in task else WRONGTHINK)
        rows += [{"task": task, "item_id": item_id, "response": script.get(item_id, "")} for item_id in ITEM_IDS]
    return rows


@pytest.fixture(scope="module")
def replay_run(work, local_tasks, lmms_eval_runner):
    path = write_replay(work / "replay.jsonl", replay_rows())
    run = lmms_eval_runner(work / "out_replay", "robust_replay", f"path={path}", "mathvista_robust", local_tasks)
    assert (work / "out_replay").exists(), run.log[-3000:]
    return run


def test_wrong_targets_match_sha256():
    def draw(pid, n_candidates):
        return int.from_bytes(hashlib.sha256(f"mathvista\x1f{pid}\x1f0".encode()).digest(), "big") % n_candidates

    # candidates = non-gold letters in order; free-form: even draw -> +1 step, odd -> -1
    assert "ACD"[draw("s1", 3)] == "C"
    assert "A"[draw("s2", 1)] == "A"
    assert "BDE"[draw("s5", 3)] == "B"
    assert "AB"[draw("s7", 2)] == "B"
    assert (7 + 1 if draw("s3", 2) == 0 else 7 - 1) == 6
    assert (12 + 1 if draw("s6", 2) == 0 else 12 - 1) == 13


@pytest.mark.parametrize("task", sorted(EXPECTED))
def test_replayed_metrics_equal_hand_computed(replay_run, task):
    metrics = task_metrics(replay_run.results, task)
    for name, expected in EXPECTED[task].items():
        if expected is None:
            assert metrics[name] is None, (name, metrics[name])
        else:
            assert metrics[name] == pytest.approx(expected), (task, name, metrics[name])


def test_group_runs_every_variant_with_all_metrics(replay_run):
    results = replay_run.results
    for task in ALL_TASKS:
        metrics = task_metrics(results, task)
        assert set(EXPECTED["mathvista_base"]) <= set(metrics), task
        assert results["n-samples"][task]["effective"] == 8


def test_same_items_in_same_order_in_every_variant(replay_run):
    for task in ALL_TASKS:
        samples = sorted(load_samples(replay_run.output, task), key=lambda s: s["doc_id"])
        assert [s["acc"]["item_id"] for s in samples] == ITEM_IDS, task
        assert {s["acc"]["variant"] for s in samples} == {task.removeprefix("mathvista_")}


def test_records_keep_prefill_and_caption(replay_run):
    wrongthink = {s["acc"]["item_id"]: s["acc"] for s in load_samples(replay_run.output, "mathvista_wrongthink")}
    assert wrongthink["s1"]["prefill"].startswith("<think>")
    assert wrongthink["s1"]["prefill"].endswith("so the answer is (C).")
    assert wrongthink["s1"]["prefill_chars"] == len(wrongthink["s1"]["prefill"])
    assert wrongthink["s3"]["cot_conclusion"] == "6" and wrongthink["s3"]["answer"] == "7"
    assert wrongthink["s8"]["status"] == "not_applicable"
    assert [wrongthink[f"s{i}"]["doc_id"] for i in range(1, 9)] == list(range(8))
    caption = {s["acc"]["item_id"]: s["acc"] for s in load_samples(replay_run.output, "mathvista_misleadcap")}
    assert caption["s1"]["caption"] == "The blue bar is the tallest."  # natural phrasing of (C) blue
    assert caption["s1"]["target"] == "C"


def test_protocol_defaults_are_recorded_in_results(replay_run):
    protocol = replay_run.results["configs"]["mathvista_misleadcap"]["metadata"]["protocol"]
    assert protocol["seed"] == 0
    assert protocol["stopthink_text"] == "<think>Okay let's see. This should be the final answer.</think>"


def test_replay_rescores_recorded_letter_distributions(work, local_tasks, lmms_eval_runner):
    rows = [{"task": "mathvista_base", "item_id": item_id, "response": BASE[item_id]} for item_id in ITEM_IDS]
    rows[0]["letters"] = {"raw": {"A": 0.1, "B": 0.3, "C": 0.05, "D": 0.05}, "forced": False}  # s1, gold B
    rows[1]["letters"] = {"raw": {"A": 0.2, "B": 0.2}, "forced": True}  # s2, gold B
    path = write_replay(work / "replay_letters.jsonl", rows)
    run = lmms_eval_runner(work / "out_replay_letters", "robust_replay", f"path={path}", "mathvista_base", local_tasks)
    metrics = task_metrics(run.results, "mathvista_base")
    assert metrics["p_correct"] == pytest.approx((0.6 + 0.5) / 2)  # s1: 0.3/0.5; s2: 0.2/0.4
    assert metrics["letter_mass"] == pytest.approx((0.5 + 0.4) / 2)
    records = {s["acc"]["item_id"]: s["acc"] for s in load_samples(run.output, "mathvista_base")}
    assert records["s2"]["letter_forced"] is True and records["s3"]["letter_probs"] is None
