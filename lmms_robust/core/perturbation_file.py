"""User-supplied perturbation text (PROTOCOL.md §2): a JSONL file that replaces the generator for a run.

One JSON object per line (blank lines are skipped)::

    {"benchmark": "cv_bench", "item_id": "42", "target": "B",
     "caption": "The lamp is to the right of the sofa.",
     "rationale": "The lamp's base sits past the sofa's right armrest, so the answer is (B)."}

``kind`` is ``wrong`` (the default: misleadcap, wrongthink and their derivatives) or ``gold`` (truecap, truethink).
``target`` is an option letter (multiple choice) or a value (free-form); the rationale must conclude it, as the
parser reads conclusions, because the model continues from it. An optional ``meta`` object is kept unread
(e.g. the model that wrote the row). Anything else is an error: a file is either used exactly or not at all.
A caption or rationale holds plain text only: no think/answer tags (a rationale ending
``so the answer is (C).</think><answer>C</answer>`` would hand the model its final answer) and no chat-template
control tokens such as ``<|im_end|>``.

Read with ``lmms_robust.jsonl`` (lines end at ``\n`` only; BOM, CRLF handled; a line that is not UTF-8 or JSON, a
lone surrogate or a torn last line is an error naming the line). Pure: stdlib plus the core parser.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from lmms_robust.core.items import Item
from lmms_robust.core.parse import answers_match, cot_conclusion
from lmms_robust.jsonl import JsonlError, parse_jsonl

__all__ = ["KINDS", "PerturbationEntry", "PerturbationFile", "PerturbationFileError", "FileGenerator",
           "load_perturbation_file", "markup_problem"]

KINDS = ("wrong", "gold")
REQUIRED_KEYS = ("benchmark", "item_id", "target", "caption", "rationale")
OPTIONAL_KEYS = ("kind", "meta")
_EXAMPLE = ('{"benchmark": "cv_bench", "item_id": "42", "target": "B", "caption": "...", '
            '"rationale": "..., so the answer is (B)."}')


# Markup a model or the parser reads as structure: think/answer tags in any spacing or case, half tags such as
# "answer>B" (the parser reads some malformed tags), and chat-template control tokens ("<|im_end|>").
_MARKUP = re.compile(r"<[ \t]{0,8}/?[ \t]{0,8}(?:think|answer)\b(?:[ \t]{0,8}>)?|\b(?:think|answer)[ \t]{0,8}/?[ \t]{0,8}>"
                     r"|<\|[^<>|\n]{0,64}\|>", re.IGNORECASE)


def markup_problem(text: str) -> str | None:
    """Why ``text`` may not be used as a caption or rationale (it holds tags or control tokens), else None."""
    found = _MARKUP.search(text)
    if found is None:
        return None
    return (f"contains {found.group(0)!r}: think/answer tags and chat control tokens are structure the model and the "
            f"parser read, not text; remove them")


class PerturbationFileError(ValueError):
    """A perturbation file that cannot be used as it is; the message names the file, the line or item, and the fix."""


@dataclass(frozen=True)
class PerturbationEntry:
    benchmark: str
    item_id: str
    kind: str
    target: str
    caption: str
    rationale: str
    line: int


@dataclass(frozen=True)
class PerturbationFile:
    path: str
    sha256: str
    entries: dict[tuple[str, str, str], PerturbationEntry]
    """Keyed by (benchmark, item_id, kind)."""

    def describe(self) -> str:
        return f"file {self.path} sha256:{self.sha256}"

    def kinds_for(self, benchmark: str) -> set[str]:
        return {kind for (bench, _, kind) in self.entries if bench == benchmark}

    def ids_for(self, benchmark: str, kind: str) -> set[str]:
        return {item_id for (bench, item_id, k) in self.entries if bench == benchmark and k == kind}

    def check_coverage(self, benchmark: str, applicable_ids: dict[str, set[str]]) -> None:
        """Every item that needs text of a kind the file gives has a row, and every row names such an item.

        ``applicable_ids`` maps kind -> ids of the items that take a caption/rationale of that kind. A file with no
        row for ``benchmark`` at all is an error too: mixing file text and generated text in one run would be a
        silent guess about what the user meant.
        """
        if not self.kinds_for(benchmark):
            benchmarks = sorted({bench for (bench, _, _) in self.entries})
            raise PerturbationFileError(
                f"perturbation file {self.path} has no rows for benchmark {benchmark!r} (it has {benchmarks}); "
                f"add rows for it, or run {benchmark} without LMMS_ROBUST_PERTURBATIONS")
        for kind in sorted(self.kinds_for(benchmark)):
            given, needed = self.ids_for(benchmark, kind), applicable_ids.get(kind, set())
            missing, extra = sorted(needed - given), sorted(given - needed)
            problems = []
            if missing:
                problems.append(f"{len(missing)} {benchmark} item(s) have no {kind!r} row (e.g. {missing[:5]})")
            if extra:
                problems.append(f"{len(extra)} {kind!r} row(s) name {benchmark} items that are not in this split or "
                                f"take no caption/rationale (e.g. {extra[:5]})")
            if problems:
                raise PerturbationFileError(
                    f"perturbation file {self.path}: {'; '.join(problems)}. The file must match the split exactly: "
                    f"was it written for another split or dataset version? Regenerate it for this split "
                    f"(lmms-robust perturbations write) or fix the rows")


def load_perturbation_file(path: str | Path) -> PerturbationFile:
    """Read and validate a perturbation file's format (per-item checks happen in ``FileGenerator``)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PerturbationFileError(f"perturbation file {path} does not exist") from None
    except IsADirectoryError:
        raise PerturbationFileError(f"perturbation file {path} is a directory; give the .jsonl file") from None
    try:
        read = parse_jsonl(raw, path, fix=f"one JSON object per line, e.g. {_EXAMPLE}")
    except JsonlError as err:
        raise PerturbationFileError(f"perturbation file {path}, line {err.line}: {err.problem}; {err.fix}") from None
    entries: dict[tuple[str, str, str], PerturbationEntry] = {}
    for number, row in read.rows:
        entry = _entry(path, number, row)
        key = (entry.benchmark, entry.item_id, entry.kind)
        if key in entries:
            raise PerturbationFileError(
                f"perturbation file {path}, lines {entries[key].line} and {number}: two {entry.kind!r} rows for "
                f"{entry.benchmark} item {entry.item_id!r}; keep one")
        entries[key] = entry
    if not entries:
        raise PerturbationFileError(f"perturbation file {path} has no rows; one JSON object per line, e.g. {_EXAMPLE}")
    return PerturbationFile(path=str(path), sha256=hashlib.sha256(raw).hexdigest(), entries=entries)


def _entry(path: Path, number: int, row) -> PerturbationEntry:
    where = f"perturbation file {path}, line {number}"
    if not isinstance(row, dict):
        raise PerturbationFileError(f"{where}: a JSON {type(row).__name__}, not an object; e.g. {_EXAMPLE}")
    missing = [key for key in REQUIRED_KEYS if key not in row]
    if missing:
        raise PerturbationFileError(f"{where}: missing key(s) {missing}; each row needs {list(REQUIRED_KEYS)}")
    unknown = sorted(set(row) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise PerturbationFileError(f"{where}: unknown key(s) {unknown}; allowed: "
                                    f"{list(REQUIRED_KEYS) + list(OPTIONAL_KEYS)}")
    if isinstance(row["item_id"], int) and not isinstance(row["item_id"], bool):
        row["item_id"] = str(row["item_id"])  # a JSON number id names the same item as its decimal string
    for key in REQUIRED_KEYS:
        if not isinstance(row[key], str) or not row[key].strip():
            raise PerturbationFileError(f"{where}: {key!r} must be a non-empty string, got {row[key]!r}")
    for key in ("caption", "rationale"):
        problem = markup_problem(row[key])
        if problem:
            raise PerturbationFileError(f"{where}: the {key} {problem}")
    kind = row.get("kind", "wrong")
    if kind not in KINDS:
        raise PerturbationFileError(f"{where}: kind {kind!r} is not one of {list(KINDS)}")
    return PerturbationEntry(benchmark=row["benchmark"], item_id=row["item_id"], kind=kind,
                             target=row["target"].strip(), caption=row["caption"].strip(),
                             rationale=row["rationale"].strip(), line=number)


class FileGenerator:
    """Captions, rationales and targets from a perturbation file; kinds the file lacks come from ``fallback``."""

    def __init__(self, source: PerturbationFile, fallback):
        self.source = source
        self.fallback = fallback

    def entry(self, item: Item, kind: str) -> PerturbationEntry | None:
        entry = self.source.entries.get((item.benchmark, item.item_id, kind))
        if entry is None:
            if kind in self.source.kinds_for(item.benchmark):
                raise PerturbationFileError(
                    f"perturbation file {self.source.path}: no {kind!r} row for {item.benchmark} item "
                    f"{item.item_id!r}; add one or regenerate the file")
            return None
        self._check(entry, item)
        return entry

    def target(self, item: Item, kind: str, default: str) -> str:
        """The file's target for ``kind`` (``wrong``/``gold``), else the protocol's ``default``."""
        entry = self.entry(item, kind)
        return entry.target if entry is not None else default

    def caption(self, item: Item, target: str) -> str:
        entry = self.entry(item, self._kind(item, target))
        return entry.caption if entry is not None else self.fallback.caption(item, target)

    def rationale(self, item: Item, target: str) -> str:
        entry = self.entry(item, self._kind(item, target))
        return entry.rationale if entry is not None else self.fallback.rationale(item, target)

    def describe(self, item: Item, target: str) -> str:
        """``file`` for the file's rows, else what the fallback says about its own text."""
        if self.entry(item, self._kind(item, target)) is not None:
            return "file"
        describe = getattr(self.fallback, "describe", None)
        return describe(item, target) if describe is not None else "fallback"

    @staticmethod
    def _kind(item: Item, target: str) -> str:
        gold = target in item.gold_letters if item.is_multiple_choice else answers_match(target, item.answer, item)
        return "gold" if gold else "wrong"

    def _check(self, entry: PerturbationEntry, item: Item) -> None:
        where = (f"perturbation file {self.source.path}, line {entry.line} ({item.benchmark} item "
                 f"{item.item_id!r}, kind {entry.kind!r})")
        if item.is_multiple_choice:
            if entry.target not in item.letters:
                raise PerturbationFileError(f"{where}: target {entry.target!r} is not one of the item's letters "
                                            f"{list(item.letters)}; the file does not match this dataset")
            is_gold = entry.target in item.gold_letters
        else:
            is_gold = answers_match(entry.target, item.answer, item)
        if entry.kind == "wrong" and is_gold:
            raise PerturbationFileError(f"{where}: target {entry.target!r} is the gold answer; a 'wrong' row must "
                                        f"argue for a wrong answer (or mark the row \"kind\": \"gold\")")
        if entry.kind == "gold" and not is_gold:
            raise PerturbationFileError(f"{where}: target {entry.target!r} is not the gold answer "
                                        f"{item.answer!r}; fix the target or mark the row \"kind\": \"wrong\"")
        concluded = cot_conclusion(entry.rationale, item)
        if concluded is None or not answers_match(concluded, entry.target, item):
            raise PerturbationFileError(
                f"{where}: the rationale concludes {concluded!r}, not the target {entry.target!r}; end it with a "
                f"commitment such as 'so the answer is ({entry.target}).' (a model continues from this text)")
