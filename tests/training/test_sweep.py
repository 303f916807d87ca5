"""Checkpoint sweep: spec parsing, band math, table/CSV/PNG from results files, resumability, and the real CLI."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

from lmms_robust.results import task_metrics
from lmms_robust.training import sweep
from lmms_robust.training.sweep import (
    Checkpoint,
    CheckpointSpecError,
    SweepRunError,
    aggregate,
    band,
    parse_checkpoints,
    plot_sweep,
    run_dir,
    run_sweep,
    split_task,
    sweep_table,
)

# ------------------------------------------------------------------------------------------------ parsing


def test_parse_specs_seed_defaults_to_zero_and_paths_may_hold_colons():
    assert parse_checkpoints("ckpts/checkpoint-250:250") == [Checkpoint("ckpts/checkpoint-250", 250, 0)]
    assert parse_checkpoints(["a:0:1", " b : 250 : 2 "]) == [Checkpoint("a", 0, 1), Checkpoint("b", 250, 2)]
    assert parse_checkpoints("hub:org/model:10") == [Checkpoint("hub:org/model", 10, 0)]
    assert parse_checkpoints("x:y:5:3") == [Checkpoint("x:y", 5, 3)]


def test_parse_checkpoint_file_with_comments_and_mixed_args(tmp_path):
    listing = tmp_path / "ckpts.txt"
    listing.write_text("# training run A\nrun/a-0:0\n\nrun/a-250:250:0  # mid\nrun/b-0:0:1\n")
    assert parse_checkpoints([str(listing), "run/b-250:250:1"]) == [
        Checkpoint("run/a-0", 0, 0), Checkpoint("run/a-250", 250, 0), Checkpoint("run/b-0", 0, 1),
        Checkpoint("run/b-250", 250, 1)]
    assert parse_checkpoints(listing)[0] == Checkpoint("run/a-0", 0, 0)


@pytest.mark.parametrize("spec, message", [
    ("no-step", "expected PATH:STEP"),
    (":250", "expected PATH:STEP"),
    ("ckpt:abc", "step 'abc' is not an integer"),
    ("ckpt:-5", "negative"),
    ("ckpt:10:-1", "negative"),
    ("ckpt:10:x", "step 'x' is not an integer"),
])
def test_parse_spec_errors(spec, message):
    with pytest.raises(CheckpointSpecError, match=message):
        parse_checkpoints(spec)


def test_parse_errors_name_file_line_duplicates_and_empty(tmp_path):
    listing = tmp_path / "ckpts.txt"
    listing.write_text("ok:1\nbad-line\n")
    with pytest.raises(CheckpointSpecError, match=rf"{listing.name}:2: 'bad-line'"):
        parse_checkpoints(str(listing))
    with pytest.raises(CheckpointSpecError, match="two checkpoints for seed 0 step 5: a and b"):
        parse_checkpoints(["a:5", "b:5:0"])
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(CheckpointSpecError, match="no checkpoint given"):
        parse_checkpoints([str(empty)])
    with pytest.raises(CheckpointSpecError, match="no such checkpoint list file"):
        parse_checkpoints(tmp_path / "missing.txt")


def test_split_task():
    assert split_task("mathvista_wrongthink_abstain") == ("mathvista", "wrongthink_abstain")
    assert split_task("mathvista_base") == ("mathvista", "base")
    assert split_task("cv_bench_misleadcap") == ("cv_bench", "misleadcap")
    assert split_task("other") == ("other", "other")


# ----------------------------------------------------------------------------------------------- band math


def test_band_ignores_none_and_nan():
    assert band([0.2, None, 0.6, float("nan"), 0.4]) == pytest.approx((0.4, 0.2, 0.6, 3))
    assert band([None, None]) is None
    assert band([]) is None


def test_aggregate_groups_by_task_and_step_across_seeds():
    rows = [
        {"task": "t_base", "step": 250, "seed": 0, "acc": 0.5},
        {"task": "t_base", "step": 0, "seed": 0, "acc": 0.1},
        {"task": "t_base", "step": 0, "seed": 1, "acc": 0.3},
        {"task": "t_base", "step": 250, "seed": 1, "acc": None},
        {"task": "t_wrongthink", "step": 0, "seed": 0, "acc": None},
    ]
    series = aggregate(rows, "acc")
    assert series["t_base"] == [(0, pytest.approx(0.2), 0.1, 0.3, 2), (250, 0.5, 0.5, 0.5, 1)]
    assert series["t_wrongthink"] == []


# ------------------------------------------------------------------------- table, CSV, PNG from fake results


def _fake_results(folder: Path, metrics_by_task: dict[str, dict], stamp: str = "20260101_000000") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    results = {"results": {task: {"alias": task, **{f"{k},lmms_robust": v for k, v in metrics.items()},
                                  **{f"{k}_stderr,lmms_robust": "N/A" for k in metrics}}
                           for task, metrics in metrics_by_task.items()}}
    results["results"]["not_ours"] = {"acc,none": 1.0}
    path = folder / "model" / f"{stamp}_results.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(results))
    return path


def _write_fake_sweep(out: Path) -> None:
    for seed, step, acc in [(0, 0, 0.2), (1, 0, 0.4), (0, 250, 0.6), (1, 250, 0.8)]:
        _fake_results(run_dir(out, Checkpoint("p", step, seed)), {
            "bench_base": {"acc": acc, "consistent_acc": acc / 2, "consistency": 0.9, "letter_entropy": None},
            "bench_wrongthink": {"acc": acc - 0.1, "consistent_acc": 0.0, "consistency": None,
                                 "letter_entropy": 1.2},
        })


def test_sweep_table_csv_and_png_from_results_files(tmp_path):
    _write_fake_sweep(tmp_path)
    (tmp_path / "runs" / "seed0" / "step500").mkdir()  # an unfinished run: no results, not a row
    rows = sweep_table(tmp_path)
    assert sorted((r["seed"], r["step"], r["task"]) for r in rows) == sorted(
        (seed, step, task) for seed in (0, 1) for step in (0, 250) for task in ("bench_base", "bench_wrongthink"))
    base00 = next(r for r in rows if (r["seed"], r["step"], r["task"]) == (0, 0, "bench_base"))
    assert base00 == {**base00, "benchmark": "bench", "variant": "base", "acc": 0.2, "consistent_acc": 0.1,
                      "consistency": 0.9, "letter_entropy": None}
    written = plot_sweep(tmp_path)
    assert written == [tmp_path / "sweep.csv", tmp_path / "sweep_bench.png"]
    assert (tmp_path / "sweep_bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(tmp_path / "sweep.csv") as handle:
        csv_rows = list(csv.DictReader(handle))
    assert len(csv_rows) == 8
    wrong = next(r for r in csv_rows if (r["seed"], r["step"], r["task"]) == ("1", "250", "bench_wrongthink"))
    assert float(wrong["acc"]) == pytest.approx(0.7) and wrong["consistency"] == ""


def test_sweep_table_without_runs_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no sweep runs"):
        sweep_table(tmp_path)


# ------------------------------------------------------------------------ run_sweep with a fake subprocess


def test_run_sweep_is_resumable_and_failure_names_checkpoint_and_log(tmp_path, monkeypatch, capsys):
    calls = []

    def fake_run(command, check, stdout, stderr, env, timeout):
        output = Path(command[command.index("--output_path") + 1])
        model_args = command[command.index("--model_args") + 1]
        calls.append(model_args)
        stdout.write("fake lmms-eval output\n")
        if "broken" not in model_args:
            _fake_results(output, {"bench_base": {"acc": 0.5}})
        return subprocess.CompletedProcess(command, 0 if "broken" not in model_args else 3)

    monkeypatch.setattr(sweep.subprocess, "run", fake_run)
    checkpoints = [Checkpoint("ck/a", 0, 0), Checkpoint("ck/b", 250, 0)]
    run_sweep(checkpoints, "bench_base", tmp_path, model_args_extra="device=cpu")
    assert calls == ["pretrained=ck/a,device=cpu", "pretrained=ck/b,device=cpu"]
    log = run_dir(tmp_path, checkpoints[0]) / "lmms_eval.log"
    assert "--log_samples" in log.read_text() and "fake lmms-eval output" in log.read_text()
    assert "[2/2] step 250 seed 0" in capsys.readouterr().out

    run_sweep(checkpoints + [Checkpoint("ck/c", 0, 1)], "bench_base", tmp_path)
    assert len(calls) == 3  # only the new checkpoint ran
    assert "[1/3] step 0 seed 0: results exist" in capsys.readouterr().out

    broken = Checkpoint("ck/broken", 500, 0)
    with pytest.raises(SweepRunError, match=r"ck/broken \(step 500, seed 0\).*exit 3.*seed0/step500/lmms_eval\.log"):
        run_sweep([broken], "bench_base", tmp_path)


def test_cli_run_reports_spec_errors(capsys):
    assert sweep.main(["--checkpoints", "nostep", "--tasks", "t", "--out", "x"]) == 2
    assert "expected PATH:STEP" in capsys.readouterr().err


# ---------------------------------------------------------------------------------- the real lmms-eval CLI


@pytest.fixture(scope="module")
def tiny_sweep_inputs(tmp_path_factory):
    from lmms_robust.localize import localize
    from lmms_robust.testing.sample import write_sample
    from lmms_robust.testing.tiny_qwen import build_tiny_qwen25vl

    work = tmp_path_factory.mktemp("sweep")
    models = {(step, seed): build_tiny_qwen25vl(work / f"ckpt-s{seed}-{step}", seed=1 + step + 10 * seed)
              for step, seed in [(0, 0), (250, 0), (0, 1)]}
    tasks = localize("mathvista", write_sample(work / "sample"), work / "tasks")
    return work, models, tasks


@pytest.mark.e2e
@pytest.mark.slow  # a minute: three tiny checkpoints through lmms-eval; the units above cover each step
def test_sweep_cli_end_to_end(tiny_sweep_inputs, monkeypatch, tmp_path):
    _work, models, tasks = tiny_sweep_inputs
    listing = tmp_path / "ckpts.txt"
    listing.write_text(f"{models[(0, 0)]}:0:0\n{models[(250, 0)]}:250:0\n")
    real_run = subprocess.run
    calls = []

    def counting_run(command, *args, **kwargs):
        calls.append(command)
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(sweep.subprocess, "run", counting_run)
    out = tmp_path / "sweep"
    tasks_arg = "mathvista_base,mathvista_wrongthink"
    argv = ["--checkpoints", str(listing), f"{models[(0, 1)]}:0:1", "--tasks", tasks_arg, "--out", str(out),
            "--model-args", "dtype=float32,device=cpu,device_map=cpu,max_new_tokens=4",
            "--include-path", str(tasks), "--offline"]
    assert sweep.main(argv) == 0, [p.read_text()[-3000:] for p in out.rglob("lmms_eval.log")]
    assert len(calls) == 3

    rows = sweep_table(out)
    keys = sorted((r["seed"], r["step"], r["task"]) for r in rows)
    assert keys == sorted((seed, step, task) for step, seed in models
                          for task in ("mathvista_base", "mathvista_wrongthink"))
    assert (out / "sweep_mathvista.png").stat().st_size > 0

    with open(out / "sweep.csv") as handle:
        csv_rows = list(csv.DictReader(handle))
    assert len(csv_rows) == len(rows) == 6
    for row in csv_rows:
        metrics = task_metrics(json.loads(Path(row["results_file"]).read_text()), row["task"])
        for metric in sweep.SWEEP_METRICS:
            expected = metrics.get(metric)
            if isinstance(expected, (int, float)) and not isinstance(expected, bool):
                assert float(row[metric]) == pytest.approx(expected), (row, metric)
            else:
                assert row[metric] == "", (row, metric)
        assert Path(row["results_file"]).parent.parent == out / "runs" / f"seed{row['seed']}" / f"step{row['step']}"

    logs = {p: p.stat().st_mtime_ns for p in out.rglob("lmms_eval.log")}
    assert len(logs) == 3
    run_sweep(parse_checkpoints([str(listing), f"{models[(0, 1)]}:0:1"]), tasks_arg, out,
              model_args_extra="dtype=float32,device=cpu,device_map=cpu,max_new_tokens=4", include_path=tasks)
    assert len(calls) == 3  # resumed: nothing re-ran
    assert {p: p.stat().st_mtime_ns for p in out.rglob("lmms_eval.log")} == logs
