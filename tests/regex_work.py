"""Count the parser's regex work instead of timing it (tests assert operation counts, never wall-clock time)."""

from __future__ import annotations

import re
import sys


class CountingPattern:
    """Stands in for one of the parser's compiled regexes and counts the characters each call may scan (the span
    ``pos``..``endpos`` of a search, the consumed length of an anchored match)."""

    def __init__(self, pattern: re.Pattern, counter: dict):
        self._pattern, self._counter = pattern, counter

    def _scan(self, string, pos, endpos):
        self._counter["calls"] += 1
        self._counter["chars"] += max(0, min(len(string), endpos) - pos)

    def search(self, string, pos=0, endpos=sys.maxsize):
        self._scan(string, pos, endpos)
        return self._pattern.search(string, pos, endpos)

    def finditer(self, string, pos=0, endpos=sys.maxsize):
        self._scan(string, pos, endpos)
        return self._pattern.finditer(string, pos, endpos)

    def findall(self, string, pos=0, endpos=sys.maxsize):
        self._scan(string, pos, endpos)
        return self._pattern.findall(string, pos, endpos)

    def fullmatch(self, string, pos=0, endpos=sys.maxsize):
        self._scan(string, pos, endpos)
        return self._pattern.fullmatch(string, pos, endpos)

    def match(self, string, pos=0, endpos=sys.maxsize):
        found = self._pattern.match(string, pos, endpos)
        self._counter["calls"] += 1
        self._counter["chars"] += (found.end() - pos if found else 0) + 1
        return found

    def sub(self, repl, string, count=0):
        self._scan(string, 0, len(string))
        return self._pattern.sub(repl, string, count)

    def split(self, string, maxsplit=0):
        self._scan(string, 0, len(string))
        return self._pattern.split(string, maxsplit)

    def __getattr__(self, name):
        return getattr(self._pattern, name)


def count_regex_work(monkeypatch) -> dict:
    """Make every module-level regex of ``lmms_robust.core.parse`` count (and the commitments it resolves) for the
    rest of the test: ``{"calls", "chars", "candidates"}``, updated in place. Each regex uses bounded quantifiers
    only, so its work per offered character is bounded: counting offered characters bounds the time."""
    import lmms_robust.core.parse as parse_module

    counter = {"calls": 0, "chars": 0, "candidates": 0}
    for name, value in list(vars(parse_module).items()):
        if isinstance(value, re.Pattern):
            monkeypatch.setattr(parse_module, name, CountingPattern(value, counter))
    resolve = parse_module._resolve_candidate

    def counting_resolve(*args, **kwargs):
        counter["candidates"] += 1
        return resolve(*args, **kwargs)

    monkeypatch.setattr(parse_module, "_resolve_candidate", counting_resolve)
    return counter
