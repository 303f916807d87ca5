"""Text perturbations of an item (PROTOCOL.md §2): captions, prefilled think blocks, an abstain option.

Pure: stdlib plus Jinja2 (through ``lmms_robust.resources``). Every choice is a function of
(benchmark, item_id, seed) hashed with SHA-256, so an item's perturbation is the same in any process, on any
rank, under any ``PYTHONHASHSEED`` and whatever the order or sharding of the dataset.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Protocol

from lmms_robust.core.items import LETTERS, Item
from lmms_robust.resources import render

__all__ = [
    "VARIANTS",
    "VARIANT_NAMES",
    "Generator",
    "PerturbConfig",
    "Perturbation",
    "TemplateGenerator",
    "VariantSpec",
    "KIND_VARIANTS",
    "default_generator",
    "letter_mention",
    "probe_text",
    "perturb",
    "variant_spec",
    "wrong_option",
    "wrong_value",
]

VARIANT_NAMES = (
    "base", "stopthink", "wrongthink", "wrongthink_but", "misleadcap", "misleadcap_disclaimer", "truecap",
    "truethink", "abstain", "misleadcap_abstain", "wrongthink_abstain",
)


@dataclass(frozen=True)
class VariantSpec:
    """What one variant changes in the prompt."""

    caption: str | None = None
    """``wrong`` or ``gold``: a caption arguing for that answer; None: no caption."""
    think: str | None = None
    """``stop`` (closed, reasoning-free think block), ``wrong`` or ``gold`` (open rationale); None: no prefill."""
    but: bool = False
    """Append the "But" cue after the rationale."""
    disclaimer: bool = False
    """Append the hedge after the caption."""
    abstain: bool = False
    """Append the abstain option as the next letter (multiple choice only)."""

    @property
    def is_prefill(self) -> bool:
        return self.think is not None

    @property
    def target_kind(self) -> str | None:
        """``wrong``, ``gold`` or None: the answer the caption/rationale argues for."""
        return self.caption or (self.think if self.think in ("wrong", "gold") else None)


VARIANTS: dict[str, VariantSpec] = {
    "base": VariantSpec(),
    "stopthink": VariantSpec(think="stop"),
    "wrongthink": VariantSpec(think="wrong"),
    "wrongthink_but": VariantSpec(think="wrong", but=True),
    "misleadcap": VariantSpec(caption="wrong"),
    "misleadcap_disclaimer": VariantSpec(caption="wrong", disclaimer=True),
    "truecap": VariantSpec(caption="gold"),
    "truethink": VariantSpec(think="gold"),
    "abstain": VariantSpec(abstain=True),
    "misleadcap_abstain": VariantSpec(caption="wrong", abstain=True),
    "wrongthink_abstain": VariantSpec(think="wrong", abstain=True),
}
assert tuple(VARIANTS) == VARIANT_NAMES


def variant_spec(name: str) -> VariantSpec:
    """The spec of a variant; an unknown name raises ValueError naming the valid ones."""
    try:
        return VARIANTS[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), VARIANT_NAMES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown variant {name!r}.{hint} Valid variants: {', '.join(VARIANT_NAMES)}") from None


@dataclass(frozen=True)
class PerturbConfig:
    """The protocol's free parameters; the defaults are PROTOCOL.md's."""

    seed: int = 0
    """Picks the wrong option / wrong value together with (benchmark, item_id)."""
    stopthink_text: str = "<think>Okay let's see. This should be the final answer.</think>"
    disclaimer_text: str = "But I could be wrong."
    but_text: str = "But"
    abstain_text: str = "I'm not sure"

    def as_metadata(self) -> dict:
        """The settings in force, as a plain dict (recorded in results)."""
        return asdict(self)


@dataclass(frozen=True)
class Perturbation:
    """One item under one variant: what the model is shown and what it is pushed towards."""

    variant: str
    item: Item
    """The item as shown to the model (the abstain option appended where the variant has one)."""
    applicable: bool
    """False: the item is kept with status ``not_applicable`` and left out of the task's metrics."""
    reason: str | None = None
    """Why the variant does not apply to the item."""
    target: str | None = None
    """Letter (multiple choice) or value (free-form) the caption/rationale argues for; None when none does."""
    caption: str | None = None
    """Caption text, disclaimer included; the user-prompt template adds "Image description: "."""
    prefill: str | None = None
    """The exact assistant-turn prefix (no trailing whitespace); None when the variant does not prefill."""
    abstain_letter: str | None = None
    text_source: str | None = None
    """Which writer made the caption/rationale: ``natural/<question type>``, ``generic: <why no natural text>``
    (the template fallback), ``file``; None where the variant has no such text or the generator does not say."""

    def as_record(self) -> dict:
        """JSON-safe summary for per-item records."""
        return {
            "variant": self.variant, "target": self.target, "caption": self.caption, "prefill": self.prefill,
            "abstain_letter": self.abstain_letter, "applicable": self.applicable, "reason": self.reason,
            "text_source": self.text_source,
        }


class Generator(Protocol):
    """Writes the caption and the rationale that argue for ``target`` (a letter, or a free-form value).

    A generator may also define ``target(item, kind, default) -> str`` to choose the target itself (``kind`` is
    ``wrong`` or ``gold``; ``default`` is the protocol's choice): a perturbation file does; and
    ``describe(item, target) -> str``, which names the writer of that text (``Perturbation.text_source``).
    """

    def caption(self, item: Item, target: str) -> str: ...

    def rationale(self, item: Item, target: str) -> str: ...


class TemplateGenerator:
    """Offline, deterministic generator: renders ``templates/caption.jinja`` and ``templates/rationale.jinja``.

    Rationales end with the commitment ``so the answer is (C).`` (multiple choice) or ``so the answer is 41.``.
    """

    caption_template = "caption.jinja"
    rationale_template = "rationale.jinja"

    def caption(self, item: Item, target: str) -> str:
        return render(self.caption_template, **_template_vars(item, target))

    def rationale(self, item: Item, target: str) -> str:
        return render(self.rationale_template, **_template_vars(item, target))

    def describe(self, item: Item, target: str) -> str:
        return "generic"


def default_generator() -> Generator:
    """The generator ``perturb`` uses when given none (a perturbation file falls back to it for kinds it lacks):
    ``NaturalGenerator`` (``lmms_robust.core.natural``), which itself falls back to ``TemplateGenerator`` for
    questions it cannot phrase."""
    from lmms_robust.core.natural import NaturalGenerator  # natural imports this module: resolved at call time

    return NaturalGenerator()


def _template_vars(item: Item, target: str) -> dict:
    options = [(letter, _clean(text)) for letter, text in zip(item.letters, item.options)]
    if item.is_multiple_choice:
        if target not in item.letters:
            raise ValueError(f"{item.benchmark} item {item.item_id!r}: target {target!r} is not one of {item.letters}")
        target_letter, target_text, target_value = target, options[item.letters.index(target)][1], None
    else:
        target_letter, target_text, target_value = None, None, str(target).strip()
    return {
        "question": item.question, "options": options, "is_multiple_choice": item.is_multiple_choice,
        "target_letter": target_letter, "target_text": target_text, "target_value": target_value,
    }


def _clean(text: str) -> str:
    """Whitespace collapsed and a trailing period dropped, so the text sits inside a sentence."""
    collapsed = " ".join(str(text).split())
    return collapsed.rstrip(".").rstrip() or collapsed


def _draw(item: Item, seed: int) -> int:
    """A large integer fixed by (benchmark, item_id, seed) alone: never positions, never ``hash()``."""
    key = f"{item.benchmark}\x1f{item.item_id}\x1f{seed}".encode()
    return int.from_bytes(hashlib.sha256(key).digest(), "big")


def wrong_option(item: Item, seed: int = 0) -> str:
    """The letter of the wrong option: uniform, by SHA-256, among options whose text differs from the gold text.

    Raises ValueError on a free-form item or when every option has the gold text.
    """
    if not item.is_multiple_choice:
        raise ValueError(f"{item.benchmark} item {item.item_id!r} is free-form; use wrong_value")
    gold = set(item.gold_letters)
    candidates = [letter for letter in item.letters if letter not in gold]
    if not candidates:
        raise ValueError("every option has the gold answer's text, so there is no wrong option")
    return candidates[_draw(item, seed) % len(candidates)]


def wrong_value(item: Item, seed: int = 0) -> str:
    """A wrong free-form value: integer gold ± 1, float gold ± 10^-precision.

    The direction comes from the same SHA-256 draw (even: up, odd: down); a step that would reach or cross zero
    from a nonzero gold goes the other way, so the sign is kept, and a zero gold steps up (a count of 0 never
    becomes -1; most quantities asked about are not negative). Floats are rounded to the item's precision
    (the number of decimals written in the gold when the item has none) and formatted with it.
    Raises ValueError for ``text``/``list`` answers and non-numeric golds.
    """
    if item.answer_type not in ("integer", "float"):
        raise ValueError(f"answer_type {item.answer_type!r} has no numeric wrong value")
    try:
        gold = Decimal(item.answer.strip().replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"gold answer {item.answer!r} is not a number") from None
    if not gold.is_finite():
        raise ValueError(f"gold answer {item.answer!r} is not a finite number")
    if item.answer_type == "integer":
        if gold != gold.to_integral_value():
            raise ValueError(f"gold answer {item.answer!r} of an integer item is not an integer")
        places = 0
    elif item.precision is not None:
        places = int(item.precision)
    else:
        places = max(0, -gold.as_tuple().exponent)
    step = Decimal(1).scaleb(-places)
    base = gold.quantize(step, rounding=ROUND_HALF_UP)
    up, down = base + step, base - step
    first, second = (up, down) if _draw(item, seed) % 2 == 0 else (down, up)
    if gold > 0 and first <= 0 or gold < 0 and first >= 0 or gold == 0 and first < 0:
        first = second
    return format(first, f".{places}f")


def perturb(item: Item, variant: str, config: PerturbConfig = PerturbConfig(), generator: Generator | None = None
            ) -> Perturbation:
    """Apply one variant to one item.

    Not applicable (kept, status ``not_applicable``): abstain variants on free-form items; caption/rationale
    variants on ``text``/``list`` free-form items, on multiple-choice items whose options all have the gold text
    (wrong variants) and on non-numeric free-form golds.
    The generator sees the original item (without the abstain option), so e.g. ``misleadcap`` and
    ``misleadcap_abstain`` carry the same caption.
    """
    spec = variant_spec(variant)
    generator = generator or default_generator()

    def not_applicable(reason: str) -> Perturbation:
        return Perturbation(variant=variant, item=item, applicable=False, reason=reason)

    if item.defect is not None:
        return not_applicable(f"malformed release row: {item.defect}")
    if spec.abstain and not item.is_multiple_choice:
        return not_applicable(
            f"abstain variants need a multiple-choice item; this one is free-form ({item.answer_type})")
    if spec.abstain and len(item.options) >= len(LETTERS):
        return not_applicable(f"no letter left for the abstain option after {len(item.options)} options")
    kind = spec.target_kind
    target = None
    if kind is not None:
        if item.answer_type in ("text", "list"):
            return not_applicable(f"free-form {item.answer_type} answers have no caption/rationale variants")
        try:
            target = _target(item, kind, config.seed)
        except ValueError as err:
            return not_applicable(str(err))
        choose_target = getattr(generator, "target", None)  # a perturbation file names its own targets
        if choose_target is not None:
            target = choose_target(item, kind, target)

    caption = prefill = text_source = None
    if kind is not None and hasattr(generator, "describe"):
        text_source = generator.describe(item, target)
    if spec.caption is not None:
        caption = _join(generator.caption(item, target), config.disclaimer_text if spec.disclaimer else None)
    if spec.think == "stop":
        prefill = config.stopthink_text.rstrip()
    elif spec.think is not None:
        prefill = _join("<think>" + generator.rationale(item, target).strip(), config.but_text if spec.but else None)

    shown, abstain_letter = item, None
    if spec.abstain:
        abstain_letter = LETTERS[len(item.options)]
        shown = item.with_extra_option(config.abstain_text)
    return Perturbation(variant=variant, item=shown, applicable=True, reason=None, target=target, caption=caption,
                        prefill=prefill, abstain_letter=abstain_letter, text_source=text_source)


KIND_VARIANTS = {"wrong": "misleadcap", "gold": "truecap"}
"""A caption/rationale kind -> the variant whose perturbation carries it."""


class _NoText:
    """Writes nothing: ``probe_text`` wants only applicability and the target."""

    def caption(self, item: Item, target: str) -> str:
        return "-"

    def rationale(self, item: Item, target: str) -> str:
        return "-"


def probe_text(item: Item, kind: str, config: PerturbConfig = PerturbConfig()) -> Perturbation:
    """Whether ``item`` takes a caption/rationale of ``kind`` (``wrong``/``gold``) and for which target, with no
    text generated: what a perturbation file must cover and what its writer must ask for."""
    return perturb(item, KIND_VARIANTS[kind], config, _NoText())


def _target(item: Item, kind: str, seed: int) -> str:
    if kind == "gold":
        return item.gold_letters[0] if item.is_multiple_choice else item.answer.strip()
    return wrong_option(item, seed) if item.is_multiple_choice else wrong_value(item, seed)


# "(B)", "( b )", "option B", "choice (C)", "letter D": an option letter named in a text ("f(x)" is no mention).
_LETTER_MENTION = re.compile(r"(?<![\w)])\([ \t]?(?P<p>[A-Za-z])[ \t]?\)|\b(?i:option|choice|letter)[ \t]{1,3}\(?"
                             r"(?P<w>[A-Z])\b")


def letter_mention(text: str, letters=None) -> str | None:
    """The first option-letter mention in ``text`` (``"(B)"``, ``"option C"``), or None. A misleading caption
    states a fact about the image; one that names a letter points at the answer sheet instead.

    ``letters``: the item's option letters; a mention of another letter ("the letter M" painted on a wall, in an
    item with options A-D) is then no mention."""
    for match in _LETTER_MENTION.finditer(text or ""):
        named = (match.group("p") or match.group("w")).upper()
        if letters is None or named in letters:
            return match.group(0)
    return None


def _join(text: str, suffix: str | None) -> str:
    text = text.strip()
    if suffix and suffix.strip():
        text = f"{text} {suffix.strip()}"
    return text.rstrip()
