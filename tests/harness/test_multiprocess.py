"""Two processes (CPU, gloo via torch.distributed.run) give the same records and metrics as one."""

from __future__ import annotations

import pytest

from lmms_robust.results import load_samples, task_metrics

from .conftest import write_replay
from .test_replay_e2e import EXPECTED, replay_rows

pytestmark = pytest.mark.e2e

TWO_PROCESSES = ["-m", "torch.distributed.run", "--nproc_per_node", "2"]
TASKS = ("mathvista_base", "mathvista_wrongthink", "mathvista_misleadcap_abstain")
TINY_ARGS = "device=cpu,device_map=cpu,dtype=float32,max_new_tokens=6"


def by_item(output, task) -> dict[str, tuple]:
    return {s["acc"]["item_id"]: (s["resps"], s["acc"]) for s in load_samples(output, task)}


def test_two_process_tiny_model_run_equals_one_process(work, tiny_model, local_tasks, lmms_eval_runner):
    args = f"pretrained={tiny_model},{TINY_ARGS}"
    single = lmms_eval_runner(work / "mp_one", "qwen2_5_vl_robust", args, ",".join(TASKS), local_tasks)
    double = lmms_eval_runner(work / "mp_two", "qwen2_5_vl_robust", args, ",".join(TASKS), local_tasks,
                              launcher=TWO_PROCESSES)
    assert "Running on rank 1" in double.log  # the second process really evaluated its shard
    for task in TASKS:
        assert task_metrics(double.results, task) == task_metrics(single.results, task)
        one, two = by_item(single.output, task), by_item(double.output, task)
        assert len(load_samples(double.output, task)) == 8  # nothing lost, nothing duplicated by padding
        assert one == two


@pytest.mark.slow  # the tiny-model test above runs the same two-rank path; this adds hand-computed metrics
def test_two_process_replay_matches_hand_computed(work, local_tasks, lmms_eval_runner):
    path = write_replay(work / "replay_mp.jsonl", replay_rows())
    run = lmms_eval_runner(work / "mp_replay", "robust_replay", f"path={path}", ",".join(TASKS), local_tasks,
                           launcher=TWO_PROCESSES)
    assert "Running on rank 1" in run.log
    for task in TASKS:
        metrics = task_metrics(run.results, task)
        for name, expected in EXPECTED[task].items():
            assert metrics[name] == (None if expected is None else pytest.approx(expected)), (task, name)
