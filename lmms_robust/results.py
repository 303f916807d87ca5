"""Read lmms-eval output folders: results JSON and samples JSONL, as plain data."""

from __future__ import annotations

import json
from pathlib import Path

from lmms_robust.jsonl import read_jsonl

FILTER = "lmms_robust"
TABLE_METRICS = ("acc", "consistency", "consistent_acc", "unparsed_rate", "undetermined_rate", "abstain_rate",
                 "p_correct", "letter_entropy")


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
