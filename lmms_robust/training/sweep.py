"""Checkpoint sweep (PROTOCOL.md §6): re-run the suite on training checkpoints over seeds and plot the dynamics.

``run_sweep`` runs the real lmms-eval CLI once per checkpoint into ``<out>/runs/seed<SEED>/step<STEP>`` (with
``--log_samples``; stdout and stderr go to ``lmms_eval.log`` in that folder) and skips checkpoints whose results
already exist, so an interrupted sweep is resumed by running it again. ``sweep_table`` reads the results files back
into one row per (seed, step, task); ``plot_sweep`` writes ``sweep.csv`` and one PNG per benchmark with acc,
consistent_acc, consistency and letter_entropy against the training step: a line per variant (task) at the
across-seed mean, and a shaded band from the across-seed min to max.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lmms_robust.cli import OFFLINE_ENV, lmms_eval_command
from lmms_robust.results import FILTER, latest_results_file, load_results, task_metrics

__all__ = ["SWEEP_METRICS", "Checkpoint", "CheckpointSpecError", "SweepRunError", "add_arguments", "aggregate",
           "band", "main", "parse_checkpoints", "parse_spec", "plot_sweep", "run", "run_dir", "run_sweep",
           "split_task", "sweep_table"]

SWEEP_METRICS = ("acc", "consistent_acc", "consistency", "letter_entropy")
LOG_NAME = "lmms_eval.log"
CSV_COLUMNS = ("seed", "step", "task", "benchmark", "variant", *SWEEP_METRICS, "results_file")
_SEED_DIR = re.compile(r"^seed(-?\d+)$")
_STEP_DIR = re.compile(r"^step(\d+)$")


class CheckpointSpecError(ValueError):
    """A checkpoint spec (``PATH:STEP[:SEED]``) or checkpoint list file cannot be read; the message says why."""


class SweepRunError(RuntimeError):
    """An lmms-eval run of one checkpoint wrote no results; the message names the checkpoint and its log."""


@dataclass(frozen=True)
class Checkpoint:
    path: str
    """A local checkpoint folder (or anything the model backend's ``pretrained=`` accepts)."""
    step: int
    """Training step."""
    seed: int = 0
    """Training seed (the run's folder is ``seed<seed>/step<step>``)."""


# ---------------------------------------------------------------------------------------------- checkpoint specs

def _parse_int(text: str, what: str, spec: str, where: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise CheckpointSpecError(f"{where}{spec!r}: {what} {text!r} is not an integer "
                                  "(expected PATH:STEP or PATH:STEP:SEED)") from None
    if value < 0:
        raise CheckpointSpecError(f"{where}{spec!r}: {what} {value} is negative")
    return value


def parse_spec(spec: str, where: str = "") -> Checkpoint:
    """One ``PATH:STEP[:SEED]`` (split from the right, so a path may hold colons)."""
    text = spec.strip()
    parts = text.rsplit(":", 2)
    number = re.compile(r"\s*-?\d+\s*")
    if len(parts) == 3 and parts[0] and number.fullmatch(parts[1]) and number.fullmatch(parts[2]):
        path, step_text, seed_text = parts
        seed = _parse_int(seed_text, "seed", text, where)
    else:
        parts = text.rsplit(":", 1)
        if len(parts) != 2 or not parts[0].strip():
            raise CheckpointSpecError(f"{where}{spec!r}: expected PATH:STEP or PATH:STEP:SEED "
                                      "(e.g. ckpts/checkpoint-250:250:0)")
        path, step_text = parts
        seed = 0
    return Checkpoint(path=path.strip(), step=_parse_int(step_text, "step", text, where), seed=seed)


def parse_checkpoints(spec: str | Path | list[str] | tuple[str, ...]) -> list[Checkpoint]:
    """Checkpoints from ``PATH:STEP[:SEED]`` strings and/or text files of them (one a line; ``#`` comments).

    An argument naming an existing file is read as a list; anything else is a spec. Seed defaults to 0.

    Raises:
        CheckpointSpecError: a malformed spec (the file and line are named), an empty list, or two checkpoints
            with the same (seed, step) (they would share a run folder).
    """
    items = [spec] if isinstance(spec, (str, Path)) else list(spec)
    checkpoints: list[Checkpoint] = []
    for item in items:
        if isinstance(item, Path) or Path(str(item)).is_file():
            path = Path(item)
            if not path.is_file():
                raise CheckpointSpecError(f"{path}: no such checkpoint list file")
            for number, line in enumerate(path.read_text().splitlines(), 1):
                line = line.split("#", 1)[0].strip()
                if line:
                    checkpoints.append(parse_spec(line, where=f"{path}:{number}: "))
        else:
            checkpoints.append(parse_spec(str(item)))
    if not checkpoints:
        raise CheckpointSpecError("no checkpoint given: pass PATH:STEP[:SEED] specs or a file of them")
    seen: dict[tuple[int, int], Checkpoint] = {}
    for ck in checkpoints:
        key = (ck.seed, ck.step)
        if key in seen:
            raise CheckpointSpecError(f"two checkpoints for seed {ck.seed} step {ck.step}: {seen[key].path} and "
                                      f"{ck.path} (each (seed, step) gets one run folder)")
        seen[key] = ck
    return checkpoints


# ---------------------------------------------------------------------------------------------------- running

def run_dir(out: Path, checkpoint: Checkpoint) -> Path:
    return Path(out) / "runs" / f"seed{checkpoint.seed}" / f"step{checkpoint.step}"


def _has_results(folder: Path) -> bool:
    return folder.is_dir() and any(folder.rglob("*_results.json"))


def run_sweep(checkpoints: list[Checkpoint], tasks: str, out: Path, model: str = "qwen2_5_vl_robust",
              model_args_extra: str = "", include_path: Path | None = None, launcher: list[str] | None = None,
              offline: bool = False, extra: list[str] | None = None, timeout: float | None = None) -> Path:
    """Run lmms-eval on each checkpoint (``pretrained=<path>`` + ``model_args_extra``); returns ``out``.

    ``launcher`` replaces ``-m lmms_eval``'s interpreter prefix as in the harness tests: the command becomes
    ``python *launcher -m lmms_eval ...`` (e.g. ``["-m", "accelerate.commands.launch", "--num_processes", "1"]``).
    ``offline`` adds the Hugging Face offline variables. Checkpoints with results already under their folder are
    skipped.

    Raises:
        SweepRunError: a run wrote no ``*_results.json`` (the checkpoint and its log file are named).
    """
    out = Path(out)
    total = len(checkpoints)
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", **(OFFLINE_ENV if offline else {})}
    for k, ck in enumerate(checkpoints, 1):
        folder = run_dir(out, ck)
        label = f"[{k}/{total}] step {ck.step} seed {ck.seed}"
        if _has_results(folder):
            print(f"{label}: results exist in {folder}, skipped", flush=True)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        model_args = ",".join(part for part in (f"pretrained={ck.path}", model_args_extra.strip(",")) if part)
        command = lmms_eval_command(model, model_args, tasks, folder,
                                    include_path=Path(include_path) if include_path else None, extra=extra)
        if launcher:
            command = [sys.executable, *launcher, *command[1:]]
        log = folder / LOG_NAME
        print(f"{label} {ck.path} ...", flush=True)
        with open(log, "w") as handle:
            handle.write("$ " + " ".join(command) + "\n\n")
            handle.flush()
            try:
                completed = subprocess.run(command, check=False, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                           timeout=timeout)
                code = completed.returncode
            except subprocess.TimeoutExpired:
                code = "timeout"
        if not _has_results(folder):
            raise SweepRunError(f"checkpoint {ck.path} (step {ck.step}, seed {ck.seed}): lmms-eval wrote no results "
                                f"(exit {code}); see its log {log}")
        print(f"{label}: done ({folder})", flush=True)
    return out


# ------------------------------------------------------------------------------------------------------ table

def split_task(task: str) -> tuple[str, str]:
    """``(benchmark, variant)`` of a task name, by the longest known variant suffix (else ``(task, task)``)."""
    from lmms_robust.core.perturb import VARIANTS

    for variant in sorted(VARIANTS, key=len, reverse=True):
        if task.endswith("_" + variant) and len(task) > len(variant) + 1:
            return task[: -len(variant) - 1], variant
    return task, task


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(float(value)) else float(value)


def sweep_table(out: Path) -> list[dict]:
    """One row per (seed, step, task) from ``<out>/runs/seed*/step*`` (newest results file of each folder).

    Row keys: seed, step, task, benchmark, variant, acc, consistent_acc, consistency, letter_entropy (None where
    the results have no number) and results_file. Only tasks scored by our filter are read.
    """
    rows = []
    runs = Path(out) / "runs"
    if not runs.is_dir():
        raise FileNotFoundError(f"{runs}: no sweep runs (run run_sweep first)")
    for seed_dir in sorted(runs.iterdir()):
        seed_match = _SEED_DIR.match(seed_dir.name)
        if not (seed_dir.is_dir() and seed_match):
            continue
        for step_dir in sorted(seed_dir.iterdir()):
            step_match = _STEP_DIR.match(step_dir.name)
            if not (step_dir.is_dir() and step_match and _has_results(step_dir)):
                continue
            results_file = latest_results_file(step_dir)
            results = load_results(step_dir)
            for task in sorted(results.get("results") or {}):
                raw = results["results"][task]
                if not isinstance(raw, dict) or not any(str(key).endswith(f",{FILTER}") for key in raw):
                    continue
                metrics = task_metrics(results, task)
                benchmark, variant = split_task(task)
                rows.append({"seed": int(seed_match.group(1)), "step": int(step_match.group(1)), "task": task,
                             "benchmark": benchmark, "variant": variant,
                             **{m: _number(metrics.get(m)) for m in SWEEP_METRICS},
                             "results_file": str(results_file)})
    rows.sort(key=lambda r: (r["benchmark"], r["task"], r["step"], r["seed"]))
    return rows


def band(values: list[float | None]) -> tuple[float, float, float, int] | None:
    """``(mean, min, max, n)`` of the numbers among ``values`` (None ignored); None when there are none."""
    numbers = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not numbers:
        return None
    return sum(numbers) / len(numbers), min(numbers), max(numbers), len(numbers)


def aggregate(rows: list[dict], metric: str) -> dict[str, list[tuple[int, float, float, float, int]]]:
    """Per task: ``[(step, mean, min, max, n_seeds), ...]`` by step, across seeds (steps without a number dropped)."""
    by_task: dict[str, dict[int, list]] = {}
    for row in rows:
        by_task.setdefault(row["task"], {}).setdefault(row["step"], []).append(row.get(metric))
    out: dict[str, list[tuple[int, float, float, float, int]]] = {}
    for task, steps in by_task.items():
        points = []
        for step in sorted(steps):
            stats = band(steps[step])
            if stats is not None:
                points.append((step, *stats))
        out[task] = points
    return out


# ------------------------------------------------------------------------------------------------------- plots

def write_csv(rows: list[dict], path: Path) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(CSV_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if row.get(key) is None else row.get(key) for key in CSV_COLUMNS})
    return path


def _plot_benchmark(rows: list[dict], benchmark: str, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from lmms_robust.report.paired import order_variants

    variants = order_variants({r["variant"] for r in rows})
    task_of = {r["variant"]: r["task"] for r in rows}
    fig = Figure(figsize=(11, 7.5), dpi=100)
    FigureCanvasAgg(fig)
    colors = [f"C{i % 10}" for i in range(len(variants))]
    for k, metric in enumerate(SWEEP_METRICS):
        ax = fig.add_subplot(2, 2, k + 1)
        series = aggregate(rows, metric)
        drawn = False
        for variant, color in zip(variants, colors):
            points = series.get(task_of[variant], [])
            if not points:
                continue
            steps = [p[0] for p in points]
            ax.plot(steps, [p[1] for p in points], marker="o", color=color, label=variant)
            ax.fill_between(steps, [p[2] for p in points], [p[3] for p in points], color=color, alpha=0.2,
                            linewidth=0)
            drawn = True
        if not drawn:
            ax.text(0.5, 0.5, "n/a", ha="center", va="center", transform=ax.transAxes)
        if metric == "letter_entropy":
            ax.set_ylim(bottom=0)
        else:
            ax.set_ylim(0, 1.05)
        ax.set_title(f"{benchmark}: {metric}", fontsize=9)
        ax.set_xlabel("training step")
        if drawn:
            ax.legend(fontsize=7)
    seeds = sorted({r["seed"] for r in rows})
    fig.suptitle(f"{benchmark}: mean over seeds {seeds}, band = min to max", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def plot_sweep(out: Path) -> list[Path]:
    """Write ``<out>/sweep.csv`` and ``<out>/sweep_<benchmark>.png`` per benchmark; returns [csv, *pngs]."""
    out = Path(out)
    rows = sweep_table(out)
    if not rows:
        raise FileNotFoundError(f"{out / 'runs'}: no results with lmms-robust tasks to plot")
    written = [write_csv(rows, out / "sweep.csv")]
    for benchmark in sorted({r["benchmark"] for r in rows}):
        subset = [r for r in rows if r["benchmark"] == benchmark]
        written.append(_plot_benchmark(subset, benchmark, out / f"sweep_{benchmark}.png"))
    return written


# --------------------------------------------------------------------------------------------------------- CLI

def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--checkpoints", nargs="+", required=True, metavar="FILE_OR_SPEC",
                        help="PATH:STEP[:SEED] specs (seed default 0) and/or text files of them, one a line")
    parser.add_argument("--tasks", required=True, help="comma-separated lmms-eval tasks or groups")
    parser.add_argument("--out", required=True, help="sweep folder: runs/seed<S>/step<N>, sweep.csv, sweep_*.png")
    parser.add_argument("--model", default="qwen2_5_vl_robust", help="lmms-eval --model")
    parser.add_argument("--model-args", default="", help="extra model args after pretrained=<checkpoint>")
    parser.add_argument("--include-path", default=None, help="lmms-eval --include_path (e.g. localized tasks)")
    parser.add_argument("--offline", action="store_true", help="set the Hugging Face offline variables")
    parser.add_argument("--no-plot", action="store_true", help="run only; no sweep.csv or PNGs")
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        checkpoints = parse_checkpoints(args.checkpoints)
    except CheckpointSpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from lmms_robust.outputs import OutputError, check_apart, claim_folder

    try:  # the sweep folder is resumed only when lmms-robust wrote it; never a checkpoint's folder or its parent
        check_apart(args.out, "--out", [*((f"checkpoint {ck.step}", ck.path) for ck in checkpoints),
                                        ("--include-path", args.include_path)])
        claim_folder(args.out, "--out")
    except OutputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        out = run_sweep(checkpoints, args.tasks, Path(args.out), model=args.model, model_args_extra=args.model_args,
                        include_path=Path(args.include_path) if args.include_path else None, offline=args.offline)
    except SweepRunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.no_plot:
        return 0
    try:
        written = plot_sweep(out)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lmms-robust sweep", description=__doc__.split("\n\n")[0])
    return run(add_arguments(parser).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
