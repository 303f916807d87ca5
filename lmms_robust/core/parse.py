"""Parse one assistant turn into its CoT, its final answer and what the CoT concluded (PROTOCOL.md §3).

Pure: stdlib, rapidfuzz and math-verify (imported lazily, only for free-form equality). Nothing here guesses:
when a response does not name an answer, the result is ``unparsed`` with a reason, never an option.

Rules, in the order they apply:

- **Think block**: from the first ``<think>`` to its matching ``</think>`` (nesting counted), extended to the last
  ``</think>`` that comes before the next ``<answer>`` tag. No ``</think>``: the block runs to the last
  ``<answer>`` tag, or to the end. A ``</think>`` with no ``<think>`` before it (prefix lost): everything before it
  is the CoT. No think tag at all: no CoT, the whole text is the answer part.
- **Final answer** (only in the text after the think block): the content of the last ``<answer>`` block (an
  unclosed one runs to the end); inside it the same normalisation as below (letter, ``(B)``, ``B. text``,
  ``\\boxed{B}``, option text, ``Answer: B``, a phrase). Without an answer tag, in this fixed order: the last
  ``\\boxed{}`` that names an answer; the last explicit phrase that does (``Answer: X``, ``the answer is X``,
  ``the correct option is X``, ``I choose X``, ``option (X) is correct``, ``so (X).``, a ``### Answer`` header);
  the whole text is one option letter (``B``, ``(B)``, ``B) text of B``); the whole text is an option's text
  (rapidfuzz ``ratio`` at or above the threshold and clearly above the runner-up; numbers must be equal as
  numbers, never fuzzily). Free-form: the cleaned span; without a tag, ``\\boxed{}``, a phrase, or a turn that is
  only a value (source ``value``).
- **Multiple choice** answers are letters of the item. Two different letters (``A or B``) -> ``ambiguous``; a
  letter outside the item -> ``letter_out_of_range``. Lowercase letters count only where nothing else can be meant
  (a whole answer span ``b``, ``(b)``, ``Answer: b``).
- **CoT conclusion**: the last ``\\boxed{}`` or conclusion phrase in the CoT that names a letter, an option's text
  or (free-form) a value. Phrases that name nothing are skipped; a last commitment that names two letters or a
  letter outside the item makes the conclusion None. A bare letter or a number in passing never counts.

Where phrases and ``\\boxed{}`` are searched, each tag (with the blanks around it) counts as one line break: a tag ends
a phrase's capture and a sentence, and blanks next to a tag never change the result (benchmarks/fuzz_parse.py).
Regexes use bounded quantifiers only, phrases and ``\\boxed{}`` are searched in the last ``scan_chars`` characters,
and at most ``max_candidates`` of them are tried, so any input parses in linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from rapidfuzz import fuzz

from lmms_robust.core.items import LETTERS, Item, Parsed

__all__ = [
    "DEFAULT_CONFIG",
    "ParseConfig",
    "answers_match",
    "cot_conclusion",
    "extract_answer",
    "is_correct",
    "parse_response",
    "split_think",
    "values_equal",
]


@dataclass(frozen=True)
class ParseConfig:
    """Knobs of the parser; the defaults are the protocol's."""

    option_match_threshold: float = 90.0
    """rapidfuzz ``ratio`` (0-100) at or above which a span counts as an option's text."""
    option_match_margin: float = 5.0
    """The best option must beat the best option with a different text by this many points, else ``ambiguous``."""
    max_answer_chars: int = 300
    """Bound on a span that is resolved or handed to math-verify (it runs off the main thread, without timeouts)."""
    scan_chars: int = 100_000
    """Phrases and ``\\boxed{}`` are searched in the last this-many characters of a text."""
    max_candidates: int = 64
    """At most this many phrase/boxed matches (the last ones) are tried per text."""


DEFAULT_CONFIG = ParseConfig()

# ---------------------------------------------------------------------------------------------------- patterns

_THINK_OPEN = re.compile(r"<[ \t]{0,3}think[ \t]{0,3}>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"<[ \t]{0,3}/[ \t]{0,3}think[ \t]{0,3}>", re.IGNORECASE)
_ANSWER_OPEN = re.compile(r"<[ \t]{0,3}answer[ \t]{0,3}>", re.IGNORECASE)
_ANSWER_CLOSE = re.compile(r"<[ \t]{0,3}/[ \t]{0,3}answer[ \t]{0,3}>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[ \t]{0,3}/?[ \t]{0,3}(?:think|answer)[ \t]{0,3}>", re.IGNORECASE)
_BLANKS = re.compile(r"[ \t\r\n]{0,64}")
_BOXED = re.compile(r"\\(?:boxed|fbox)[ \t]{0,3}\{")

_VERB = r"(?::|=|\bis\b|\b(?:should|would|must|will)[ \t]{1,3}be\b)"
_MD = r"(?:\*\*|__|\*)?"
# Explicit answer phrases; the span after the match is resolved. Group "colon" marks the "Answer:" form.
_PHRASE = re.compile(
    r"(?i:\b(?:(?:final|correct|right|best|my)[ \t]{1,3})?answer\b" + _MD + r"[ \t]{0,3}" + _MD
    + r"[ \t]{0,3}(?:(?P<colon>:)|=|\bis\b|\b(?:should|would|must|will)[ \t]{1,3}be\b)"
    + r"|\b(?:correct|right|best|closest)[ \t]{1,3}(?:answer[ \t]{1,3})?(?:option|choice)\b" + _MD + r"[ \t]{0,3}"
    + _VERB
    + r"|\bI[ \t]{1,3}(?:choose|pick|select|(?:will|'ll|would)[ \t]{1,3}(?:go[ \t]{1,3}with|choose|pick|select)"
    + r"|go[ \t]{1,3}with)\b)"
    + r"|(?im:^[ \t]{0,3}#{1,6}[ \t]{0,3}(?:final[ \t]{1,3})?answer[ \t]{0,3}:?[ \t]{0,3}$)"  # a "### Answer" header
)
_LETTER_TOKEN = r"(?:\([ \t]?[A-Za-z][ \t]?\)|[A-Z])"
# "option (C) is correct", "(C) is the correct answer"
_OPTION_FIRST = re.compile(
    r"(?:(?i:\b(?:option|choice)[ \t]{0,3})(?P<l1>" + _LETTER_TOKEN + r")|(?P<l2>\([ \t]?[A-Z][ \t]?\)))"
    r"[ \t]{0,3}(?i:is|would[ \t]{1,3}be|must[ \t]{1,3}be|should[ \t]{1,3}be|seems[ \t]{1,3}to[ \t]{1,3}be)"
    r"[ \t]{1,3}(?i:(?:the[ \t]{1,3})?(?:most[ \t]{1,3})?(?:correct|right|best|answer|accurate|appropriate))\b"
)
# "so (C).", "Therefore, option C." — the letter must end the sentence.
_SO_LETTER = re.compile(
    r"(?i:\b(?:so|therefore|thus|hence)\b),?[ \t]{0,3}(?i:(?:it[ \t]{1,3}is|it's|it must be)[ \t]{1,3})?"
    r"(?i:(?:option|choice)[ \t]{0,3})?" + _MD + r"(?P<l>\([ \t]?[A-Za-z][ \t]?\)|[A-HJ-Z])" + _MD
    + r"(?=[ \t]{0,3}(?:[.!]|$))",
    re.MULTILINE,
)

_LATEX_WRAP = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|mathit|operatorname|mbox|boxed|fbox)[ \t]{0,3}"
                         r"\{([^{}]{0,400})\}")
_LATEX_NOISE = re.compile(r"\\[()\[\]]|\\[,;:! ]|\\q?quad\b|\\displaystyle\b|\\left\b|\\right\b|[$`*]|__|\\_\\_")
_LEADING = re.compile(
    r"^(?:(?i:(?:(?:the|my)[ \t]{1,3})?(?:(?:final|correct|right|best)[ \t]{1,3})?(?:answer|option|choice|letter)"
    r"(?:[ \t]{1,3}(?:is|would[ \t]{1,3}be|should[ \t]{1,3}be))?)(?![A-Za-z])[ \t]{0,3}[:=]?|[:=]|-[ \t])[ \t]{0,3}"
)
_HEDGE = re.compile(r"^(?i:approximately|approx\.?|about|around|roughly|nearly|close[ \t]to|~|≈|\\approx)[ \t]{0,3}")
# Words between a phrase and its letter: "the answer is definitely (B)".
_ADVERB = re.compile(r"^(?i:definitely|clearly|probably|likely|most[ \t]likely|indeed|actually|obviously|simply|still|"
                     r"just|therefore|thus|then|now|option|choice|letter)\b[ \t,:]{0,3}")
_TRAIL = " \t\r\n.,;:!?*\"'“”‘’"
_LEAD = " \t\r\n:;*\"'“”‘’)]}"

_SINGLE = re.compile(r"\(?[ \t]?([A-Za-z])[ \t]?\)?|\[[ \t]?([A-Za-z])[ \t]?\]")
_LETTER_LIST = re.compile(
    r"(?:" + _LETTER_TOKEN + r")(?:[ \t]{0,3}(?:,|/|&|;|(?i:\bor\b)|(?i:\band\b))[ \t]{0,3}(?:" + _LETTER_TOKEN
    + r")){1,25}"
)
_PREFIX_PAREN = re.compile(r"\([ \t]?([A-Za-z])[ \t]?\)(.*)", re.DOTALL)
_PREFIX_STRONG = re.compile(r"([A-Z])[ \t]{0,2}[.):\]](?![0-9])(.*)", re.DOTALL)
_PREFIX_WEAK = re.compile(r"([A-Z])[ \t]{1,3}(\S.*)", re.DOTALL)
# "A or B", "B (13) and C (26)": a second letter right after the first (an aside in parentheses may come between).
_CONFLICT = re.compile(
    r"(?:\([^()]{0,60}\))?[ \t]{0,3}(?:,|/|&|(?i:or\b)|(?i:and\b))[ \t]{0,3}\(?([A-Z])\)?(?![A-Za-z])")
# After a bare leading letter ("D and other rows…", "A because…"), a lowercase word must be one of these;
# otherwise the letter is an article or pronoun ("A bar graph…", "I think…").
_CONNECTIVE = re.compile(
    r"(?:and|because|since|as|is|was|seems|would|should|must|with|which|for|due|per|based|from|given|"
    r"corresponds|matches|represents|fits|indicates|looks|appears|best|only|here|too|again|still)\b"
)
_HYPOTHETICAL = re.compile(r"[ \t*_\-]{0,6}(?i:for[ \t]example|for[ \t]instance|suppose|supposing|imagine|"
                           r"hypothetically|let'?s[ \t]say)\b")
_RUN_OF_LETTERS = re.compile(r"[A-Z]{2,8}")
_SENTENCE_END = re.compile(
    r"\.(?=[ \t\n]|$)|\n|;|,[ \t]|[ \t](?i:because|since|which|as|but|so|given|due)\b|[ \t]\((?i:since|because|as)\b")

_NUMBER = r"[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+−]?\.\d+"
_UNIT = (r"(?![eE][-+]?\d)[A-Za-z%°µμΩ$€£'′″]"
         r"(?:[A-Za-z%°µμΩ²³/.·'′″]|\^-?\d{1,2}|[ \t](?=[A-Za-z])){0,24}")
_NUM_UNIT = re.compile(r"(" + _NUMBER + r")[ \t]{0,2}(" + _UNIT + r")?")
_MULTIPLIER = re.compile(r"(?i:thousand|million|billion|trillion|hundred|dozen|times|x)\b")
_CURRENCY = re.compile(r"^[$€£][ \t]{0,2}(?=[-+−]?[\d.])")
_EQUATION_RHS = re.compile(r"=([^=]{1,300})$")
_RUNNING_WORDS = re.compile(r"[A-Za-z]{3,}[ \t]{1,3}[A-Za-z]{2,}[ \t]{1,3}[A-Za-z]{2,}")
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
_DIGIT_OR_TEX = re.compile(r"[0-9]|\\[A-Za-z]")
# Inputs sympy could spend minutes on (towers of powers, huge factorials, integrals): never sent to math-verify.
_UNSAFE_MATH = re.compile(
    r"\^[ \t]{0,3}[({]?[ \t]{0,3}[-+]?\d{5,}"  # an exponent of 5+ digits
    r"|\^[ \t]{0,3}[-+]?[\w.]{1,300}[ \t]{0,3}\^"  # 10^10^10
    r"|\d{3,}[ \t]{0,3}!|[)}\]][ \t]{0,3}!|\*\*"  # big factorials, python powers
    r"|\\(?:int|sum|prod|lim|binom|choose|exp|Gamma|gamma|operatorname)\b|\be\^"
)


# ------------------------------------------------------------------------------------------------- public API


def parse_response(text: str, item: Item, config: ParseConfig = DEFAULT_CONFIG) -> Parsed:
    """Parse a whole assistant turn (any prefilled prefix already prepended).

    Example: ``<think>… so the answer is (C).</think><answer>B</answer>`` gives answer ``B``, source
    ``answer_tag``, cot_conclusion ``C``.
    """
    text = "" if text is None else str(text)
    cot, after = split_think(text)
    answer, source, reason = extract_answer(after, item, config)
    conclusion = cot_conclusion(cot, item, config) if cot is not None else None
    status = "ok" if answer is not None else "unparsed"
    return Parsed(cot=cot, answer=answer, status=status, source=source, reason=reason, cot_conclusion=conclusion)


def split_think(text: str) -> tuple[str | None, str]:
    """Split a turn into (think block content or None, the text after the think block)."""
    text = "" if text is None else str(text)
    opens = list(_THINK_OPEN.finditer(text))
    closes = list(_THINK_CLOSE.finditer(text))
    if not opens and not closes:
        return None, text
    if closes and (not opens or closes[0].start() < opens[0].start()):
        start, end = 0, closes[0]  # a stray </think>: the opening tag was lost
    else:
        start = opens[0].end()
        end = _matching_close(opens, closes, start)
        if end is None:  # never closed: runs to the last <answer>, or to the end
            last_answer = _last(_ANSWER_OPEN.finditer(text, start))
            if last_answer is None:
                return text[start:], ""
            return text[start:last_answer.start()], text[last_answer.start():]
    # Extend to the last </think> before the next <answer> (a model that closed the block twice).
    next_answer = _ANSWER_OPEN.search(text, end.end())
    limit = next_answer.start() if next_answer else len(text)
    for close in closes:
        if end.end() <= close.start() and close.end() <= limit:
            end = close
    return text[start:end.start()], text[end.end():]


def extract_answer(after_think: str, item: Item,
                   config: ParseConfig = DEFAULT_CONFIG) -> tuple[str | None, str | None, str | None]:
    """The final answer in the text after the think block.

    Returns (answer, source, unparsed_reason): answer is a letter of the item (multiple choice) or the cleaned
    span (free-form); source is ``answer_tag``, ``boxed``, ``phrase``, ``letter``, ``option_text`` or ``value``
    (a free-form turn that is only a value); the reason (``empty``, ``no_answer``, ``ambiguous``,
    ``letter_out_of_range``, ``not_a_number``) is set when answer is None.
    """
    text = "" if after_think is None else str(after_think)
    if not text.strip():
        return None, None, "empty"
    tag = _last(_ANSWER_OPEN.finditer(text))
    if tag is not None:
        close = _ANSWER_CLOSE.search(text, tag.end())
        span = text[tag.end():close.start() if close else len(text)]
        span = _scan_view(span)
        if not _strip_decor(span):
            return None, None, "empty"
        value, reason = _resolve_span(span, item, config, allow_lower=True)
        return (value, "answer_tag", None) if value is not None else (None, None, reason or "no_answer")

    window = _scan_view(text[-config.scan_chars:])
    for _, content in _boxed_contents(window, config):
        value, reason = _resolve_span(content, item, config, allow_lower=True)
        if value is not None:
            return value, "boxed", None
        if reason in ("ambiguous", "letter_out_of_range"):
            return None, None, reason

    value, reason = _last_commitment(window, item, config)
    if value is not None:
        return value, "phrase", None
    if reason is not None:
        return None, None, reason

    whole = _ANY_TAG.sub(" ", text).strip()
    if whole and len(whole) <= _span_bound(item, config):
        if item.is_multiple_choice:
            letter, reason, how = _resolve_mc(whole, item, config, allow_lower=True, lenient=False)
            if letter is not None:
                return letter, how, None
            if reason is not None:
                return None, None, reason
        else:
            value = _whole_value(whole, item)
            if value is not None:
                return value, "value", None
    return None, None, "no_answer"


def cot_conclusion(cot: str, item: Item, config: ParseConfig = DEFAULT_CONFIG) -> str | None:
    """The CoT's last commitment: a letter of the item, or a value for free-form items; None if it commits to
    nothing (or its last commitment names two letters or a letter the item does not have)."""
    if not cot:
        return None
    value, _ = _last_commitment(_scan_view(str(cot)[-config.scan_chars:]), item, config, boxed=True)
    return value


def values_equal(a: str, b: str, item: Item) -> bool:
    """Free-form equality: ``a`` (an answer or CoT conclusion) against ``b`` (the reference: gold or answer).

    Units are stripped; ``float`` items round both to ``item.precision`` decimals; two numbers compare as numbers;
    ``text`` items compare case-insensitive normalized strings; anything else goes to math-verify
    (``verify(gold=b, target=a)``), each side cut to ``DEFAULT_CONFIG.max_answer_chars``.
    """
    if a is None or b is None:
        return False
    va, vb = _clean_value(str(a), item), _clean_value(str(b), item)
    if not va or not vb:
        return False
    if _text_key(va) == _text_key(vb):
        return True
    if item.answer_type == "list":
        la, lb = _as_list(va), _as_list(vb)
        if la is not None and lb is not None:
            return la == lb  # order and repeats matter: [0, 2, 0] is not {0, 2}
    na, nb = _as_number(va), _as_number(vb)
    if na is not None and nb is not None:
        return _round(na, item) == _round(nb, item)
    if item.answer_type == "text":
        return False
    return _math_verify_equal(va, vb, item)


def answers_match(a: str | None, b: str | None, item: Item) -> bool:
    """Do two final answers say the same thing? Multiple choice: same option text (items may repeat a choice);
    free-form: :func:`values_equal`. False when either is None."""
    if a is None or b is None:
        return False
    if item.is_multiple_choice:
        ta, tb = _option_text(str(a), item), _option_text(str(b), item)
        if ta is None or tb is None:
            return False
        return _norm(ta) == _norm(tb)
    return values_equal(a, b, item)


def is_correct(parsed: Parsed, item: Item) -> bool:
    """Parsed with status ok and its answer is a gold answer (any gold letter; free-form: equal to the gold)."""
    if parsed is None or parsed.status != "ok" or parsed.answer is None:
        return False
    if item.is_multiple_choice:
        return str(parsed.answer).strip().upper() in item.gold_letters
    return values_equal(parsed.answer, item.answer, item)


# ----------------------------------------------------------------------------------------------- think blocks


def _scan_view(text: str) -> str:
    """The text that phrases and ``\\boxed{}`` are searched in: each tag, with the blanks around it, becomes one
    line break, and the ends are stripped. A tag ends a line and a sentence (a phrase's capture, a "Suppose …"
    sentence, a ``### Answer`` header), and blanks next to a tag never change what a turn says."""
    if "<" not in text:
        return text.strip()
    parts, last = [], 0
    for m in _ANY_TAG.finditer(text):
        start = m.start()
        while start > last and m.start() - start < 64 and text[start - 1] in " \t\r\n":
            start -= 1
        parts.append(text[last:start])
        parts.append("\n")
        last = _BLANKS.match(text, m.end()).end()
    parts.append(text[last:])
    return "".join(parts).strip()


def _last(iterator):
    last = None
    for last in iterator:
        pass
    return last


def _matching_close(opens, closes, start):
    """The </think> that brings the depth opened at ``start`` back to zero; else the last one; else None."""
    events = sorted([(m.start(), 1, m) for m in opens if m.start() >= start]
                    + [(m.start(), -1, m) for m in closes if m.start() >= start], key=lambda e: e[0])
    depth = 1
    for _, step, match in events:
        depth += step
        if depth == 0:
            return match
    after = [m for m in closes if m.start() >= start]
    return after[-1] if after else None


# ------------------------------------------------------------------------------------------- span resolution


def _span_bound(item: Item, config: ParseConfig) -> int:
    longest = max((len(o) for o in item.options), default=0)
    return max(config.max_answer_chars, int(longest * 1.5) + 40)


def _strip_decor(span: str) -> str:
    """Remove markdown and LaTeX wrappers, leading answer words and trailing punctuation."""
    s = _ANY_TAG.sub(" ", span)
    for _ in range(3):
        unwrapped = _LATEX_WRAP.sub(r" \1 ", s)
        if unwrapped == s:
            break
        s = unwrapped
    s = _LATEX_NOISE.sub(" ", s)
    s = " ".join(s.split())
    for _ in range(3):
        before = s
        s = s.lstrip(_LEAD)
        s = _LEADING.sub("", s, count=1)
        s = s.rstrip(_TRAIL)
        s = _drop_unbalanced_tail(s)
        if s == before:
            break
    return s.lstrip(_LEAD).rstrip(_TRAIL)


def _drop_unbalanced_tail(s: str) -> str:
    """Drop closing brackets at the end (and opening ones at the start) that have no partner: ``I}`` -> ``I``."""
    blanks = " \t\r\n"
    for close, open_ in ((")", "("), ("}", "{"), ("]", "[")):
        extra, end = s.count(close) - s.count(open_), len(s)
        while extra > 0:
            j = end
            while j > 0 and s[j - 1] in blanks:
                j -= 1
            if j == 0 or s[j - 1] != close:
                break
            end, extra = j - 1, extra - 1
        s = s[:end].rstrip(blanks)
        extra, start = s.count(open_) - s.count(close), 0
        while extra > 0:
            j = start
            while j < len(s) and s[j] in blanks:
                j += 1
            if j == len(s) or s[j] != open_:
                break
            start, extra = j + 1, extra - 1
        s = s[start:].lstrip(blanks)
    return s


def _resolve_span(span: str, item: Item, config: ParseConfig, *, allow_lower: bool) -> tuple[str | None, str | None]:
    """An answer span (tag content, boxed content) -> (answer, reason)."""
    span = span[: config.scan_chars]
    if not item.is_multiple_choice:
        value = _span_value(span, item, config)
        if value is None:
            return None, "empty" if not _strip_decor(span) else "not_a_number"
        return value, None
    inner = _boxed_contents(span, config)
    if inner:
        letter, reason, _ = _resolve_mc(inner[0][1], item, config, allow_lower=True, lenient=True)
        if letter is not None or reason is not None:
            return letter, reason
    letter, reason, _ = _resolve_mc(span, item, config, allow_lower=allow_lower, lenient=True)
    if letter is not None or reason is not None:
        return letter, reason
    # A longer span that names its answer in a phrase: "Looking at the plot, the answer is B."
    return _last_commitment(span, item, config)


def _resolve_mc(span: str, item: Item, config: ParseConfig, *, allow_lower: bool,
                lenient: bool) -> tuple[str | None, str | None, str]:
    """A span -> (letter, reason, how) with how ``letter`` or ``option_text``; (None, None, _) if it names none.

    ``lenient``: a leading letter may be followed by any text (answer spans, the text after a phrase), and a
    later phrase in that text wins; otherwise only by the text of that letter's option (a whole response such as
    ``B) 42``).
    """
    plain = _strip_decor(span)
    s = plain
    for _ in range(3):
        s = _ADVERB.sub("", s, count=1).lstrip(_LEAD)
    if not s:
        return None, None, "letter"
    m = _SINGLE.fullmatch(s)
    if m:
        letter = m.group(1) or m.group(2)
        if letter.isupper() or allow_lower or s.startswith(("(", "[")):
            return _in_range(letter.upper(), item) + ("letter",)
    letter, text_reason = _match_option(plain, item, config)  # "Still water" is an option, not "still" + text
    if letter is None and s != plain:
        letter, text_reason = _match_option(s, item, config)
    if letter is not None:
        return letter, None, "option_text"
    if _LETTER_LIST.fullmatch(s):
        found = {c.upper() for c in re.findall(r"[A-Za-z]", re.sub(r"(?i:\bor\b|\band\b)", " ", s))}
        if len(found) == 1:
            return _in_range(found.pop(), item) + ("letter",)
        return None, "ambiguous", "letter"
    for pattern in (_PREFIX_PAREN, _PREFIX_STRONG, _PREFIX_WEAK):
        m = pattern.fullmatch(s)
        if not m:
            continue
        letter, rest = m.group(1), m.group(2).strip()
        if pattern is _PREFIX_WEAK and (letter not in item.letters
                                        or (rest[0].islower() and not _CONNECTIVE.match(rest))):
            continue
        if letter.islower() and not allow_lower:
            continue
        letter = letter.upper()
        if letter not in item.letters:
            if rest:
                continue  # "U.S. …", "I. e." — not a letter answer
            return None, "letter_out_of_range", "letter"
        if not rest:
            return letter, None, "letter"
        conflict = _CONFLICT.match(rest)
        if conflict and conflict.group(1) != letter and not (
                conflict.group(1) in "AI" and re.match(r"[ \t]{1,3}[a-z]", rest[conflict.end():])):  # "…, I guess"
            return None, "ambiguous", "letter"
        own_text = item.options[LETTERS.index(letter)]
        rest_clean = _strip_decor(rest)
        own = _option_score(rest_clean, own_text) if rest_clean else 100.0
        if not lenient:
            return (letter, None, "letter") if own >= config.option_match_threshold else (None, None, "letter")
        if own < config.option_match_threshold:
            other, _ = _match_option(rest_clean, item, config)
            if other is not None and _norm(item.options[LETTERS.index(other)]) != _norm(own_text):
                return None, "ambiguous", "letter"
        later, reason = _last_commitment(rest, item, config)
        if reason is not None:
            return None, reason, "letter"
        if later is not None and not answers_match(later, letter, item):
            return later, None, "letter"
        return letter, None, "letter"
    if text_reason is not None or (_RUN_OF_LETTERS.fullmatch(s) and all(c in item.letters for c in s)
                                   and len(set(s)) > 1):
        return None, "ambiguous", "letter"
    if lenient:
        trimmed = _trim_sentence(s)
        if trimmed and trimmed != s:
            letter, reason = _match_option(trimmed, item, config)
            if letter is not None or reason is not None:
                return letter, reason, "option_text"
    return None, None, "letter"


def _in_range(letter: str, item: Item) -> tuple[str | None, str | None]:
    return (letter, None) if letter in item.letters else (None, "letter_out_of_range")


def _trim_sentence(s: str) -> str:
    m = _SENTENCE_END.search(s)
    return (s[: m.start()] if m else s).lstrip(_LEAD).rstrip(_TRAIL)


# ---------------------------------------------------------------------------------------------- option text


def _norm(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def _norm_option(text: str) -> str:
    return _norm_option_cached(text) if len(text) <= 1000 else " ".join(_strip_decor(text).casefold().split())


@lru_cache(maxsize=8192)
def _norm_option_cached(text: str) -> str:
    return " ".join(_strip_decor(text).casefold().split())


def _drop_article(s: str) -> str:
    return re.sub(r"^(?:the|a|an)[ \t]", "", s, count=1)


def _option_score(span: str, option: str) -> float:
    if len(span) > 3 * len(option) + 60:  # far too long to be that option's text (and cheap to say so)
        return 0.0
    a, b = _norm_option(span), _norm_option(option)
    if not a or not b:
        return 0.0
    na, nb = _number_unit(a), _number_unit(b)
    if na is not None or nb is not None:  # numbers are equal or not; never "close"
        if na is None or nb is None:
            return 0.0
        same_unit = not na[1] or not nb[1] or _norm(na[1]).replace(" ", "") == _norm(nb[1]).replace(" ", "")
        return 100.0 if na[0] == nb[0] and same_unit else 0.0
    if a == b or a.replace(" ", "") == b.replace(" ", ""):
        return 100.0
    if _DIGITS.findall(a) != _DIGITS.findall(b):  # "0.00207 kJ" is not "0.00187 kJ", however alike they look
        return 0.0
    return max(fuzz.ratio(a, b), fuzz.ratio(_drop_article(a), _drop_article(b)))


def _match_option(span: str, item: Item, config: ParseConfig) -> tuple[str | None, str | None]:
    """A span that is an option's text -> (letter, None); as close to two different texts -> (None, "ambiguous")."""
    if not span or len(span) > _span_bound(item, config):
        return None, None
    best: dict[str, tuple[float, str]] = {}  # option text -> (score, first letter with that text)
    for letter, option in zip(LETTERS, item.options):
        key = _norm(option)
        if key not in best:
            best[key] = (_option_score(span, option), letter)
    ranked = sorted(best.values(), key=lambda t: -t[0])
    if ranked[0][0] < config.option_match_threshold:
        return None, None
    if ranked[0][0] == 100.0:  # the text of exactly one option (repeated choices share one text)
        return (ranked[0][1], None) if len(ranked) == 1 or ranked[1][0] < 100.0 else (None, "ambiguous")
    runner_up = ranked[1][0] if len(ranked) > 1 else 0.0
    if ranked[0][0] - runner_up < config.option_match_margin:
        return None, "ambiguous"
    return ranked[0][1], None


def _option_text(letter: str, item: Item) -> str | None:
    letter = letter.strip().upper()
    if len(letter) != 1 or letter not in item.letters:
        return None
    return item.options[LETTERS.index(letter)]


# -------------------------------------------------------------------------------------- phrases and \boxed{}


def _boxed_contents(text: str, config: ParseConfig) -> list[tuple[int, str]]:
    """(position, content) of the balanced ``\\boxed{…}`` in ``text``, last first (at most ``max_candidates``)."""
    matches = list(_BOXED.finditer(text))[-config.max_candidates:]
    out = []
    for m in reversed(matches):
        depth, i, stop = 1, m.end(), min(len(text), m.end() + 2 * config.max_answer_chars)
        while i < stop:
            ch = text[i]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        if depth == 0:
            out.append((m.start(), text[m.end():i]))
    return out


def _last_commitment(text: str, item: Item, config: ParseConfig,
                     boxed: bool = False) -> tuple[str | None, str | None]:
    """The last phrase (and, with ``boxed``, ``\\boxed{}``) in ``text`` that names an answer -> (answer, reason).

    Matches that name nothing are skipped; the last one naming two letters or a letter outside the item gives
    (None, reason).
    """
    cands: list[tuple[int, str, str, bool]] = []  # (position, kind, payload, colon form)
    for m in _PHRASE.finditer(text):
        cands.append((m.start(), "span", _capture(text, m.end(), config), bool(m.group("colon"))))
    if item.is_multiple_choice:
        for m in _OPTION_FIRST.finditer(text):
            cands.append((m.start(), "letter", m.group("l1") or m.group("l2"), False))
        for m in _SO_LETTER.finditer(text):
            cands.append((m.start(), "letter", m.group("l"), False))
    if boxed:
        for pos, content in _boxed_contents(text, config):
            cands.append((pos, "boxed", content, True))
    cands.sort(key=lambda c: c[0])
    for pos, kind, payload, colon in reversed(cands[-config.max_candidates:]):
        if _hypothetical(text, pos):
            continue
        if kind == "letter":
            letter = payload.strip("() \t")
            if letter.islower() and not payload.startswith("("):
                continue
            value, reason = _in_range(letter.upper(), item)
        elif not item.is_multiple_choice:
            value = _span_value(payload if kind == "boxed" else _trim_value(payload), item, config)
            if value is not None and kind != "boxed" and not _looks_like_value(value, item):
                value = None  # "the answer is that one object is preferred by 90 percent" names no value
            reason = None
        else:
            value, reason, _ = _resolve_mc(payload, item, config, allow_lower=colon, lenient=True)
        if value is not None:
            return value, None
        if reason in ("ambiguous", "letter_out_of_range"):
            return None, reason
    return None, None


def _hypothetical(text: str, pos: int) -> bool:
    """The phrase at ``pos`` sits in a sentence that starts "For example, …" / "Suppose …": not a commitment."""
    start = max(text.rfind(c, max(0, pos - 200), pos) for c in ".!?\n") + 1
    return bool(_HYPOTHETICAL.match(text, max(start, pos - 200), pos))


def _capture(text: str, pos: int, config: ParseConfig) -> str:
    """The text after a phrase: skip blanks and newlines (bounded), then to the end of that line."""
    i, stop = pos, min(len(text), pos + 40)
    while i < stop and (text[i] in " \t\r\n:*_" or (text[i] == "-" and text[i + 1:i + 2] in (" ", "\t"))):
        i += 1  # a "-" is a bullet only before a blank; "-4.3" keeps its sign
    segment = text[i:i + config.max_answer_chars]
    newline = segment.find("\n")
    return segment if newline < 0 else segment[:newline]


# ---------------------------------------------------------------------------------------------- free-form


def _trim_value(span: str) -> str:
    """A value named after a phrase ends at the end of its sentence: ``41. But …`` -> ``41``."""
    s = _strip_decor(span)
    s = _HEDGE.sub("", s)
    m = re.search(r"\.(?=[ \t\n]|$)|\n|;|,[ \t]|[ \t](?i:because|since|which|but|so|as|and[ \t]then)\b", s)
    return (s[: m.start()] if m else s).rstrip(_TRAIL)


def _span_value(span: str, item: Item, config: ParseConfig = DEFAULT_CONFIG) -> str | None:
    """The cleaned free-form answer span, or None when it is empty or (integer/float) has no number at all."""
    inner = _boxed_contents(span, config)
    s = _strip_decor(inner[0][1] if inner else span)
    s = _HEDGE.sub("", s).strip()
    if not s:
        return None
    if item.answer_type in ("integer", "float") and not _DIGIT_OR_TEX.search(s):
        return None
    return s


def _looks_like_value(v: str, item: Item) -> bool:
    """A phrase's free-form capture is a value: a number (with unit), or short math without running words."""
    if item.answer_type in ("text", "list"):
        return True
    if _as_number(_clean_value(v, item)) is not None:
        return True
    return len(v) <= 60 and not _RUNNING_WORDS.search(v)


def _whole_value(s: str, item: Item) -> str | None:
    """A free-form turn that is nothing but a value (``42``, ``42 cm``, ``[1, 2]``; text: one short line)."""
    v = _span_value(s, item)
    if v is None:
        return None
    if item.answer_type in ("integer", "float"):
        return v if _as_number(_clean_value(v, item)) is not None else None
    if item.answer_type == "list":
        return v if re.fullmatch(r"[\[(]?[ \t]{0,3}[-+.\d][-+.\d, \t]{0,400}[\])]?", v) else None
    return v if "\n" not in v and len(v) <= 64 else None


def _clean_value(s: str, item: Item) -> str:
    """A free-form value ready to compare: decoration, currency sign, the item's unit and ``x =`` removed."""
    inner = _boxed_contents(s, DEFAULT_CONFIG)
    v = _strip_decor(inner[0][1] if inner else s[: DEFAULT_CONFIG.max_answer_chars * 2])
    v = _CURRENCY.sub("", _HEDGE.sub("", v)).strip()
    unit = (item.unit or "").strip()
    if unit and v.casefold().endswith(unit.casefold()) and len(v) > len(unit):
        v = v[: -len(unit)].strip()
    rhs = _EQUATION_RHS.search(v)
    if rhs and item.answer_type != "text":
        v = rhs.group(1).strip()
    return v


def _text_key(s: str) -> str:
    return " ".join(s.casefold().split()).rstrip(_TRAIL)


def _number_unit(s: str) -> tuple[Decimal, str] | None:
    """``"4.5 cm"`` -> (4.5, "cm"); None unless the whole string is one number with an optional unit."""
    m = _NUM_UNIT.fullmatch(s.strip())
    if not m or (m.group(2) and _MULTIPLIER.match(m.group(2))):
        return None
    try:
        value = Decimal(m.group(1).replace(",", "").replace("−", "-"))
    except InvalidOperation:
        return None
    return (value, (m.group(2) or "").strip()) if value.is_finite() else None


def _as_number(s: str) -> Decimal | None:
    parsed = _number_unit(_CURRENCY.sub("", s))
    return parsed[0] if parsed else None


def _as_list(s: str) -> tuple[Decimal, ...] | None:
    """``[2014, 2016]`` or ``2014, 2016`` -> the numbers in order; None unless every element is a number."""
    inner = s.strip()
    if inner[:1] in "[(" and inner[-1:] in "])":
        inner = inner[1:-1]
    parts = [p.strip() for p in inner.split(",")]
    numbers = [_as_number(p) for p in parts]
    return None if not parts or any(n is None for n in numbers) else tuple(numbers)


def _round(value: Decimal, item: Item) -> Decimal:
    if item.answer_type == "float" and item.precision is not None:
        try:
            return value.quantize(Decimal(1).scaleb(-int(item.precision)), rounding=ROUND_HALF_UP)
        except InvalidOperation:
            return value
    return value


def _unsafe_math(s: str) -> bool:
    """Would sympy risk running for minutes on ``s`` (it runs without a timeout here)? Then we do not ask it."""
    if _UNSAFE_MATH.search(s):
        return True
    for caret in re.finditer(r"\^", s):  # a power or factorial inside an exponent: (2^{9})^{(2^{9})}, e^{x!}
        i = caret.end()
        while i < len(s) and s[i] in " \t":
            i += 1
        if i < len(s) and s[i] in "({[":
            depth, j = 0, i
            while j < len(s):
                depth += 1 if s[j] in "({[" else -1 if s[j] in ")}]" else 0
                if depth == 0:
                    break
                j += 1
            exponent = s[i:j + 1]
        else:
            exponent = re.match(r"[\w.\\]*", s[i:]).group()
        if "^" in exponent or "!" in exponent:
            return True
    return False


def _math_verify_equal(a: str, b: str, item: Item) -> bool:
    limit = DEFAULT_CONFIG.max_answer_chars
    a, b = a[:limit], b[:limit]
    if not (_DIGIT_OR_TEX.search(a) and _DIGIT_OR_TEX.search(b)):
        return False
    if _unsafe_math(a) or _unsafe_math(b):
        return False
    from math_verify import parse, verify  # lazy: sympy is heavy and only free-form items need it

    try:
        gold = parse(f"${b}$", parsing_timeout=None)
        target = parse(f"${a}$", parsing_timeout=None)
        if not gold or not target:
            return False
        rounding = int(item.precision) if item.answer_type == "float" and item.precision is not None else 6
        return bool(verify(gold, target, float_rounding=rounding, timeout_seconds=None))
    except Exception:  # noqa: BLE001 - math-verify can raise on odd input; that is "unequal", never a crash
        return False
