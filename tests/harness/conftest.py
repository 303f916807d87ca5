"""Shared, session-scoped material for the harness tests: one tiny model, one local sample, one task copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lmms_robust.cli import OFFLINE_ENV, lmms_eval_command
from lmms_robust.localize import localize
from lmms_robust.results import load_results
from lmms_robust.testing.sample import write_sample
from lmms_robust.testing.tiny_qwen import build_tiny_qwen25vl

ALL_VARIANTS = ("base", "stopthink", "wrongthink", "wrongthink_but", "misleadcap", "misleadcap_disclaimer", "truecap",
                "truethink", "abstain", "misleadcap_abstain", "wrongthink_abstain")
ALL_TASKS = tuple(f"mathvista_{v}" for v in ALL_VARIANTS)


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lmms_robust")


@pytest.fixture(scope="session")
def tiny_model(work) -> Path:
    return build_tiny_qwen25vl(work / "tiny-qwen25vl")


@pytest.fixture(scope="session")
def sample_dir(work) -> Path:
    return write_sample(work / "sample")


@pytest.fixture(scope="session")
def local_tasks(work, sample_dir) -> Path:
    return localize("mathvista", sample_dir, work / "tasks")


class LmmsEvalRun:
    def __init__(self, output: Path, completed: subprocess.CompletedProcess):
        self.output = output
        self.completed = completed
        self.log = completed.stdout + completed.stderr

    @property
    def results(self) -> dict:
        return load_results(self.output)


def run_lmms_eval(output: Path, model: str, model_args: str, tasks: str, include_path: Path | None,
                  launcher: list[str] | None = None, env: dict | None = None, timeout: int = 600,
                  extra: list[str] | None = None, cwd: Path | None = None, script: Path | None = None) -> LmmsEvalRun:
    """Run the real lmms-eval CLI in a subprocess (it exits 0 even when a task fails: check the files).

    ``script``: a ``lmms_robust.testing.scripted`` script; the tiny model then writes its texts.
    """
    command = lmms_eval_command(model, model_args, tasks, output, include_path=include_path, extra=extra)
    if launcher:
        command = [sys.executable, *launcher, *command[1:]]
    if script is not None:
        command = [sys.executable, "-m", "lmms_robust.testing.scripted", str(script), *command[3:]]
    full_env = {**os.environ, **OFFLINE_ENV, "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    completed = subprocess.run(command, capture_output=True, text=True, env=full_env, timeout=timeout, cwd=cwd)
    return LmmsEvalRun(output, completed)


def write_replay(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="session")
def lmms_eval_runner():
    return run_lmms_eval
