"""Tasks and templates resolve from a built wheel as they do from the editable checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from lmms_robust.benchmarks import PAPER_BENCHMARKS
from lmms_robust.resources import tasks_dir, templates_dir
from lmms_robust.results import task_metrics

from .conftest import write_replay
from .test_replay_e2e import EXPECTED, replay_rows

REPO = Path(__file__).resolve().parents[2]


def test_editable_install_resolves_to_checkout_files():
    assert (tasks_dir() / "mathvista" / "mathvista_misleadcap.yaml").is_file()
    assert (templates_dir() / "user_prompt.jinja").is_file()


@pytest.mark.e2e
def test_wheel_ships_tasks_and_templates_and_runs(tmp_path, sample_dir, lmms_eval_runner):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(REPO)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("lmms_robust-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "lmms_robust/tasks/mathvista/_lmms_robust_mathvista_yaml" in names
    assert "lmms_robust/templates/rationale.jinja" in names
    assert "lmms_robust/tasks/_lmms_robust_common_yaml" in names  # every benchmark's base includes it
    assert "lmms_robust/tasks/lmms_robust_eight.yaml" in names
    assert "lmms_robust/templates/natural/counting_caption.jinja" in names
    assert {"lmms_robust/templates/presets/presets.yaml", "lmms_robust/templates/presets/think_aloud.jinja"} <= set(names)
    assert {f"lmms_robust/tasks/{b}/{b}_robust.yaml" for b in PAPER_BENCHMARKS} <= set(names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # Run outside the checkout (no '' on sys.path finding it); -S skips .pth files, so the editable install's import hook stays out; dependencies come from PYTHONPATH.
    deps = sysconfig.get_paths()["purelib"]
    env = {"PYTHONPATH": os.pathsep.join([str(site), deps])}
    where = subprocess.run([sys.executable, "-S", "-c", "import lmms_robust.resources as r; print(r.tasks_dir())"],
                           capture_output=True, text=True, env={**os.environ, **env}, cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    where = where.stdout.strip()
    assert Path(where) == site / "lmms_robust" / "tasks"
    subprocess.run([sys.executable, "-S", "-m", "lmms_robust.cli", "localize", "--data", str(sample_dir), "--out",
                    str(tmp_path / "tasks")], check=True, capture_output=True, env={**os.environ, **env}, cwd=tmp_path)
    replay = write_replay(tmp_path / "replay.jsonl", replay_rows())
    run = lmms_eval_runner(tmp_path / "out", "robust_replay", f"path={replay}", "mathvista_base", tmp_path / "tasks",
                           env=env, launcher=["-S"], cwd=tmp_path)
    metrics = task_metrics(run.results, "mathvista_base")
    assert metrics["acc"] == pytest.approx(EXPECTED["mathvista_base"]["acc"])
    assert metrics["consistency"] == pytest.approx(EXPECTED["mathvista_base"]["consistency"])
