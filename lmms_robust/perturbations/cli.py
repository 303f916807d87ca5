"""``lmms-robust perturbations write --benchmark NAME --base-url URL --model NAME -o OUT.jsonl``.

Writes a perturbation file (``LMMS_ROBUST_PERTURBATIONS``) with an LLM behind an OpenAI-compatible server; see
``lmms_robust.perturbations.writer``. Exit status: 0 when every item that takes a caption/rationale has its row,
1 when some got no valid reply (listed; re-run the same command to ask for exactly those), 2 on unusable inputs.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

__all__ = ["add_arguments", "add_write_arguments", "main", "run_write"]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``perturbations`` command: its sub-commands (``write``)."""
    sub = parser.add_subparsers(dest="perturbations_command", required=True)
    write = sub.add_parser("write", help="write a perturbation file with an LLM (OpenAI-compatible server)",
                           description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_write_arguments(write)
    write.set_defaults(func=run_write)
    return parser


def add_write_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from lmms_robust.perturbations.writer import API_KEY_ENV, add_split_arguments

    add_split_arguments(parser)
    parser.add_argument("--base-url", required=True, help="OpenAI-compatible server root, e.g. http://127.0.0.1:8000")
    parser.add_argument("--model", required=True, help="model name as the server knows it (recorded in each row)")
    parser.add_argument("-o", "--out", required=True,
                        help="the perturbation file (JSONL); rows already in it are kept (resume)")
    parser.add_argument("--kinds", default="wrong",
                        help="comma-separated: wrong (misleadcap, wrongthink, ...), gold (truecap, truethink); "
                             "default wrong")
    parser.add_argument("--seed", type=int, default=0, help="picks the wrong option/value, as LMMS_ROBUST_SEED does")
    parser.add_argument("--prompt-template", default=None,
                        help="a Jinja file to use instead of templates/perturbation_writer.jinja")
    parser.add_argument("--cache-dir", default=None,
                        help="reply cache folder (default: .perturbation_cache next to OUT)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the reply cache")
    parser.add_argument("--max-concurrency", type=int, default=8, help="requests in flight at most (default 8)")
    parser.add_argument("--retries", type=int, default=3,
                        help="extra tries per item after a timeout, a 5xx/429 or an unusable reply (default 3)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds per request in all: connecting, sending, the whole reply (default 60)")
    parser.add_argument("--backoff", type=float, default=1.0, help="seconds before the first retry, doubled each time")
    parser.add_argument("--max-tokens", type=int, default=None, help="max_tokens of each request (default: server's)")
    parser.add_argument("--api-key-env", default=API_KEY_ENV,
                        help=f"environment variable holding the server's API key (default {API_KEY_ENV}; unset: none)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def run_write(args: argparse.Namespace) -> int:
    from lmms_robust.core.items import ItemError
    from lmms_robust.llm import ChatClient, api_key_from_env
    from lmms_robust.outputs import check_apart
    from lmms_robust.perturbations.writer import (
        PromptTemplate,
        WriterError,
        load_items,
        load_split,
        parse_kinds,
        write_perturbations,
    )

    out = Path(args.out)
    cache_dir = (None if args.no_cache else Path(args.cache_dir) if args.cache_dir
                 else out.parent / ".perturbation_cache")
    try:
        # -o is rewritten in place: never one of the inputs, never in their folders (OutputError is a ValueError)
        check_apart(out, "-o", [("--data", args.data), ("--prompt-template", args.prompt_template),
                                ("--cache-dir", cache_dir)])
        kinds = parse_kinds(args.kinds)
        template = PromptTemplate(args.prompt_template)
        client = ChatClient(args.base_url, args.model, api_key=api_key_from_env(args.api_key_env),
                            max_concurrency=args.max_concurrency, retries=args.retries, timeout=args.timeout,
                            backoff=args.backoff, max_tokens=args.max_tokens, temperature=0)
        items = load_items(args.benchmark, load_split(args.benchmark, args.data, args.split))
        result = write_perturbations(items, out, client, benchmark=args.benchmark, kinds=kinds, seed=args.seed,
                                     template=template, cache_dir=cache_dir, progress=not args.no_progress)
    except (WriterError, ItemError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    say = lambda message: print(message, file=sys.stderr)  # noqa: E731
    say(f"{args.benchmark}: {result.written}/{result.jobs} rows in {out} ({result.resumed} kept from the file, "
        f"{result.cached} from the cache, {result.requested - len(result.failed)} new; {result.repaired} "
        f"rationale(s) got the appended commitment); {client.requests_sent} request(s) sent")
    if result.rewritten:
        say(f"{result.rewritten} row(s) already in {out} failed the checks and were asked again")
    if result.skipped:
        reasons = Counter(s.reason for s in result.skipped)
        say(f"skipped {len(result.skipped)} (item, kind) pair(s) that take no caption/rationale: "
            + "; ".join(f"{n} × {reason}" for reason, n in sorted(reasons.items())))
    if result.failed:
        say(f"FAILED: {len(result.failed)} (item, kind) pair(s) got no valid reply after {args.retries} retries and "
            f"were NOT written:")
        for failure in result.failed[:50]:
            say(f"  {failure.item_id} ({failure.kind}): {failure.error}")
        if len(result.failed) > 50:
            say(f"  ... and {len(result.failed) - 50} more")
        say(f"failed item ids: {','.join(dict.fromkeys(f.item_id for f in result.failed))}")
        say("Re-run the same command to ask again for exactly these (finished rows are kept), or add their rows to "
            f"{out} by hand; the file does not cover the split until then.")
        return 1
    print(out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(prog="lmms-robust perturbations", description=__doc__))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
