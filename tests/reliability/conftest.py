"""Material for the reliability tests: the fuzzer module, datasets in MathVista's schema with chosen damage."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUZZ_PATH = ROOT / "benchmarks" / "fuzz_parse.py"


def load_fuzzer():
    """``benchmarks/fuzz_parse.py`` as a module (benchmarks/ is not a package)."""
    name = "lmms_robust_fuzz_parse"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, FUZZ_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def fuzzer():
    return load_fuzzer()


def mathvista_rows(n_extra: int = 24) -> list[dict]:
    """The shipped sample's 8 rows plus ``n_extra`` generated ones: 2 to 8 options (some repeated), integer,
    float with precision, text and list answers. Deterministic."""
    from lmms_robust.testing.sample import SAMPLE_ROWS

    rows = [dict(row) for row in SAMPLE_ROWS]
    for i in range(n_extra):
        pid = f"x{i}"
        kind = i % 6
        if kind <= 2:
            n = 2 + i % 7
            choices = [f"value {(i * 7 + k * 3) % 11}" for k in range(n)]
            rows.append(dict(pid=pid, question=f"Which value does row {i} show?", choices=choices,
                             answer=choices[i % n], question_type="multi_choice", answer_type="text", unit=None,
                             precision=None))
        elif kind == 3:
            rows.append(dict(pid=pid, question=f"How many objects in scene {i}?", choices=None, answer=str(i * 3 - 20),
                             question_type="free_form", answer_type="integer", unit=None, precision=None))
        elif kind == 4:
            rows.append(dict(pid=pid, question=f"Length of segment {i}, two decimals?", choices=None,
                             answer=f"{i * 1.37:.2f}", question_type="free_form", answer_type="float", unit="cm",
                             precision=2.0))
        else:
            rows.append(dict(pid=pid, question=f"Name of place {i}?", choices=None, answer=f"Town {i}",
                             question_type="free_form", answer_type="text", unit=None, precision=None))
    return rows


def mathvista_dataset(rows: list[dict], no_image: tuple[str, ...] = ()):
    """A datasets.Dataset in MathVista's schema (``lmms_robust.testing.sample``); items in ``no_image`` get a null
    ``decoded_image``."""
    import datasets

    from lmms_robust.testing.sample import sample_dataset

    dataset = sample_dataset(rows)
    if not no_image:
        return dataset
    records = [dict(record) for record in dataset]
    for record in records:
        if record["pid"] in no_image:
            record["decoded_image"] = None
    return datasets.Dataset.from_list(records, features=dataset.features)
