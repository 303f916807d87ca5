"""Read lmms-eval output folders into per-item records grouped by model, benchmark and variant.

A folder is an lmms-eval ``--output_path``: somewhere under it, ``<stamp>_results.json`` and, for each task,
``<stamp>_samples_<task>.jsonl`` (written with ``--log_samples``). Each sample line holds our per-item record
under ``acc`` (older runs: under every metric key; now the other keys hold only what their metric reads). Only
tasks scored by our filter (result keys ending in ``,lmms_robust``) are read. The model's identity is the backend name plus its ``pretrained=`` / ``path=`` model
argument, so two replay runs over different files are two models.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from lmms_robust.core.scoring import METRICS
from lmms_robust.results import FILTER

__all__ = ["ReportInputError", "TaskRun", "load_runs", "model_identity"]

RESULTS_SUFFIX = "_results.json"
SOURCE_ARGS = ("pretrained", "path", "model", "model_path", "model_id")
PERTURBATION_HASH_KEYS = ("perturbation_file_sha256", "perturbation_sha256", "perturbation_file_hash",
                          "perturbation_hash")
"""Where a perturbation file's content hash is looked for: task ``metadata``, then ``metadata.protocol``."""


class ReportInputError(ValueError):
    """A run folder cannot be reported on; the message names the folder and what to do."""


@dataclass
class TaskRun:
    """One task of one model, as logged by one lmms-eval run."""

    model_id: str
    """``<backend>:<source>``: the identity pairs and groups are made on."""
    backend: str
    """lmms-eval ``--model`` (results ``config.model``)."""
    source: str | None
    """The ``pretrained=`` / ``path=`` model argument (else results ``model_name``)."""
    task: str
    run_dir: Path
    results_file: Path
    samples_file: Path
    metadata: dict = field(default_factory=dict)
    """``configs.<task>.metadata`` of the results file."""
    lmms_eval_version_recorded: str | None = None
    records: list[dict] = field(default_factory=list)

    @property
    def protocol(self) -> dict | None:
        protocol = self.metadata.get("protocol")
        return protocol if isinstance(protocol, dict) else None

    @property
    def perturbation_hash(self) -> str | None:
        for where in (self.metadata, self.protocol or {}):
            for key in PERTURBATION_HASH_KEYS:
                if isinstance(where.get(key), str) and where[key]:
                    return where[key]
        return None


def model_identity(results: dict) -> tuple[str, str, str | None]:
    """``(model_id, backend, source)`` from an lmms-eval results dict."""
    config = results.get("config") or {}
    backend = str(config.get("model") or results.get("model_source") or "unknown")
    raw = config.get("model_args") or ""
    if isinstance(raw, dict):
        args = {str(k): str(v) for k, v in raw.items()}
    else:
        args = dict(part.split("=", 1) for part in str(raw).split(",") if "=" in part)
        args = {k.strip(): v.strip() for k, v in args.items()}
    source = next((args[k] for k in SOURCE_ARGS if args.get(k)), None)
    if source is None:
        source = results.get("model_name") or (str(raw) if raw else None)
    return f"{backend}:{source}" if source else backend, backend, source


def load_runs(run_dirs: list[Path]) -> tuple[list[TaskRun], list[dict]]:
    """Every (model, task) found under ``run_dirs``, with its records, and loader warnings.

    When one model's task is logged by several results files (a rerun into the same folder, or the same model
    in two folders), the newest (by the file's time stamp, then modification time) is used and a
    ``duplicate_task`` warning names the others.

    Raises:
        ReportInputError: no folder given, a folder missing, without results, without our tasks, or a task
            without its samples file (run lmms-eval with ``--log_samples``).
    """
    if not run_dirs:
        raise ReportInputError("no run folder given: pass one or more lmms-eval --output_path folders")
    found: dict[tuple[str, str], list[TaskRun]] = {}
    for run_dir in run_dirs:
        for run in _read_dir(Path(run_dir)):
            found.setdefault((run.model_id, run.task), []).append(run)

    runs: list[TaskRun] = []
    warnings: list[dict] = []
    for key in sorted(found):
        candidates = sorted(found[key], key=lambda r: (r.results_file.name, r.results_file.stat().st_mtime))
        chosen = candidates[-1]
        if len(candidates) > 1:
            others = ", ".join(str(r.results_file) for r in candidates[:-1])
            warnings.append({"level": "warning", "kind": "duplicate_task", "model": chosen.model_id,
                             "benchmark": None, "variant": None, "count": len(candidates) - 1, "item_ids": [],
                             "message": f"task {chosen.task} is logged {len(candidates)} times; using "
                                        f"{chosen.results_file}, ignoring {others}"})
        chosen.records = _read_records(chosen)
        runs.append(chosen)
    return runs, warnings


def _read_dir(run_dir: Path) -> list[TaskRun]:
    if not run_dir.is_dir():
        raise ReportInputError(f"{run_dir}: no such folder. Pass the folder given to lmms-eval --output_path")
    results_files = sorted(run_dir.rglob(f"*{RESULTS_SUFFIX}"))
    if not results_files:
        raise ReportInputError(
            f"{run_dir}: no lmms-eval results (*{RESULTS_SUFFIX}) under this folder. Pass the folder given to "
            "lmms-eval --output_path, after the run finished; run lmms-eval with --log_samples so the per-item "
            "samples are written too")
    runs = []
    for results_file in results_files:
        try:
            results = json.loads(results_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ReportInputError(f"{run_dir}: cannot read {results_file}: {exc}") from exc
        model_id, backend, source = model_identity(results)
        stamp = results_file.name[: -len(RESULTS_SUFFIX)]
        for task in sorted(_our_tasks(results)):
            samples_file = results_file.parent / f"{stamp}_samples_{task}.jsonl"
            if not samples_file.is_file():
                raise ReportInputError(
                    f"{run_dir}: {results_file.name} has task {task} but no per-item samples ({samples_file.name}). "
                    "The report needs them: run lmms-eval with --log_samples")
            metadata = ((results.get("configs") or {}).get(task) or {}).get("metadata") or {}
            runs.append(TaskRun(model_id=model_id, backend=backend, source=source, task=task, run_dir=run_dir,
                                results_file=results_file, samples_file=samples_file,
                                metadata=metadata if isinstance(metadata, dict) else {},
                                lmms_eval_version_recorded=results.get("lmms_eval_version")))
    if not runs:
        raise ReportInputError(
            f"{run_dir}: the results there have no lmms-robust task (no metric with filter {FILTER!r}). Run "
            "lmms-eval on our tasks (e.g. --tasks mathvista_robust) with --log_samples")
    return runs


def _our_tasks(results: dict) -> list[str]:
    suffix = f",{FILTER}"
    configs = results.get("configs") or {}
    return [task for task, values in (results.get("results") or {}).items()
            if task in configs and isinstance(values, dict) and any(str(k).endswith(suffix) for k in values)]


def _read_records(run: TaskRun) -> list[dict]:
    records = []
    for number, line in enumerate(run.samples_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            sample = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReportInputError(f"{run.run_dir}: {run.samples_file.name} line {number} is not JSON: {exc}") from exc
        record = next((sample[m] for m in METRICS if isinstance(sample.get(m), dict) and "item_id" in sample[m]),
                      None)
        if record is None:
            raise ReportInputError(
                f"{run.run_dir}: {run.samples_file.name} line {number} holds no lmms-robust per-item record (no "
                "metric key with an item_id); was it produced by an lmms-robust task?")
        records.append(record)
    return records
