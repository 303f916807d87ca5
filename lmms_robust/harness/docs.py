"""process_docs: turn a benchmark split into perturbed docs, one factory for every (benchmark, variant).

Each doc keeps its dataset fields and gains five columns:
``lr_item_id`` (pairing key), ``lr_doc_id`` (its position, lmms-eval's doc id), ``lr_variant``, ``lr_perturbation``
(JSON: the item as shown plus the caption/prefill/target) and ``lr_run`` (JSON: the seed and perturbation source
that made it), so the later hooks need nothing but the doc.

lmms-eval hands ``process_docs`` the dataset alone, so run settings come from the environment
(``LMMS_ROBUST_SEED``, ``LMMS_ROBUST_PERTURBATIONS``). What was used reaches the results file anyway: lmms-eval
writes ``str(process_docs)`` into ``configs.<task>.process_docs`` after loading, and our hook's ``str`` names the
seed and the perturbation source (a file's path and SHA-256).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from dataclasses import asdict
from typing import Callable

from lmms_robust.benchmarks import IMAGE_FIELDS, adapter
from lmms_robust.core.items import Item, ItemError
from lmms_robust.core.perturb import (KIND_VARIANTS, PerturbConfig, Perturbation, default_generator, perturb,
                                      probe_text, variant_spec)
from lmms_robust.core.perturbation_file import FileGenerator, PerturbationFile, load_perturbation_file

SEED_ENV = "LMMS_ROBUST_SEED"
PERTURBATIONS_ENV = "LMMS_ROBUST_PERTURBATIONS"
COLUMNS = ("lr_item_id", "lr_doc_id", "lr_variant", "lr_perturbation", "lr_run")


def protocol_config() -> PerturbConfig:
    """The protocol settings in force: defaults, with the seed overridable through ``LMMS_ROBUST_SEED``."""
    raw = os.environ.get(SEED_ENV, "0")
    try:
        seed = int(raw)
    except ValueError:
        raise ValueError(f"{SEED_ENV}={raw!r} is not an integer seed") from None
    return PerturbConfig(seed=seed)


_loaded_files: dict[tuple[str, int, int], PerturbationFile] = {}


def perturbation_source() -> PerturbationFile | None:
    """The perturbation file named by ``LMMS_ROBUST_PERTURBATIONS`` (validated), or None for the generator."""
    raw = os.environ.get(PERTURBATIONS_ENV, "").strip()
    if not raw:
        return None
    path = os.path.abspath(raw)
    try:
        stat = os.stat(path)
        key = (path, stat.st_mtime_ns, stat.st_size)
    except OSError:
        key = None
    if key is None or key not in _loaded_files:  # one read per process, not per variant; re-read if it changed
        loaded = load_perturbation_file(path)
        if key is None:
            return loaded
        _loaded_files[key] = loaded
    return _loaded_files[key]


def perturbation_to_json(pert: Perturbation) -> str:
    payload = {"variant": pert.variant, "item": asdict(pert.item), "applicable": pert.applicable, "reason": pert.reason,
               "target": pert.target, "caption": pert.caption, "prefill": pert.prefill,
               "abstain_letter": pert.abstain_letter, "text_source": pert.text_source}
    return json.dumps(payload, ensure_ascii=False, sort_keys=True)


def perturbation_from_doc(doc: dict) -> Perturbation:
    try:
        payload = doc["lr_perturbation"]
    except KeyError:
        raise KeyError("doc has no 'lr_perturbation': the task must set process_docs to an lmms_robust.harness.docs hook") from None
    return _decode_perturbation(payload)


@lru_cache(maxsize=8192)
def _decode_perturbation(payload: str) -> Perturbation:
    """One decode per doc, however many hooks read it (visual, text, messages, target, results, the backend's
    letters): the result is frozen, so the hooks can share it."""
    fields = json.loads(payload)
    item_fields = fields.pop("item")
    item_fields["options"] = tuple(item_fields["options"])
    return Perturbation(item=Item(**item_fields), **fields)


def run_from_doc(doc: dict) -> dict:
    """``{"seed": int, "perturbations": "generator" | "file sha256:…"}`` that made this doc."""
    return json.loads(doc["lr_run"]) if doc.get("lr_run") else {"seed": None, "perturbations": None}


def source_label(source: PerturbationFile | None) -> str:
    return f"file sha256:{source.sha256}" if source is not None else "generator"


IMAGE_ERRORS = (OSError, ValueError, SyntaxError, TypeError, AttributeError)
"""What reading a doc's image raises (PIL's UnidentifiedImageError is an OSError; a string where an image belongs
gives AttributeError); PIL's DecompressionBombError is added where PIL is imported."""


def image_errors() -> tuple[type[BaseException], ...]:
    from PIL import Image

    return (*IMAGE_ERRORS, Image.DecompressionBombError)


def image_error(task: str | None, doc: dict | None, doc_id, exc: BaseException) -> ItemError:
    """The ItemError for an image that cannot be read: the task, doc and item, what went wrong, and the fix."""
    from PIL import Image

    item = (doc or {}).get("lr_item_id")
    where = f"task {task} doc {doc_id}" + (f" (item {item!r})" if item is not None else "")
    limit = f" of at most {2 * Image.MAX_IMAGE_PIXELS:,} pixels" if Image.MAX_IMAGE_PIXELS else ""
    return ItemError(f"{where}: its image cannot be read ({type(exc).__name__}: {exc}); the image column must hold "
                     f"decodable images (a datasets Image feature){limit}: re-download or fix that image, or drop "
                     f"the row")


def fetch_doc(task_dict: dict, task: str, split: str, doc_id: int) -> dict:
    """``task_dict[task][split][doc_id]`` (the datasets row decodes its image here): an image that cannot be decoded
    is an ItemError naming the task, the doc, the item and the fix, not a bare PIL traceback."""
    docs = task_dict[task][split]
    try:
        return docs[doc_id]
    except image_errors() as exc:
        ids = docs.select_columns(["lr_item_id"])[doc_id] if "lr_item_id" in docs.column_names else None
        raise image_error(task, ids, doc_id, exc) from exc


def build_docs(dataset, benchmark: str, variant: str, config: PerturbConfig | None = None,
               source: PerturbationFile | None = None):
    """Validate every row, perturb it, and add the lr_* columns. Row order and count never change.

    ``source``: a perturbation file replacing the generator (it must cover the split exactly; see
    ``PerturbationFile.check_coverage``).
    """
    spec = variant_spec(variant)  # unknown variant -> clear error before any row is touched
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
    items = []
    for row, missing in zip(rows, image_missing):
        row[image_field] = None if missing else "<image>"
        items.append(to_item(row))
    _check_unique([item.item_id for item in items], benchmark)
    generator = None
    if source is not None:
        _check_coverage(source, benchmark, items, config)
        generator = FileGenerator(source, fallback=default_generator())
    payloads = [perturbation_to_json(perturb(item, variant, config, generator)) for item in items]
    ids = [item.item_id for item in items]
    for column in COLUMNS:
        if column in dataset.column_names:
            dataset = dataset.remove_columns([column])
    dataset = dataset.add_column("lr_item_id", ids)
    dataset = dataset.add_column("lr_doc_id", list(range(len(ids))))  # lmms-eval's doc_id: the position in the split
    dataset = dataset.add_column("lr_variant", [variant] * len(ids))
    label = "none in this variant" if spec.target_kind is None else source_label(source)
    run = json.dumps({"seed": config.seed, "perturbations": label}, sort_keys=True)
    dataset = dataset.add_column("lr_run", [run] * len(ids))
    return dataset.add_column("lr_perturbation", payloads)


def _check_coverage(source: PerturbationFile, benchmark: str, items: list[Item], config: PerturbConfig) -> None:
    """Whole-split check, whatever the variant, so every variant of a run fails or passes together."""
    needs = {kind: {item.item_id for item in items if probe_text(item, kind, config).applicable}
             for kind in KIND_VARIANTS}
    source.check_coverage(benchmark, needs)


def _check_unique(ids: list[str], benchmark: str) -> None:
    seen: set[str] = set()
    for item_id in ids:
        if item_id in seen:
            raise ItemError(f"{benchmark}: item id {item_id!r} occurs twice; ids must be unique to pair variants")
        seen.add(item_id)


class ProcessDocs:
    """The ``process_docs`` hook of one ``<benchmark>_<variant>`` task.

    Its ``str`` is what lmms-eval records as the task's ``process_docs`` in the results file, so it names the seed
    and the perturbation source this process used (read from the environment at call time).
    """

    def __init__(self, benchmark: str, variant: str):
        self.benchmark, self.variant = benchmark, variant
        self.__name__ = self.__qualname__ = f"{benchmark}_{variant}"
        self.used: str | None = None

    def __call__(self, dataset):
        config = protocol_config()
        if variant_spec(self.variant).target_kind is None:
            source, text = None, "none in this variant"
        else:
            source = perturbation_source()
            text = source.describe() if source else "generator"
        self.used = f"seed={config.seed}; perturbations={text}"
        return build_docs(dataset, self.benchmark, self.variant, config, source)

    def __str__(self) -> str:
        state = self.used or "not yet called"
        return f"lmms_robust.harness.variants.{self.__name__} ({state})"

    __repr__ = __str__


def make_process_docs(benchmark: str, variant: str) -> ProcessDocs:
    return ProcessDocs(benchmark, variant)
