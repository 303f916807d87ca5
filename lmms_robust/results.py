"""Read lmms-eval output folders: results JSON and samples JSONL, as plain data."""

from __future__ import annotations

import json
from pathlib import Path

from lmms_robust.jsonl import read_jsonl

FILTER = "lmms_robust"
TABLE_METRICS = ("acc", "consistency", "consistent_acc", "unparsed_rate", "undetermined_rate", "abstain_rate",
                 "p_correct", "letter_entropy", "truncated_rate")


def latest_results_file(output_path: str | Path) -> Path:
    files = sorted(Path(output_path).rglob("*_results.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise FileNotFoundError(f"no *_results.json under {output_path}: the lmms-eval run failed (see its log)")
    return files[-1]


def load_results(output_path: str | Path) -> dict:
    return json.loads(latest_results_file(output_path).read_text())


def task_metrics(results: dict, task: str, filter_name: str = FILTER) -> dict:
    """``{metric: value}`` of one task (stderr entries dropped)."""
    raw = results["results"][task]
    suffix = f",{filter_name}"
    return {key[: -len(suffix)]: value for key, value in raw.items()
            if key.endswith(suffix) and "_stderr" not in key}


def load_samples(output_path: str | Path, task: str) -> list[dict]:
    """The per-item lines lmms-eval logged for ``task`` (``--log_samples``), newest run."""
    files = sorted(Path(output_path).rglob(f"*_samples_{task}.jsonl"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise FileNotFoundError(f"no samples for {task} under {output_path}: run lmms-eval with --log_samples")
    return read_jsonl(files[-1], lone_surrogates="keep").values


def format_table(results: dict, metrics: tuple[str, ...] = TABLE_METRICS) -> str:
    tasks = sorted(t for t in results["results"] if any(k.endswith(f",{FILTER}") for k in results["results"][t]))
    width = max([len("task"), *(len(t) for t in tasks)])
    lines = [" | ".join(["task".ljust(width), "n".rjust(4), *(m.rjust(max(len(m), 6)) for m in metrics)])]
    lines.append("-" * len(lines[0]))
    n_samples = results.get("n-samples", {})
    for task in tasks:
        values = task_metrics(results, task)
        cells = [task.ljust(width), str(n_samples.get(task, {}).get("effective", "")).rjust(4)]
        for metric in metrics:
            value = values.get(metric)
            text = "n/a" if value is None or isinstance(value, str) else f"{value:.3f}"
            cells.append(text.rjust(max(len(metric), 6)))
        lines.append(" | ".join(cells))
    return "\n".join(lines)


class RunCheckError(RuntimeError):
    """The run did not produce what it was asked for; the message says what is missing and where to look."""


def expand_tasks(results: dict, names: list[str]) -> list[str]:
    """Task names with groups (as the results file's ``group_subtasks`` lists them) replaced by their tasks."""
    groups = results.get("group_subtasks") or {}
    out: list[str] = []
    todo = list(reversed(names))
    while todo:
        name = todo.pop()
        if groups.get(name):
            todo.extend(reversed(groups[name]))
        elif name not in out:
            out.append(name)
    return out


def check_run(output_path: str | Path, tasks: list[str] | None = None, newer_than: float | None = None) -> dict:
    """The newest results under ``output_path``, after checking the run produced every task it was asked for.

    Raises ``RunCheckError`` when there is no results file (newer than ``newer_than``, a ``time.time()``), a
    requested task or group has no results, one of our tasks lacks a metric or scored no item, or a samples log
    holds fewer lines than the task's items. lmms-eval exits 0 in all of these cases.
    """
    from lmms_robust.core.scoring import METRICS

    path = latest_results_file(output_path)
    if newer_than is not None and path.stat().st_mtime < newer_than:
        raise RunCheckError(f"no results file was written under {output_path} by this run (the newest, {path}, "
                            f"is older): the lmms-eval run failed; its log above says why")
    results = json.loads(path.read_text(encoding="utf-8"))
    requested = tasks or sorted(results.get("results", {}))
    problems = []
    for task in expand_tasks(results, requested):
        if task not in results.get("results", {}):
            problems.append(f"{task}: no results (the task failed or was not run)")
            continue
        if not any(key.endswith(f",{FILTER}") for key in results["results"][task]):
            continue  # not one of our tasks: lmms-eval's own metrics, nothing more to check here
        missing = [m for m in METRICS if m not in task_metrics(results, task)]
        if missing:
            problems.append(f"{task}: metrics {missing} are missing")
        effective = (results.get("n-samples", {}).get(task) or {}).get("effective")
        if not effective:
            problems.append(f"{task}: scored no item")
            continue
        samples = sorted(path.parent.glob(f"{path.name[: -len('results.json')]}samples_{task}.jsonl"))
        if samples:
            lines = sum(1 for line in samples[0].read_text(encoding="utf-8").split("\n") if line.strip())
            if lines < effective:
                problems.append(f"{task}: {samples[0]} holds {lines} of {effective} items (writing the samples "
                                f"log stopped early)")
    if problems:
        raise RunCheckError(f"{path}: " + "; ".join(problems))
    return results
