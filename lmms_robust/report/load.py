"""Read lmms-eval output folders into per-item records grouped by model, benchmark and variant.

A folder is an lmms-eval ``--output_path``: somewhere under it, ``<stamp>_results.json`` and, for each task,
``<stamp>_samples_<task>.jsonl`` (written with ``--log_samples``). Each sample line holds our per-item record
under ``acc`` (older runs: under every metric key; now the other keys hold only what their metric reads). Only
tasks scored by our filter (result keys ending in ``,lmms_robust``) are read. The model's identity is the backend name plus its ``pretrained=`` / ``path=`` model
argument, so two replay runs over different files are two models.

A run is used only when it is complete: its samples file exists, reads to the end (``lmms_robust.jsonl``: no line
cut short, no corrupt line) and holds as many samples as the results file's ``n-samples`` (``effective``) says. An
interrupted save (results written, some samples files missing) or a run that stopped logging part-way is never
reported on fewer items: the newest complete run of that task is used and each incomplete one is named in an
``incomplete_run`` warning; a task with no complete run is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from lmms_robust.core.scoring import METRICS
from lmms_robust.jsonl import JsonlError, read_jsonl
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
    expected_samples: int | None = None
    """``n-samples.<task>.effective`` of the results file (None when it records none)."""
    records: list[dict] = field(default_factory=list)

    @property
    def protocol(self) -> dict | None:
        protocol = self.metadata.get("protocol")
        return protocol if isinstance(protocol, dict) else None

    @property
    def seed(self) -> int | None:
        """The perturbation seed the run used (``metadata.protocol.seed``), None where not recorded."""
        seed = (self.protocol or {}).get("seed")
        return seed if isinstance(seed, int) and not isinstance(seed, bool) else None

    @property
    def perturbation_hash(self) -> str | None:
        source = (self.protocol or {}).get("perturbations")
        if isinstance(source, dict) and isinstance(source.get("sha256"), str):
            return source["sha256"]
        for where in (self.metadata, self.protocol or {}):
            for key in PERTURBATION_HASH_KEYS:
                if isinstance(where.get(key), str) and where[key]:
                    return where[key]
        return None


def model_identity(results: dict) -> tuple[str, str, str | None]:
    """``(model_id, backend, source)`` from an lmms-eval results dict.

    The id is ``<backend>:<source>``, plus ``@seed=N`` when the run recorded its perturbation seed: the same model
    under two seeds is two runs, reported side by side, never a duplicate."""
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
    model_id = f"{backend}:{source}" if source else backend
    seeds = {(config.get("metadata") or {}).get("protocol", {}).get("seed")
             for config in (results.get("configs") or {}).values() if isinstance(config, dict)}
    seeds = {s for s in seeds if isinstance(s, int) and not isinstance(s, bool)}
    if len(seeds) == 1:
        model_id += f"@seed={seeds.pop()}"
    return model_id, backend, source


def load_runs(run_dirs: list[Path]) -> tuple[list[TaskRun], list[dict]]:
    """Every (model, task) found under ``run_dirs``, with its records, and loader warnings.

    When one model's task is logged by several results files (a rerun into the same folder, or the same model
    in two folders), the newest complete one (by the file's time stamp, then modification time) is used: a
    ``duplicate_task`` warning names the older ones, an ``incomplete_run`` warning each newer incomplete one and
    each older one without its samples file.

    Raises:
        ReportInputError: no folder given, a folder missing, without results, without our tasks, or a task
            without a complete run (no samples file: run lmms-eval with ``--log_samples``; fewer samples than
            ``n-samples``, a cut or corrupt samples file: rerun it).
    """
    if not run_dirs:
        raise ReportInputError("no run folder given: pass one or more lmms-eval --output_path folders")
    found: dict[tuple[str, str], list[TaskRun]] = {}
    warnings: list[dict] = []
    for run_dir in run_dirs:
        runs, unreadable = _read_dir(Path(run_dir))
        warnings.extend(unreadable)
        for run in runs:
            found.setdefault((run.model_id, run.task), []).append(run)

    chosen_runs: list[TaskRun] = []
    for key in sorted(found):
        candidates = sorted(found[key], key=lambda r: (r.results_file.name, r.results_file.stat().st_mtime),
                            reverse=True)
        problems: list[tuple[TaskRun, str]] = []
        chosen = None
        for candidate in candidates:
            problem = _read_records(candidate)
            if problem is None:
                chosen = candidate
                break
            problems.append((candidate, problem))
        if chosen is None:
            listed = "; ".join(f"{run.results_file}: {problem}" for run, problem in problems)
            raise ReportInputError(
                f"{candidates[0].run_dir}: task {key[1]} has no complete run ({listed}). The report never uses a "
                f"partial run: rerun the task into this folder with lmms-eval --log_samples")
        for run, problem in problems:
            warnings.append(_warning("incomplete_run", chosen, f"task {chosen.task}: {run.results_file} is "
                                                              f"incomplete ({problem}); using the newest complete "
                                                              f"run {chosen.results_file}"))
        older = candidates[candidates.index(chosen) + 1:]
        for run in older:  # only the cheap sign of an interrupted save; older runs are not read
            if not run.samples_file.is_file():
                warnings.append(_warning("incomplete_run", chosen, f"task {chosen.task}: {run.results_file} is "
                                                                  f"incomplete (no per-item samples "
                                                                  f"{run.samples_file.name}); the newer complete run "
                                                                  f"{chosen.results_file} is used"))
        if older:
            others = ", ".join(str(r.results_file) for r in older)
            warnings.append({**_warning("duplicate_task", chosen, f"task {chosen.task} is logged "
                                                                  f"{len(older) + 1} times; using "
                                                                  f"{chosen.results_file}, ignoring {others}"),
                             "count": len(older)})
        chosen_runs.append(chosen)
    return chosen_runs, warnings


def _warning(kind: str, run: TaskRun, message: str) -> dict:
    return {"level": "warning", "kind": kind, "model": run.model_id, "benchmark": None, "variant": None, "count": 1,
            "item_ids": [], "message": message}


def _read_dir(run_dir: Path) -> tuple[list[TaskRun], list[dict]]:
    if not run_dir.is_dir():
        raise ReportInputError(f"{run_dir}: no such folder. Pass the folder given to lmms-eval --output_path")
    results_files = sorted(run_dir.rglob(f"*{RESULTS_SUFFIX}"))
    if not results_files:
        raise ReportInputError(
            f"{run_dir}: no lmms-eval results (*{RESULTS_SUFFIX}) under this folder. Pass the folder given to "
            "lmms-eval --output_path, after the run finished; run lmms-eval with --log_samples so the per-item "
            "samples are written too")
    runs, warnings, unreadable = [], [], []
    for results_file in results_files:
        try:
            results = json.loads(results_file.read_text(encoding="utf-8"))
            if not isinstance(results, dict):
                raise ValueError(f"a JSON {type(results).__name__}, not an object")
        except (OSError, ValueError) as exc:  # a save cut short; a newer or older complete run may stand in
            unreadable.append(f"{results_file}: {exc}")
            warnings.append({"level": "warning", "kind": "incomplete_run", "model": "unknown", "benchmark": None,
                             "variant": None, "count": 1, "item_ids": [],
                             "message": f"{results_file} cannot be read ({exc}); that run is left out"})
            continue
        model_id, backend, source = model_identity(results)
        stamp = results_file.name[: -len(RESULTS_SUFFIX)]
        counts = results.get("n-samples") if isinstance(results.get("n-samples"), dict) else {}
        for task in sorted(_our_tasks(results)):
            samples_file = results_file.parent / f"{stamp}_samples_{task}.jsonl"
            metadata = ((results.get("configs") or {}).get(task) or {}).get("metadata") or {}
            effective = (counts.get(task) or {}).get("effective") if isinstance(counts.get(task), dict) else None
            runs.append(TaskRun(model_id=model_id, backend=backend, source=source, task=task, run_dir=run_dir,
                                results_file=results_file, samples_file=samples_file,
                                metadata=metadata if isinstance(metadata, dict) else {},
                                lmms_eval_version_recorded=results.get("lmms_eval_version"),
                                expected_samples=effective if isinstance(effective, int) else None))
    if not runs and unreadable:
        raise ReportInputError(f"{run_dir}: no results file with an lmms-robust task can be read "
                               f"({'; '.join(unreadable)}); rerun the tasks into this folder")
    if not runs:
        raise ReportInputError(
            f"{run_dir}: the results there have no lmms-robust task (no metric with filter {FILTER!r}). Run "
            "lmms-eval on our tasks (e.g. --tasks mathvista_robust) with --log_samples")
    return runs, warnings


def _our_tasks(results: dict) -> list[str]:
    suffix = f",{FILTER}"
    configs = results.get("configs") or {}
    return [task for task, values in (results.get("results") or {}).items()
            if task in configs and isinstance(values, dict) and any(str(k).endswith(suffix) for k in values)]


def _read_records(run: TaskRun) -> str | None:
    """Fill ``run.records``; None when the run is complete, else why it is not (the records are then left empty).

    Raises:
        ReportInputError: a sample line holds no lmms-robust record (not an lmms-robust task).
    """
    if not run.samples_file.is_file():
        return f"no per-item samples {run.samples_file.name}: run lmms-eval with --log_samples"
    try:
        read = read_jsonl(run.samples_file, torn_tail="skip", lone_surrogates="keep")
    except JsonlError as exc:
        return f"{exc.problem} at line {exc.line} of {run.samples_file.name}"
    records = []
    for number, sample in read.rows:
        record = None
        if isinstance(sample, dict):
            record = next((sample[m] for m in METRICS if isinstance(sample.get(m), dict) and "item_id" in sample[m]),
                          None)
        if record is None:
            raise ReportInputError(
                f"{run.run_dir}: {run.samples_file.name} line {number} holds no lmms-robust per-item record (no "
                "metric key with an item_id); was it produced by an lmms-robust task?")
        records.append(record)
    if read.torn_line is not None:
        return f"{run.samples_file.name} line {read.torn_line} is cut short: the run stopped while logging"
    if run.expected_samples is not None and len(records) != run.expected_samples:
        return (f"{run.samples_file.name} holds {len(records)} samples, the results file says {run.expected_samples} "
                f"(n-samples): the run stopped logging part-way")
    run.records = records
    return None
