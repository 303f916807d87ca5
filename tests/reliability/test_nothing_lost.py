"""Nothing lost through the real CLI: every doc of every variant is logged once, answered or not, applicable or not.

The 8-item replay suite already asserts n-samples == 8 and the item list per task
(tests/harness/test_replay_e2e.py::test_group_runs_every_variant_with_all_metrics and
::test_same_items_in_same_order_in_every_variant), and 1 vs 2 processes are compared in
tests/harness/test_multiprocess.py. This adds the whole ``mathvista_robust`` group on a larger sample whose replay
file lacks some responses (``missing=empty``): the samples logged still equal docs x variants, the missing ones are
counted as unparsed, and not-applicable items are logged and counted, not dropped.
"""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from lmms_robust.core.perturb import VARIANT_NAMES
from lmms_robust.localize import localize
from lmms_robust.results import load_samples
from lmms_robust.testing.sample import write_sample

from .conftest import mathvista_rows

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TASKS = tuple(f"mathvista_{variant}" for variant in VARIANT_NAMES)
ROWS = mathvista_rows(n_extra=24)
IDS = [row["pid"] for row in ROWS]


def response(row: dict) -> str:
    if row["question_type"] == "multi_choice":
        return "<think>Comparing them, the answer is (A).</think><answer>A</answer>"
    return f"<think>So the answer is {row['answer']}.</think><answer>{row['answer']}</answer>"


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    from tests.harness.conftest import run_lmms_eval

    work = tmp_path_factory.mktemp("nothing_lost")
    tasks_dir = localize("mathvista", write_sample(work / "data", ROWS), work / "tasks")
    rng = random.Random(0)
    dropped = {(task, pid) for task in TASKS for pid in IDS if rng.random() < 0.1}
    lines = [json.dumps({"task": task, "item_id": row["pid"], "response": response(row)})
             for task in TASKS for row in ROWS if (task, row["pid"]) not in dropped]
    replay = work / "replay.jsonl"
    replay.write_text("".join(line + "\n" for line in lines))
    run = run_lmms_eval(work / "out", "robust_replay", f"path={replay},missing=empty", "mathvista_robust",
                        tasks_dir, timeout=600)
    return run, dropped


def test_samples_logged_equal_docs_times_variants(suite):
    run, _ = suite
    results = run.results
    assert {t for t in results["n-samples"] if t.startswith("mathvista_")} == set(TASKS)
    total = 0
    for task in TASKS:
        assert results["n-samples"][task] == {"original": len(IDS), "effective": len(IDS)}, task
        samples = load_samples(run.output, task)
        pairs = Counter((s["doc_id"], s["acc"]["item_id"]) for s in samples)
        assert all(count == 1 for count in pairs.values()), task  # nothing logged twice
        assert sorted(pairs) == list(enumerate(IDS)), task  # every doc, with the same doc id in every variant
        total += len(samples)
    assert total == len(IDS) * len(TASKS)


def test_missing_responses_are_counted_as_unparsed_and_not_applicable_items_are_kept(suite):
    run, dropped = suite
    assert dropped  # the draw left some responses out
    for task in TASKS:
        records = {s["acc"]["item_id"]: s["acc"] for s in load_samples(run.output, task)}
        for pid, record in records.items():
            if (task, pid) in dropped and record["status"] != "not_applicable":
                assert (record["status"], record["unparsed_reason"]) == ("unparsed", "empty"), (task, pid)
        statuses = Counter(record["status"] for record in records.values())
        assert sum(statuses.values()) == len(IDS)
        if task.endswith("abstain"):  # free-form items stay in the split as not_applicable
            free_form = sum(1 for row in ROWS if row["question_type"] == "free_form")
            assert statuses["not_applicable"] >= free_form, task
