"""The paper's benchmarks as they really are: the real annotation files (shared/external_data, outside the
repository) converted by benchmarks/perturbation_text.py, through our adapters and the natural generator.

Skipped when the files are absent. The whole-split measurement is marked slow (about 15 s on 2 cores); the quick
tests check the conversions on a few real rows."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from lmms_robust.benchmarks import BENCHMARKS
from lmms_robust.core.perturb import perturb

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("perturbation_text", ROOT / "benchmarks" / "perturbation_text.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("perturbation_text", module)
    spec.loader.exec_module(module)
    return module


SCRIPT = _script()
REAL = SCRIPT.external_root()
pytestmark = pytest.mark.skipif(REAL is None, reason="shared/external_data/benchmarks_real is not here")


def _item(benchmark: str, row: dict):
    module = BENCHMARKS[benchmark]
    return module.to_item({**row, module.IMAGE_FIELD: "<image>"})


def test_cv_bench_rows_keep_six_options_and_drop_the_appended_box_coordinates():
    rows = SCRIPT.cv_bench_rows(REAL)
    assert len(rows) == 2638
    six = next(row for row in rows if len(row["choices"]) == 6)
    assert _item("cv_bench", six).letters == tuple("ABCDEF")
    depth = next(row for row in rows if row["task"] == "Depth")
    assert "coordinates" not in depth["question"] and "coordinates" not in depth["prompt"]
    assert not depth["question"].endswith("Select from the following choices.")


def test_3dsrbench_rows_keep_the_real_ids_and_wording():
    rows = SCRIPT.threedsrbench_rows(REAL)
    assert len(rows) == 5157 and {len(row["qid"].split("-")[0]) for row in rows} == {8}
    item = _item("3dsrbench", next(row for row in rows if row["qid"] == "H02UN3F2-flip"))
    assert item.question.startswith("Consider the real-world 3D locations and orientations of the objects. If I stand")
    assert perturb(item, "truecap").caption == ("For someone standing at the woman's position and facing the same "
                                                "way, the bicycle is on their right.")


def test_vstar_rows_are_sentence_options_that_become_the_caption():
    rows = SCRIPT.vstar_rows(REAL)
    assert len(rows) == 191 and len({row["question_id"] for row in rows}) == 191
    item = _item("vstar_bench", rows[0])
    assert item.question == "What is the color of the man's cap?" and item.gold_letters == ("A",)
    pert = perturb(item, "misleadcap")
    assert pert.caption == item.options[item.letters.index(pert.target)]


@pytest.mark.slow
def test_every_real_split_builds_with_natural_text_and_no_letter():
    results = {stats["benchmark"]: stats for stats in SCRIPT.measure(REAL, samples=0)}
    assert set(results) == set(SCRIPT.BENCHMARKS)
    for benchmark, stats in results.items():
        assert stats["rejected"] == 0, (benchmark, stats["rejected_examples"])
        assert stats["generic_fallback_share"] <= 0.10, (benchmark, stats["fallback_reasons"])
        assert stats["letter_in_caption"] == 0, benchmark
    assert results["mme_realworld_lite"]["items"] == 1919 and results["mme_realworld_lite"]["repaired"] == 2
    assert results["spatial_mm_obj"]["malformed"] == 6 and results["spatial_mm_obj"]["not_applicable"] == 6
    assert results["mathvista"]["not_applicable"] == 2  # the two list answers
