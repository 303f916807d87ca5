"""Parse one assistant turn into its CoT, its final answer and what the CoT concluded (PROTOCOL.md §3).

Pure: stdlib and rapidfuzz; free-form equality asks math-verify through ``lmms_robust.core.mathcheck`` (a worker
process with a time budget). Nothing here guesses: when a response does not name an answer, the result is
``unparsed`` with a reason, never an option.

Rules, in the order they apply:

- **Think block**: from the first ``<think>`` to its matching ``</think>`` (nesting counted), extended to the last
  ``</think>`` that comes before the next ``<answer>`` tag. No ``</think>``: the block runs to the last
  ``<answer>`` tag (or to the line of a ``</answer>`` whose opening tag was lost), or to the end. A ``</think>``
  with no ``<think>`` before it (prefix lost): everything before it is the CoT. No think tag at all: no CoT, the
  whole text is the answer part.
- **Final answer**: the content of the last ``<answer>`` block outside the think block (after it, else before it);
  an unclosed block is read from its first line (``<answer>D`` followed by junk), then as a whole. Malformed but
  readable tags count: ``answer>B</answer>`` (the ``<`` lost), a ``</answer>`` whose opening tag was lost
  (``A</answer>``, ``</answer>C``). Inside the span the same normalisation as below (letter, ``(B)``, ``<B>``,
  ``B. text``, ``\\boxed{B}``, ``\\boxed{value} (Option C)``, option text, ``Answer: B``, a phrase). Without an
  answer tag, in this fixed order: the last ``\\boxed{}`` that names an answer; the last explicit phrase that does
  (``Answer: X``, ``the answer is X``, ``the correct option is X``, ``I choose X``, ``option (X) is correct``,
  ``so (X).``, a ``### Answer`` header); the whole text is one option letter (``B``, ``(B)``, ``B) text of B``);
  the whole text is an option's text (rapidfuzz ``ratio`` at or above the threshold and clearly above the
  runner-up; numbers equal as numbers, never fuzzily; meaning-flipping words such as left/right or not must
  agree). Free-form: the cleaned span (a sentence such as ``There are 3 objects remaining.`` gives its value);
  without a tag, ``\\boxed{}``, a phrase, or a turn that is only a value (source ``value``).
- **Multiple choice** answers are letters of the item. Two different letters (``A or B``) -> ``ambiguous``; a
  letter outside the item -> ``letter_out_of_range``. Lowercase letters count only where nothing else can be meant
  (a whole answer span ``b``, ``(b)``, ``Answer: b``).
- **CoT conclusion** (:func:`read_conclusion`): the CoT's last commitment, read backward sentence by sentence over
  its final ``conclusion_chars`` characters, then (explicit commitments only) over the rest:

  * an explicit commitment: ``\\boxed{}``, an answer phrase (``the answer is B``, ``the most fitting answer appears
    to be A``), a letter-first statement (``B is the correct answer``, ``option B, under umbrella, is safest``), a
    reference (``that would correspond to option B``), ``so (B).``, ``I choose B``, Chinese forms (``答案是B``,
    ``选项C…最符合``);
  * multiple choice, in the final part only: a statement that asserts one option's content (``This is a
    wristwatch``), found by token overlap with each option's words (order kept, small gaps, plurals and close
    spellings via rapidfuzz, ``hot air balloon`` = ``hotair balloon``); words that flip meaning (left/right,
    above/below, front/behind, more/fewer, yes/no, not, ...) must agree exactly; a mention under a negation
    (``not for storing kites``), after ``than`` or ``rather than``, or inside another option's longer text does not
    assert it;
  * free-form, in the final part only: the value a concluding statement gives: the last equation's right-hand side
    (``∠ACB = 180° − 110° = 70°``), ``the length of AB is 11.2``, ``There are four distinct objects`` (-> 4); a
    premise (``Since AB = 5, …``) asserts nothing but its main clause.

  Precision first: a sentence that names two options (or two letters, or a letter outside the item), or that
  hedges (``maybe``, ``not sure``, ``either``) while naming one, ends the search with no conclusion; a list (three
  or more options, an echo of lettered options), a question, a hypothetical (``Suppose …``, ``For example …``), a
  bare letter or a number in passing asserts nothing and is passed over.

Where phrases and ``\\boxed{}`` are searched, each tag (with all the blanks around it) counts as one line break: a
tag ends a phrase's capture and a sentence, and blanks next to a tag never change the result
(benchmarks/fuzz_parse.py). Regexes use bounded quantifiers only; phrases are searched backward in chunks of the
last ``scan_chars`` characters and at most ``max_candidates`` of them are tried; the CoT reader reads sentences of
its final ``conclusion_chars`` characters and stops at the first that decides; so any input parses in linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from rapidfuzz import fuzz

from lmms_robust.core import mathcheck
from lmms_robust.core.items import LETTERS, Item, Parsed

__all__ = [
    "DEFAULT_CONFIG",
    "Conclusion",
    "ParseConfig",
    "answers_match",
    "check_correct",
    "compare_values",
    "cot_conclusion",
    "extract_answer",
    "is_correct",
    "match_answers",
    "parse_response",
    "read_conclusion",
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
    """Bound on a span that is resolved or handed to math-verify."""
    scan_chars: int = 100_000
    """Phrases and ``\\boxed{}`` are searched in the last this-many characters of a text."""
    max_candidates: int = 64
    """At most this many phrase/boxed matches (the last ones) are tried per text."""
    conclusion_chars: int = 2_000
    """The final part of a CoT whose sentences are read for content and values (not only explicit phrases)."""
    chunk_chars: int = 4_000
    """Phrases are searched backward in growing chunks of at most about this many characters; the search stops at
    the first chunk that decides, so a turn that ends with ``Answer: B`` costs one short chunk."""
    content_token_fuzz: float = 88.0
    """rapidfuzz ``ratio`` at or above which a word of 6+ letters counts as an option's word (spelling slips)."""


DEFAULT_CONFIG = ParseConfig()


@dataclass(frozen=True)
class Conclusion:
    """What the CoT concluded and how it was read (``read_conclusion``)."""

    value: str | None
    """A letter of the item (multiple choice) or a value (free-form); None: no conclusion."""
    how: str | None
    """``boxed``, ``phrase``, ``letter`` (an explicit letter statement), ``content`` (an option's content),
    ``value`` (a concluding statement's value); for None: ``two_options``, ``hedge``, ``out_of_range`` or None
    (nothing committed)."""
    sentence: str | None = None
    """The sentence that decided (None when nothing did)."""


# ---------------------------------------------------------------------------------------------------- patterns

_THINK_OPEN = re.compile(r"<[ \t]{0,3}think[ \t]{0,3}>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"<[ \t]{0,3}/[ \t]{0,3}think[ \t]{0,3}>", re.IGNORECASE)
_ANSWER_OPEN = re.compile(r"<[ \t]{0,3}answer[ \t]{0,3}>", re.IGNORECASE)
_ANSWER_CLOSE = re.compile(r"<[ \t]{0,3}/[ \t]{0,3}answer[ \t]{0,3}>", re.IGNORECASE)
# "answer>B</answer>": an opening tag whose "<" was lost (never part of a word or of another tag)
_ANSWER_OPEN_LOST = re.compile(r"(?<![<\w/])answer[ \t]{0,3}>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[ \t]{0,3}/?[ \t]{0,3}(?:think|answer)[ \t]{0,3}>", re.IGNORECASE)
_BLANK = " \t\r\n"
_BLANK_RUN = re.compile(r"[ \t\r\n]*")
_BOXED = re.compile(r"\\(?:boxed|fbox)[ \t]{0,3}\{")

_MD = r"(?:\*\*|__|\*)?"
_LETTER_TOKEN = r"(?:\([ \t]?[A-Za-z][ \t]?\)|[A-Z])"
_BE = (r"(?:is|was|would[ \t]{1,3}(?:likely[ \t]{1,3})?be|should[ \t]{1,3}be|must[ \t]{1,3}be|will[ \t]{1,3}be|"
       r"(?:appears|seems)[ \t]{1,3}to[ \t]{1,3}be)")
# Explicit answer phrases; the span after the match is resolved. Group "colon" marks the "Answer:" form.
_PHRASE = re.compile(
    r"(?i:\b(?:(?:final|correct|right|best|my)[ \t]{1,3})?answer\b" + _MD + r"[ \t]{0,3}" + _MD
    + r"[ \t]{0,3}(?:(?P<colon>:)|=|\b" + _BE + r"\b)"
    + r"|\b(?:correct|right|best|closest|most[ \t]{1,3}(?:likely|appropriate|suitable|fitting|logical|plausible|"
      r"accurate|reasonable))[ \t]{1,3}(?:answer[ \t]{1,3})?(?:option|choice)\b" + _MD + r"[ \t]{0,3}"
    + r"(?::|=|\b" + _BE + r"\b)"
    + r"|\bI(?:[ \t]{1,3}(?:will|would)|'ll|'d|’ll|’d)?[ \t]{1,3}(?:choose|pick|select|go[ \t]{1,3}with)\b)"
    + r"|(?P<bracket>\[[ \t]{0,3}(?i:answer)[ \t]{0,3}\])"  # "[answer]B": a bracketed answer tag
    + r"|(?P<cn>答案[ \t]{0,3}(?:是|为|：|:))"
    + r"|(?im:^[ \t]{0,3}#{1,6}[ \t]{0,3}(?:final[ \t]{1,3})?answer[ \t]{0,3}:?[ \t]{0,3}$)"  # a "### Answer" header
)
_GOOD = (r"(?:correct|right|best|answer|accurate|appropriate|fitting|suitable|likely|logical|plausible|"
         r"reasonable|true)")
# Letter-first: "option (C) is correct", "(C) is the correct answer", "B is the correct answer".
_OPTION_FIRST = re.compile(
    r"(?:(?i:\b(?:option|choice)[ \t]{0,3})(?P<l1>" + _LETTER_TOKEN + r")|(?P<l2>\([ \t]?[A-Z][ \t]?\))"
    r"|(?<![\w'’(])(?P<l3>[A-HJ-Z])(?![\w'’)]))"
    r"[ \t]{0,3}(?i:is|would[ \t]{1,3}be|must[ \t]{1,3}be|should[ \t]{1,3}be|(?:seems|appears)[ \t]{1,3}to[ \t]{1,3}be)"
    r"[ \t]{1,3}(?i:(?:the[ \t]{1,3})?(?:most[ \t]{1,3})?" + _GOOD + r")\b"
)
# "so (C).", "Therefore, option C." — the letter must end the sentence.
_SO_LETTER = re.compile(
    r"(?i:\b(?:so|therefore|thus|hence)\b),?[ \t]{0,3}(?i:(?:it[ \t]{1,3}is|it's|it[ \t]{1,3}must[ \t]{1,3}be)[ \t]{1,3})?"
    r"(?i:(?:option|choice)[ \t]{0,3})?" + _MD + r"(?P<l>\([ \t]?[A-Za-z][ \t]?\)|[A-HJ-Z])" + _MD
    + r"(?=[ \t]{0,3}(?:[.!]|$))",
    re.MULTILINE,
)
# "that would correspond to option B", "which matches (C)", "this is option D"
_REFERENCE = re.compile(
    r"(?i:\b(?:correspond(?:s|ing)?|match(?:es|ing)?|align(?:s|ed)?[ \t]{1,3}with|points?[ \t]{1,3}to|"
    r"leads?[ \t]{1,3}(?:us[ \t]{1,3})?to|consistent[ \t]{1,3}with|refers?[ \t]{1,3}to|fits|"
    r"(?:which|that|this|it)[ \t]{1,3}(?:is|'s|would[ \t]{1,3}be))[ \t]{1,3}(?:to[ \t]{1,3})?(?:the[ \t]{1,3})?)"
    r"(?:(?i:option|choice|answer)[ \t]{0,3}(?P<l1>" + _LETTER_TOKEN + r")|(?P<l2>\([ \t]?[A-Z][ \t]?\)))"
    r"(?![\w'’])"
)
# A clause whose subject is an option: "option B, under umbrella, is safest", "Option D suggests that ...".
_OPTION_SUBJECT = re.compile(
    r"(?:^|(?<=[.!?;:,\n\"'“”])|(?i:\b(?:that|so|thus|therefore|hence|clearly|then)\b))[ \t]{0,3}(?i:the[ \t]{1,3})?"
    r"(?i:option|choice)[ \t]{0,3}(?P<l>" + _LETTER_TOKEN + r")"
    r"(?P<appos>[ \t]{0,3}[,:(][^.!?\n]{1,80}?)?[ \t]{0,3},?[ \t]{1,3}"
    r"(?P<verb>(?i:is|would[ \t]{1,3}be|must[ \t]{1,3}be|should[ \t]{1,3}be|seems|appears|looks|suggests|fits|"
    r"matches|aligns|corresponds|describes|represents|indicates|makes[ \t]{1,3}sense|stands[ \t]{1,3}out|best))\b"
    r"(?P<rest>[^.!?\n]{0,40})",
    re.MULTILINE,
)
_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]")
_CN_OPTION = re.compile(r"选项[ \t]{0,3}(?P<l>[A-Z])[^。！？!?\n]{0,40}?(?<!不)(?:最符合|最合适|最佳|最好|最准确|正确|符合题意)"
                        r"|(?:故|所以|因此|因而|应|应该)[ \t]{0,3}选(?:择)?[ \t]{0,3}(?:选项)?[ \t]{0,3}(?P<l2>[A-Z])")
_NEGATIVE_PREDICATE = re.compile(
    r"(?i:^[ \t,]{0,3}(?:not|n't|never|incorrect|wrong|false|unlikely|less|least|inaccurate|invalid|irrelevant|"
    r"implausible|inappropriate|ruled|eliminated|excluded)\b|^[ \t]{0,3}(?:\w+[ \t]{1,3}){0,2}"
    r"(?:not|n't|incorrect|wrong|unlikely|less[ \t]{1,3}likely)\b)")
_GOOD_PREDICATE = re.compile(r"(?i:^[ \t]{0,3}(?:the[ \t]{1,3})?(?:(?:most|best|only)[ \t]{1,3}|\w+est\b|"
                             + _GOOD + r"\b))")
_NEGATED_BEFORE = re.compile(r"(?i:\b(?:not|never|n't|no)\b[^.!?\n]{0,30}$|n't[^.!?\n]{0,30}$)")

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

_SINGLE = re.compile(r"\(?[ \t]?([A-Za-z])[ \t]?\)?|\[[ \t]?([A-Za-z])[ \t]?\]|<[ \t]?([A-Za-z])[ \t]?>")
# unbounded: a list of any length is a list (a cap let "A, A, … (26 more), B" read as its first letter); linear,
# since every separator needs a non-blank character. Each letter ends a word, so a list at the start of a span
# ("A, B because …") is one, and "C, Opposite" is not (C, then the option's word).
_LIST_LETTER = r"(?:" + _LETTER_TOKEN + r")(?!\w)"
_LETTER_LIST = re.compile(
    _LIST_LETTER + r"(?:[ \t]{0,3}(?:,|/|&|;|(?i:\bor\b)|(?i:\band\b))[ \t]{0,3}" + _LIST_LETTER + r")+"
)
# what may stand beside a boxed value that is no option's text: "(Option C)", "option C", "(C)"
_LETTER_AFTER_VALUE = re.compile(r"\(?[ \t]{0,3}(?i:(?:option|choice)[ \t]{0,3}:?[ \t]{0,3})?\(?([A-Z])\)?[ \t]{0,3}\)?")
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
                           r"hypothetically|let'?s[ \t]say|assuming|assume)\b")
_CONDITIONAL = re.compile(r"(?i:[ \t*_\-]{0,6}(?:if|whether|in[ \t]case)\b[^.!?\n]{0,200}?\b(?:would|were|could|might)\b)")
# A CoT sentence that starts with a condition asserts nothing ("If ∠D = 55, then ∠BCE = 55°.")
_ASKS_IF = re.compile(r"(?i:\b(?:if|when|whether|suppose|assuming|unless|in[ \t]case)\b)")
_IF_START = re.compile(r"(?i:[ \t*_\-]{0,6}(?:if|whether|in[ \t]case|unless)\b)")
_RUN_OF_LETTERS = re.compile(r"[A-Z]{2,8}")
_SENTENCE_END = re.compile(
    r"\.(?=[ \t\n]|$)|\n|;|,[ \t]|[ \t](?i:because|since|which|as|but|so|given|due)\b|[ \t]\((?i:since|because|as)\b")

# Hedges that withdraw a commitment ("maybe", "not sure"); "likely", "seems" and "could be" do not.
_STRONG_HEDGE = re.compile(
    r"(?i:\b(?:maybe|perhaps|possibly|unsure|uncertain|unclear|ambiguous|i[ \t]guess|i'm[ \t]guessing|"
    r"not[ \t](?:sure|certain|clear)|hard[ \t]to[ \t](?:say|tell|determine|decide)|"
    r"difficult[ \t]to[ \t](?:say|tell|determine|decide)|(?:can't|cannot|can[ \t]not|unable[ \t]to)[ \t]"
    r"(?:tell|determine|decide|be[ \t]sure|say)|impossible[ \t]to[ \t](?:tell|determine|say)|"
    r"(?:don't|do[ \t]not)[ \t]know)\b)|或许|也许|可能是|不确定")


_TURN_WORDS = (r"but|however|yet|although|though|whereas|instead|actually|on[ \t]closer[ \t](?:inspection|look)|"
               r"upon[ \t]reflection|wait")
_CONTRAST = re.compile(r"(?i:\b(?:" + _TURN_WORDS + r")\b)")
# where a clause turns: a contrast, or a consequence ("I'm not sure, so the answer is (E)")
_CLAUSE_TURN = re.compile(r"(?i:\b(?:" + _TURN_WORDS + r"|so|therefore|thus|hence|consequently)\b)")

_NUMBER = r"[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+−]?\.\d+"
_UNIT = (r"(?![eE][-+]?\d)[A-Za-z%°µμΩ$€£'′″]"
         r"(?:[A-Za-z%°µμΩ²³/.·'′″]|\^-?\d{1,2}|[ \t](?=[A-Za-z])){0,24}")
_NUM_UNIT = re.compile(r"(" + _NUMBER + r")[ \t]{0,2}(" + _UNIT + r")?")
_MULTIPLIER = re.compile(r"(?i:thousand|million|billion|trillion|hundred|dozen|times|x)\b")
_CURRENCY = re.compile(r"^[$€£][ \t]{0,2}(?=[-+−]?[\d.])")
_EQUATION_RHS = re.compile(r"=([^=]{1,300})$")
_RUNNING_WORDS = re.compile(r"[A-Za-z]{3,}[ \t]{1,3}[A-Za-z]{2,}[ \t]{1,3}[A-Za-z]{2,}")
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
_DIGIT_OR_TEX = re.compile(r"[0-9]|\\[A-Za-z]|√|π")
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
    before, cot, after = _split(text)
    # The last <answer> block outside the think block: after it, else one written before it.
    early = before.strip() and _answer_tag_span(after) is None and _answer_tag_span(before) is not None
    answer, source, reason = extract_answer(before if early else after, item, config)
    if answer is None and reason == "empty" and before.strip() and not early:
        answer, source, reason = extract_answer(before, item, config)
    conclusion = cot_conclusion(cot, item, config) if cot is not None else None
    status = "ok" if answer is not None else "unparsed"
    return Parsed(cot=cot, answer=answer, status=status, source=source, reason=reason, cot_conclusion=conclusion)


def split_think(text: str) -> tuple[str | None, str]:
    """Split a turn into (think block content or None, the text after the think block)."""
    _, cot, after = _split(text)
    return cot, after


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
    tagged = _answer_tag_span(text)
    if tagged is not None:
        span, closed = tagged
        if not _strip_decor(_scan_view(span)):
            return None, None, "empty"
        value, reason = None, None
        if not closed:  # "<answer>D" then junk: its first line says it
            first = next((line for line in _scan_view(span).split("\n") if line.strip()), "")
            value, reason = _resolve_span(first, item, config, allow_lower=True)
        if value is None and reason is None:
            value, reason = _resolve_span(_scan_view(span), item, config, allow_lower=True)
        return (value, "answer_tag", None) if value is not None else (None, None, reason or "no_answer")

    window = _scan_view(text[-config.scan_chars:])
    for _, content, end in _boxed_contents(window, config):
        value, reason = _resolve_span(content, item, config, allow_lower=True)
        if value is None and reason is None and item.is_multiple_choice:
            beside = window[end:end + 40].split("\n", 1)[0]  # "\boxed{\frac{\sqrt{3}}{3}} (Option C)"
            named = _LETTER_AFTER_VALUE.fullmatch(_strip_decor(beside)) if beside.strip() else None
            if named:
                value, reason = _in_range(named.group(1), item)
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
    nothing (see :func:`read_conclusion`)."""
    return read_conclusion(cot, item, config).value


def read_conclusion(cot: str, item: Item, config: ParseConfig = DEFAULT_CONFIG) -> Conclusion:
    """The CoT's last commitment and how it was read (module docstring, "CoT conclusion").

    Example: ``The toy is a kite. Kites need wind to fly.`` on options (manual, wind, directions) gives
    ``Conclusion("B", "content", "Kites need wind to fly.")``.
    """
    if not cot:
        return Conclusion(None, None)
    view = _scan_view(str(cot)[-config.scan_chars:])
    tail_start = _tail_start(view, config.conclusion_chars)
    found = _read_tail(view[tail_start:], item, config)
    if found is not None:
        return found
    value, reason, where = _last_commitment(view[:tail_start], item, config, boxed=True, with_where=True)
    if value is not None:
        return Conclusion(value, "phrase", where)
    return Conclusion(None, "out_of_range" if reason == "letter_out_of_range" else
                      "two_options" if reason == "ambiguous" else None, where if reason else None)


def values_equal(a: str, b: str, item: Item) -> bool:
    """Free-form equality: ``a`` (an answer or CoT conclusion) against ``b`` (the reference: gold or answer).

    Units are stripped; ``float`` items round both to ``item.precision`` decimals; two numbers compare as numbers;
    ``text`` items compare case-insensitive normalized strings; anything else goes to math-verify
    (``verify(gold=b, target=a)``), each side cut to ``DEFAULT_CONFIG.max_answer_chars``. False when math-verify
    could not decide within its budget (see :func:`compare_values`, which says so).
    """
    return compare_values(a, b, item) is True


def compare_values(a: str, b: str, item: Item, *, budget_s: float | None = None) -> bool | None:
    """:func:`values_equal`, with None when the comparison could not be decided within ``budget_s`` seconds of
    math-verify work (default ``mathcheck.DEFAULT_BUDGET_S``) or the expression is one sympy could not be trusted
    to finish (towers of powers, huge factorials): the caller reports such an item as unscorable."""
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
    return _math_verify_equal(va, vb, item, budget_s)


def answers_match(a: str | None, b: str | None, item: Item) -> bool:
    """Do two final answers say the same thing? Multiple choice: same option text (items may repeat a choice);
    free-form: :func:`values_equal`. False when either is None."""
    return match_answers(a, b, item) is True


def match_answers(a: str | None, b: str | None, item: Item, *, budget_s: float | None = None) -> bool | None:
    """:func:`answers_match`, with None when a free-form comparison was over its budget (unscorable)."""
    if a is None or b is None:
        return False
    if item.is_multiple_choice:
        ta, tb = _option_text(str(a), item), _option_text(str(b), item)
        if ta is None or tb is None:
            return False
        return _norm(ta) == _norm(tb)
    return compare_values(a, b, item, budget_s=budget_s)


def is_correct(parsed: Parsed, item: Item) -> bool:
    """Parsed with status ok and its answer is a gold answer (any gold letter; free-form: equal to the gold)."""
    return check_correct(parsed, item) is True


def check_correct(parsed: Parsed, item: Item, *, budget_s: float | None = None) -> bool | None:
    """:func:`is_correct`, with None when the free-form comparison was over its budget (unscorable)."""
    if parsed is None or parsed.status != "ok" or parsed.answer is None:
        return False
    if item.is_multiple_choice:
        return str(parsed.answer).strip().upper() in item.gold_letters
    return compare_values(parsed.answer, item.answer, item, budget_s=budget_s)


# ----------------------------------------------------------------------------------------------- think blocks


def _split(text: str) -> tuple[str, str | None, str]:
    """(text before the think block, its content or None, the text after it)."""
    text = "" if text is None else str(text)
    opens = list(_THINK_OPEN.finditer(text))
    closes = list(_THINK_CLOSE.finditer(text))
    if not opens and not closes:
        return "", None, text
    if closes and (not opens or closes[0].start() < opens[0].start()):
        before, start, end = "", 0, closes[0]  # a stray </think>: the opening tag was lost
    else:
        before, start = text[:opens[0].start()], opens[0].end()
        end = _matching_close(opens, closes, start)
        if end is None:  # never closed: runs to the last <answer>, or to a lost-opening </answer>, or to the end
            last_answer = _last(_ANSWER_OPEN.finditer(text, start))
            if last_answer is not None:
                return before, text[start:last_answer.start()], text[last_answer.start():]
            orphan = _ANSWER_CLOSE.search(text, start)
            if orphan is not None:
                line = _line_start(text, start, orphan.start())
                return before, text[start:line], text[line:]
            return before, text[start:], ""
    # Extend to the last </think> before the next <answer> (a model that closed the block twice).
    next_answer = _ANSWER_OPEN.search(text, end.end())
    limit = next_answer.start() if next_answer else len(text)
    for close in closes:
        if end.end() <= close.start() and close.end() <= limit:
            end = close
    return before, text[start:end.start()], text[end.end():]


def _line_start(text: str, lo: int, pos: int) -> int:
    """Where the answer closed at ``pos`` began: after the last line break or tag between ``lo`` and ``pos``
    (``…crosses can\\nA</answer>`` -> the ``A`` line)."""
    content_end = pos
    while content_end > lo and text[content_end - 1] in _BLANK:  # blanks before the tag never matter
        content_end -= 1
    line = text.rfind("\n", lo, content_end) + 1
    tag = _last(_ANY_TAG.finditer(text, max(lo, line), content_end))
    start = max(line, lo, tag.end() if tag else 0)
    return pos if not text[start:content_end].strip() else start


def _answer_tag_span(text: str) -> tuple[str, bool] | None:
    """(content, closed) of the last answer block in ``text``: ``<answer>…</answer>``, an unclosed ``<answer>…``,
    ``answer>…</answer>`` (the ``<`` lost), or a ``</answer>`` whose opening was lost (``A</answer>``,
    ``</answer>C``); None without any."""
    tag = _last(_ANSWER_OPEN.finditer(text))
    last_close = _last(_ANSWER_CLOSE.finditer(text)) if tag is None else None
    if tag is None and last_close is not None:
        tag = _last(_ANSWER_OPEN_LOST.finditer(text, 0, last_close.start()))
    if tag is not None:
        close = _ANSWER_CLOSE.search(text, tag.end())
        return text[tag.end():close.start() if close else len(text)], close is not None
    close = _ANSWER_CLOSE.search(text)
    if close is None:
        return None
    before = text[_line_start(text, 0, close.start()):close.start()]
    if before.strip():
        return before, True
    nxt = _ANY_TAG.search(text, close.end())
    return text[close.end():nxt.start() if nxt else len(text)], True


def _scan_view(text: str) -> str:
    """The text that phrases and ``\\boxed{}`` are searched in: each tag, with all the blanks around it, becomes
    one line break, and the ends are stripped. A tag ends a line and a sentence (a phrase's capture, a "Suppose …"
    sentence, a ``### Answer`` header), and blanks next to a tag never change what a turn says. Linear: each blank
    is looked at once from each side."""
    if "<" not in text:
        return text.strip()
    parts, last = [], 0
    for m in _ANY_TAG.finditer(text):
        if m.start() < last:  # inside the blanks already taken after the previous tag
            continue
        parts.append(text[last:m.start()].rstrip(_BLANK))
        parts.append("\n")
        last = _BLANK_RUN.match(text, m.end()).end()
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
        # "\boxed{\frac{\sqrt{3}}{3}} (Option C)": a value that is no option's text, then the letter
        start, _, end = inner[0]
        named = _LETTER_AFTER_VALUE.fullmatch(_strip_decor(span[:start] + " " + span[end:]))
        if named:
            return _in_range(named.group(1), item)
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
        letter = m.group(1) or m.group(2) or m.group(3)
        if letter.isupper() or allow_lower or s.startswith(("(", "[", "<")):
            return _in_range(letter.upper(), item) + ("letter",)
    letter, text_reason = _match_option(plain, item, config)  # "Still water" is an option, not "still" + text
    if letter is None and s != plain:
        letter, text_reason = _match_option(s, item, config)
    if letter is not None:
        return letter, None, "option_text"
    listed = _LETTER_LIST.match(s)
    if listed:
        found = {c.upper() for c in re.findall(r"[A-Za-z]", re.sub(r"(?i:\bor\b|\band\b)", " ", listed.group()))}
        rest = s[listed.end():].strip(" \t,;/&")
        if len(found) == 1 and not rest:
            return _in_range(found.pop(), item) + ("letter",)
        if len(found) > 1 or rest == _CUT:  # "A, B because …" names two; a list cut by the bound may go on
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
        single = _SINGLE.fullmatch(trimmed) if trimmed and trimmed != s else None
        if single and (single.group(1) or "").isupper():
            return _in_range(single.group(1), item) + ("letter",)  # "B, not A." / "B because …"
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
    if _flip_words(a) != _flip_words(b):  # "to the left of the cup" is never "to the right of the cup"
        return 0.0
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


def _boxed_contents(text: str, config: ParseConfig, start: int = 0,
                    end: int | None = None) -> list[tuple[int, str, int]]:
    """(position, content, end) of the balanced ``\\boxed{…}`` starting in ``text[start:end]``, last first (at most
    ``max_candidates``); ``end`` is just after the closing brace."""
    if "\\" not in text[start:end]:
        return []
    matches = list(_BOXED.finditer(text, start, len(text) if end is None else end))[-config.max_candidates:]
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
            out.append((m.start(), text[m.end():i], i + 1))
    return out


def _candidates(text: str, start: int, end: int, item: Item, config: ParseConfig,
                boxed: bool) -> list[tuple[int, str, str, bool]]:
    """Explicit commitments that start in ``text[start:end]``, in text order: (position, kind, payload, colon form)
    with kind ``span`` (resolve the text after a phrase), ``letter`` (a letter named by the pattern) or ``boxed``."""
    cands: list[tuple[int, str, str, bool]] = []
    low = text[start:end].lower()
    if _may_match(low, _PHRASE_WORDS):
        for m in _PHRASE.finditer(text, start, end):
            colon = bool(m.group("colon") or m.group("bracket") or m.group("cn"))
            cands.append((m.start(), "span", _capture(text, m.end(), config), colon))
    if item.is_multiple_choice:
        for pattern, words in ((_OPTION_FIRST, _GOOD_WORDS), (_SO_LETTER, _SO_WORDS), (_REFERENCE, _REFERENCE_WORDS)):
            if not _may_match(low, words):
                continue
            for m in pattern.finditer(text, start, end):
                group = next(name for name, g in m.groupdict().items() if g)
                letter = m.group(group)
                if pattern is _REFERENCE and _NEGATED_BEFORE.search(text, max(0, m.start() - 40), m.start()):
                    continue  # "does not correspond to option B"
                other = _CONFLICT.match(text, m.end(group))  # "it is (C) or (D)": two letters, no commitment
                kind = "conflict" if other and other.group(1) != letter.strip("() \t").upper() else "letter"
                cands.append((m.start(), kind, letter, False))
        for m in (_OPTION_SUBJECT.finditer(text, start, end) if _may_match(low, ("option", "choice")) else ()):
            letter = _option_subject(m, item, config)
            if letter is not None:
                cands.append((m.start("l"), "conflict" if letter == "conflict" else "letter", letter, False))
        if _CJK.search(text, start, end):  # the Chinese forms
            for m in _CN_OPTION.finditer(text, start, end):
                cands.append((m.start(), "letter", m.group("l") or m.group("l2"), False))
    if boxed:
        for pos, content, _ in _boxed_contents(text, config, start, end):
            cands.append((pos, "boxed", content, True))
    cands.sort(key=lambda c: c[0])
    return cands


# Words without which a pattern cannot match: a chunk that has none of them is not scanned with it (speed only).
_PHRASE_WORDS = ("answer", "option", "choice", "choose", "pick", "select", "go with", "答案")
_GOOD_WORDS = ("correct", "right", "best", "answer", "accurate", "appropriate", "fitting", "suitable", "likely",
               "logical", "plausible", "reasonable", "true")
_SO_WORDS = ("so", "therefore", "thus", "hence")
_REFERENCE_WORDS = ("correspond", "match", "align", "point", "lead", "consistent", "refer", "fits", "is", "'s",
                    "would be")


def _may_match(low: str, words: tuple[str, ...]) -> bool:
    return any(word in low for word in words)


def _option_subject(m: re.Match, item: Item, config: ParseConfig) -> str | None:
    """The letter of an "option X …" clause that commits to it, else None: "option B, under umbrella, is safest",
    "Option A: plunger is typically found …", "Option D suggests …"; not "option C is wrong" or "option A is a cat"
    (a bare "is" needs a judging word after it, or an appositive naming the option's own text); ``conflict`` when
    the appositive names another option's text."""
    rest = m.group("rest") or ""
    if _NEGATIVE_PREDICATE.match(rest):
        return None
    letter = m.group("l").strip("() \t")
    if len(letter) != 1 or not letter.isupper():
        return None
    appos = _strip_decor((m.group("appos") or "").strip(" \t,:()"))
    if appos:
        named, _ = _match_option(appos, item, config)
        if named is not None and _option_text(named, item) != _option_text(letter, item):
            return "conflict"  # "option B, the cat, …" where the cat is A
    verb = m.group("verb").lower()
    if verb.startswith(("is", "would", "must", "should")) and not appos and not _GOOD_PREDICATE.match(rest):
        return None
    return letter


def _resolve_candidate(kind: str, payload: str, colon: bool, item: Item,
                       config: ParseConfig) -> tuple[str | None, str | None]:
    if kind == "conflict":
        return None, "ambiguous"
    if kind == "letter":
        letter = payload.strip("() \t")
        if letter.islower() and not payload.startswith("("):
            return None, None
        return _in_range(letter.upper(), item)
    if not item.is_multiple_choice:
        # a phrase's capture states a value; "the answer is that 90 percent prefer racing" states none
        value = _span_value(payload if kind == "boxed" else _trim_value(payload), item, config, lone_number=False)
        if value is not None and kind != "boxed" and not _looks_like_value(value, item):
            value = None  # "the answer is that one object is preferred by 90 percent" names no value
        return value, None
    value, reason, _ = _resolve_mc(payload, item, config, allow_lower=colon, lenient=True)
    return value, reason


def _last_commitment(text: str, item: Item, config: ParseConfig, boxed: bool = False,
                     with_where: bool = False):
    """The last explicit commitment (phrase, letter statement, and with ``boxed`` a ``\\boxed{}``) in ``text`` that
    names an answer -> (answer, reason) (with ``with_where``: and the text of its sentence).

    Searched backward in chunks that start at line starts (the last few hundred characters first, then chunks four
    times larger, up to ``chunk_chars``); the first chunk with a
    commitment that names something (or names two letters, or a letter outside the item: (None, reason)) decides.
    Commitments that name nothing, or sit in a hypothetical sentence, are skipped; at most ``max_candidates`` are
    tried. With ``boxed`` (a CoT), a commitment its sentence hedges gives (None, "hedge").
    """
    tried, size = 0, _FIRST_CHUNK
    end = len(text)
    while end > 0 and tried < config.max_candidates:
        start = _chunk_start(text, end, size)
        size = min(4 * size, config.chunk_chars)
        for pos, kind, payload, colon in reversed(_candidates(text, start, end, item, config, boxed)):
            tried += 1
            if tried > config.max_candidates:
                break
            if _hypothetical(text, pos):
                continue
            value, reason = _resolve_candidate(kind, payload, colon, item, config)
            if boxed and value is not None and _hedged(text, pos, item):
                value, reason = None, "hedge"
            if value is not None or reason in ("ambiguous", "letter_out_of_range", "hedge"):
                out = (value, None) if value is not None else (None, reason)
                return (*out, _sentence_at(text, pos)) if with_where else out
        end = start
    return (None, None, None) if with_where else (None, None)


_FIRST_CHUNK = 96
_CUT = "\u2026"  # ends a phrase's capture whose line went on past ``max_answer_chars``


def _chunk_start(text: str, end: int, size: int) -> int:
    """The start of the chunk that ends at ``end``: a line start about ``size`` characters back (0 at the top);
    without a line break near there, a blank (never inside a word)."""
    if end <= size:
        return 0
    cut = end - size
    line = text.rfind("\n", max(0, cut - size // 2), cut)
    if line >= 0:
        return line + 1
    blank = text.rfind(" ", max(0, cut - 64), cut)
    return blank + 1 if blank >= 0 else cut


def _sentence_bounds(text: str, pos: int) -> tuple[int, int]:
    start = max(text.rfind(c, max(0, pos - 200), pos) for c in ".!?\n") + 1
    ends = [i for i in (text.find(c, pos, pos + 300) for c in ".!?\n") if i >= 0]
    return start, min(ends) + 1 if ends else min(len(text), pos + 300)


def _sentence_at(text: str, pos: int) -> str:
    start, end = _sentence_bounds(text, pos)
    return text[start:end].strip()


def _hypothetical(text: str, pos: int) -> bool:
    """The phrase at ``pos`` sits in a sentence that starts "For example, …" / "Suppose …" / "If …, would": not a
    commitment."""
    start = max(text.rfind(c, max(0, pos - 200), pos) for c in ".!?\n") + 1
    lo = max(start, pos - 200)
    return bool(_HYPOTHETICAL.match(text, lo, pos) or _CONDITIONAL.match(text, lo, pos + 60))


def _hedged(text: str, pos: int, item: Item) -> bool:
    """The clause of the phrase at ``pos`` hedges ("Maybe the answer is (A), I guess"). A hedge that a "but" or a
    "so" leaves behind does not count ("I'm not sure, but the answer is B"; "I am not sure, so the answer is (E)",
    choosing "I'm not sure"), nor the words of an option ("the answer is (E) I'm not sure")."""
    start, end = _sentence_bounds(text, pos)
    turn = _last(_CLAUSE_TURN.finditer(text, start, pos))
    clause = text[turn.end() if turn else start:end]
    for option in item.options:
        if _STRONG_HEDGE.search(option):
            clause = re.sub(re.escape(option), " ", clause, flags=re.IGNORECASE)
    return bool(_STRONG_HEDGE.search(clause))


def _capture(text: str, pos: int, config: ParseConfig) -> str:
    """The text after a phrase: skip blanks and newlines (bounded), then to the end of that line."""
    i, stop = pos, min(len(text), pos + 40)
    while i < stop and (text[i] in " \t\r\n:*_" or (text[i] == "-" and text[i + 1:i + 2] in (" ", "\t"))):
        i += 1  # a "-" is a bullet only before a blank; "-4.3" keeps its sign
    segment = text[i:i + config.max_answer_chars]
    newline = segment.find("\n")
    if newline >= 0:
        return segment[:newline]
    if i + len(segment) < len(text) and text[i + len(segment)] != "\n":
        return segment + _CUT  # the line goes on past the bound: say so, so a list cut here is not read as whole
    return segment


# ------------------------------------------------------------------------------------ the final part of a CoT

_BOUNDARY = re.compile(r"\n|[.!?。！？][\"'”’)\]*]{0,3}[ \t]+")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])[\"'”’)\]*]{0,3}[ \t]+|(?<=[。！？])")
_LABEL_LINE = re.compile(r"[ \t*\-]{0,6}(?:\([A-Z]\)|[A-Z][.):])(?:[ \t]|$)")
_LIST_WORDS = re.compile(r"(?i:\b(?:options?|choices?|such[ \t]as|including|e\.g\.|namely|listed)\b)")
_PREMISE = re.compile(r"(?i:^[ \t*\-]{0,4}(?:since|given(?:[ \t]{1,3}that)?|because|as|if|when|assuming|assume|"
                      r"let|suppose|note[ \t]{1,3}that)\b)")
# a letter that names an option in passing: "Option A is …", "(B) …", "C: …", "D. …", "A is …"
_LETTER_REF = re.compile(r"(?i:\b(?:option|choice)[ \t]{0,3})\(?([A-Z])\)?(?![\w'’])|(?:^|(?<=[ \t(\"'“]))\(?([A-Z])"
                         r"(?:\)|[.:](?=[ \t])|[ \t]{1,3}(?=(?i:is|=|means|stands)\b))")
# a sentence that answers a yes/no question: "Yes.", "So, no.", "No, there is none."
_YES_NO_SENTENCE = re.compile(r"(?i:^[ \t*]{0,3}(?:so|thus|therefore|hence|overall|in[ \t]conclusion)?[ \t,]{0,3}"
                              r"(yes|no)\b(?:[ \t]{0,3}[.!]?[ \t*]{0,3}$|,[ \t]{1,3}(?=(?:it|there|the|this|they|he|she|"
                              r"that)\b)))")
# a sentence that states the task, not a finding: "The question asks whether the man in the red hat is ahead."
_GOAL = re.compile(r"(?i:^[ \t*\-]{0,4}(?:the[ \t](?:question|task|problem|goal)[ \t](?:is|asks|wants|requires)|"
                   r"(?:we|i)[ \t](?:need|have|must|want|will|should)[ \t](?:to[ \t])?(?:determine|find|figure|identify|"
                   r"check|decide|answer|compare|look|see|work|count)|let(?:'s|[ \t]me|[ \t]us)[ \t]|to[ \t](?:determine|find|"
                   r"answer|figure|identify|decide)\b))")
_ALSO = re.compile(r"(?i:\b(?:also|too|as[ \t]well|could|might|may)\b)")


def _tail_start(text: str, size: int) -> int:
    """Where the final part of ``text`` (about ``size`` characters) starts: at a sentence or line start."""
    if len(text) <= size:
        return 0
    cut = len(text) - size
    m = _BOUNDARY.search(text, cut, cut + 400)
    return m.end() if m else cut


def _sentences(tail: str) -> list[tuple[int, int, bool]]:
    """The sentences of ``tail`` in order as (start, end, listed): listed when it sits on a line of a lettered list
    (two or more adjacent lines that start ``A.`` / ``B:`` / ``(C)``: an echo of the options, not a statement)."""
    lines, pos = [], 0
    for line in tail.split("\n"):
        lines.append((pos, line))
        pos += len(line) + 1
    labelled = [bool(_LABEL_LINE.match(line)) for _, line in lines]
    nonblank = [i for i, (_, line) in enumerate(lines) if line.strip()]
    listed = set()
    for a, b in zip(nonblank, nonblank[1:]):
        if labelled[a] and labelled[b]:
            listed.update((a, b))
    out = []
    for i, (offset, line) in enumerate(lines):
        start = 0
        for m in [*_SENTENCE_BREAK.finditer(line), None]:
            end = m.start() if m else len(line)
            if line[start:end].strip():
                out.append((offset + start, offset + end, i in listed))
            start = m.end() if m else start
    return out


def _read_tail(tail: str, item: Item, config: ParseConfig) -> Conclusion | None:
    """Read the final part of a CoT backward, sentence by sentence; the first sentence that decides gives the
    conclusion (or its absence); None when none decides. A phrase's capture may run past its sentence
    (``### Answer`` then the value on the next line)."""
    tried = 0
    for start, end, listed in reversed(_sentences(tail)):
        sentence = tail[start:end].strip()
        if sentence.endswith(("?", "？")) or _HYPOTHETICAL.match(sentence) or _own_condition(sentence, item):
            continue
        for pos, kind, payload, colon in reversed(_candidates(tail, start, end, item, config, True)):
            tried += 1
            if tried > config.max_candidates:
                return None
            value, reason = _resolve_candidate(kind, payload, colon, item, config)
            if value is not None:
                if _hedged(tail, pos, item):
                    return Conclusion(None, "hedge", sentence)
                return Conclusion(value, "boxed" if kind == "boxed" else "phrase" if kind == "span" else "letter",
                                  sentence)
            if reason == "ambiguous":
                return Conclusion(None, "two_options", sentence)
            if reason == "letter_out_of_range":
                return Conclusion(None, "out_of_range", sentence)
        if listed or _GOAL.match(sentence):  # an echo of lettered options, or what the CoT sets out to find
            continue
        decided = (_content_commitment(sentence, item, config) if item.is_multiple_choice
                   else _value_commitment(sentence, item))
        if decided is not None:
            return decided
    return None


def _own_condition(sentence: str, item: Item) -> bool:
    """The sentence opens with a condition of the CoT's own ("If ∠D = 55, then …"): it asserts nothing. A condition
    the question itself poses ("If the number of grasshoppers decreases, …" asked in the question) is no
    hypothesis: what follows it answers the question."""
    m = _IF_START.match(sentence)
    if not m:
        return False
    if not _ASKS_IF.search(item.question):
        return True  # the question poses no condition: this one is the CoT's own
    comma = sentence.find(",", m.end())
    condition = {_stem(w.group()) for w in _WORD.finditer(sentence[m.end():comma if comma > 0 else len(sentence)])}
    asked = {_stem(w.group()) for w in _WORD.finditer(item.question)}
    return not condition or len(condition - asked) > len(condition) // 4


def _value_commitment(sentence: str, item: Item) -> Conclusion | None:
    """A free-form sentence's concluding value (``… = 70°``, ``the length of AB is 11.2``, ``There are four …``)."""
    value = _statement_value(sentence, item)
    if value is None:
        if _STRONG_HEDGE.search(sentence) and _DIGITS.search(sentence):
            return Conclusion(None, "hedge", sentence)
        return None
    if _STRONG_HEDGE.search(sentence):
        return Conclusion(None, "hedge", sentence)
    return Conclusion(value, "value", sentence)


def _content_commitment(sentence: str, item: Item, config: ParseConfig) -> Conclusion | None:
    """Does a multiple-choice sentence assert one option's content? A Conclusion when it decides (one option, or
    none because it names two or hedges), None when it asserts nothing (no option, only negated ones, a list)."""
    vocab = _vocabulary(item.options)
    hedged = bool(_STRONG_HEDGE.search(sentence))
    if any(v.numeric for v in vocab):  # numbers are read as values, never as words in passing
        value = _statement_value(sentence, item)
        if value is not None:
            letter = None if hedged else _numeric_option(value, vocab, item)
            return Conclusion(letter, "hedge" if hedged else "content" if letter else "no_option", sentence)
    yes_no = _YES_NO_SENTENCE.match(sentence)
    if yes_no:
        v = next((v for v in vocab if v.words == (yes_no.group(1).lower(),)), None)
        if v is not None and not hedged:
            return Conclusion(v.letter, "content", sentence)
    if not any(v.matchable for v in vocab):
        return None
    mentions = _mentions(sentence, item.options, config)
    if not mentions:
        return None
    named = {m[0] for m in mentions}
    if hedged:
        return Conclusion(None, "hedge", sentence)
    if len(named) >= 3 or (len(named) == 2 and _LIST_WORDS.search(sentence)):
        return None  # a list of options asserts none of them
    # "Option A is a cat." / "B: dog" restate an option (a judging statement was read as a commitment before this)
    restated = {LETTERS.index(m.group(1) or m.group(2)) for m in _LETTER_REF.finditer(sentence)
                if (m.group(1) or m.group(2)) in item.letters}
    restated_texts = {_norm(item.options[i]) for i in restated}
    positive = [m for m in mentions if m[3] and _norm(item.options[LETTERS.index(vocab[m[0]].letter)])
                not in restated_texts]
    # After "but"/"however", the last clause that names an option is what the sentence asserts.
    contrast = _last(m for m in _CONTRAST.finditer(sentence) if any(p[1] >= m.end() for p in positive))
    if contrast is not None and not _ALSO.search(sentence, contrast.end()):
        positive = [m for m in positive if m[1] >= contrast.end()]
    chosen = {m[0] for m in positive}
    if not chosen:
        return None
    if len(chosen) > 1:
        return Conclusion(None, "two_options", sentence)
    return Conclusion(vocab[chosen.pop()].letter, "content", sentence)


def _numeric_option(value: str, vocab: tuple[_Vocab, ...], item: Item) -> str | None:
    """The letter of the one option whose number equals ``value`` (``2`` names ``two``, ``145`` names ``145°``)."""
    number = _as_number(_digits_for_words(value))
    if number is None:
        return None
    hits = {v.letter for v in vocab if v.numeric
            and _as_number(_digits_for_words(_norm_option(item.options[LETTERS.index(v.letter)]))) == number}
    return hits.pop() if len(hits) == 1 else None


# ------------------------------------------------------------------------------------- options' content words

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_PUNCT = re.compile(r"[,;:.!?()\[\]\"“”]")
_MAX_GAP = 10
_STOP = frozenset("the a an of to in on at for with by and or is are be it its this that from as into onto "
                  "some any".split())
_FUNCTION_OPTIONS = frozenset("yes no none all both neither nor other others nothing true false unknown not "
                              "one".split())
_NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                      "ninety": 90, "hundred": 100})
_FLIPS = {
    "left": "left", "leftmost": "left", "right": "right", "rightmost": "right", "above": "above", "over": "above",
    "below": "below", "under": "below", "beneath": "below", "underneath": "below", "front": "front",
    "behind": "behind", "back": "behind", "top": "top", "bottom": "bottom", "inside": "inside", "outside": "outside",
    "more": "more", "fewer": "less", "less": "less", "larger": "larger", "bigger": "larger", "greater": "larger",
    "smaller": "smaller", "higher": "higher", "taller": "higher", "lower": "lower", "shorter": "shorter",
    "longer": "longer", "wider": "wider", "narrower": "narrower", "yes": "yes", "no": "no", "not": "not",
    "never": "not", "increase": "increase", "increasing": "increase", "decrease": "decrease",
    "decreasing": "decrease", "same": "same", "different": "different", "before": "before", "after": "after",
    "up": "up", "down": "down", "true": "true", "false": "false", "positive": "positive", "negative": "negative",
    "north": "north", "south": "south", "east": "east", "west": "west", "clockwise": "clockwise",
    "counterclockwise": "counterclockwise", "anticlockwise": "counterclockwise", "closer": "closer",
    "farther": "farther", "further": "farther", "near": "near", "far": "far", "first": "first", "last": "last",
    # superlatives agree with their comparatives: "the closest object" is "closer to the camera"
    "closest": "closer", "nearest": "closer", "farthest": "farther", "furthest": "farther", "largest": "larger",
    "biggest": "larger", "greatest": "larger", "smallest": "smaller", "highest": "higher", "tallest": "higher",
    "lowest": "lower", "shortest": "shorter", "longest": "longer", "widest": "wider", "narrowest": "narrower",
    "most": "more", "fewest": "less", "least": "less",
}
_NEGATORS = frozenset("not no never neither nor without none nothing cannot than unlike except besides "
                      "isn't aren't wasn't weren't doesn't don't didn't won't wouldn't shouldn't couldn't can't "
                      "hasn't haven't hardly rather instead excluding unlikely impossible implausible doubtful "
                      "eliminate eliminates eliminated eliminating exclude excludes excluded dismiss dismisses "
                      "dismissed discard discards discarded reject rejects rejected".split())
_ANY_NEGATOR = re.compile(r"(?i:n['’]t\b|\b(?:not|no|never|neither|nor|without|none|nothing|cannot|than|unlike|except|"
                          r"besides|hardly|rather|instead|excluding|unlikely|impossible|implausible|doubtful|"
                          r"eliminat\w*|exclud\w*|dismiss\w*|discard\w*|reject\w*|rul\w*[ \t]out)\b)")
_SHORT_NEGATORS = frozenset("than unlike except besides excluding rather".split())
_AND_VERBS = frozenset("is are was were it this that looks appears seems has have".split())
_RESETTERS = frozenset("but however yet although though whereas while instead actually".split())
_CLAUSE_OPENERS = frozenset("it this that which he she they so and we there".split())
_AUX = frozenset("is are was were does do did would could can seems seem appears appear looks look will should "
                 "must".split())
_NEGATIVE_AFTER = frozenset("not never incorrect wrong unlikely impossible false unnecessary irrelevant implausible "
                            "invalid inaccurate excluded eliminated ruled".split())


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    w = word.lower().replace("’", "'")
    for suffix in ("'s", "s'"):
        if w.endswith(suffix) and len(w) > 3:
            w = w[:-2]
    if len(w) >= 4 and w.endswith("s") and not w.endswith(("ss", "us", "is")) and w not in _FLIPS:
        w = w[:-1]
    return w


def _flip_words(text: str) -> frozenset[str]:
    """The meaning-flipping words of ``text`` (left/right, above/below, more/fewer, yes/no, not, …), canonical."""
    out = set()
    for m in _WORD.finditer(text):
        w = m.group().lower().replace("’", "'")
        if w.endswith("n't"):
            out.add("not")
        flip = _FLIPS.get(w) or _FLIPS.get(_stem(w))
        if flip:
            out.add(flip)
    return frozenset(out)


@dataclass(frozen=True)
class _Vocab:
    letter: str
    """The first letter with this option text (repeated choices share one vocabulary)."""
    letters: tuple[str, ...]
    words: tuple[str, ...]
    """Content words (stems) in order."""
    flips: frozenset[str]
    numeric: bool
    matchable: bool
    distinct: tuple[str, ...] = ()
    """When every option is one frame with a different word or two ("The color of the stool is blue." / "… red."):
    the words that set this option apart; the frame is ``frame``."""
    frame: frozenset[str] = frozenset()
    blockers: frozenset[str] = frozenset()
    """The other options' words: none may sit between two words of a mention of this one."""
    distinct_blockers: frozenset[str] = frozenset()


@lru_cache(maxsize=4096)
def _vocabulary(options: tuple[str, ...]) -> tuple[_Vocab, ...]:
    out, seen = [], set()
    for letter, option in zip(LETTERS, options):
        key = _norm(option)
        if key in seen:
            continue
        seen.add(key)
        letters = tuple(other for other, text in zip(LETTERS, options) if _norm(text) == key)
        words = tuple(_stem(m.group()) for m in _WORD.finditer(_strip_decor(option)))
        content = tuple(w for w in words if w not in _STOP)
        plain = _strip_decor(option)
        numeric = bool(content) and (_number_unit(_norm_option(option)) is not None
                                     or all(w.isdigit() or w in _NUMBER_WORDS for w in content)
                                     or (_math_like(plain) and bool(_DIGIT_OR_TEX.search(plain))))
        matchable = (not numeric and 0 < len(content) <= 12 and any(len(w) >= 3 for w in content)
                     and not (len(content) == 1 and content[0] in _FUNCTION_OPTIONS))
        out.append(_Vocab(letter, letters, content, _flip_words(option), numeric, matchable))
    frame = frozenset.intersection(*(frozenset(v.words) for v in out)) if len(out) >= 2 else frozenset()
    distinct = [tuple(w for w in v.words if w not in frame) for v in out]
    # Only attributes set options apart this way; a relation ("left of the van") needs all its words.
    if frame and all(v.matchable and d and not (set(d) & set(_FLIPS)) for v, d in zip(out, distinct)):
        out = [replace(v, distinct=d, frame=frame) for v, d in zip(out, distinct)]
    blockers = [frozenset().union(*(o.words for o in out if o is not v)) for v in out]
    distinct_blockers = [frozenset().union(*(o.distinct for o in out if o is not v)) for v in out]
    return tuple(replace(v, blockers=b, distinct_blockers=d) for v, b, d in zip(out, blockers, distinct_blockers))


def _mentions(sentence: str, item_options: tuple[str, ...], config: ParseConfig) -> list[tuple[int, int, int, bool]]:
    """Where options' content is named in ``sentence``: (vocab index, start char, end char, asserted). Not asserted:
    under a negation (``not for storing kites``), after ``than``/``rather than``, or followed by ``is not`` /
    ``is wrong``. A mention inside another option's longer mention is dropped (``medium-well`` names ``medium-well``,
    not ``medium``). Options that share one frame are also named by their own words when the sentence names the
    frame (``the seesaw appears to be red`` names ``The color of the seesaw is red.``)."""
    vocab = _vocabulary(item_options)
    if not _probe(item_options).search(sentence):
        return []  # no word of any option starts here: nothing to index (speed only)
    spans = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(sentence)]
    words = _SentenceWords(sentence, spans, config)
    framed = bool(vocab[0].frame) and not vocab[0].frame.isdisjoint(words.stems)
    found = set()
    for k, v in enumerate(vocab):
        if not v.matchable:
            continue
        patterns = [(v.words, v.blockers, v.flips)]
        if framed:
            patterns.append((v.distinct, v.distinct_blockers, _flip_words(" ".join(v.distinct))))
        for option_words, blockers, flips in patterns:
            for i, j in words.find(option_words, flips, blockers):
                if flips and _flip_words(" ".join(words.lowers[i:j + 1])) != flips:
                    continue
                found.add((k, i, j))
    found = [f for f in found if not any(g[0] != f[0] and g[1] <= f[1] and f[2] <= g[2]
                                         and g[2] - g[1] > f[2] - f[1] for g in found)]
    if not found:
        return []
    negated = _negation_states(sentence, spans, words.lowers)
    out = []
    for k, i, j in sorted(found, key=lambda f: (f[1], f[2], f[0])):
        if _label_conflict(sentence, spans[i][0], vocab[k]):
            continue
        asserted = not negated[i] and not _negated_after(words.lowers, j)
        out.append((k, spans[i][0], spans[j][1], asserted))
    return out


@lru_cache(maxsize=4096)
def _probe(options: tuple[str, ...]) -> re.Pattern:
    """Matches where a word of some option could start: its first three letters (6+ letter words may be misspelt
    later on), or the whole word."""
    stubs = {w[:3] if len(w) >= 6 else w for v in _vocabulary(options) if v.matchable for w in v.words}
    if not stubs:
        return re.compile(r"(?!)")
    return re.compile(r"(?<![^\W_])(?:" + "|".join(sorted(map(re.escape, stubs), key=len, reverse=True)) + ")",
                      re.IGNORECASE)


class _SentenceWords:
    """A sentence's words, indexed once so that finding an option costs the option's words, not the sentence."""

    def __init__(self, sentence: str, spans, config: ParseConfig):
        self.sentence, self.spans, self.config = sentence, spans, config
        self.stems = [_stem(w) for _, _, w in spans]
        self.lowers = [w.lower().replace("’", "'") for _, _, w in spans]
        self.index: dict[str, list[int]] = {}
        self.long: dict[str, list[int]] = {}  # first letter -> positions of words of 6+ letters
        for i, stem in enumerate(self.stems):
            self.index.setdefault(stem, []).append(i)
            if len(stem) >= 6:
                self.long.setdefault(stem[0], []).append(i)
        self._positions: dict[str, list[int]] = {}

    def positions(self, word: str) -> list[int]:
        """Where ``word`` is, exactly or (6+ letters, not a number or a meaning-flipping word) as a close spelling."""
        hit = self._positions.get(word)
        if hit is None:
            hit = list(self.index.get(word, ()))
            if len(word) >= 6 and word not in _FLIPS and not word.isdigit():
                hit += [i for i in self.long.get(word[0], ()) if self.stems[i] != word
                        and fuzz.ratio(self.stems[i], word) >= self.config.content_token_fuzz]
                hit.sort()
            self._positions[word] = hit
        return hit

    def _gap_ok(self, a: int, b: int, flips: frozenset[str], blockers: frozenset[str]) -> bool:
        """Nothing between word ``a`` and word ``b`` breaks the mention: no punctuation (one clause), no other
        option's word, no negation, and for an option with meaning-flipping words none of those."""
        if _PUNCT.search(self.sentence, self.spans[a][1], self.spans[b][0]):
            return False
        for j in range(a + 1, b):
            word = self.lowers[j]
            if self.stems[j] in blockers or word in _NEGATORS or (flips and word in _FLIPS):
                return False
        return True

    def find(self, words: tuple[str, ...], flips: frozenset[str], blockers: frozenset[str]) -> list[tuple[int, int]]:
        """Word spans (first, last) where ``words`` appear in order within one clause (at most ``_MAX_GAP`` other
        words between two of them, see ``_gap_ok``), or where consecutive words spell them run together (``hot air
        balloon`` / ``hotair balloon``)."""
        out = []
        for i in self.positions(words[0]):
            pos = i
            for word in words[1:]:
                nxt = next((j for j in self.positions(word) if pos < j <= pos + 1 + _MAX_GAP), None)
                if nxt is None or not self._gap_ok(pos, nxt, flips, blockers):
                    break
                pos = nxt
            else:
                out.append((i, pos))
        joined = "".join(words)
        if len(joined) >= 6:
            threshold = self.config.content_token_fuzz + 4
            for i, stem in enumerate(self.stems):
                if stem[:3] != joined[:3]:
                    continue
                run = stem
                for j in range(i + 1, min(len(self.stems), i + len(words) + 2) + 1):
                    if len(run) > len(joined) + 2:
                        break
                    if (j - 1 > i or len(words) > 1) and (run == joined or (len(run) >= 8 and
                                                                           fuzz.ratio(run, joined) >= threshold)):
                        out.append((i, j - 1))
                        break
                    if j < len(self.stems):
                        run += self.stems[j]
        return out


def _negation_states(sentence: str, spans, lowers: list[str]) -> list[bool]:
    """For each word: is it under a negation that started earlier in its clause? A negation (``not``, ``no``,
    ``never``, ``n't`` …) runs until ``;``/``:``, a contrast (``but``, ``however``, …), a new clause after a comma
    (``, it …``, ``, which …``) or ``and`` + verb; a comparison (``than``, ``unlike``, ``instead of`` …) covers only
    the next few words."""
    if not _ANY_NEGATOR.search(sentence):
        return [False] * len(spans)  # most sentences negate nothing
    states, state, short, prev_end = [], False, 0, 0
    for idx, (start, end, _) in enumerate(spans):
        gap = sentence[prev_end:start]
        word = lowers[idx]
        following = lowers[idx + 1] if idx + 1 < len(lowers) else ""
        if (";" in gap or ":" in gap or "—" in gap or word in _RESETTERS or ("," in gap and word in _CLAUSE_OPENERS)
                or (word == "and" and following in _AND_VERBS)):
            state, short = False, 0
        if word == "instead" and following == "of":
            short = 5
        states.append(state or short > 0)
        short = max(0, short - 1)
        if word in _SHORT_NEGATORS:
            short = 4
        elif word in ("rule", "rules", "ruled", "ruling") and following == "out":
            state = True  # "rule out the car"
        elif (word in _NEGATORS or word.endswith("n't")) and not (word == "no" and following in ("doubt", "longer")):
            state = word != "instead"
        prev_end = end
    return states


def _negated_after(lowers: list[str], j: int) -> bool:
    """``manual input is not necessary``, ``option C is wrong``: the mention is the subject of a negative."""
    ahead = lowers[j + 1:j + 5]
    for start in (0, 1):  # one word may come between ("manual input is not")
        rest = ahead[start:]
        if rest and rest[0].endswith("n't") and rest[0] != "n't":
            return True
        if len(rest) >= 2 and rest[0] in _AUX and (rest[1] in _NEGATIVE_AFTER or rest[1].endswith("n't")):
            return True
    return False


def _label_conflict(sentence: str, start: int, v: _Vocab) -> bool:
    """The mention follows a letter label of another option ("B: rare" where rare is D's text)."""
    m = re.search(r"(?:\(([A-Z])\)|\b([A-Z])[.:)])[ \t\"'“”]{0,3}$", sentence[max(0, start - 8):start])
    if not m:
        return False
    return (m.group(1) or m.group(2)) not in v.letters
# ---------------------------------------------------------------------------------------------- free-form


def _trim_value(span: str) -> str:
    """A value named after a phrase ends at the end of its sentence: ``41. But …`` -> ``41``."""
    s = _strip_decor(span)
    s = _HEDGE.sub("", s)
    m = re.search(r"\.(?=[ \t\n]|$)|\n|;|,[ \t]|[ \t](?i:because|since|which|but|so|as|and[ \t]then)\b", s)
    return (s[: m.start()] if m else s).rstrip(_TRAIL)


def _span_value(span: str, item: Item, config: ParseConfig = DEFAULT_CONFIG, statements: bool = True,
                lone_number: bool = True) -> str | None:
    """The cleaned free-form answer span, or None when it is empty or (integer/float) has no number at all.

    With ``statements``, a numeric item's span that is a sentence gives the value it states (``There are 3 objects
    remaining.`` -> ``3``, ``the length is 4 cm`` -> ``4 cm``, and with ``lone_number`` a sentence with exactly one
    number -> that number), or None when it states none."""
    inner = _boxed_contents(span, config)
    s = _strip_decor(inner[0][1] if inner else span)
    s = _HEDGE.sub("", s).strip()
    if not s:
        return None
    if item.answer_type in ("integer", "float"):
        s = _digits_for_words(s)
        if statements and not _math_like(s):
            return _statement_value(s, item, lone_number=lone_number)
        if not _DIGIT_OR_TEX.search(s):
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
    v = _span_value(s, item, statements=False)
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


_EQUALS = re.compile(r"=|≈|\\approx\b")
_IS_VALUE = re.compile(
    r"(?i:\b(?:is|are|was|were|equals?|be|becomes?|gives?|get|gets|got|measures?|totals?|(?<!out[ \t])of)[ \t]{1,3}"
    r"(?:equal[ \t]{1,3}to[ \t]{1,3}|(?:approximately|about|around|roughly|nearly|exactly|just|only)[ \t]{1,3}"
    r"|[~≈][ \t]{0,2})?)(?P<v>[-+−]?(?:\d|\.\d|√|π|\\(?:frac|dfrac|sqrt|pi)\b)[^;]{0,60})$")
_THERE_ARE = re.compile(
    r"(?i:\b(?:there[ \t]{1,3}(?:are|is|were|was)|(?:i|we)[ \t]{1,3}(?:count|counted|see|can[ \t]{1,3}see|find|"
    r"found))[ \t]{1,3}(?:a[ \t]{1,3}total[ \t]{1,3}of[ \t]{1,3}|exactly[ \t]{1,3}|only[ \t]{1,3}|just[ \t]{1,3})?"
    r"(?P<n>\d+|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")\b(?![.,]\d)[ \t]{1,3}"
    r"(?!(?:of|or|and|to|more|fewer|less|times|percent|%)\b)[a-z])")
_RHS_END = re.compile(r"(?i:,[ \t]|;|[ \t](?:which|so|and|to|because|since|as|but|for|where|when|then|thus|"
                      r"therefore|hence|if|or|first|now|here|again|too|also|instead|on|in|at|with|from|by|during|"
                      r"while|whereas)\b)")
_ANY_NUMBER = re.compile(r"\d|(?i:\b(?:" + "|".join(_NUMBER_WORDS) + r")\b)")
_VALUE_STATED = re.compile(r"(?i:\b(?:is|are|was|were|equals?)[ \t]{1,3}|=[ \t]{0,3})(?:about[ \t]|approximately[ \t]|"
                           r"[~≈$€£][ \t]{0,2})?[-+−]?\d[\d.,]*")
_PARALLEL = re.compile(r"(?i:\b(?:and|while|whereas|but|or|to)\b|;)")
_CONSEQUENCE = re.compile(r"(?i:\b(?:so|therefore|thus|hence|then|which[ \t]means|giving|gives|meaning)\b)")
_CONTINUED = re.compile(r"(?i:\b(?:simplif\w*|solv\w*|substitut\w*|multiply\w*|divid\w*|squar\w*|expand\w*|"
                        r"rearrang\w*|gives?|we[ \t]get)\b)")
_TWO_EQUATIONS = re.compile(r"(?i:\band\b|,[ \t])")
_PROSE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}[ \t]{1,3}[A-Za-z]{2,}")
_NAMED_POINTS = re.compile(r"(?<![A-Za-z\\])[A-Z]{2,}")
_ASIDE = re.compile(r"([^()]{1,40}?)[ \t]{0,3}\([^()]{0,60}\)")
_OPERATOR_END = re.compile(r"[-+−*/^=×÷·(\[{,]\s*$|\\(?:cdot|times|div|frac|sqrt)\s*$")
_NUMBER_TOKEN = re.compile(r"(?<![\w.])[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w.]|\.\d)")


def _math_like(s: str) -> bool:
    """``s`` is a value rather than a sentence: a number with an optional unit, or short math (digits, operators,
    LaTeX, single letters, function names) with no two words of prose in a row."""
    if _number_unit(_CURRENCY.sub("", s)) is not None:
        return True
    return len(s) <= 80 and bool(_DIGIT_OR_TEX.search(s)) and not _PROSE.search(s)


def _value_ok(v: str) -> str | None:
    if _OPERATOR_END.search(v.rstrip(_TRAIL.replace("*", ""))):
        return None  # "= 6 *": an equation cut off, no value
    v = _HEDGE.sub("", _strip_decor(v)).strip()
    aside = _ASIDE.fullmatch(v)
    if aside and _number_unit(aside.group(1)) is not None:
        v = aside.group(1)  # "7.8% (11.2% - 3.4%)": the value, not its working
    if not v or len(v) > 60 or not _math_like(v):
        return None
    if _number_unit(v) is None and _NAMED_POINTS.search(v):
        return None  # "225 - 9BC^2", "2 * AC": an expression in the figure's lengths, not a value
    return v


def _statement_value(sentence: str, item: Item, lone_number: bool = False) -> str | None:
    """The value a sentence states for the quantity asked, or None: the last equation's right-hand side
    (``angle ACB = 2 * 35 = 70``, ``… ≈ 2.6%``), ``… is (approximately) V`` at the end of a clause, ``There are four
    objects`` (-> ``4``). A premise (``Since AB = 5, …``) states only its main clause (after its last comma). No
    value when two are stated side by side (``AB = 5 and BC = 7``, ``A is 95%, while B is 40%``, ``There are 3
    cubes and 2 balls``) or the derivation goes on after the last one (``… = 125, further simplifying …``). With
    ``lone_number``, a sentence with exactly one number and no equation gives that number."""
    clause = _strip_decor(sentence)
    if _PREMISE.match(clause):
        comma = clause.rfind(", ")
        if comma < 0:
            return None
        clause = clause[comma + 2:]
    found: list[tuple[int, int, str]] = []  # (position, preference, value)
    eqs = list(_EQUALS.finditer(clause))
    if eqs:
        last3 = eqs[-3:]
        sides = [clause[a.end():b.start()] for a, b in zip(last3, last3[1:])]  # between consecutive signs
        if len(sides) == 2 and " ".join(sides[0].split()) == " ".join(sides[1].split()):
            return None  # "= 6 * 0(30°) = 6 * 0(30°) = …": a loop, not a derivation
        if sides and _TWO_EQUATIONS.search(sides[-1]):
            return None  # "AB = 5 and BC = 7": two equations, two values
        value = _clause_end_value(clause[eqs[-1].end():])
        if value is not None:
            found.append((eqs[-1].start(), 0, value))
    pos = 0
    while (m := _IS_VALUE.search(clause, pos)) is not None:  # overlapping: "is 1.45/1.23, which is about 1.17"
        value = _clause_end_value(m.group("v"))
        if value is not None:
            found.append((m.start("v"), 0, value))
        pos = m.start("v")
    there = _last(_THERE_ARE.finditer(clause))
    if there is not None:
        if _ANY_NUMBER.search(clause, there.end()):
            return None  # "3 circles and 12 squares": two counts
        n = there.group("n").lower()
        found.append((there.start("n"), 1, str(_NUMBER_WORDS.get(n, n))))  # "are 3 objects": 3, not "3 objects"
    if not found:
        if lone_number and not eqs:
            numbers = _NUMBER_TOKEN.findall(clause)
            if len(numbers) == 1 and len(_DIGITS.findall(clause)) == 1:
                return numbers[0]
        return None
    found.sort()
    last = found[-1]
    earlier = _last(_VALUE_STATED.finditer(clause, 0, last[0]))
    if earlier is not None:
        between = clause[earlier.end():last[0]]
        if _PARALLEL.search(between) and not _CONSEQUENCE.search(between):
            return None  # "… is $15, while … is $7": two values side by side
    return last[2]


def _clause_end_value(rest: str) -> str | None:
    """The value at the start of ``rest`` if it ends its clause and the derivation stops there: ``70°, which …``
    -> ``70°``; not ``12 and then 15`` (a second value follows) nor ``125, further simplifying …``."""
    end = _RHS_END.search(rest)
    if end is not None:
        after = rest[end.start():]
        if _DIGITS.search(after) and (end.group().strip().lower() in ("and", "or", "to", "while", "whereas")
                                      or (_PARALLEL.search(after) and not _CONSEQUENCE.search(after))):
            return None  # "12 and then 15", "97%, while … 3%": a second value beside it
        if _CONTINUED.search(after):
            return None
    return _value_ok(rest[:end.start()] if end else rest)


def _digits_for_words(value: str) -> str:
    return str(_NUMBER_WORDS[value.lower()]) if value.lower() in _NUMBER_WORDS else value


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


def _math_verify_equal(a: str, b: str, item: Item, budget_s: float | None = None) -> bool | None:
    """math-verify's ``verify(gold=b, target=a)`` within the budget; None when it could not decide (over budget,
    out of memory, or an expression sympy must not be asked about)."""
    limit = DEFAULT_CONFIG.max_answer_chars
    a, b = a[:limit], b[:limit]
    if not (_DIGIT_OR_TEX.search(a) and _DIGIT_OR_TEX.search(b)):
        return False
    if _unsafe_math(a) or _unsafe_math(b):
        return None
    rounding = int(item.precision) if item.answer_type == "float" and item.precision is not None else 6
    return mathcheck.verify(_plain_math(b), _plain_math(a), rounding, budget_s)


def _plain_math(s: str) -> str:
    """Unicode math that math-verify's LaTeX parser does not read, as LaTeX: ``2√2`` -> ``2\\sqrt{2}``."""
    if "√" in s:
        s = re.sub(r"√[ \t]{0,2}(\{[^{}]{0,60}\}|\([^()]{0,60}\)|[\w.]{1,20})",
                   lambda m: "\\sqrt{" + m.group(1).strip("{}()") + "}", s)
    return s.replace("π", "\\pi ").replace("×", "\\times ").replace("·", "\\cdot ").replace("−", "-")
