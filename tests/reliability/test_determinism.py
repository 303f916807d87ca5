"""Perturbed docs are a function of the item alone: byte-identical across runs, processes, hash seeds and row orders.

``build_docs`` is what lmms-eval's ``process_docs`` runs for every variant task; its ``lr_perturbation`` column is
everything the prompt, the prefill and the scoring read. ``perturb()`` on a corpus of core Items is also covered in
tests/core/test_perturb.py (order independence, PYTHONHASHSEED 0 and 4242); here the same holds for the whole
docs path on a datasets.Dataset in MathVista's schema.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lmms_robust.benchmarks.mathvista import to_item
from lmms_robust.core.perturb import VARIANT_NAMES, PerturbConfig, perturb
from lmms_robust.harness.docs import build_docs, perturbation_to_json

from .conftest import ROOT, mathvista_dataset, mathvista_rows

CONFIG = PerturbConfig(seed=0)


def docs_by_variant(dataset) -> dict[str, list[list[str]]]:
    """variant -> [[lr_item_id, lr_perturbation], ...] in doc order."""
    out = {}
    for variant in VARIANT_NAMES:
        docs = build_docs(dataset, "mathvista", variant, CONFIG)
        out[variant] = [[item_id, payload] for item_id, payload in zip(docs["lr_item_id"], docs["lr_perturbation"])]
    return out


def perturb_by_variant(rows) -> dict[str, list[str]]:
    """variant -> perturb() of each row's Item, as JSON, in row order."""
    items = [to_item({**row, "decoded_image": "<image>"}) for row in rows]
    return {variant: [perturbation_to_json(perturb(item, variant, CONFIG)) for item in items]
            for variant in VARIANT_NAMES}


def snapshot(rows) -> str:
    """Everything compared across processes, as one JSON string."""
    return json.dumps({"docs": docs_by_variant(mathvista_dataset(rows)), "perturb": perturb_by_variant(rows)},
                      ensure_ascii=False, sort_keys=True)


ROWS = mathvista_rows()
IDS = [row["pid"] for row in ROWS]


@pytest.fixture(scope="module")
def reference() -> str:
    return snapshot(ROWS)


def test_two_runs_in_one_process_are_byte_identical(reference):
    assert snapshot(ROWS) == reference


@pytest.mark.parametrize("hashseed", ["0", "2718281"])
def test_a_process_with_another_hash_seed_is_byte_identical(reference, hashseed):
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from tests.reliability.test_determinism import ROWS, snapshot; "
            "sys.stdout.buffer.write(snapshot(ROWS).encode('utf-8'))")
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    env.pop("LMMS_ROBUST_SEED", None)
    child = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, env=env, cwd=ROOT,
                           timeout=180, check=False)
    assert child.returncode == 0, child.stderr.decode()[-3000:]
    assert child.stdout.decode("utf-8") == reference


def test_shuffled_filtered_and_selected_datasets_give_each_item_the_same_doc():
    dataset = mathvista_dataset(ROWS)
    reference = {variant: dict(pairs) for variant, pairs in docs_by_variant(dataset).items()}
    shuffled = dataset.shuffle(seed=11)  # an indices mapping over the stored table, as a re-ordered local copy has
    subset = dataset.select([i for i in range(len(IDS)) if i % 3 != 1][::-1])  # rows dropped, order reversed
    filtered = dataset.filter(lambda row: not row["pid"].endswith("2"))
    for view in (shuffled, subset, filtered):
        order = [row["pid"] for row in view.select_columns(["pid"])]
        assert order != IDS
        for variant, pairs in docs_by_variant(view).items():
            assert [item_id for item_id, _ in pairs] == order, variant  # rows are never re-ordered or dropped
            for item_id, payload in pairs:
                assert payload == reference[variant][item_id], (variant, item_id)


def test_every_variant_has_the_same_doc_ids_in_the_same_order():
    # lmms-eval's doc_id is the row position: doc i must be the same item in every variant task
    for dataset in (mathvista_dataset(ROWS), mathvista_dataset(ROWS).shuffle(seed=5)):
        order = [row["pid"] for row in dataset.select_columns(["pid"])]
        for variant, pairs in docs_by_variant(dataset).items():
            assert [item_id for item_id, _ in pairs] == order, variant
            assert all(json.loads(payload)["variant"] == variant for _, payload in pairs)


def test_a_missing_image_is_blamed_on_its_own_item_in_a_shuffled_dataset():
    # regression: the image null mask was read from the stored table, not through the shuffle's indices mapping,
    # so another item was blamed and the image-less one went through with no image
    from lmms_robust.core.items import ItemError

    dataset = mathvista_dataset(ROWS, no_image=("s1",)).shuffle(seed=3)
    with pytest.raises(ItemError, match="mathvista item 's1': no image"):
        build_docs(dataset, "mathvista", "base", CONFIG)
    others = dataset.filter(lambda row: row["pid"] != "s1")
    assert len(build_docs(others, "mathvista", "base", CONFIG)) == len(IDS) - 1


def test_the_seed_changes_targets_but_not_doc_ids_or_order():
    dataset = mathvista_dataset(ROWS)
    zero = build_docs(dataset, "mathvista", "misleadcap", PerturbConfig(seed=0))
    other = build_docs(dataset, "mathvista", "misleadcap", PerturbConfig(seed=1))
    assert zero["lr_item_id"] == other["lr_item_id"] == IDS
    targets = [[json.loads(p)["target"] for p in docs["lr_perturbation"]] for docs in (zero, other)]
    assert targets[0] != targets[1]

