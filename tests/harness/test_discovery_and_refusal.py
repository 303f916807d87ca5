"""How lmms-eval finds our tasks and backends, and what it refuses."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lmms_robust.cli import OFFLINE_ENV
from lmms_robust.results import task_metrics

from .conftest import write_replay

pytestmark = pytest.mark.e2e


def lmms_eval(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lmms_eval", *args], capture_output=True, text=True,
                          env={**os.environ, **OFFLINE_ENV}, timeout=300)


def test_task_listing_shows_our_tasks_with_no_extra_flag():
    listing = lmms_eval("--tasks", "list")
    out = listing.stdout + listing.stderr
    for name in ("mathvista_misleadcap", "mathvista_robust", "mathvista_wrongthink_but", "mathvista_abstain"):
        assert f" - {name}\n" in out, name


def test_shipped_tasks_are_found_without_include_path():
    # resolving the task needs only the index; the run then stops at the dataset, which is not reachable offline
    run = lmms_eval("--model", "robust_replay", "--model_args", "path=/nonexistent.jsonl", "--tasks", "mathvista_base")
    out = run.stdout + run.stderr
    assert "Tasks not found" not in out
    assert "/nonexistent.jsonl" in out  # got as far as building our backend


def test_prefill_variant_on_a_backend_that_cannot_continue_is_refused(work, tiny_model, local_tasks, lmms_eval_runner):
    run = lmms_eval_runner(work / "out_refused", "qwen2_5_vl",
                           f"pretrained={tiny_model},device=cpu,device_map=cpu", "mathvista_wrongthink", local_tasks)
    assert "prefills the assistant turn" in run.log and "--model qwen2_5_vl_robust" in run.log
    assert not list((work / "out_refused").rglob("*_results.json"))  # nothing was scored under a different protocol


def test_non_prefill_variant_runs_on_lmms_eval_own_backend(work, tiny_model, local_tasks, lmms_eval_runner):
    run = lmms_eval_runner(work / "out_builtin", "qwen2_5_vl",
                           f"pretrained={tiny_model},device=cpu,device_map=cpu", "mathvista_misleadcap", local_tasks,
                           extra=["--gen_kwargs", "max_new_tokens=4"])
    metrics = task_metrics(run.results, "mathvista_misleadcap")
    assert 0.0 <= metrics["acc"] <= 1.0


def test_a_missing_replay_response_names_the_task_item_and_both_ways_on():
    from lmms_robust.models.replay import ReplayError, RobustReplay

    replay = RobustReplay.__new__(RobustReplay)  # only the lookup: no accelerator, no file
    replay.responses = {("mathvista_base", "item_id=s1"): "<answer>B</answer>"}
    replay.path, replay.missing = "r.jsonl", "error"
    assert replay._lookup("mathvista_base", 0, {"lr_item_id": "s1"}) == "<answer>B</answer>"
    with pytest.raises(ReplayError, match=r"r.jsonl has no response for task 'mathvista_base' item_id 's2' "
                                          r"\(doc_id 1\); add it, or pass missing=empty"):
        replay._lookup("mathvista_base", 1, {"lr_item_id": "s2"})
    replay.missing = "empty"
    assert replay._lookup("mathvista_base", 1, {"lr_item_id": "s2"}) == ""


@pytest.mark.slow  # the test above, through the CLI (~16 s); `-m slow` runs it
def test_missing_replay_response_is_an_error_naming_the_item(work, local_tasks, lmms_eval_runner):
    path = write_replay(work / "partial.jsonl", [{"task": "mathvista_base", "item_id": "s1", "response": "<answer>B</answer>"}])
    run = lmms_eval_runner(work / "out_partial", "robust_replay", f"path={path}", "mathvista_base", local_tasks)
    assert "has no response for task 'mathvista_base' item_id 's2'" in run.log
    assert "missing=empty" in run.log


def test_demo_command_prints_the_results_table(tmp_path):
    run = subprocess.run([sys.executable, "-m", "lmms_robust.cli", "demo", "--workdir", str(tmp_path),
                          "--tasks", "mathvista_base,mathvista_wrongthink", "--max-new-tokens", "4"],
                         capture_output=True, text=True, env={**os.environ, **OFFLINE_ENV}, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    table = run.stdout[run.stdout.index("task "):]
    assert "mathvista_base " in table and "mathvista_wrongthink " in table
    assert "consistent_acc" in table.splitlines()[0]


def test_documented_include_path_route_lists_our_tasks():
    from lmms_robust.resources import tasks_dir

    listing = lmms_eval("tasks", "list", "--include-path", str(tasks_dir()))
    names = [line.strip() for line in listing.stdout.splitlines()]
    assert names.count("mathvista_misleadcap") == 1 and "mathvista_robust" in names


def test_the_cheap_index_of_our_tasks_is_the_one_lmms_eval_would_build():
    from lmms_eval.tasks import TaskManager

    from lmms_robust.harness.discovery import shipped_task_index
    from lmms_robust.resources import tasks_dir

    manager = TaskManager.__new__(TaskManager)  # only its index method: no index of lmms-eval's own tasks
    manager.logger = __import__("logging").getLogger("test")
    theirs = {name: dict(entry) for name, entry in manager._get_task_and_group(str(tasks_dir())).items()}
    assert shipped_task_index() == theirs
    assert len(theirs) > 100 and theirs["mathvista_robust"]["type"] == "group"
