"""``lmms-robust judge RUN_DIR... --base-url URL --model NAME [--model NAME] -o OUT.jsonl [--rules-first]``.

Judges saved samples after the fact: every (model, task) found under the run folders (as the report finds them),
every sample line, every judge model. Writes one JSON line per (item, variant, judge) to ``OUT.jsonl`` (``source``:
``judge``, or ``rules`` where ``--rules-first`` kept the rules' verdict) and an agreement summary (across judges,
and rules against each judge, also where both decided, plus judge-based consistency per model, task and variant)
to ``OUT.summary.json`` (or ``--summary``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lmms_robust.judge.agreement import LABELS, agreement_summary
from lmms_robust.judge.client import NOT_APPLICABLE, OpenAIJudge, api_key_from_env, judge_records
from lmms_robust.judge.inputs import judge_input
from lmms_robust.jsonl import JsonlError, read_jsonl, write_jsonl
from lmms_robust.outputs import OutputError, check_apart, check_file_output, json_with_keys, jsonl_with_keys

__all__ = ["add_arguments", "consistency_by_group", "run"]

API_KEY_ENV = "LMMS_ROBUST_JUDGE_API_KEY"


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("run_dirs", nargs="+", help="lmms-eval --output_path folders (run with --log_samples)")
    parser.add_argument("--base-url", default=None,
                        help="OpenAI-compatible server root, e.g. http://127.0.0.1:8000; 'local' runs --model with "
                             "transformers in this process instead")
    parser.add_argument("--model", dest="models", action="append", required=True,
                        help="judge model name as the server knows it (with --base-url local: a checkpoint path or "
                             "hub id); repeat for several judges")
    parser.add_argument("--device", default="cpu", help="with --base-url local: where the judge model runs")
    parser.add_argument("-o", "--out", required=True, help="per-item verdicts (JSONL)")
    parser.add_argument("--summary", default=None, help="agreement summary JSON (default: OUT with .summary.json)")
    parser.add_argument("--cache-dir", default=None,
                        help="verdict cache folder (default: .judge_cache next to OUT); reruns send nothing cached")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    parser.add_argument("--rules-first", action="store_true",
                        help="judge only what the rules left undetermined (items where the rules found a "
                             "conclusion keep their verdict and send nothing)")
    parser.add_argument("--max-concurrency", type=int, default=8)
    parser.add_argument("--retries", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    parser.add_argument("--max-tokens", type=int, default=None)
    parser.add_argument("--api-key-env", default=API_KEY_ENV,
                        help=f"environment variable holding the server's API key (default {API_KEY_ENV}; unset: none)")
    return parser


def consistency_by_group(verdicts: list[dict]) -> list[dict]:
    """Judge-based consistency per (judge, model, task, variant), as PROTOCOL.md §4 defines it.

    ``consistency`` = consistent ÷ (consistent + inconsistent); ``undetermined_rate`` = every other applicable
    item (no_conclusion, undetermined, and unparsed/no-CoT items) ÷ applicable items. Items where consistency does
    not apply (e.g. stopthink) are left out; a group with none applicable is reported with nulls.
    """
    groups: dict[tuple, list[dict]] = {}
    for v in verdicts:
        key = (v.get("judge"), v.get("model"), v.get("task"), v.get("variant"))
        groups.setdefault(key, []).append(v)
    rows = []
    for (judge, model, task, variant), items in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        applicable = [v for v in items if not (v["verdict"] == NOT_APPLICABLE
                                               and v.get("reason") == "consistency_not_applicable")]
        consistent = sum(v["verdict"] == "consistent" for v in applicable)
        decided = consistent + sum(v["verdict"] == "inconsistent" for v in applicable)
        rows.append({"judge": judge, "model": model, "task": task, "variant": variant, "n": len(items),
                     "n_applicable": len(applicable), "n_consistent": consistent, "n_decided": decided,
                     "consistency": consistent / decided if decided else None,
                     "undetermined_rate": (len(applicable) - decided) / len(applicable) if applicable else None})
    return rows


def run(args: argparse.Namespace) -> int:
    from lmms_robust.report.load import ReportInputError, load_runs

    if not args.base_url:
        print("error: give --base-url URL (an OpenAI-compatible server) or --base-url local (transformers)",
              file=sys.stderr)
        return 2

    out = Path(args.out)
    summary_path = Path(args.summary) if args.summary else out.with_suffix(".summary.json")
    try:  # nothing is written over an input or over a file this command did not write
        for path, flag, is_ours, what in (
                (out, "-o", jsonl_with_keys("judge", "verdict"), "a verdicts file of lmms-robust judge"),
                (summary_path, "--summary", json_with_keys("n_items", "consistency"), "an lmms-robust judge summary")):
            check_apart(path, flag, [("RUN_DIR", d) for d in args.run_dirs])
            check_file_output(path, flag, is_ours, what)
    except OutputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    try:
        task_runs, warnings = load_runs([Path(d) for d in args.run_dirs])
    except ReportInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"warning: {warning['message']}", file=sys.stderr)

    inputs = []
    for task_run in task_runs:
        try:
            samples = read_jsonl(task_run.samples_file, lone_surrogates="keep").rows
        except JsonlError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for number, sample in samples:
            try:
                inputs.append(judge_input(sample, task=task_run.task, model=task_run.model_id))
            except (ValueError, KeyError, TypeError) as exc:
                print(f"error: {task_run.samples_file}:{number}: {exc}", file=sys.stderr)
                return 2

    out.parent.mkdir(parents=True, exist_ok=True)
    cache_dir = None if args.no_cache else Path(args.cache_dir) if args.cache_dir else out.parent / ".judge_cache"
    api_key = api_key_from_env(args.api_key_env) if args.api_key_env else None

    all_verdicts: list[dict] = []
    labels_by_judge: dict[str, dict] = {}
    for model in args.models:
        if args.base_url == "local":
            from lmms_robust.judge.local import TransformersJudge

            judge = TransformersJudge(model, device=args.device, max_new_tokens=args.max_tokens or 512,
                                      cache_dir=cache_dir)
        else:
            try:  # the cache file is read here: a corrupt line is an error naming file:line, not a traceback
                judge = OpenAIJudge(args.base_url, model, api_key=api_key, max_concurrency=args.max_concurrency,
                                    retries=args.retries, timeout=args.timeout, cache_dir=cache_dir,
                                    max_tokens=args.max_tokens)
            except (JsonlError, ValueError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
        verdicts = judge_records(inputs, judge, rules_first=args.rules_first)
        all_verdicts.extend(verdicts)
        # what this judge itself said (rules first: the rules' verdicts are not the judge's)
        labels_by_judge[model] = {_key(v): v["verdict"] for v in verdicts if v.get("source") != "rules"}
        tally = {label: sum(v["verdict"] == label for v in verdicts) for label in (*LABELS, "undetermined")}
        sent = getattr(judge, "requests_sent", getattr(judge, "generations", 0))
        print(f"{model}: {len(verdicts)} items, {sent} requests sent, {tally}", file=sys.stderr)

    rule = {_key(i): i["rule_label"] for i in inputs if i.get("rule_label") is not None}
    write_jsonl(out, all_verdicts)
    summary = agreement_summary(labels_by_judge, rule)
    summary["n_items"] = len(inputs)
    summary["mode"] = "rules_first" if args.rules_first else "all"
    summary["decided_by"] = {model: {source or "not_applicable": sum(1 for v in all_verdicts if v["judge"] == model
                                                                     and v.get("source") == source)
                                     for source in ("rules", "judge", None)} for model in args.models}
    summary["consistency"] = consistency_by_group(all_verdicts)
    summary_path.write_text(json.dumps(_jsonable(summary), indent=2, ensure_ascii=False) + "\n")
    print(out)
    print(summary_path)
    return 0


def _key(v: dict) -> tuple:
    return (v.get("model"), v.get("task"), v.get("item_id"), v.get("variant"))


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(prog="lmms-robust judge", description=__doc__))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
