"""An interrupted run, restarted with the same response_log, generates only what it had not finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from lmms_robust.cli import OFFLINE_ENV, lmms_eval_command
from lmms_robust.results import check_run, load_samples

pytestmark = pytest.mark.e2e

TASKS = "mathvista_robust"
TOTAL = 8 * 11  # the sample's 8 items in 11 variants


def logged_keys(log_dir) -> list[str]:
    keys = []
    for path in sorted(log_dir.glob("rank*.jsonl")):
        for line in path.read_text(encoding="utf-8").split("\n"):
            if line.strip():
                try:
                    keys.append(json.loads(line)["key"])
                except ValueError:
                    pass  # a line cut by the kill
    return keys


def test_a_killed_run_resumes_without_regenerating_what_it_finished(work, tiny_model, local_tasks, lmms_eval_runner):
    log_dir = work / "response_log"
    args = f"pretrained={tiny_model},device=cpu,device_map=cpu,dtype=float32,max_new_tokens=48,response_log={log_dir}"
    env = {**os.environ, **OFFLINE_ENV, "TOKENIZERS_PARALLELISM": "false"}
    first = subprocess.Popen(lmms_eval_command("qwen2_5_vl_robust", args, TASKS, work / "out_resume_1", local_tasks),
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(3000):  # until about half is logged (bounded by count, not by a clock claim)
            if len(logged_keys(log_dir)) >= TOTAL // 2 or first.poll() is not None:
                break
            time.sleep(0.1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    done = set(logged_keys(log_dir))
    assert TOTAL // 2 <= len(done) < TOTAL, "the run was not interrupted half-way; nothing to resume"

    second = subprocess.run(
        lmms_eval_command("qwen2_5_vl_robust", args, TASKS, work / "out_resume_2", local_tasks),
        env=env, capture_output=True, text=True, timeout=900)
    log = second.stdout + second.stderr
    assert f"{len(done)} of {TOTAL} responses resumed" in log, log[-3000:]
    assert f"generating {TOTAL - len(done)}" in log
    # the log now holds every response once: the first run's and exactly the missing ones
    keys = logged_keys(log_dir)
    assert len(keys) == len(set(keys)) == TOTAL and set(keys) >= done
    results = check_run(work / "out_resume_2", [TASKS])
    assert sum(results["n-samples"][t]["effective"] for t in results["n-samples"]) == TOTAL

    # greedy decoding is deterministic, so the resumed run scores exactly what an uninterrupted one does
    fresh = lmms_eval_runner(work / "out_resume_fresh", "qwen2_5_vl_robust", args.split(",response_log=")[0],
                             "mathvista_base", local_tasks)
    resumed = {s["acc"]["item_id"]: s["acc"] for s in load_samples(work / "out_resume_2", "mathvista_base")}
    for sample in load_samples(fresh.output, "mathvista_base"):
        record = sample["acc"]
        assert {k: v for k, v in resumed[record["item_id"]].items() if k != "provenance"} == {
            k: v for k, v in record.items() if k != "provenance"}
