"""``build_report``: lmms-eval output folders in, Markdown/CSV/JSON/PNG/HTML report out."""

from __future__ import annotations

import json
import re
from pathlib import Path

from lmms_robust.outputs import check_apart, claim_folder
from lmms_robust.report.leaderboard import build_leaderboard, validate_leaderboard
from lmms_robust.report.load import TaskRun, load_runs
from lmms_robust.report.paired import BASE, CI_LEVEL, N_RESAMPLES, SEED, analyze
from lmms_robust.report.plots import plot_accuracy, plot_quadrants, plot_uncertainty
from lmms_robust.report.render import Block, fmt, to_csv, to_html, to_markdown

__all__ = ["build_report"]

TITLE = "lmms-robust report"
MAX_IDS_SHOWN = 10


def build_report(run_dirs: list[Path], out: Path, n_resamples: int = N_RESAMPLES, seed: int = SEED,
                 judge_summaries: list[Path] = ()) -> list[Path]:
    """Read lmms-eval output folders and write the robustness report into ``out``.

    Args:
        run_dirs: lmms-eval ``--output_path`` folders run with ``--log_samples`` (one model each is usual; a
            folder may hold several tasks, and several models are told apart by backend + ``pretrained=``/``path=``).
        out: the folder to write into (created).
        n_resamples, seed: the paired bootstrap (protocol default: 10,000 resamples, seed 0).
        judge_summaries: ``*.summary.json`` files written by ``lmms-robust judge``; their agreement statistics
            (across judges, and rules against each judge) become a section of the report.

    Returns:
        The files written: ``report.md``, ``report.csv``, ``leaderboard.json``, ``report.html``, then the PNGs.

    Raises:
        ReportInputError: a folder without results, without our tasks, or without samples (the message names
            the folder and the fix).
        OutputError: ``out`` is, lies inside or contains a run folder, or holds files lmms-robust did not write.
        jsonschema.ValidationError: the leaderboard does not match its schema (nothing is written then).
    """
    runs, load_warnings = load_runs([Path(p) for p in run_dirs])
    labels = _labels(runs)
    groups: dict[tuple[str, str], dict[str, list[dict]]] = {}
    infos: dict[tuple[str, str, str], dict] = {}
    extra_warnings = list(load_warnings)
    for run in runs:
        if not run.records:
            extra_warnings.append({"level": "warning", "kind": "empty_task", "model": run.model_id,
                                   "benchmark": None, "variant": None, "count": 0, "item_ids": [],
                                   "message": f"task {run.task}: {run.samples_file} holds no sample"})
        for record in run.records:
            benchmark, variant = str(record["benchmark"]), str(record["variant"])
            groups.setdefault((run.model_id, benchmark), {}).setdefault(variant, []).append(record)
            info = infos.setdefault((run.model_id, benchmark, variant), _info(run, labels))
            if run.task not in info["task"].split(","):
                info["task"] = f"{info['task']},{run.task}"

    rows, warnings = analyze(groups, n_resamples=n_resamples, seed=seed)
    warnings = [{**w, "model": labels.get(w["model"], w["model"])} for w in [*extra_warnings, *warnings]]
    bootstrap = {"n_resamples": n_resamples, "seed": seed, "ci_level": CI_LEVEL, "method": "percentile"}
    document = build_leaderboard(rows, warnings, infos, bootstrap)
    validate_leaderboard(document)

    out = Path(out)
    check_apart(out, "-o", [("RUN_DIR", d) for d in run_dirs])
    claim_folder(out, "-o")  # new, empty, or a folder lmms-robust wrote: its report files are replaced
    display_rows = [{**row, "model": labels[row["model"]]} for row in rows]
    pngs = _plots(display_rows, out)
    blocks = _blocks(display_rows, document, runs, labels, pngs, bootstrap)
    for summary_path in judge_summaries:
        blocks.extend(_judge_blocks(Path(summary_path)))

    written = []
    for name, text in (("report.md", to_markdown(blocks)), ("report.csv", to_csv(document["entries"])),
                       ("leaderboard.json", json.dumps(document, indent=2, allow_nan=False) + "\n"),
                       ("report.html", to_html(blocks, TITLE))):
        (out / name).write_text(text, encoding="utf-8", errors="backslashreplace")  # a lone surrogate in an id
        written.append(out / name)
    return written + [p for paths in pngs.values() for p in paths]


def _labels(runs: list[TaskRun]) -> dict[str, str]:
    """Display names: a local path's last part, else the source, with `` seed=N`` where one model ran under
    several seeds; the full id where names would still collide."""
    sources = {run.model_id: (run.backend, run.source, run.seed) for run in runs}
    short = {}
    for model_id, (backend, source, _seed) in sources.items():
        if source is None:
            short[model_id] = backend
        elif source.startswith(("/", ".", "~")) or "\\" in source or Path(source).exists():
            short[model_id] = Path(source.rstrip("/\\")).name or source
        else:
            short[model_id] = source
    seeds_of: dict[str, set] = {}
    for model_id, name in short.items():
        seeds_of.setdefault(name, set()).add(sources[model_id][2])
    for model_id, name in list(short.items()):
        if len(seeds_of[name]) > 1:
            short[model_id] = f"{name} seed={sources[model_id][2]}"
    counts: dict[str, int] = {}
    for name in short.values():
        counts[name] = counts.get(name, 0) + 1
    return {model_id: name if counts[name] == 1 else model_id for model_id, name in short.items()}


def _info(run: TaskRun, labels: dict[str, str]) -> dict:
    return {"task": run.task, "run_dir": str(run.run_dir), "protocol": run.protocol, "seed": run.seed,
            "perturbation_file_sha256": run.perturbation_hash,
            "lmms_eval_version_recorded": run.lmms_eval_version_recorded,
            "model": labels[run.model_id], "model_backend": run.backend, "model_source": run.source}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "benchmark"


def _plots(rows: list[dict], out: Path) -> dict[str, list[Path]]:
    pngs: dict[str, list[Path]] = {}
    for benchmark in sorted({r["benchmark"] for r in rows}):
        subset = [r for r in rows if r["benchmark"] == benchmark]
        slug = _slug(benchmark)
        paths = [plot_accuracy(subset, benchmark, out / f"{slug}_accuracy.png"),
                 plot_quadrants(subset, benchmark, out / f"{slug}_quadrants.png")]
        uncertainty = plot_uncertainty(subset, benchmark, out / f"{slug}_uncertainty.png")
        pngs[benchmark] = paths + ([uncertainty] if uncertainty else [])
    return pngs


def _judge_blocks(path: Path) -> list[Block]:
    """Agreement tables from one ``lmms-robust judge`` summary."""
    from lmms_robust.report.load import ReportInputError

    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ReportInputError(f"{path}: not a judge summary ({exc}); pass the .summary.json lmms-robust judge wrote")
    blocks = [Block("h2", f"LLM-judge consistency: {path.name}"),
              Block("p", str(summary.get("undetermined_policy", "")))]
    across = summary.get("across_judges")
    if across:
        blocks.append(_table(("judges", "items compared", "strict agreement", "Fleiss' kappa"), [across],
                             lambda a: (", ".join(a["judges"]), str(a["n_compared"]), fmt(a["strict_agreement"]),
                                        fmt(a["fleiss_kappa"]))))
    if summary.get("pairwise"):
        blocks.append(_table(("judge A", "judge B", "items compared", "agreement", "Cohen's kappa"),
                             summary["pairwise"], lambda p: (p["a"], p["b"], str(p["n_compared"]),
                                                             fmt(p["agreement"]), fmt(p["cohen_kappa"]))))
    rules = summary.get("rule_vs_judge") or {}
    if rules:
        blocks.append(_table(("rules vs judge", "items compared", "agreement", "Cohen's kappa"), sorted(rules.items()),
                             lambda kv: (kv[0], str(kv[1]["n_compared"]), fmt(kv[1]["agreement"]),
                                         fmt(kv[1]["cohen_kappa"]))))
    return blocks


def _table(header, rows, cells) -> Block:
    return Block("table", header=tuple(header), rows=tuple(tuple(cells(r)) for r in rows))


def _blocks(rows: list[dict], document: dict, runs: list[TaskRun], labels: dict[str, str],
            pngs: dict[str, list[Path]], bootstrap: dict) -> list[Block]:
    blocks = [
        Block("h1", TITLE),
        Block("p", f"{len(labels)} model(s), {len({r['benchmark'] for r in rows})} benchmark(s), {len(rows)} "
                   f"model x benchmark x variant rows. Metrics are recomputed from the per-item records "
                   "(PROTOCOL.md §4); n/a = not applicable or no item to average over."),
        Block("p", f"Paired with base: items present and scored in both, joined on item_id. Drop = base accuracy "
                   f"- variant accuracy over those items (positive = accuracy lost), "
                   f"{int(bootstrap['ci_level'] * 100)}% percentile bootstrap CI "
                   f"({bootstrap['n_resamples']:,} resamples of items, numpy seed {bootstrap['seed']}). "
                   "Flips: correct->wrong over base-correct items, wrong->correct over base-wrong items (unparsed "
                   "counts as wrong). AUROC: how well base P(correct) and -H (letter entropy) predict 'still "
                   "correct' over base-correct multiple-choice items; n/a when a class is empty or the letter "
                   "distribution is absent."),
    ]
    for benchmark in sorted({r["benchmark"] for r in rows}):
        subset = [r for r in rows if r["benchmark"] == benchmark]
        blocks.append(Block("h2", f"Benchmark: {benchmark}"))
        blocks.append(Block("h3", "Accuracy and consistency"))
        blocks.append(_table(
            ("model", "variant", "items", "scored", "acc", "consistent acc", "consistency", "unparsed",
             "undetermined", "abstain"), subset,
            lambda r: (r["model"], r["variant"], *(fmt(r["metrics"][k]) for k in (
                "n_items", "n_scored", "acc", "consistent_acc", "consistency", "unparsed_rate",
                "undetermined_rate", "abstain_rate")))))
        paired = [r for r in subset if r["variant"] != BASE]
        if paired:
            blocks.append(Block("h3", "Paired with base"))
            blocks.append(_table(
                ("model", "variant", "pairs", "base acc", "variant acc", "drop", "95% CI", "correct->wrong",
                 "wrong->correct", "AUROC P(correct)", "AUROC -H"), paired,
                lambda r: (r["model"], r["variant"], fmt(r["metrics"]["n_paired"]),
                           fmt(r["metrics"]["paired_acc_base"]), fmt(r["metrics"]["paired_acc_variant"]),
                           fmt(r["metrics"]["drop"]), _ci(r["metrics"]),
                           _rate(r["metrics"], "flip_correct_to_wrong", "n_base_correct"),
                           _rate(r["metrics"], "flip_wrong_to_correct", "n_base_wrong"),
                           _rate(r["metrics"], "auroc_p_correct", "n_auroc_p_correct"),
                           _rate(r["metrics"], "auroc_neg_entropy", "n_auroc_neg_entropy"))))
        blocks.append(Block("h3", "Consistency quadrants (share of items)"))
        blocks.append(_table(
            ("model", "variant", "consistent correct", "inconsistent correct", "consistent wrong",
             "inconsistent wrong", "undetermined"), subset,
            lambda r: (r["model"], r["variant"], *(fmt(r["metrics"][k]) for k in (
                "q_consistent_correct", "q_inconsistent_correct", "q_consistent_incorrect",
                "q_inconsistent_incorrect", "q_undetermined")))))
        if any(r["metrics"][k] is not None for r in subset for k in ("letter_entropy", "p_correct")):
            blocks.append(Block("h3", "Letter distribution (means over items that have one)"))
            blocks.append(_table(
                ("model", "variant", "entropy (nats)", "entropy / ln K", "P(correct)", "letter mass", "items"),
                subset, lambda r: (r["model"], r["variant"], *(fmt(r["metrics"][k]) for k in (
                    "letter_entropy", "letter_entropy_norm", "p_correct", "letter_mass", "n_p_correct")))))
        for path in pngs.get(benchmark, []):
            blocks.append(Block("img", text=f"{benchmark}: {path.stem.split('_')[-1]}", path=path))

    blocks.append(Block("h2", "Coverage and warnings"))
    warnings = document["warnings"]
    if warnings:
        blocks.append(Block("p", f"{sum(w['level'] == 'warning' for w in warnings)} warning(s), "
                                 f"{sum(w['level'] == 'info' for w in warnings)} note(s). Nothing listed here is "
                                 "dropped silently: each line says which items a metric leaves out and why."))
        blocks.append(_table(
            ("level", "model", "benchmark", "variant", "kind", "count", "message", "item_ids"), warnings,
            lambda w: (w["level"], w["model"], w["benchmark"] or "", w["variant"] or "", w["kind"], str(w["count"]),
                       w["message"], _ids(w))))
    else:
        blocks.append(Block("p", "No coverage problem: every model has every variant, with the same items as base."))

    blocks.append(Block("h2", "Inputs"))
    by_model: dict[str, list[TaskRun]] = {}
    for run in runs:
        by_model.setdefault(run.model_id, []).append(run)
    blocks.append(_table(
        ("model", "model id", "seed", "folder(s)", "tasks", "lmms-eval (recorded)"), sorted(by_model.items()),
        lambda item: (labels[item[0]], item[0], ", ".join(sorted({str(r.seed) for r in item[1]})),
                      ", ".join(sorted({str(r.run_dir) for r in item[1]})),
                      ", ".join(r.task for r in item[1]),
                      ", ".join(sorted({r.lmms_eval_version_recorded or "n/a" for r in item[1]})))))
    entries = document["entries"]
    versions = sorted({e["lmms_eval_version"] or "n/a" for e in entries})
    blocks.append(Block("p", f"lmms-robust {document['lmms_robust_version']}, lmms-eval {', '.join(versions)}, "
                             f"leaderboard schema {document['schema_version']}."))
    # the seed is part of a run's identity (Inputs above), not a setting that must agree across runs
    protocols = {json.dumps({k: v for k, v in e["protocol"].items() if k != "seed"}, sort_keys=True)
                 for e in entries if e["protocol"] is not None}
    if len(protocols) == 1:
        protocol = json.loads(protocols.pop())
        blocks.append(Block("p", "Protocol settings (same for every task; seeds per run above): "
                                 + "; ".join(f"{k} = {v}" for k, v in sorted(protocol.items()))))
    elif protocols:
        blocks.append(Block("p", f"Warning: the tasks ran with {len(protocols)} different protocol settings; "
                                 "see protocol in leaderboard.json per entry."))
    hashes = sorted({e["perturbation_file_sha256"] for e in entries if e["perturbation_file_sha256"]})
    blocks.append(Block("p", "Perturbation files: " + (", ".join(hashes) if hashes else
                                                         "none (template generator)")))
    return blocks


def _ci(metrics: dict) -> str:
    if metrics["drop_ci_low"] is None:
        return "n/a"
    return f"[{metrics['drop_ci_low']:.3f}, {metrics['drop_ci_high']:.3f}]"


def _rate(metrics: dict, key: str, n_key: str) -> str:
    n = metrics[n_key]
    return f"{fmt(metrics[key])} (n={n})" if n is not None else fmt(metrics[key])


def _ids(warning: dict) -> str:
    ids = warning["item_ids"]
    shown = ", ".join(ids[:MAX_IDS_SHOWN])
    return shown + (f", ... ({warning['count']} in all)" if warning["count"] > len(ids[:MAX_IDS_SHOWN]) and ids
                    else "")
