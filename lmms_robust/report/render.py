"""The report as blocks (headings, paragraphs, tables, images), rendered to Markdown, self-contained HTML and CSV.

Every text reaches each format escaped for it, since item ids, model names, task names and warning messages come
from the runs and may hold anything: Markdown backslash-escapes what CommonMark reads as markup (so ``<script>`` or
``[x](javascript:...)`` stays text), HTML escapes with ``html.escape``, CSV cells a spreadsheet would run as a formula
(``=``, ``+``, ``-``, ``@``, tab, CR first) get a leading ``'``.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
from dataclasses import dataclass
from pathlib import Path

from lmms_robust.report.paired import ROW_METRICS

__all__ = ["Block", "csv_cell", "fmt", "md_text", "to_csv", "to_html", "to_markdown"]

CSV_KEYS = ("model", "model_id", "benchmark", "variant", "task")


@dataclass(frozen=True)
class Block:
    """``kind`` is ``h1``/``h2``/``h3`` (text), ``p`` (text), ``table`` (header, rows) or ``img`` (path, text=alt)."""

    kind: str
    text: str = ""
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    path: Path | None = None


def fmt(value, digits: int = 3) -> str:
    """A cell: ``n/a`` for None, ints as is, floats with ``digits`` decimals."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


# What CommonMark (and GFM tables) read as markup anywhere in a line: raw HTML and autolinks (<), entities (&), links
# and images ([ ]), code spans (`), emphasis (* and a word-edge _), strikethrough (~), cell borders (|), escapes (\).
_MD_SPECIAL = re.compile(r"[\\`*\[\]<&|~]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def md_text(text: str) -> str:
    """``text`` as literal Markdown on one line: every markup character backslash-escaped, line breaks as spaces."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), " ".join(str(text).splitlines()))


def csv_cell(text: str) -> str:
    """A text cell a spreadsheet shows as text: a leading ``'`` where it would start a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if block.kind in ("h1", "h2", "h3"):
            out.append(f"{'#' * int(block.kind[1])} {md_text(block.text)}\n")
        elif block.kind == "p":
            out.append(f"{md_text(block.text)}\n")
        elif block.kind == "table":
            out.append("| " + " | ".join(md_text(h) for h in block.header) + " |")
            out.append("|" + "|".join("---" for _ in block.header) + "|")
            out.extend("| " + " | ".join(md_text(c) for c in row) + " |" for row in block.rows)
            out.append("")
        elif block.kind == "img":  # the file name is ours (a slug); the alt text is not
            out.append(f"![{md_text(block.text)}]({block.path.name})\n")
    return "\n".join(out).rstrip() + "\n"


STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em; color: #212529; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #dee2e6; padding: 0.25em 0.6em; text-align: right; }
th { background: #f1f3f5; }
td:first-child, td:nth-child(2), th:first-child, th:nth-child(2) { text-align: left; }
img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
code { background: #f1f3f5; padding: 0 0.2em; }
"""


def to_html(blocks: list[Block], title: str) -> str:
    """One self-contained page: inline CSS, tables inline, PNGs embedded as base64 data URIs."""
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{html.escape(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>"]
    for block in blocks:
        if block.kind in ("h1", "h2", "h3"):
            out.append(f"<{block.kind}>{html.escape(block.text)}</{block.kind}>")
        elif block.kind == "p":
            out.append(f"<p>{html.escape(block.text)}</p>")
        elif block.kind == "table":
            out.append("<table>")
            out.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in block.header) + "</tr>")
            out.extend("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            out.append("</table>")
        elif block.kind == "img":
            data = base64.b64encode(block.path.read_bytes()).decode("ascii")
            out.append(f'<img alt="{html.escape(block.text)}" src="data:image/png;base64,{data}">')
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def to_csv(entries: list[dict]) -> str:
    """One row per leaderboard entry: the identity columns, then every ``ROW_METRICS`` key (empty = null).

    Floats are written with ``repr`` precision, so values can be compared exactly; text cells go through ``csv_cell``.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*CSV_KEYS, *ROW_METRICS])
    for entry in entries:
        cells = ["" if entry[key] is None else csv_cell(str(entry[key])) for key in CSV_KEYS]
        cells += ["" if entry["metrics"][key] is None else repr(entry["metrics"][key]) for key in ROW_METRICS]
        writer.writerow(cells)
    return buffer.getvalue()
