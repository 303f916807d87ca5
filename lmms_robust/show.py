"""``lmms-robust show``: what the model sees for one item under each variant, and text statistics over a split.

Everything goes through the code an lmms-eval run uses: the split is read as ``perturbations write --data`` reads it
(``perturbations.writer.load_split``: the task's Hugging Face dataset, a ``save_to_disk`` folder, parquet files or
a JSONL of rows in the benchmark's schema), docs are built by ``harness.docs.build_docs`` (the tasks'
``process_docs``) and the chat messages by ``harness.hooks.doc_to_messages``. Images are never decoded: each is
shown as ``<image>``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from lmms_robust.core.items import ItemError
from lmms_robust.core.perturb import PerturbConfig, letter_mention

STATS_VARIANT = "misleadcap"
"""The variant whose captions ``--stats`` measures (every caption variant of an item shares its text)."""
GENERIC = "generic"


@dataclass(frozen=True)
class ItemView:
    """One item under one variant, as the model gets it."""

    variant: str
    messages: list
    perturbation: object
    n_images: int


def load(benchmark: str, data: str | None = None, split: str | None = None):
    from lmms_robust.perturbations.writer import load_split

    return load_split(benchmark, data, split)


def item_ids(dataset, benchmark: str) -> list[str]:
    """The item id of every row, in order, read by the benchmark's adapter (no image decoded)."""
    from lmms_robust.perturbations.writer import load_items

    return [item.item_id for item in load_items(benchmark, dataset)]


def views(dataset, benchmark: str, item_id: str | None, variants: list[str],
          config: PerturbConfig = PerturbConfig(), source=None) -> list[ItemView]:
    """The item (``item_id``, default the first) under each of ``variants``.

    Without a perturbation file only the item's row is built: an item's perturbation depends on (benchmark,
    item_id, seed) alone, never on the rest of the split. A file must cover the split, so with one it is built whole.
    """
    from lmms_robust.benchmarks import IMAGE_FIELDS
    from lmms_robust.harness.docs import build_docs, perturbation_from_doc
    from lmms_robust.harness.hooks import PREFILL_KWARG, doc_to_messages

    ids = item_ids(dataset, benchmark)
    if not ids:
        raise ValueError(f"{benchmark}: the split is empty")
    wanted = ids[0] if item_id is None else str(item_id)
    if wanted not in ids:
        close = [i for i in ids if wanted.lower() in i.lower()][:5]
        hint = f"; ids containing it: {close}" if close else f"; the first ids are {ids[:5]}"
        raise ValueError(f"{benchmark}: no item {wanted!r} in the split{hint}")
    index = ids.index(wanted)
    image_field = IMAGE_FIELDS[benchmark]
    rows = dataset if source is not None else dataset.select([index])
    position = index if source is not None else 0
    out = []
    for variant in variants:
        doc = build_docs(rows, benchmark, variant, config, source)[position]
        n_images = 0 if doc.get(image_field) is None else 1
        doc[image_field] = None  # the hooks then give no image (and decode none); shown as "<image>" below
        messages = doc_to_messages(doc, {PREFILL_KWARG: True})
        out.append(ItemView(variant, messages, perturbation_from_doc(doc), n_images))
    return out


def render_view(view: ItemView) -> str:
    pert = view.perturbation
    item = pert.item
    lines = [f"=== {item.benchmark} item {item.item_id!r}, variant {view.variant}"]
    if not pert.applicable:
        lines.append(f"not_applicable: {pert.reason} (kept in the split, left out of the metrics)")
    for message in view.messages:
        if message["role"] == "user":
            lines.append("--- user")
            lines += ["<image>"] * view.n_images
            lines += [part["text"] for part in message["content"] if part["type"] == "text"]
        else:
            lines.append("--- assistant (prefilled; the model continues from here)")
            lines += [part["text"] for part in message["content"] if part["type"] == "text"]
    lines.append("---")
    options = " | ".join(f"({letter}) {text}" for letter, text in zip(item.letters, item.options))
    gold = ",".join(item.gold_letters) if item.is_multiple_choice else item.answer
    lines.append(f"options: {options or '(free-form)'}")
    lines.append(f"gold: {gold}   target: {pert.target}   category: {item.category}")
    if pert.caption is not None:
        lines.append(f"caption: {pert.caption}")
    if pert.prefill is not None:
        lines.append(f"prefill: {pert.prefill}")
    if pert.text_source:
        lines.append(f"text: {pert.text_source}")
    for repair in item.repairs:
        lines.append(f"repaired: {repair}")
    return "\n".join(lines)


def split_stats(dataset, benchmark: str, config: PerturbConfig = PerturbConfig(), samples: int = 0) -> dict:
    """Perturbation-text statistics of one split under ``STATS_VARIANT``.

    ``items``: rows; ``rejected``: rows whose error stops a run (a task with any is rejected; the others are still
    measured); ``malformed``: release rows kept as not_applicable (``Item.defect``); ``repaired``: rows a recorded
    rule changed; ``not_applicable``: items without a caption (malformed ones included); ``generic_fallback_share``
    and ``letter_in_caption_share``: over the items with one. ``samples``: that many captions and rationales
    (SHA-256 of the item id picks them), under ``samples``.
    """
    import hashlib

    from lmms_robust.benchmarks import IMAGE_FIELDS, adapter
    from lmms_robust.harness.docs import build_docs, perturbation_from_doc

    to_item = adapter(benchmark)
    image_field = IMAGE_FIELDS[benchmark]
    if image_field not in dataset.column_names:
        raise ItemError(f"{benchmark}: the dataset has no {image_field!r} column (columns: {dataset.column_names})")
    missing = dataset.select_columns([image_field]).with_format("arrow")[image_field].is_null().to_pylist()
    good, rejected = [], []
    for index, (row, no_image) in enumerate(zip(dataset.remove_columns([image_field]), missing)):
        row[image_field] = None if no_image else "<image>"
        try:
            to_item(row)
        except ItemError as error:
            rejected.append(str(error))
            continue
        good.append(index)
    subset = dataset.select(good) if rejected else dataset
    docs = build_docs(subset, benchmark, STATS_VARIANT, config)
    perts = [perturbation_from_doc({"lr_perturbation": p}) for p in docs["lr_perturbation"]]
    applicable = [p for p in perts if p.applicable]
    generic = [p for p in applicable if (p.text_source or GENERIC).startswith(GENERIC)]
    lettered = [p for p in applicable if _names_letter(p)]
    not_applicable = Counter(_reason_kind(p.reason) for p in perts if not p.applicable)
    share = (lambda part: round(len(part) / len(applicable), 4) if applicable else None)
    stats = {
        "benchmark": benchmark, "variant": STATS_VARIANT, "seed": config.seed, "items": len(dataset),
        "rejected": len(rejected), "rejected_examples": rejected[:5],
        "malformed": sum(1 for p in perts if p.item.defect is not None),
        "repaired": sum(1 for p in perts if p.item.repairs),
        "repairs": dict(Counter(r.split(":", 1)[0] for p in perts for r in p.item.repairs)),
        "not_applicable": sum(not_applicable.values()), "not_applicable_reasons": dict(not_applicable),
        "with_caption": len(applicable),
        "generic_fallback": len(generic), "generic_fallback_share": share(generic),
        "letter_in_caption": len(lettered), "letter_in_caption_share": share(lettered),
        "text_sources": dict(sorted(Counter(_source_kind(p.text_source) for p in applicable).items())),
        "fallback_reasons": dict(Counter(p.text_source for p in generic).most_common(10)),
    }
    if samples:
        picked = sorted(applicable, key=lambda p: hashlib.sha256(p.item.item_id.encode()).hexdigest())[:samples]
        think = build_docs(subset, benchmark, "wrongthink", config)  # the rationale each caption goes with
        prefills = {i: json.loads(p)["prefill"] for i, p in zip(think["lr_item_id"], think["lr_perturbation"])}
        stats["samples"] = [_sample(p, prefills[p.item.item_id]) for p in picked]
    return stats


def _names_letter(pert) -> bool:
    """Whether a caption names one of the item's option letters. The target option's own text is left out: where
    an option's content is a label such as "(e)" (MathVista's "(a): Image A ... (e)"), any caption stating it shows
    the label; those items fall back to the generic text and are counted there."""
    item = pert.item
    if not item.is_multiple_choice:
        return False
    own = item.options[item.letters.index(pert.target)].strip()
    return letter_mention(pert.caption.replace(own, " ") if own else pert.caption, item.letters) is not None


def _sample(pert, prefill: str | None) -> dict:
    item = pert.item
    target_text = item.options[item.letters.index(pert.target)] if item.is_multiple_choice else pert.target
    return {"item_id": item.item_id, "question": item.question, "gold": item.answer, "target": pert.target,
            "target_text": target_text, "text": pert.text_source, "caption": pert.caption, "prefill": prefill}


def _reason_kind(reason: str | None) -> str:
    """A not_applicable reason without the item-specific detail (for counting)."""
    text = str(reason)
    return text.split(":", 1)[0] if text.startswith("malformed release row") else text


def _source_kind(source: str | None) -> str:
    return (source or GENERIC).split(":", 1)[0]


def stats_line(stats: dict) -> str:
    return json.dumps(stats, ensure_ascii=False, sort_keys=False)


# ------------------------------------------------------------------------------------------------------- the CLI


def add_arguments(parser) -> None:
    from lmms_robust.core.perturb import VARIANT_NAMES
    from lmms_robust.perturbations.writer import add_split_arguments

    add_split_arguments(parser)
    parser.add_argument("--item", default=None, help="the item id to show (default: the first item)")
    parser.add_argument("--variant", action="append", default=None, choices=VARIANT_NAMES,
                        help="variant(s) to show (repeatable; default: all)")
    parser.add_argument("--seed", type=int, default=None, help="as LMMS_ROBUST_SEED (default: its value, else 0)")
    parser.add_argument("--perturbations", default=None,
                        help="a perturbation file, as LMMS_ROBUST_PERTURBATIONS (default: its value, else the "
                             "generator)")
    parser.add_argument("--stats", action="store_true",
                        help="print one JSON line of text statistics over the whole split instead")
    parser.add_argument("--samples", type=int, default=0, help="with --stats: include this many captions/rationales")


def run(args) -> int:
    import os
    import sys

    from lmms_robust.core.perturb import VARIANT_NAMES
    from lmms_robust.core.perturbation_file import PerturbationFileError
    from lmms_robust.harness.docs import PERTURBATIONS_ENV, perturbation_source, protocol_config
    from lmms_robust.perturbations.writer import WriterError

    try:
        config = protocol_config() if args.seed is None else PerturbConfig(seed=args.seed)
        if args.perturbations:
            os.environ[PERTURBATIONS_ENV] = args.perturbations
        try:
            dataset = load(args.benchmark, args.data, args.split)
        except ConnectionError as exc:  # no hub here, or a set only built from its release
            raise ValueError(f"{exc}; pass --data with a local copy (lmms-robust load-release builds Spatial-MM, "
                             f"WhatsUp and MME-RealWorld-Lite copies)") from None
        if args.stats:
            print(stats_line(split_stats(dataset, args.benchmark, config, samples=args.samples)))
            return 0
        shown = views(dataset, args.benchmark, args.item, args.variant or list(VARIANT_NAMES), config,
                      perturbation_source())
    except (ItemError, ValueError, FileNotFoundError, WriterError, PerturbationFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n\n".join(render_view(view) for view in shown))
    return 0
