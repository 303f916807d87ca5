"""Benchmark-neutral items: what every adapter turns a dataset row into."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ANSWER_TYPES = ("choice", "integer", "float", "text", "list")
MAX_PRECISION = 15
"""Most decimal places a ``float`` item may ask for: a double carries about 15 significant digits, and Python's
decimal arithmetic (28 digits) must hold the gold rounded to them."""


class ItemError(ValueError):
    """A dataset row cannot become an item; the message names the item and the fix."""


@dataclass(frozen=True)
class Item:
    """One benchmark question, independent of any harness."""

    benchmark: str
    """Benchmark name, e.g. ``mathvista``; part of the perturbation seed."""
    item_id: str
    """The benchmark's own stable id (MathVista ``pid``); pairing and seeding use it, never positions."""
    question: str
    options: tuple[str, ...] = ()
    """Option texts in letter order; empty for free-form items."""
    answer: str = ""
    """Gold answer: an option's text for multiple choice, the value for free-form."""
    answer_type: str = "choice"
    """``choice`` for multiple choice; ``integer``, ``float``, ``text`` or ``list`` for free-form."""
    precision: int | None = None
    """Decimal places for ``float`` answers."""
    unit: str | None = None
    category: str | None = None
    """The benchmark's own question category (CV-Bench ``Depth``, 3DSRBench ``orientation_on_the_left``, ...);
    the natural perturbation-text generator keys on it. None when the benchmark has none."""
    repairs: tuple[str, ...] = ()
    """Versioned rules that changed the release row to make this item (``"<rule id>: what changed"``), so a
    repaired row is never mistaken for the release's own text; empty for rows taken as they are."""
    defect: str | None = None
    """Why the row cannot be scored (a malformed release row that no rule repairs, e.g. an answer whose letter and
    text disagree). Such an item stays in the split as ``not_applicable`` in every variant, counted, with this
    reason; its gold is not checked (it has none)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "repairs", tuple(self.repairs))  # a JSON round trip gives a list
        where = f"{self.benchmark} item {self.item_id!r}"
        if not str(self.item_id).strip():
            raise ItemError(f"{self.benchmark}: an item has an empty id; every row needs its benchmark's stable id")
        if not self.question.strip():
            raise ItemError(f"{where}: empty question; fix or drop the row in the dataset")
        if self.answer_type not in ANSWER_TYPES:
            raise ItemError(f"{where}: answer_type {self.answer_type!r} is not one of {ANSWER_TYPES}")
        if self.answer_type == "choice":
            if len(self.options) < 2:
                raise ItemError(f"{where}: a multiple-choice item needs at least 2 options, got {len(self.options)}; "
                                f"fix its choices or drop the row in the dataset")
            if len(self.options) > len(LETTERS):
                raise ItemError(f"{where}: {len(self.options)} options exceed the {len(LETTERS)} letters A-Z; "
                                f"drop the row or cut its choices to 26")
            empty = [letter for letter, text in zip(LETTERS, self.options) if not str(text).strip()]
            if empty:
                raise ItemError(f"{where}: option(s) {empty} are empty strings; every option needs its text: fix the "
                                f"choices or drop the row in the dataset")
            if not self.gold_letters and self.defect is None:
                raise ItemError(f"{where}: gold answer {self.answer!r} is not among the options {list(self.options)}; "
                                f"fix the answer or the choices, or drop the row")

        if self.precision is not None:
            self._check_precision(where)

    def _check_precision(self, where: str) -> None:
        precision = self.precision
        if isinstance(precision, bool) or not isinstance(precision, int) or not 0 <= precision <= MAX_PRECISION:
            raise ItemError(f"{where}: precision {precision!r} must be a whole number of decimal places from 0 to "
                            f"{MAX_PRECISION}; fix it or drop the row in the dataset")
        try:
            gold = Decimal(str(self.answer).strip().replace(",", ""))
        except InvalidOperation:
            return  # a non-numeric gold: the variants that need a number say so themselves
        try:
            gold.quantize(Decimal(1).scaleb(-precision))
        except InvalidOperation:
            raise ItemError(f"{where}: gold answer {self.answer!r} rounded to {precision} decimal places needs more "
                            f"than 28 digits; lower the precision or fix the answer") from None

    @property
    def is_multiple_choice(self) -> bool:
        return self.answer_type == "choice"

    @property
    def letters(self) -> tuple[str, ...]:
        return tuple(LETTERS[: len(self.options)])

    @property
    def gold_letters(self) -> tuple[str, ...]:
        """Every letter whose option text equals the gold text (some items repeat a choice)."""
        gold = _norm(self.answer)
        return tuple(letter for letter, text in zip(LETTERS, self.options) if _norm(text) == gold)

    def with_extra_option(self, text: str) -> "Item":
        """A copy with one more option (the abstain option); gold is unchanged."""
        return replace(self, options=(*self.options, text))


def _norm(text: str) -> str:
    return " ".join(str(text).split()).casefold()


PARSE_STATUSES = ("ok", "unparsed")


@dataclass(frozen=True)
class Parsed:
    """What one model response says: its CoT, its final answer and what the CoT concluded."""

    cot: str | None
    """The whole think block (prefilled part included); None when the response has none."""
    answer: str | None
    """Multiple choice: a letter of the item; free-form: the answer span. None when unparsed."""
    status: str
    """``ok`` or ``unparsed`` (an unparsed answer counts as wrong and is reported, never guessed)."""
    source: str | None = None
    """Where the answer came from: answer_tag, boxed, phrase, letter, option_text."""
    reason: str | None = None
    """Why the answer is unparsed: empty, no_answer, ambiguous, ..."""
    cot_conclusion: str | None = None
    """The CoT's last commitment (a letter, or a value for free-form); None when it commits to nothing."""
