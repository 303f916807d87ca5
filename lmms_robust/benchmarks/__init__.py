"""One small adapter per benchmark: a dataset row (a dict in the benchmark's own schema) -> core Item."""

from __future__ import annotations

from typing import Callable

from lmms_robust.benchmarks import mathvista
from lmms_robust.core.items import Item

ADAPTERS: dict[str, Callable[[dict], Item]] = {
    "mathvista": mathvista.to_item,
}
IMAGE_FIELDS: dict[str, str] = {
    "mathvista": mathvista.IMAGE_FIELD,
}


def adapter(benchmark: str) -> Callable[[dict], Item]:
    try:
        return ADAPTERS[benchmark]
    except KeyError:
        raise ValueError(f"unknown benchmark {benchmark!r}; known: {sorted(ADAPTERS)}") from None
