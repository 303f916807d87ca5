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
    assert records["s2"]["consistency_source"] == "judge:scripted-judge"
    assert records["s2"]["judge_verdict"] == "consistent" and records["s2"]["cot_conclusion"] == "B"
    assert records["s7"]["judge_verdict"] == "not_applicable"
