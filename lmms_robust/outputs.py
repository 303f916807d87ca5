"""Where commands write: never over an input, never over what lmms-robust did not write. Stdlib only.

Every command that writes checks its outputs before it writes anything:

- ``check_apart``: an output is not one of the command's inputs, not inside one, and does not contain one
  (``localize --data /X/data/mathvista --out /X/data`` would otherwise replace the dataset with task YAMLs).
- ``claim_folder``: an output folder is absent, empty, or one lmms-robust made: it holds ``MARKER``, written when
  the folder is first claimed, so a rerun into it (resume, a newer report) is allowed and a folder a person or
  another program filled is refused.
- ``replace_folder``: a folder is deleted only when it carries ``MARKER``.
- ``check_file_output``: an output file is absent, empty, or recognised as this command's own output.

Each refusal is an ``OutputError`` naming the flag, the path and the fix.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["MARKER", "OutputError", "check_apart", "check_file_output", "claim_folder", "json_with_keys",
           "jsonl_with_keys", "replace_folder"]

MARKER = ".lmms_robust_output"
_MARKER_TEXT = "This folder was written by lmms-robust; a later lmms-robust run may replace what it wrote here.\n"


class OutputError(ValueError):
    """An output path that would overwrite or delete something lmms-robust did not write."""


def check_apart(out: str | Path, out_flag: str, inputs: Iterable[tuple[str, str | Path | None]]) -> None:
    """Refuse ``out`` when it is, lies inside, or contains one of ``inputs`` (``(flag, path)`` pairs; None skipped)."""
    target = Path(out).resolve()
    for flag, path in inputs:
        if path is None:
            continue
        given = Path(path).resolve()
        if target == given:
            relation = "is"
        elif given in target.parents:
            relation = "is inside"
        elif target in given.parents:
            relation = "contains"
        else:
            continue
        raise OutputError(f"{out_flag} {out} {relation} the input {flag} {path}: writing there could replace or mix "
                          f"with the input; give {out_flag} a path outside it")


def claim_folder(folder: str | Path, flag: str) -> Path:
    """``folder``, created with its ``MARKER`` if absent or empty; refused when it holds files lmms-robust did not
    write (no ``MARKER``)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{flag} {folder} is a file; give a folder (new, empty, or one lmms-robust wrote)")
    if folder.is_dir() and not (folder / MARKER).is_file():
        present = sorted(p.name for p in itertools.islice(folder.iterdir(), 4))
        if present:
            raise OutputError(
                f"{flag} {folder} already holds files lmms-robust did not write (e.g. {present[:3]}); nothing is "
                f"written over what a person or another program put there. Give {flag} a new or empty folder (a "
                f"folder an older lmms-robust wrote: check it, then create {folder / MARKER} to adopt it)")
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / MARKER
    if not marker.is_file():
        marker.write_text(_MARKER_TEXT, encoding="utf-8")
    return folder


def replace_folder(folder: str | Path, flag: str) -> Path:
    """Delete ``folder`` if lmms-robust wrote it (``MARKER``), then claim it anew; refused if it is someone else's."""
    folder = Path(folder)
    if folder.is_dir() and (folder / MARKER).is_file():
        shutil.rmtree(folder)
    return claim_folder(folder, flag)


def check_file_output(path: str | Path, flag: str, is_ours: Callable[[Path], bool], what: str) -> None:
    """Refuse an existing, non-empty file ``path`` unless ``is_ours(path)``: it reads as this command's ``what``."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise OutputError(f"{flag} {path} is a folder; give a file path")
    if path.is_file() and path.stat().st_size > 0 and not is_ours(path):
        raise OutputError(f"{flag} {path} exists and is not {what}; it is not overwritten. Give {flag} a new path "
                          f"(or move that file away)")


def jsonl_with_keys(*keys: str) -> Callable[[Path], bool]:
    """``is_ours`` for a JSONL output: every line an object holding ``keys`` (a torn last line allowed)."""
    from lmms_robust.jsonl import JsonlError, read_jsonl

    def is_ours(path: Path) -> bool:
        try:
            rows = read_jsonl(path, torn_tail="skip", lone_surrogates="keep").values
        except (JsonlError, OSError):
            return False
        return bool(rows) and all(isinstance(row, dict) and all(key in row for key in keys) for row in rows)

    return is_ours


def json_with_keys(*keys: str) -> Callable[[Path], bool]:
    """``is_ours`` for a JSON output: one object holding ``keys``."""
    import json

    def is_ours(path: Path) -> bool:
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(value, dict) and all(key in value for key in keys)

    return is_ours
