"""Hostile free-form answers against scoring's time budget: no answer may stall a run, none may be guessed.

``<answer>(x+1)^{9999}</answer>`` on a free-form item used to spend 112 s in ``is_correct`` (math-verify runs with
its timeouts off: ``process_results`` runs off the main thread). Scoring now asks math-verify through
``lmms_robust.core.mathcheck`` (a worker process, a warm spare) with a per-item budget
(``LMMS_ROBUST_SCORE_BUDGET_S``; its two comparisons, answer vs gold and CoT conclusion vs answer, get half each);
an item over it is ``unscorable`` (counted in ``unscorable_rate``, never correct, never consistent).

Every case is a whole response scored by ``score_item`` as in a run: ``<think>… so the answer is C.</think>
<answer>A</answer>`` with a hostile A (and C, so both comparisons are made) on a free-form item. Families: huge
powers, towers, factorials, long numbers, deep nesting, long sums and products, calculus, matrices, malformed LaTeX,
and ordinary answers (which must score as before). The cases are fixed (no randomness); each is timed once, the
worker's (re)starts included.

Run from the repository root (about 5 minutes with a run's default 10 s budget):

    python benchmarks/fuzz_scoring.py              # writes benchmarks/results/fuzz_scoring.{md,json}
    python benchmarks/fuzz_scoring.py --budget 2 --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "benchmarks" / "results" / "fuzz_scoring"
DEFAULT_BUDGET_S = 10.0  # a run's default item budget (lmms_robust.core.scoring.item_budget_s)
OVERHEAD_S = 0.5
"""What an item may take beyond its budget: parsing, IPC, killing an over-budget worker."""


def _nest(template: str, depth: int, core: str = "x") -> str:
    out = core
    for _ in range(depth):
        out = template.format(out)
    return out


def cases() -> list[tuple[str, str, str, str]]:
    """(family, gold, answer, CoT conclusion) for every case."""
    out = []
    for n in (99, 999, 9999, 99999):
        out += [("powers", "2", f"(x+1)^{{{n}}}", f"(x+1)^{{{n - 1}}}"),
                ("powers", "2", f"(1+\\sqrt{{2}})^{{{n}}}", f"(1-\\sqrt{{2}})^{{{n}}}"),
                ("powers", "2", f"(a+b+c+d+e)^{{{n}}}", f"(a+b+c+d)^{{{n}}}"),
                ("powers", "2", f"2^{{{n}}}", f"2^{{{n + 1}}} / 2"),
                ("powers", "x^2-1", f"x^{{{n}}}-1", "(x-1)(x+1)")]
    out += [("towers", "2", "10^{10^{10}}", "10^{10^{9}}"), ("towers", "2", "2^{2^{2^{2^{2}}}}", "2^{65536}"),
            ("towers", "2", "e^{e^{e^{x}}}", "e^{e^{x}}"), ("towers", "2", "(2^{9})^{(2^{9})}", "2^{4608}"),
            ("towers", "2", "x^{x^{x^{x}}}", "x^{x^{x}}")]
    out += [("factorials", "2", "100!", "99!"), ("factorials", "2", "(50)!", "50!"),
            ("factorials", "2", "\\Gamma(1000)", "999!"), ("factorials", "2", "\\binom{1000}{500}", "\\binom{999}{500}"),
            ("factorials", "2", "x!", "(x+1)!")]
    out += [("numbers", "2", "1" + "0" * 100_000, "1" + "0" * 99_999),
            ("numbers", "2", "1e308", "1e-308"), ("numbers", "2", "0." + "0" * 5000 + "1", "2"),
            ("numbers", "2", "9" * 300 + "/" + "7" * 300, "9" * 299 + "/" + "7" * 299),
            ("numbers", "2", "2.0000000000000000000000000000000001", "2")]
    for depth in (10, 50, 200):
        out += [("nesting", "2", _nest("\\frac{{1}}{{{}}}", depth, "2"), _nest("\\frac{{1}}{{{}}}", depth - 1, "2")),
                ("nesting", "2", _nest("\\sqrt{{{}}}", depth, "16"), _nest("\\sqrt{{{}}}", depth - 1, "16")),
                ("nesting", "2", _nest("({}+1)", depth, "1"), _nest("({}+1)", depth - 1, "1")),
                ("nesting", "2", _nest("\\sin({})", depth), _nest("\\cos({})", depth))]
    out += [("sums", "2", "+".join(["1"] * 150), "+".join(["1"] * 149)),
            ("sums", "2", "+".join(f"x^{{{k}}}" for k in range(1, 60)), "+".join(f"x^{{{k}}}" for k in range(1, 59))),
            ("sums", "2", "".join(f"(x-{k})" for k in range(1, 40)), "".join(f"(x+{k})" for k in range(1, 40))),
            ("sums", "2", "*".join(f"(a_{{{k}}}+b_{{{k}}})" for k in range(30)), "a_1 b_1"),
            ("sums", "2", "\\sin^{999}(x)+\\cos^{999}(x)", "1")]
    out += [("calculus", "2", "\\int_0^1 x^{999} dx", "\\frac{1}{1000}"),
            ("calculus", "2", "\\sum_{k=1}^{10^9} k", "\\frac{10^9(10^9+1)}{2}"),
            ("calculus", "2", "\\lim_{x \\to 0} \\frac{\\sin x}{x}", "1"),
            ("calculus", "2", "\\prod_{k=1}^{1000} k", "1000!"),
            ("calculus", "2", "\\frac{d^{50}}{dx^{50}} e^{x^2}", "e^{x^2}")]
    rows = " \\\\ ".join(" & ".join(f"x_{{{i}{j}}}" for j in range(20)) for i in range(20))
    out += [("matrices", "2", f"\\det\\begin{{pmatrix}}{rows}\\end{{pmatrix}}", "0"),
            ("matrices", "2", f"\\begin{{pmatrix}}{rows}\\end{{pmatrix}}^{{10}}", "I")]
    out += [("malformed", "2", "\\frac{}{}", "\\sqrt[]{}"), ("malformed", "2", "\\left( x \\right]", "{{{{x"),
            ("malformed", "2", "\\text{" + "a" * 5000 + "}", "x"), ("malformed", "2", "^" * 200, "_" * 200),
            ("malformed", "2", "\\frac{1}{0}", "0^{-1}"), ("malformed", "2", "\\infty - \\infty", "0/0")]
    out += [("ordinary", "41", "41", "41"), ("ordinary", "41", "\\frac{82}{2}", "41.0"),
            ("ordinary", "0.5", "\\frac{1}{2}", "0.50"), ("ordinary", "41", "\\sqrt{1681}", "41"),
            ("ordinary", "41", "4.1 \\times 10^1", "\\frac{82}{2}"), ("ordinary", "x^2-1", "(x-1)(x+1)", "x^2-1"),
            ("ordinary", "2", "3", "2")]
    return out


def run(budget_s: float, progress=print) -> dict:
    os.environ["LMMS_ROBUST_SCORE_BUDGET_S"] = str(budget_s)
    from lmms_robust.core import mathcheck
    from lmms_robust.core.items import Item
    from lmms_robust.core.parse import parse_response
    from lmms_robust.core.perturb import perturb
    from lmms_robust.core.scoring import score_item, summarize

    mathcheck.verify("1", "1", 6)  # start the worker (and its spare) before timing, as a run's first item would
    time.sleep(3)
    rows, records = [], []
    for index, (family, gold, answer, conclusion) in enumerate(cases()):
        item = Item(benchmark="fuzz", item_id=str(index), question="q?", answer=gold, answer_type="float")
        text = f"<think>Working it out, so the answer is {conclusion}.</think><answer>{answer}</answer>"
        started = time.perf_counter()
        parsed = parse_response(text, item)
        record = score_item(perturb(item, "base"), parsed)
        seconds = time.perf_counter() - started
        records.append(record)
        rows.append({"index": index, "family": family, "answer": answer[:80] + ("…" if len(answer) > 80 else ""),
                     "chars": len(answer), "seconds": round(seconds, 4), "unscorable": record["unscorable"],
                     "correct": record["correct"], "consistent": record["consistent"],
                     "reason": record["unscorable_reason"]})
        if progress:
            progress(f"  {index:>3} {family:<10} {seconds:7.3f} s  unscorable={record['unscorable']}  {rows[-1]['answer'][:50]}")
    summary = summarize(records)
    worst = max(rows, key=lambda r: r["seconds"])
    families = {}
    for row in rows:
        families.setdefault(row["family"], []).append(row)
    return {
        "budget_s": budget_s, "limit_s": budget_s + OVERHEAD_S, "cases": len(rows), "worst": worst,
        "within_limit": worst["seconds"] <= budget_s + OVERHEAD_S,
        "unscorable": summary["n_unscorable"], "unscorable_rate": summary["unscorable_rate"],
        "worker": mathcheck.stats(),
        "families": {name: {"n": len(rs), "unscorable": sum(r["unscorable"] for r in rs),
                            "median_s": round(statistics.median(r["seconds"] for r in rs), 4),
                            "max_s": max(r["seconds"] for r in rs)} for name, rs in families.items()},
        "ordinary": [r for r in rows if r["family"] == "ordinary"],
        "rows": rows,
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
    }


def render(result: dict) -> str:
    worst = result["worst"]
    lines = [
        "# Hostile free-form answers: scoring stays within its budget",
        "",
        f"Generated by `benchmarks/fuzz_scoring.py --budget {result['budget_s']:g}` ({result['machine']}). Each case is",
        "a whole response scored by `score_item` as in a run, on a free-form item, with a hostile final answer and a",
        "hostile CoT conclusion (so both comparisons are made). Item budget "
        f"{result['budget_s']:g} s (each comparison {result['budget_s'] / 2:g} s); a run's default "
        "(`LMMS_ROBUST_SCORE_BUDGET_S`) is 10 s.",
        "",
        "| | |",
        "|---|---|",
        f"| cases | {result['cases']} |",
        f"| worst item | **{worst['seconds']:.3f} s** (case {worst['index']}, {worst['family']}: "
        f"`{worst['answer'][:60]}`), limit budget + {OVERHEAD_S:g} s = {result['limit_s']:g} s: "
        f"{'within' if result['within_limit'] else 'OVER'} |",
        f"| unscorable | {result['unscorable']} of {result['cases']} "
        f"(rate {result['unscorable_rate']:.3f}); each says why in `unscorable_reason` |",
        f"| math-verify worker | {result['worker']['calls']} comparisons, {result['worker']['undecided']} undecided, "
        f"{result['worker']['restarts']} workers taken into use (the spare takes over after a kill) |",
        "",
        "Before: `(x+1)^{9999}` alone spent 112.7 s in `is_correct`, `(1+\\sqrt{2})^{9999}` 43 s, `(a+b+c+d+e)^{99}`",
        "more than 60 s (issue 15). Ordinary answers score as before:",
        "",
        "| answer | correct | consistent | unscorable |", "|---|---|---|---|",
    ]
    lines += [f"| `{r['answer']}` | {r['correct']} | {r['consistent']} | {r['unscorable']} |" for r in result["ordinary"]]
    lines += ["", "## By family", "", "| family | cases | unscorable | median s | max s |", "|---|---|---|---|---|"]
    for name, f in result["families"].items():
        lines.append(f"| {name} | {f['n']} | {f['unscorable']} | {f['median_s']:.3f} | {f['max_s']:.3f} |")
    lines += ["", "## Every case", "", "| # | family | answer (cut) | chars | s | unscorable | correct |",
              "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        answer = r["answer"].replace("|", "\\|")
        lines.append(f"| {r['index']} | {r['family']} | `{answer[:50]}` | {r['chars']} | {r['seconds']:.3f} | "
                     f"{r['unscorable']} | {r['correct']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S, help="item budget in seconds")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.budget)
    report = render(result)
    print(report)
    if not args.no_write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.with_suffix(".md").write_text(report, encoding="utf-8")
        OUT.with_suffix(".json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {OUT.with_suffix('.md')}")
    return 0 if result["within_limit"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
