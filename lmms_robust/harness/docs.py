"""process_docs: turn a benchmark split into perturbed docs, one factory for every (benchmark, variant).

Each doc keeps its dataset fields and gains four columns:
``lr_item_id`` (pairing key), ``lr_doc_id`` (its position, lmms-eval's doc id), ``lr_variant`` and ``lr_perturbation`` (JSON: the item as shown plus the
caption/prefill/target), so the later hooks need nothing but the doc.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Callable

from lmms_robust.benchmarks import IMAGE_FIELDS, adapter
from lmms_robust.core.items import Item, ItemError
from lmms_robust.core.perturb import PerturbConfig, Perturbation, perturb, variant_spec

SEED_ENV = "LMMS_ROBUST_SEED"
COLUMNS = ("lr_item_id", "lr_doc_id", "lr_variant", "lr_perturbation")


def protocol_config() -> PerturbConfig:
    """The protocol settings in force: defaults, with the seed overridable through ``LMMS_ROBUST_SEED``."""
    raw = os.environ.get(SEED_ENV, "0")
    try:
        seed = int(raw)
    except ValueError:
        raise ValueError(f"{SEED_ENV}={raw!r} is not an integer seed") from None
    return PerturbConfig(seed=seed)


def perturbation_to_json(pert: Perturbation) -> str:
    payload = {"variant": pert.variant, "item": asdict(pert.item), "applicable": pert.applicable, "reason": pert.reason,
               "target": pert.target, "caption": pert.caption, "prefill": pert.prefill,
               "abstain_letter": pert.abstain_letter}
    return json.dumps(payload, ensure_ascii=False, sort_keys=True)


def perturbation_from_doc(doc: dict) -> Perturbation:
    try:
        payload = json.loads(doc["lr_perturbation"])
    except KeyError:
        raise KeyError("doc has no 'lr_perturbation': the task must set process_docs to an lmms_robust.harness.docs hook") from None
    item_fields = payload.pop("item")
    item_fields["options"] = tuple(item_fields["options"])
    return Perturbation(item=Item(**item_fields), **payload)


def build_docs(dataset, benchmark: str, variant: str, config: PerturbConfig | None = None):
    """Validate every row, perturb it, and add the lr_* columns. Row order and count never change."""
    variant_spec(variant)  # unknown variant -> clear error before any row is touched
    config = config or protocol_config()
    to_item = adapter(benchmark)
    image_field = IMAGE_FIELDS[benchmark]
    if image_field not in dataset.column_names:
        raise ItemError(
            f"{benchmark}: the dataset has no {image_field!r} column (columns: {dataset.column_names}); "
            f"a local copy must keep the benchmark's schema"
        )
    # Read the image column as nulls only: decoding every image here would cost minutes on real splits. Through the
    # arrow formatter, not ``dataset.data``: that is the underlying table, in its stored order, while a shuffled,
    # selected or filtered dataset reads its rows through an indices mapping.
    image_missing = dataset.select_columns([image_field]).with_format("arrow")[image_field].is_null().to_pylist()
    rows = dataset.remove_columns([image_field])
    payloads, ids = [], []
    for row, missing in zip(rows, image_missing):
        row[image_field] = None if missing else "<image>"
        pert = perturb(to_item(row), variant, config)
        ids.append(pert.item.item_id)
        payloads.append(perturbation_to_json(pert))
    _check_unique(ids, benchmark)
    for column in COLUMNS:
        if column in dataset.column_names:
            dataset = dataset.remove_columns([column])
    dataset = dataset.add_column("lr_item_id", ids)
    dataset = dataset.add_column("lr_doc_id", list(range(len(ids))))  # lmms-eval's doc_id: the position in the split
    dataset = dataset.add_column("lr_variant", [variant] * len(ids))
    return dataset.add_column("lr_perturbation", payloads)


def _check_unique(ids: list[str], benchmark: str) -> None:
    seen: set[str] = set()
    for item_id in ids:
        if item_id in seen:
            raise ItemError(f"{benchmark}: item id {item_id!r} occurs twice; ids must be unique to pair variants")
        seen.add(item_id)


def make_process_docs(benchmark: str, variant: str) -> Callable:
    def process_docs(dataset):
        return build_docs(dataset, benchmark, variant)

    process_docs.__name__ = f"{benchmark}_{variant}"
    process_docs.__qualname__ = process_docs.__name__
    return process_docs
