"""The option-letter distribution at the answer position: where it is read, how it travels, what it measures.

Pure functions over text and numbers. The backend finds the token probabilities; this module says which text
context they are read after (``answer_context``), how they ride inside a response string through lmms-eval's
string-only plumbing (``attach``/``detach``), and what they summarise to (``summarize_letters``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Mapping, Sequence

_SENTINEL_OPEN = "\n<lmms_robust_letters>"
_SENTINEL_CLOSE = "</lmms_robust_letters>"
_TRAILER = re.compile(re.escape(_SENTINEL_OPEN) + r"(\{.*\})" + re.escape(_SENTINEL_CLOSE) + r"\Z", re.S)


def answer_context(assistant_text: str) -> tuple[str, bool]:
    """The assistant text after which ``<answer>L`` is scored, and whether that place was forced.

    The model's own last ``<answer`` after its think block when it wrote one (``forced`` False); otherwise the
    place right after its think block (closing an unclosed one), or after its whole text when it has none.
    """
    think_end = assistant_text.rfind("</think>")
    if think_end >= 0:
        after_think = think_end + len("</think>")
    elif "<think>" in assistant_text:
        after_think = assistant_text.find("<think>") + len("<think>")  # open block: an <answer> ends it, as in parsing
    else:
        after_think = 0
    answer_at = assistant_text.rfind("<answer", after_think)
    if answer_at >= 0:
        return assistant_text[:answer_at], False
    if think_end >= 0:
        return assistant_text[:after_think], True
    if "<think>" in assistant_text:
        return assistant_text + "</think>", True
    return assistant_text, True


def letter_forms(letter: str) -> tuple[str, str]:
    """The two ways of writing a letter answer that are scored."""
    return f"<answer>{letter}", f"<answer> {letter}"


def attach(response: str, distribution: Mapping) -> str:
    """Append the distribution to a response string (lmms-eval caches and logs responses as strings)."""
    return response + _SENTINEL_OPEN + json.dumps(distribution, sort_keys=True) + _SENTINEL_CLOSE


def detach(response: str) -> tuple[str, dict | None]:
    """Split a response into the model's text and the attached distribution (None when there is none)."""
    match = _TRAILER.search(response)
    if match is None:
        return response, None
    try:
        payload = json.loads(match.group(1))
    except ValueError:
        return response, None
    return response[: match.start()], payload


def summarize_letters(raw: Mapping[str, float], letters: Sequence[str], gold_letters: Sequence[str]) -> dict:
    """Renormalise raw letter masses over the item's letters and measure them.

    Returns ``letter_probs`` (renormalised, in letter order), ``letter_mass`` (raw mass before renormalising;
    low means the model would not write a letter there), ``letter_entropy`` (nats), ``letter_entropy_norm``
    (÷ ln K), ``p_correct`` (mass on gold letters) and ``predicted`` (argmax letter, first on ties).
    """
    masses = [max(float(raw.get(letter, 0.0)), 0.0) for letter in letters]
    total = sum(masses)
    if total <= 0.0 or not math.isfinite(total):
        return {"letter_probs": None, "letter_mass": total if math.isfinite(total) else None, "letter_entropy": None,
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
