"""Adversarial augmentation of a GRPO training set (PROTOCOL.md §6).

Each row independently gets at most one of {``truethink``, ``wrongthink``, ``truecap``, ``misleadcap``}, with
probability 0.10 each by default (0.60 stays clean). The texts come from the evaluation's ``perturb()``, so a
training caption/prefill is character for character the one the evaluation shows for that item and variant.

**Determinism.** The draw is a function of (benchmark, item_id, seed) only: SHA-256 of
``"lmms_robust.augment" | benchmark | item_id | seed``, its first 8 bytes read as a uniform number in [0, 1) and
compared with the cumulative probabilities in the fixed order of ``VARIANT_NAMES`` (wrongthink, misleadcap,
truecap, truethink). Never positions, never ``hash()``: the same row gets the same augmentation under any
shuffling, sharding, process or ``PYTHONHASHSEED``. The key carries its own tag, so the draw is independent of
the wrong-option draw (SHA-256 of benchmark, item_id, seed without a tag), which ``perturb()`` makes with
``PerturbConfig.seed``.

**Not applicable.** A drawn variant that does not apply to the item (free-form ``text``/``list`` answers; a
multiple-choice item whose options all have the gold text) leaves the row clean: ``lr_augmentation`` is
``base`` and ``lr_augmentation_drawn`` names the draw. Such items therefore see fewer perturbations.

**Output columns** (all input columns are kept; existing columns of these names are replaced):

- ``prompt``: TRL's conversational format: ``[{"role": "user", "content": [{"type": "image"}, …,
  {"type": "text", "text": <user turn>}]}]``, one image placeholder per image of the row, the user turn rendered
  as the evaluation renders it (caption included). Prefill variants append
  ``{"role": "assistant", "content": [{"type": "text", "text": <prefill>}]}``.
- ``lr_item`` (JSON of the item as shown), ``lr_item_id``, ``lr_prefill`` (None when none), ``lr_caption``,
  ``lr_target`` (letter/value the caption or rationale argues for), ``lr_augmentation`` (variant applied, or
  ``base``), ``lr_augmentation_drawn``.

**Prefill in TRL.** TRL 1.16's GRPOTrainer always renders prompts with ``add_generation_prompt=True``: a trailing
assistant message becomes a closed turn plus a new assistant header, so the prefix is not continued. Wrap the
processor's chat template with ``lmms_robust.training.chat.prefill_chat_template`` (docs/training.md) so a final
assistant message is left open; the rewards prepend ``lr_prefill`` to each completion before parsing. TRL reads
images from an ``image`` (one) or ``images`` (list) column: rename the benchmark's image column (MathVista:
``decoded_image``) to ``image``.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Mapping

from lmms_robust.core.items import Item
from lmms_robust.core.perturb import (VARIANT_NAMES, Generator, PerturbConfig, Perturbation, perturb,
                                      variant_spec)
from lmms_robust.resources import render
from lmms_robust.training.rewards import item_to_json

__all__ = ["AUGMENTATIONS", "DEFAULT_PROBABILITIES", "OUTPUT_COLUMNS", "augment_dataset", "augment_item",
           "draw_augmentation", "prompt_messages"]

AUGMENTATIONS = ("truethink", "wrongthink", "truecap", "misleadcap")
DEFAULT_PROBABILITIES: Mapping[str, float] = {"truethink": 0.1, "wrongthink": 0.1, "truecap": 0.1, "misleadcap": 0.1}
OUTPUT_COLUMNS = ("prompt", "lr_item", "lr_item_id", "lr_prefill", "lr_caption", "lr_target", "lr_augmentation",
                  "lr_augmentation_drawn")
_TAG = "lmms_robust.augment"


def _check_probabilities(probabilities: Mapping[str, float]) -> list[tuple[str, float]]:
    """(variant, probability) in the fixed order of VARIANT_NAMES; errors name the bad entry."""
    for name, p in probabilities.items():
        variant_spec(name)  # unknown name -> ValueError with "did you mean"
        if name == "base":
            raise ValueError("'base' is what is left over (1 - the sum); do not give it a probability")
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"probability of {name!r} is {p}; it must be in [0, 1]")
    total = sum(float(p) for p in probabilities.values())
    if total > 1.0 + 1e-9:
        raise ValueError(f"augmentation probabilities sum to {total}; they must sum to at most 1")
    return sorted(((n, float(p)) for n, p in probabilities.items()), key=lambda t: VARIANT_NAMES.index(t[0]))


def draw_augmentation(benchmark: str, item_id: str, seed: int = 0,
                      probabilities: Mapping[str, float] = DEFAULT_PROBABILITIES) -> str:
    """The variant drawn for one item (``base`` when none): a function of (benchmark, item_id, seed) only."""
    ordered = _check_probabilities(probabilities)
    key = f"{_TAG}\x1f{benchmark}\x1f{item_id}\x1f{seed}".encode()
    u = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2.0 ** 64
    cumulative = 0.0
    for name, p in ordered:
        cumulative += p
        if u < cumulative:
            return name
    return "base"


def prompt_messages(pert: Perturbation, n_images: int = 1) -> list[dict]:
    """The conversational prompt of a perturbed item: the user turn as the evaluation renders it, plus the prefill."""
    item = pert.item
    text = render("user_prompt.jinja", question=item.question, options=list(zip(item.letters, item.options)),
                  caption=pert.caption,
                  instruction=render("instruction.jinja", is_multiple_choice=item.is_multiple_choice))
    content = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": text}]
    messages = [{"role": "user", "content": content}]
    if pert.prefill:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": pert.prefill}]})
    return messages


def augment_item(item: Item, seed: int = 0, probabilities: Mapping[str, float] = DEFAULT_PROBABILITIES, *,
                 config: PerturbConfig | None = None, generator: Generator | None = None,
                 n_images: int = 1) -> dict:
    """The output columns (``OUTPUT_COLUMNS``) for one item."""
    drawn = draw_augmentation(item.benchmark, item.item_id, seed, probabilities)
    config = config or PerturbConfig(seed=seed)
    pert = perturb(item, drawn, config, generator)
    if not pert.applicable:
        pert = perturb(item, "base", config, generator)
    return {
        "prompt": prompt_messages(pert, n_images), "lr_item": item_to_json(pert.item), "lr_item_id": item.item_id,
        "lr_prefill": pert.prefill, "lr_caption": pert.caption, "lr_target": pert.target,
        "lr_augmentation": pert.variant, "lr_augmentation_drawn": drawn,
    }


def _image_column(ds, benchmark: str, image_column: str | None) -> str | None:
    if image_column is not None:
        if image_column not in ds.column_names:
            raise KeyError(f"image column {image_column!r} is not in the dataset (columns: {ds.column_names})")
        return image_column
    from lmms_robust.benchmarks import IMAGE_FIELDS

    for name in (IMAGE_FIELDS.get(benchmark), "image", "images"):
        if name and name in ds.column_names:
            return name
    return None


def _image_counts(ds, column: str | None) -> list[int]:
    """Images per row, read through arrow (no image is decoded): 0 for null, a list's length, else 1."""
    if column is None:
        return [0] * len(ds)
    import pyarrow as pa
    import pyarrow.compute as pc

    array = ds.select_columns([column]).with_format("arrow")[column]
    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        return [int(n or 0) for n in pc.list_value_length(array).to_pylist()]
    return [0 if missing else 1 for missing in array.is_null().to_pylist()]


def augment_dataset(ds, benchmark: str, to_item: Callable[[dict], Item] | None = None,
                    probabilities: Mapping[str, float] = DEFAULT_PROBABILITIES, seed: int = 0, *,
                    config: PerturbConfig | None = None, generator: Generator | None = None,
                    image_column: str | None = None):
    """Augment a Hugging Face ``datasets.Dataset`` for GRPO (module docstring: draw, columns, TRL notes).

    Args:
        ds: the training split in the benchmark's own schema; row order and count never change.
        benchmark: benchmark name (part of the draw's key and of the wrong-option draw).
        to_item: row -> Item; default: the benchmark's adapter (``lmms_robust.benchmarks.adapter``). The image
            column reaches it as ``"<image>"`` (or a list of them) or None, never decoded.
        probabilities: variant -> probability; the rest stays clean. Default 0.1 for each of the four.
        seed: the draw's seed, and the wrong-option seed unless ``config`` is given.
        config: the perturbation settings (default ``PerturbConfig(seed=seed)``, the evaluation's defaults).
        generator: caption/rationale generator (default the evaluation's own, ``perturb.default_generator()``).
        image_column: the column holding the row's image(s); default the benchmark's, else ``image``/``images``.
            Each row's prompt gets one ``{"type": "image"}`` placeholder per image.

    Returns:
        A new Dataset with the columns of ``OUTPUT_COLUMNS`` added.
    """
    _check_probabilities(probabilities)
    if to_item is None:
        from lmms_robust.benchmarks import adapter

        to_item = adapter(benchmark)
    column = _image_column(ds, benchmark, image_column)
    counts = _image_counts(ds, column)
    rows = ds.remove_columns([column]) if column is not None else ds
    outputs: dict[str, list] = {name: [] for name in OUTPUT_COLUMNS}
    seen: set[str] = set()
    is_list = column is not None and _is_list_column(ds, column)
    for row, n in zip(rows, counts):
        if column is not None:
            row[column] = None if n == 0 else (["<image>"] * n if is_list else "<image>")
        item = to_item(row)
        if item.item_id in seen:
            raise ValueError(f"{benchmark}: item id {item.item_id!r} occurs twice; the draw is keyed by item_id, "
                             f"so ids must be unique")
        seen.add(item.item_id)
        for name, value in augment_item(item, seed, probabilities, config=config, generator=generator,
                                        n_images=n).items():
            outputs[name].append(value)
    ds = ds.remove_columns([name for name in OUTPUT_COLUMNS if name in ds.column_names])
    for name in OUTPUT_COLUMNS:
        ds = ds.add_column(name, outputs[name])
    return ds


def _is_list_column(ds, column: str) -> bool:
    import pyarrow as pa

    field_type = ds.data.schema.field(column).type
    return pa.types.is_list(field_type) or pa.types.is_large_list(field_type)
