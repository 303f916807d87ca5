"""A seed-3 run says 3 everywhere (results, records, report), and two seeds of one model are two runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lmms_robust.results import load_results, load_samples
from tests.harness.conftest import write_replay

pytestmark = pytest.mark.e2e

TASKS = ("mathvista_base", "mathvista_misleadcap")
RESPONSE = "<think>So the answer is (B).</think><answer>B</answer>"
ITEMS = ("s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8")


@pytest.fixture(scope="module")
def seeded_runs(work, local_tasks, lmms_eval_runner):
    replay = write_replay(work / "seeded.jsonl",
                          [{"task": task, "item_id": item, "response": RESPONSE} for task in TASKS for item in ITEMS])
    runs = {}
    for seed in (0, 3):
        output = work / f"seeded_{seed}"
        run = lmms_eval_runner(output, "robust_replay", f"path={replay}", ",".join(TASKS), local_tasks,
                               env={"LMMS_ROBUST_SEED": str(seed)})
        assert list(output.rglob("*_results.json")), run.log[-3000:]
        runs[seed] = output
    return runs


def test_the_results_file_and_every_record_say_seed_3(seeded_runs):
    results = load_results(seeded_runs[3])
    for task in TASKS:
        assert results["configs"][task]["metadata"]["protocol"]["seed"] == 3
        assert "seed=3" in results["configs"][task]["process_docs"]
        assert {s["acc"]["seed"] for s in load_samples(seeded_runs[3], task)} == {3}
    assert {s["acc"]["seed"] for s in load_samples(seeded_runs[0], "mathvista_base")} == {0}


def test_the_seed_changes_the_targets_it_should(seeded_runs):
    targets = {seed: {s["acc"]["item_id"]: s["acc"]["target"] for s in load_samples(run, "mathvista_misleadcap")}
               for seed, run in seeded_runs.items()}
    assert targets[0] != targets[3]


def test_the_report_puts_two_seeds_side_by_side(seeded_runs, work):
    out = work / "seeded_report"
    completed = subprocess.run([sys.executable, "-m", "lmms_robust.cli", "report", str(seeded_runs[0]),
                                str(seeded_runs[3]), "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    board = json.loads((out / "leaderboard.json").read_text())
    base = [e for e in board["entries"] if e["variant"] == "base"]
    assert sorted((e["seed"], e["model"]) for e in base) == [
        (0, f"{'seeded.jsonl'} seed=0"), (3, f"{'seeded.jsonl'} seed=3")]
    assert {e["model_id"].rsplit("@", 1)[1] for e in base} == {"seed=0", "seed=3"}
    assert not [w for w in board["warnings"] if w["kind"] == "duplicate_task"]
    report = (out / "report.md").read_text()
    assert "| seeded.jsonl seed=3 |" in report
