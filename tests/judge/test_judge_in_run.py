"""Consistency judged by an LLM during a real lmms-eval run (replay backend, scripted judge server)."""

from __future__ import annotations

import pytest

from lmms_robust.results import load_samples, task_metrics
from tests.harness.conftest import write_replay
from tests.harness.test_replay_e2e import BASE, ITEM_IDS

pytestmark = pytest.mark.e2e


def test_judge_decides_consistency_during_the_run(work, local_tasks, lmms_eval_runner, server, tmp_path):
    # The scripted judge answers CONSISTENT to every prompt. By the rules base has consistency 4/5 (s2 concludes
    # B but answers A); by the judge every item with a parsed answer and a CoT is consistent: s1-s6 (s7 unparsed,
    # s8 has no CoT): consistency 6/6, undetermined 2/8, consistent_acc 5/8 (s2 is wrong).
    path = write_replay(tmp_path / "replay.jsonl",
                        [{"task": "mathvista_base", "item_id": i, "response": BASE[i]} for i in ITEM_IDS])
    env = {"LMMS_ROBUST_JUDGE_URL": server.base_url, "LMMS_ROBUST_JUDGE_MODEL": "scripted-judge",
           "LMMS_ROBUST_JUDGE_CACHE": str(tmp_path / "cache")}
    run = lmms_eval_runner(tmp_path / "out", "robust_replay", f"path={path}", "mathvista_base", local_tasks, env=env)
    metrics = task_metrics(run.results, "mathvista_base")
    assert metrics["consistency"] == pytest.approx(1.0)
    assert metrics["undetermined_rate"] == pytest.approx(2 / 8)
    assert metrics["consistent_acc"] == pytest.approx(5 / 8)
    assert server.requests == 6
    records = {s["acc"]["item_id"]: s["acc"] for s in load_samples(run.output, "mathvista_base")}
    assert (records["s2"]["consistency_source"], records["s2"]["judge_model"]) == ("judge", "scripted-judge")
    assert records["s2"]["judge_verdict"] == "consistent" and records["s2"]["cot_conclusion"] == "B"
    assert records["s2"]["rules_consistent"] is False  # the rules' verdict stays for comparison
    assert records["s7"]["judge_verdict"] == "not_applicable"


def test_rules_first_asks_the_judge_only_where_the_rules_found_no_conclusion(work, local_tasks, lmms_eval_runner,
                                                                             server, tmp_path):
    # The rules decide s1-s5 (s2 inconsistent); s6 ("Hard to say.") has a CoT with no conclusion: the only item
    # the judge is asked about (s7 is unparsed, s8 has no CoT). The scripted judge says CONSISTENT: consistency
    # 5/6, undetermined 2/8, consistent_acc 5/8 (s1, s3, s4, s5 by the rules, s6 by the judge).
    path = write_replay(tmp_path / "replay.jsonl",
                        [{"task": "mathvista_base", "item_id": i, "response": BASE[i]} for i in ITEM_IDS])
    env = {"LMMS_ROBUST_JUDGE_URL": server.base_url, "LMMS_ROBUST_JUDGE_MODEL": "scripted-judge",
           "LMMS_ROBUST_JUDGE_MODE": "rules_first"}
    run = lmms_eval_runner(tmp_path / "out", "robust_replay", f"path={path}", "mathvista_base", local_tasks, env=env)
    metrics = task_metrics(run.results, "mathvista_base")
    assert server.requests == 1
    assert metrics["consistency"] == pytest.approx(5 / 6)
    assert metrics["undetermined_rate"] == pytest.approx(2 / 8)
    assert metrics["consistent_acc"] == pytest.approx(5 / 8)
    records = {s["acc"]["item_id"]: s["acc"] for s in load_samples(run.output, "mathvista_base")}
    assert {i: r["consistency_source"] for i, r in records.items()} == {
        "s1": "rules", "s2": "rules", "s3": "rules", "s4": "rules", "s5": "rules", "s6": "judge", "s7": "rules",
        "s8": "rules"}
    assert (records["s6"]["judge_verdict"], records["s6"]["judge_model"]) == ("consistent", "scripted-judge")
    assert records["s2"]["judge_verdict"] is None and records["s2"]["consistent"] is False
