"""The one JSONL reader and writer of the project (stdlib only, so ``core/`` may use it).

Lines end at ``\\n`` and nowhere else: U+2028, U+2029, U+0085, ``\\v`` or ``\\f`` inside a JSON string are text
(``str.splitlines()`` splits on all of them, which breaks a valid line in two). A UTF-8 byte-order mark before the
first line and a ``\\r`` before a ``\\n`` are dropped; blank lines are skipped.

Every problem is a ``JsonlError`` naming ``file:line`` and the fix: a line that is not UTF-8 or not JSON, and (unless
the caller keeps them) a string holding a lone surrogate, which cannot be written back as UTF-8. The one exception a
caller may choose is a *torn tail*: a last line with no line end that is not complete JSON, which is what a write
cut short leaves behind. ``torn_tail="skip"`` drops it and says where it was; nothing else is ever skipped.

Writing: ``dumps_line`` keeps text readable (``ensure_ascii=False``) but escapes a line holding a lone surrogate, so
what it writes always reads back; ``append_lines`` starts on a fresh line when the file does not end with one;
``write_jsonl`` replaces a file atomically (a unique temporary file beside it, then ``os.replace``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["JsonlError", "JsonlRead", "append_lines", "dumps_line", "lone_surrogate", "parse_jsonl", "read_jsonl",
           "write_jsonl"]

BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class JsonlError(ValueError):
    """A JSONL file that cannot be read as it is; ``path`` and ``line`` say where."""

    def __init__(self, path: str | Path, line: int | None, problem: str, fix: str | None = None):
        self.path, self.line, self.problem, self.fix = Path(path), line, problem, fix
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}" + (f"; {fix}" if fix else ""))


@dataclass
class JsonlRead:
    """What ``read_jsonl`` found."""

    path: Path
    rows: list[tuple[int, Any]] = field(default_factory=list)
    """``(line number, value)`` in file order, blank lines left out."""
    torn_line: int | None = None
    """The line number of a dropped torn tail (``torn_tail="skip"``), else None."""
    torn_offset: int | None = None
    """The byte offset where the torn tail starts (truncate the file there to remove it)."""

    @property
    def values(self) -> list[Any]:
        return [value for _, value in self.rows]


def read_jsonl(path: str | Path, *, torn_tail: str = "error", lone_surrogates: str = "error",
               object_pairs_hook: Callable | None = None, fix: str | None = None) -> JsonlRead:
    """Every JSON value of ``path``, one per line (see the module docstring for what counts as a line).

    Args:
        torn_tail: ``"error"`` (default) or ``"skip"``: what a last line without a line end that is not JSON is.
        lone_surrogates: ``"error"`` (default) or ``"keep"`` (a file this project wrote escapes them, see
            ``dumps_line``, so its own caches may hold them).
        object_pairs_hook: passed to ``json.loads`` (e.g. to refuse a key given twice; raise ValueError there).
        fix: what the user should do, appended to every error message.

    Raises:
        FileNotFoundError, IsADirectoryError: as ``open`` does.
        JsonlError: naming ``path:line``, the problem and ``fix``.
    """
    return parse_jsonl(Path(path).read_bytes(), path, torn_tail=torn_tail, lone_surrogates=lone_surrogates,
                       object_pairs_hook=object_pairs_hook, fix=fix)


def parse_jsonl(data: bytes, path: str | Path, *, torn_tail: str = "error", lone_surrogates: str = "error",
                object_pairs_hook: Callable | None = None, fix: str | None = None) -> JsonlRead:
    """``read_jsonl`` over bytes already read (``path`` names them in errors)."""
    if torn_tail not in ("error", "skip") or lone_surrogates not in ("error", "keep"):
        raise ValueError(f"torn_tail={torn_tail!r}, lone_surrogates={lone_surrogates!r}: use 'error', 'skip'/'keep'")
    path = Path(path)
    if data.startswith(_UTF16_BOMS):
        raise JsonlError(path, 1, "UTF-16 text (byte-order mark), not UTF-8", fix or "save it as UTF-8")
    start = len(BOM) if data.startswith(BOM) else 0
    result = JsonlRead(path=path)
    number = 0
    while start < len(data):
        number += 1
        end = data.find(b"\n", start)
        terminated = end != -1
        raw = data[start:end if terminated else len(data)]
        offset, start = start, (end + 1 if terminated else len(data))
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
            value = json.loads(text, object_pairs_hook=object_pairs_hook)
        except UnicodeDecodeError as err:
            if not terminated and torn_tail == "skip":
                result.torn_line, result.torn_offset = number, offset
                break
            raise JsonlError(path, number, f"not UTF-8 (byte {err.start + 1} of the line is {raw[err.start]:#04x})",
                             fix or "write the file as UTF-8") from None
        except json.JSONDecodeError as err:
            if not terminated:
                if torn_tail == "skip":
                    result.torn_line, result.torn_offset = number, offset
                    break
                raise JsonlError(path, number, f"the last line is cut short (no line end, not complete JSON: "
                                               f"{err.msg} at column {err.colno})", fix) from None
            raise JsonlError(path, number, f"not JSON ({err.msg} at column {err.colno})", fix) from None
        except ValueError as err:  # object_pairs_hook refused the line
            raise JsonlError(path, number, str(err), fix) from None
        if lone_surrogates == "error" and "\\ud" in text.lower():
            where = lone_surrogate(value)
            if where is not None:
                raise JsonlError(path, number, f"{where} holds a lone surrogate (a \\ud800-\\udfff escape with no "
                                               f"pair), which is not text", fix or "write the text as valid Unicode")
        result.rows.append((number, value))
    return result


def lone_surrogate(value: Any, where: str = "a string") -> str | None:
    """Where in ``value`` (a JSON value) a string holds a lone surrogate (``key 'response'``), else None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = lone_surrogate(key, "a key") or lone_surrogate(item, f"key {key!r}")
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = lone_surrogate(item, f"{where}[{index}]")
            if found:
                return found
    return None


def dumps_line(value: Any) -> str:
    """One JSON line (with its ``\\n``): readable UTF-8, but escaped where a lone surrogate would make it invalid."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, ensure_ascii=True)  # \udXXX escapes: valid UTF-8, read back as the same string
    return text + "\n"


def append_lines(path: str | Path, values: Iterable[Any]) -> None:
    """Append one line per value and flush; a file whose last line has no line end gets one first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        if handle.tell() > 0:
            with path.open("rb") as reader:
                reader.seek(-1, os.SEEK_END)
                if reader.read(1) != b"\n":
                    handle.write(b"\n")
        for value in values:
            handle.write(dumps_line(value).encode("utf-8"))
        handle.flush()


def write_jsonl(path: str | Path, values: Iterable[Any]) -> None:
    """Replace ``path`` with one line per value, atomically: readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            for value in values:
                handle.write(dumps_line(value).encode("utf-8"))
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
