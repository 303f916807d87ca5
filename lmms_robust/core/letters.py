"""The option-letter distribution at the answer position: where it is read, how it travels, what it measures.

Pure functions over text and numbers. The backend finds the token probabilities; this module says which text
context they are read after (``answer_context``), what a well-formed distribution is (``validate_letters``; it
rides to scoring in the response trailer, ``core/trailer.py``), and what it summarises to (``summarize_letters``).
"""

from __future__ import annotations

import math
import re
from typing import Mapping, Sequence

_LETTER = re.compile(r"[A-Z]")


class LetterError(ValueError):
    pass


def answer_context(assistant_text: str) -> tuple[str, bool]:
    """The assistant text after which ``<answer>L`` is scored, and whether that place was forced.

    The model's own last ``<answer`` after its think block when it wrote one, else its last ``<answer`` before the
    think block opened (an answer written first counts, as in parsing); ``forced`` False. Otherwise the place
    right after its think block (closing an unclosed one), or after its whole text when it has none.
    """
    think_end = assistant_text.rfind("</think>")
    think_start = assistant_text.find("<think>")
    if think_end >= 0:
        after_think = think_end + len("</think>")
    elif think_start >= 0:
        after_think = think_start + len("<think>")  # open block: an <answer> ends it, as in parsing
    else:
        after_think = 0
    answer_at = assistant_text.rfind("<answer", after_think)
    if answer_at < 0 and think_start > 0:
        answer_at = assistant_text.rfind("<answer", 0, think_start)
    if answer_at >= 0:
        return assistant_text[:answer_at], False
    if think_end >= 0:
        return assistant_text[:after_think], True
    if think_start >= 0:
        return assistant_text + "</think>", True
    return assistant_text, True


def letter_forms(letter: str) -> tuple[str, str]:
    """The two ways of writing a letter answer that are scored."""
    return f"<answer>{letter}", f"<answer> {letter}"


def validate_letters(distribution) -> None:
    """``{"raw": {letter: mass}, "forced": bool}`` with masses that are probabilities, or ``LetterError``.

    Strict on purpose: ``true`` is not 1.0, a negative or NaN mass is not clamped or dropped (each would change
    entropy and p_correct silently).
    """
    if not isinstance(distribution, dict) or set(distribution) != {"raw", "forced"}:
        raise LetterError('a letter distribution is {"raw": {"A": 0.7, ...}, "forced": false}')
    if not isinstance(distribution["forced"], bool):
        raise LetterError(f"'forced' must be true or false, not {distribution['forced']!r}")
    raw = distribution["raw"]
    if not isinstance(raw, dict):
        raise LetterError("'raw' must map option letters to probabilities")
    for letter, mass in raw.items():
        if not (isinstance(letter, str) and _LETTER.fullmatch(letter)):
            raise LetterError(f"{letter!r} is not an option letter (A-Z)")
        if isinstance(mass, bool) or not isinstance(mass, (int, float)) or not (0.0 <= mass <= 1.0 + 1e-4):
            raise LetterError(f"mass {mass!r} of letter {letter} is not a probability in [0, 1]")
    total = sum(raw.values())
    if total > 1.0 + 1e-4:  # float32 sums may overshoot a little
        raise LetterError(f"the masses sum to {total}, more than 1")


def summarize_letters(raw: Mapping[str, float], letters: Sequence[str], gold_letters: Sequence[str]) -> dict:
    """Renormalise raw letter masses over the item's letters and measure them.

    Returns ``letter_probs`` (renormalised, in letter order), ``letter_mass`` (raw mass before renormalising;
    low means the model would not write a letter there), ``letter_entropy`` (nats), ``letter_entropy_norm``
    (÷ ln K), ``p_correct`` (mass on gold letters) and ``predicted`` (argmax letter, first on ties).
    """
    masses = [float(raw.get(letter, 0.0)) for letter in letters]  # validated: see validate_letters
    total = sum(masses)
    if total <= 0.0:
        return {"letter_probs": None, "letter_mass": total, "letter_entropy": None,
                "letter_entropy_norm": None, "p_correct": None, "predicted": None}
    probs = [m / total for m in masses]
    entropy = -sum(p * math.log(p) for p in probs if p > 0.0)
    k = len(letters)
    best = max(range(k), key=lambda i: (probs[i], -i))
    return {
        "letter_probs": dict(zip(letters, probs)),
        "letter_mass": total,
        "letter_entropy": entropy,
        "letter_entropy_norm": entropy / math.log(k) if k > 1 else None,
        "p_correct": sum(p for letter, p in zip(letters, probs) if letter in gold_letters),
        "predicted": letters[best],
    }


def brier(letter_probs: Mapping[str, float], gold_letters: Sequence[str]) -> float:
    """Multi-class Brier score, no halving: Σ_k (p_k − y_k)². Repeated gold choices count as one class."""
    gold_mass = sum(p for letter, p in letter_probs.items() if letter in gold_letters)
    return (gold_mass - 1.0) ** 2 + sum(p * p for letter, p in letter_probs.items() if letter not in gold_letters)


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 15) -> float | None:
    """Top-label ECE: equal-width confidence bins over [0, 1], |accuracy − mean confidence| weighted by bin size."""
    if not confidences:
        return None
    confidences_in: list[list[float]] = [[] for _ in range(bins)]
    hits_in = [0] * bins
    for confidence, hit in zip(confidences, correct):
        index = min(int(confidence * bins), bins - 1)
        confidences_in[index].append(confidence)
        hits_in[index] += int(hit)
    n = len(confidences)
    # fsum: exactly rounded, so the result does not depend on record order (ranks gather in rank-major order)
    return math.fsum(abs(hits - math.fsum(confs)) / n for confs, hits in zip(confidences_in, hits_in) if confs)
