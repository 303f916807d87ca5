"""Every variant through the real lmms-eval CLI with our backend on a tiny random-weight Qwen2.5-VL."""

from __future__ import annotations

import pytest

from lmms_robust.results import load_samples, task_metrics
from lmms_robust.core.scoring import METRICS as METRIC_NAMES

from .conftest import ALL_TASKS

pytestmark = pytest.mark.e2e

TINY_ARGS = "device=cpu,device_map=cpu,dtype=float32,max_new_tokens=6"


@pytest.fixture(scope="module")
def tiny_run(work, tiny_model, local_tasks, lmms_eval_runner):
    return lmms_eval_runner(work / "out_tiny", "qwen2_5_vl_robust", f"pretrained={tiny_model},{TINY_ARGS}",
                            ",".join(ALL_TASKS), local_tasks)


def test_every_variant_produces_all_metrics(tiny_run):
    results = tiny_run.results
    for task in ALL_TASKS:
        metrics = task_metrics(results, task)
        assert set(METRIC_NAMES) <= set(metrics), (task, tiny_run.log[-2000:])
        assert results["n-samples"][task]["effective"] == 8
        for name in ("acc", "unparsed_rate"):
            assert 0.0 <= metrics[name] <= 1.0


def test_stopthink_consistency_is_not_applicable(tiny_run):
    metrics = task_metrics(tiny_run.results, "mathvista_stopthink")
    assert metrics["consistency"] is None and metrics["consistent_acc"] is None and metrics["q_undetermined"] is None


def test_records_join_across_variants_by_item_id(tiny_run):
    for task in ALL_TASKS:
        samples = load_samples(tiny_run.output, task)
        records = [s["acc"] for s in samples]
        assert sorted(r["item_id"] for r in records) == [f"s{i}" for i in range(1, 9)]
        # the record keeps what was parsed, so variants can be joined later
        assert all({"answer", "cot_conclusion", "status", "variant"} <= set(r) for r in records)
