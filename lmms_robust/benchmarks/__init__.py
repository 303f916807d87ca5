"""One small adapter module per benchmark.

Each module defines:
  ``BENCHMARK``   its name (the task prefix, part of the perturbation seed);
  ``IMAGE_FIELD`` the dataset column holding the image (checked to exist; its nulls are a missing image);
  ``to_item(row) -> Item``  a dataset row in the benchmark's own schema -> core Item (pure; errors name the item);
  ``images(doc) -> list``   the doc's PIL images, through lmms-eval's own loader where lmms-eval has the benchmark.
Sets read from their public release (Spatial-MM, WhatsUp: not on the Hugging Face hub; MME-RealWorld-Lite: its
official JSON, the hub copy needing a token) also define ``SPLIT`` and
``load_release(release_dir, image_dir=None) -> datasets.Dataset`` (the public release -> our row schema).
"""

from __future__ import annotations

from types import ModuleType
from typing import Callable

from lmms_robust.benchmarks import (cv_bench, mathvista, mmbench, mme_realworld_lite, spatial_mm_multihop,
                                    spatial_mm_obj, threedsrbench, vstar_bench, whatsup)
from lmms_robust.core.items import Item

BENCHMARKS: dict[str, ModuleType] = {
    module.BENCHMARK: module
    for module in (mathvista, threedsrbench, cv_bench, spatial_mm_obj, spatial_mm_multihop, whatsup, vstar_bench,
                   mme_realworld_lite, mmbench)
}
PAPER_BENCHMARKS = ("3dsrbench", "cv_bench", "spatial_mm_obj", "spatial_mm_multihop", "whatsup", "vstar_bench",
                    "mme_realworld_lite", "mmbench_en_dev")
"""The paper's eight, in its order (PROTOCOL.md §5); ``lmms_robust_eight`` runs them all."""
ADAPTERS: dict[str, Callable[[dict], Item]] = {name: module.to_item for name, module in BENCHMARKS.items()}
IMAGE_FIELDS: dict[str, str] = {name: module.IMAGE_FIELD for name, module in BENCHMARKS.items()}


def benchmark_module(benchmark: str) -> ModuleType:
    try:
        return BENCHMARKS[benchmark]
    except KeyError:
        raise ValueError(f"unknown benchmark {benchmark!r}; known: {sorted(BENCHMARKS)}") from None


def adapter(benchmark: str) -> Callable[[dict], Item]:
    return benchmark_module(benchmark).to_item


def release_loaders() -> dict[str, ModuleType]:
    """Benchmarks that can be built from their public release (``lmms-robust load-release``)."""
    return {name: module for name, module in BENCHMARKS.items() if hasattr(module, "load_release")}
