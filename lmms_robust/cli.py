"""``lmms-robust``: the offline demo, local-data task copies, and where our tasks live."""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import time
from pathlib import Path

# subcommands that start lmms-eval: checked against our requirements first (lmms_robust/environment.py)
RUNS_LMMS_EVAL = ("demo", "sweep", "eval")
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def lmms_eval_command(model: str, model_args: str, tasks: str, output_path: Path, include_path: Path | None = None,
                      extra: list[str] | None = None) -> list[str]:
    command = [sys.executable, "-m", "lmms_eval", "--model", model, "--model_args", model_args, "--tasks", tasks,
               "--output_path", str(output_path), "--log_samples", "--batch_size", "1"]
    if include_path is not None:
        command += ["--include_path", str(include_path)]
    return command + (extra or [])


def run_demo(args) -> int:
    from lmms_robust.localize import localize
    from lmms_robust.outputs import OutputError, claim_folder
    from lmms_robust.results import format_table, load_results
    from lmms_robust.testing.sample import write_sample
    from lmms_robust.testing.tiny_qwen import build_tiny_qwen25vl

    work = Path(args.workdir).resolve()
    try:
        claim_folder(work, "--workdir")
    except OutputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model_dir, data_dir, tasks, output = work / "tiny-qwen25vl", work / "sample", work / "tasks", work / "results"
    if not (model_dir / "config.json").exists():
        print(f"building a tiny random-weight Qwen2.5-VL in {model_dir}", flush=True)
        build_tiny_qwen25vl(model_dir)
    if not (data_dir / "dataset_dict.json").exists():
        write_sample(data_dir)
    localize("mathvista", data_dir, tasks)
    command = lmms_eval_command(
        "qwen2_5_vl_robust",
        f"pretrained={model_dir},device=cpu,device_map=cpu,dtype=float32,max_new_tokens={args.max_new_tokens}",
        args.tasks, output, include_path=tasks)
    print("running:", " ".join(command), flush=True)
    env = {**os.environ, **OFFLINE_ENV}
    completed = subprocess.run(command, env=env)
    try:
        results = load_results(output)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return completed.returncode or 1
    print()
    print(format_table(results))
    print(f"\nresults and per-item samples: {output}")
    return 0


def _flag(argv: list[str], name: str) -> str | None:
    """The value of ``--name X`` / ``--name=X`` in a pass-through argument list (the last one wins, as argparse)."""
    value = None
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(name + "="):
            value = arg[len(name) + 1:]
    return value


def run_eval(args) -> int:
    """``python -m lmms_eval ARGS``, then a check of what it wrote: non-zero, with the cause, when a task failed."""
    from lmms_robust.results import RunCheckError, check_run, format_table

    argv = list(args.lmms_eval_args)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    output = _flag(argv, "--output_path")
    tasks = _flag(argv, "--tasks")
    if not output or not tasks:
        print("error: lmms-robust eval needs --tasks and --output_path among the lmms-eval arguments (the check "
              "reads the results file written there)", file=sys.stderr)
        return 2
    started = time.time()
    command = [sys.executable, "-m", "lmms_eval", *argv]
    # the output streams through; its tail is kept to name the cause when the run fails
    tail: collections.deque[str] = collections.deque(maxlen=400)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                          bufsize=1) as process:
        for line in process.stdout:
            sys.stdout.write(line)
            tail.append(line)
    try:
        results = check_run(output, [t.strip() for t in tasks.split(",") if t.strip()], newer_than=started)
    except (RunCheckError, FileNotFoundError) as exc:
        cause = _failure_cause(list(tail))
        print(f"\nlmms-robust eval: FAILED: {exc}" + (f"\ncause (from the lmms-eval log): {cause}" if cause else ""),
              file=sys.stderr)
        return process.returncode or 1
    if process.returncode:
        print(f"\nlmms-robust eval: lmms-eval exited with {process.returncode}", file=sys.stderr)
        return process.returncode
    print("\n" + format_table(results))
    return 0


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _failure_cause(lines: list[str]) -> str | None:
    """The last exception line of a traceback or the last ERROR log line, if the log has one."""
    for line in reversed(lines):
        text = _ANSI.sub("", line).strip()
        if not text:
            continue
        head = text.split(":", 1)[0]
        if (head.endswith(("Error", "Exception", "Exit")) and " " not in head) or "| ERROR" in text:
            return text
    return None


def run_check(args) -> int:
    from lmms_robust.results import RunCheckError, check_run, format_table

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    try:
        results = check_run(args.run_dir, tasks)
    except (RunCheckError, FileNotFoundError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(format_table(results))
    return 0


def run_localize(args) -> int:
    from lmms_robust.localize import localize

    try:
        out = localize(args.benchmark, args.data, args.out, split=args.split)
    except (FileNotFoundError, ValueError) as exc:  # OutputError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out / args.benchmark}\nrun with: lmms-eval --include_path {out} --tasks {args.benchmark}_robust ...")
    return 0


def run_load_release(args) -> int:
    """A public release (JSON + images) -> a ``save_to_disk`` folder in our row schema, ready for ``localize``."""
    import datasets

    from lmms_robust.benchmarks import release_loaders
    from lmms_robust.outputs import check_apart, claim_folder

    module = release_loaders()[args.benchmark]
    try:
        check_apart(args.out, "OUT", [("RELEASE_DIR", args.release_dir), ("--image-dir", args.image_dir)])
        dataset = module.load_release(args.release_dir, image_dir=args.image_dir)
        claim_folder(args.out, "OUT")
    except (FileNotFoundError, ValueError) as exc:  # OutputError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    datasets.DatasetDict({module.SPLIT: dataset}).save_to_disk(args.out)
    print(f"wrote {len(dataset)} {args.benchmark} items to {args.out}\nnext: lmms-robust localize --benchmark "
          f"{args.benchmark} --data {args.out} --out my_tasks")
    return 0


def run_tasks(args) -> int:
    from lmms_robust.resources import tasks_dir

    if args.dir:
        print(tasks_dir())
        return 0
    for path in sorted(tasks_dir().rglob("*.yaml")):
        print(path.stem)
    return 0


def run_report(args) -> int:
    from lmms_robust.outputs import OutputError
    from lmms_robust.report import ReportInputError, build_report

    try:
        written = build_report([Path(p) for p in args.run_dirs], Path(args.out),
                               judge_summaries=[Path(p) for p in args.judge_summary])
    except (ReportInputError, OutputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lmms-robust", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="offline end-to-end run: tiny local Qwen2.5-VL on the bundled MathVista-schema sample")
    demo.add_argument("--workdir", default="lmms_robust_demo", help="where the model, data, tasks and results go")
    demo.add_argument("--tasks", default="mathvista_robust", help="comma-separated tasks or groups")
    demo.add_argument("--max-new-tokens", type=int, default=16)
    demo.set_defaults(func=run_demo)

    evaluate = sub.add_parser("eval", help="run lmms-eval with the given arguments, then check its results: exits "
                                           "non-zero with the cause when a task failed (lmms-eval itself exits 0)")
    evaluate.add_argument("lmms_eval_args", nargs=argparse.REMAINDER,
                          help="everything lmms-eval takes (--model, --model_args, --tasks, --output_path, ...)")
    evaluate.set_defaults(func=run_eval)

    check = sub.add_parser("check", help="check an lmms-eval output folder: exit 1 naming what is missing when a "
                                         "task failed, else print the table")
    check.add_argument("run_dir", help="the --output_path of the run")
    check.add_argument("--tasks", default=None, help="comma-separated tasks or groups the run was asked for "
                                                     "(default: those in its results file)")
    check.set_defaults(func=run_check)

    loc = sub.add_parser("localize", help="copy our tasks so they read a local copy of a benchmark")
    loc.add_argument("--benchmark", default="mathvista")
    loc.add_argument("--data", required=True, help="a save_to_disk directory, or parquet file(s), in the benchmark's schema")
    loc.add_argument("--out", required=True, help="directory to pass to lmms-eval --include_path")
    loc.add_argument("--split", default=None, help="split name in the local copy (default: the task's split)")
    loc.set_defaults(func=run_localize)

    from lmms_robust.benchmarks import release_loaders

    release = sub.add_parser("load-release", help="build a local copy of a set from its public release (Spatial-MM, "
                                                  "WhatsUp: not on the hub; MME-RealWorld-Lite's official JSON)")
    release.add_argument("benchmark", choices=sorted(release_loaders()))
    release.add_argument("release_dir", help="the release's JSON files (as published)")
    release.add_argument("out", help="output folder (datasets save_to_disk), for lmms-robust localize --data")
    release.add_argument("--image-dir", default=None, help="where the release's images are (default: under release_dir)")
    release.set_defaults(func=run_load_release)

    from lmms_robust import show as show_cli

    show = sub.add_parser("show", help="what the model sees for an item under each variant, or --stats: "
                                       "perturbation-text statistics over a split")
    show_cli.add_arguments(show)
    show.set_defaults(func=show_cli.run)

    tasks = sub.add_parser("tasks", help="list our task and group names")
    tasks.add_argument("--dir", action="store_true", help="print the task directory (for --include_path) instead")
    tasks.set_defaults(func=run_tasks)

    report = sub.add_parser("report", help="paired robustness report over lmms-eval output folders")
    report.add_argument("run_dirs", nargs="+", help="lmms-eval --output_path folders (run with --log_samples)")
    report.add_argument("-o", "--out", required=True, help="directory for the Markdown, CSV, JSON, PNG and HTML")
    report.add_argument("--judge-summary", action="append", default=[],
                        help="a .summary.json from lmms-robust judge: adds its agreement tables (repeatable)")
    report.set_defaults(func=run_report)

    from lmms_robust.judge import cli as judge_cli

    judge = sub.add_parser("judge", help="LLM-judge CoT consistency of saved samples, with agreement statistics")
    judge_cli.add_arguments(judge)
    judge.set_defaults(func=judge_cli.run)

    from lmms_robust.training import sweep as sweep_cli

    sweep = sub.add_parser("sweep", help="re-run the suite on training checkpoints over seeds; CSV + PNG per benchmark")
    sweep_cli.add_arguments(sweep)
    sweep.set_defaults(func=sweep_cli.run)

    from lmms_robust.perturbations import cli as perturbations_cli

    perturbations = sub.add_parser("perturbations", help="perturbation files: 'write' one with an LLM "
                                                         "(OpenAI-compatible server)")
    perturbations_cli.add_arguments(perturbations)

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["eval"] and not set(argv[1:2]) & {"-h", "--help"}:
        # everything after "eval" is lmms-eval's (argparse would claim the --options for itself)
        args = argparse.Namespace(command="eval", func=run_eval, lmms_eval_args=argv[1:])
    else:
        args = parser.parse_args(argv)
    if args.command in RUNS_LMMS_EVAL:
        from lmms_robust import environment

        environment.check(f"lmms-robust {args.command}")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
