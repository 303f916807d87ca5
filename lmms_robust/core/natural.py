"""Natural perturbation text: captions that read like facts about the image, rationales that read like reasoning.

The default generator of ``perturb`` (PROTOCOL.md §2). Where :class:`~lmms_robust.core.perturb.TemplateGenerator`
writes "The image shows that the answer is (C) left.", this one writes "The lamp is to the left of the sofa." and
a rationale that reasons its way there and ends with the commitment the parser reads (``… so the answer is (C).``
for multiple choice, ``… so the answer is 41.`` for free-form).

How: each item is classified into a question type (``QUESTION_TYPES``), keyed first by the shape of its options
(yes/no, captions), then by ``item.category`` (the benchmark's own label: CV-Bench ``Depth``, 3DSRBench
``orientation_viewpoint``, V*-Bench ``relative_position``, ...) and then by the question's wording. The type's
extractor pulls slots out of the question (subject, reference object, relation, attribute, viewpoint, the colour
of an annotation box) and phrases every option of the item; the sentences themselves are Jinja templates under
``templates/natural/`` (``<type>_caption.jinja``, ``<type>_rationale.jinja``). An item whose question or any of
whose options cannot be phrased falls back, as a whole, to ``TemplateGenerator``: generic text is better than an
ungrammatical sentence, and all targets of one item (wrong and gold) read in the same style.

Where a template offers several phrasings it picks one by a SHA-256 draw of (benchmark, item_id) (``perturb._draw``
with a key of its own, so the phrasing is not correlated with the wrong-option draw): same item, same bytes, in any
process. Pure: stdlib and Jinja2 (through ``lmms_robust.resources``); imports neither torch nor lmms_eval.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from lmms_robust.core.items import Item
from lmms_robust.core.perturb import TemplateGenerator, _clean, _draw
from lmms_robust.resources import render

__all__ = ["QUESTION_TYPES", "NaturalGenerator", "classify"]

QUESTION_TYPES = ("yes_no", "caption_choice", "counting", "comparison", "orientation", "relation", "attribute",
                  "text_reading", "identify")
"""The question types with natural phrasings; any other item is ``template`` (the generic fallback)."""

FALLBACK = "template"
PHRASING_KEY = "natural-phrasing"
"""Stands in for the seed in ``_draw``: the phrasing draw is (benchmark, item_id) only, apart from the wrong option."""

_MAX_QUESTION_CHARS = 400
_MAX_OPTION_WORDS = 40

# ------------------------------------------------------------------------------------------------ word lists

_DETERMINERS = {"the", "a", "an", "this", "that", "these", "those", "his", "her", "its", "their", "my", "your", "our",
                "some", "any", "each", "every", "no", "both", "all", "another", "one", "two", "three", "four", "five",
                "several", "many", "few"}
_NUMBER_WORDS = {"zero": 0, "no": 0, "none": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                 "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
                 "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
                 "twenty": 20}
_IRREGULAR_PLURALS = {
    "people": "person", "men": "man", "women": "woman", "children": "child", "mice": "mouse", "geese": "goose",
    "teeth": "tooth", "feet": "foot", "buses": "bus", "glasses": "glass", "knives": "knife", "leaves": "leaf",
    "shelves": "shelf", "wolves": "wolf", "loaves": "loaf", "halves": "half", "lives": "life", "wives": "wife",
    "potatoes": "potato", "tomatoes": "tomato", "heroes": "hero", "dice": "die", "oxen": "ox", "cacti": "cactus",
    "vertices": "vertex", "matrices": "matrix", "indices": "index", "policemen": "policeman",
    "firemen": "fireman", "fishermen": "fisherman", "sportsmen": "sportsman",
}
_UNCHANGED_PLURALS = {"sheep", "fish", "deer", "aircraft", "series", "species", "moose", "bison", "salmon", "trout",
                      "swine", "furniture", "equipment", "luggage", "baggage", "traffic"}
_COLORS = {"red", "orange", "yellow", "green", "blue", "purple", "violet", "pink", "brown", "black", "white", "gray",
           "grey", "silver", "gold", "golden", "beige", "cyan", "magenta", "navy", "maroon", "tan", "turquoise",
           "teal", "olive", "transparent", "colorful", "multicolored", "dark", "light"}
_MODIFIERS = _COLORS | {"big", "small", "large", "tiny", "huge", "tall", "short", "long", "wide", "narrow", "left",
                        "right", "top", "bottom", "middle", "center", "upper", "lower", "front", "back", "first",
                        "second", "third", "fourth", "last", "leftmost", "rightmost", "topmost", "biggest", "smallest",
                        "largest", "tallest", "shortest", "longest", "old", "new", "young", "wooden", "metal",
                        "plastic", "glass", "striped", "dotted", "round", "square"}
_SHAPE_NOUNS = {"circle", "square", "triangle", "rectangle", "star", "heart", "oval", "diamond", "hexagon",
                "pentagon", "octagon", "cross", "arrow", "crescent", "cylinder", "cube", "sphere", "cone", "ring"}
_GENERIC_NOUNS = {"object", "objects", "one", "item", "items", "thing", "things", "shape", "shapes", "figure",
                  "animal", "animals", "option", "choice", "vehicle", "person", "object's"}

# Yes/no questions "Is <subject> <predicate>?": the first of these words (after a real subject) starts the predicate.
_PREDICATE_STARTS = {
    "on", "in", "inside", "under", "underneath", "beneath", "below", "above", "over", "behind", "beside", "near",
    "next", "to", "at", "left", "right", "closer", "nearer", "farther", "further", "higher", "lower", "taller",
    "shorter", "bigger", "larger", "smaller", "wider", "narrower", "longer", "heavier", "lighter", "facing",
    "touching", "holding", "wearing", "sitting", "standing", "lying", "pointing", "looking", "parallel",
    "perpendicular", "visible", "located", "positioned", "placed", "between", "across", "against", "along",
    "outside", "within", "more", "less", "same", "heading", "moving", "turned", "oriented", "leaning", "hanging",
    "carrying", "riding", "covered", "made", "open", "closed", "empty", "full", "upside", "straight", "aligned",
}
_PREPOSITIONS = {"on", "in", "inside", "under", "underneath", "beneath", "below", "above", "over", "behind",
                 "beside", "near", "next", "to", "at", "between", "across", "against", "along", "outside", "within",
                 "of", "from", "with", "by", "toward", "towards", "around", "into", "onto", "directly", "right",
                 "left", "closest", "nearest", "farthest", "furthest"}

# Relation words -> (phrase with a reference object "{y}", phrase without one); None: cannot be said that way.
_RELATIONS: dict[str, tuple[str | None, str | None]] = {
    "left": ("to the left of {y}", "on the left"),
    "right": ("to the right of {y}", "on the right"),
    "top": ("above {y}", "at the top"), "above": ("above {y}", "at the top"), "up": ("above {y}", "at the top"),
    "over": ("over {y}", "at the top"), "upper": ("above {y}", "at the top"),
    "bottom": ("below {y}", "at the bottom"), "below": ("below {y}", "at the bottom"),
    "down": ("below {y}", "at the bottom"), "beneath": ("beneath {y}", "at the bottom"),
    "lower": ("below {y}", "at the bottom"),
    "under": ("under {y}", None), "underneath": ("underneath {y}", None),
    "front": ("in front of {y}", "in the front"), "in front": ("in front of {y}", "in the front"),
    "in front of": ("in front of {y}", "in the front"), "forward": ("in front of {y}", "in the front"),
    "behind": ("behind {y}", "in the back"), "back": ("behind {y}", "in the back"),
    "rear": ("behind {y}", "in the back"),
    "on": ("on {y}", None), "on top": ("on top of {y}", None), "on top of": ("on top of {y}", None),
    "next to": ("next to {y}", None), "beside": ("beside {y}", None), "near": ("near {y}", None),
    "close": ("close to {y}", None), "close to": ("close to {y}", None), "far": ("far from {y}", None),
    "far from": ("far from {y}", None), "inside": ("inside {y}", None), "in": ("in {y}", None),
    "within": ("within {y}", None), "outside": ("outside {y}", None),
    "middle": (None, "in the middle"), "center": (None, "in the center"), "centre": (None, "in the centre"),
}
_COMPASS = {"left", "right", "top", "bottom", "above", "below", "up", "down", "front", "back", "behind", "upper",
            "lower"}
_DIRECTIONS = {  # direction a thing points/moves -> (after "pointing"/"moving", after "facing"/"looking")
    "left": ("to the left", "left"), "right": ("to the right", "right"), "up": ("upward", "up"),
    "down": ("downward", "down"), "upward": ("upward", "upward"), "downward": ("downward", "downward"),
    "upwards": ("upwards", "upwards"), "downwards": ("downwards", "downwards"),
    "forward": ("forward", "forward"), "backward": ("backward", "backward"),
    "front": ("toward the front", "toward the front"), "back": ("toward the back", "toward the back"),
    "north": ("north", "north"), "south": ("south", "south"), "east": ("east", "east"), "west": ("west", "west"),
    "northeast": ("northeast", "northeast"), "northwest": ("northwest", "northwest"),
    "southeast": ("southeast", "southeast"), "southwest": ("southwest", "southwest"),
    "upper left": ("toward the upper left", "toward the upper left"),
    "upper right": ("toward the upper right", "toward the upper right"),
    "lower left": ("toward the lower left", "toward the lower left"),
    "lower right": ("toward the lower right", "toward the lower right"),
    "top left": ("toward the top left", "toward the top left"),
    "top right": ("toward the top right", "toward the top right"),
    "bottom left": ("toward the bottom left", "toward the bottom left"),
    "bottom right": ("toward the bottom right", "toward the bottom right"),
}
_SIDES = {"front": "front", "back": "back", "rear": "back", "left": "left side", "right": "right side",
          "top": "top", "bottom": "bottom", "front side": "front", "back side": "back", "rear side": "back",
          "left side": "left side", "right side": "right side", "top side": "top", "bottom side": "bottom"}
_COMPARATIVE_BASES = {
    "closer": "close", "nearer": "near", "farther": "far", "further": "far", "higher": "high", "lower": "low",
    "taller": "tall", "shorter": "short", "bigger": "big", "larger": "large", "smaller": "small", "longer": "long",
    "wider": "wide", "heavier": "heavy", "lighter": "light", "thicker": "thick", "thinner": "thin",
}

# ------------------------------------------------------------------------------------------------ patterns

_ANNOTATION = r"\((?P<note>(?:annotated|highlighted|marked|indicated|outlined|shown|circled|labell?ed|enclosed|boxed|" \
              r"denoted|surrounded|bounded)\b[^()]{0,80})\)"
_ANNOTATED = re.compile(r"(?P<np>[^,()?.]{1,60}?)[ \t]*" + _ANNOTATION, re.IGNORECASE)
_ANNOTATION_ONLY = re.compile(r"[ \t]*" + _ANNOTATION, re.IGNORECASE)
_MARK = re.compile(r"\b(?:red|blue|green|yellow|orange|purple|pink|black|white|gray|grey|cyan|magenta|brown)"
                   r"(?: bounding)? (?:box|circle|rectangle|outline|mask|arrow|point|dot|square)\b", re.IGNORECASE)
_LEAD_CLAUSE = re.compile(r",[ \t]+(?=(?:where|which|what|how|is|are|was|were|does|do|can)\b)", re.IGNORECASE)
_WH_START = re.compile(r"^(?:where|which|what|how|is|are|was|were|does|do|can|in which)\b", re.IGNORECASE)
_IN_IMAGE = re.compile(r"[ \t]+in (?:the|this) (?:image|photo|picture|scene|figure)(?: provided)?$", re.IGNORECASE)
_VIEW = (r"(?P<view>[ \t]+from (?:(?:the )?[\w'’ -]{1,60}?(?:perspective|viewpoint|point of view|view|"
         r"vantage point)|the (?:perspective|viewpoint|point of view|view) of [\w'’ -]{1,60}))?")
_ABSENT = re.compile(r"^(?:the image does not (?:feature|show|contain|include)|there (?:is|are) no|"
                     r"(?:the )?object is not (?:present|visible|shown))\b", re.IGNORECASE)
_EQUAL = re.compile(r"\b(?:equal(?:ly)?|same|similar|neither)\b", re.IGNORECASE)
_SENTENCE_VERB = re.compile(r"\b(?:is|are|was|were|has|have|can|does|do|did|will|shows?|contains?)\b", re.IGNORECASE)
_NUMBER = re.compile(r"^[0-9]{1,6}$")

_COUNT = re.compile(
    r"^how many (?P<noun>[\w'’ -]{1,60}?) (?P<verb>are there|is there|were there|was there|can you see|can be seen|"
    r"do you see|could you see|are|is|were|was|appear|exist)(?: (?P<rest>[^?]{1,120}?))?$", re.IGNORECASE)
_THERE = re.compile(r"^(?P<be>is|are|was|were) there (?P<body>.+)$", re.IGNORECASE)
_BE_QUESTION = re.compile(r"^(?P<be>is|are|was|were) (?P<body>.+)$", re.IGNORECASE)
_CAPTION_WORDS = re.compile(r"\b(?P<noun>captions?|descriptions?|describes?|statements?|sentences?)\b", re.IGNORECASE)
_CAPTION_RELATION = re.compile(
    r"^(?P<d1>a|an|the) (?P<x>[\w'-]{1,30}(?: [\w'-]{1,30}){0,2}?) "
    r"(?P<rel>on top of|on|under|underneath|beneath|below|above|"
    r"to the left of|to the right of|in front of|behind|next to|beside|inside|in) (?P<d2>a|an|the) "
    r"(?P<y>[\w'-]{1,30}(?: [\w'-]{1,30}){0,2})$", re.IGNORECASE)
_REL_WITH = r"(?:with respect to|relative to|in relation to|compared to|in comparison to|with regard to|in respect to)"
_WHERE_REL = re.compile(
    r"\bwhere (?P<be>is|are) (?P<x>.+?)(?: (?:located|positioned|placed|situated|found))? " + _REL_WITH
    + r" (?P<y>.+?)" + _VIEW + r"$", re.IGNORECASE)
_PLACED = re.compile(r"[ \t]+(?:located|positioned|placed|situated|found)$", re.IGNORECASE)
_WHERE_ONE = re.compile(
    r"\bwhere (?P<be>is|are) (?P<x>.+?)(?: (?:located|positioned|placed|situated|found))?" + _VIEW + r"$",
    re.IGNORECASE)
_DIR_WORDS = r"left|right|top|bottom|front|back|upper|lower"
_OR_SIDE = re.compile(
    r"^(?P<be>is|are) (?P<x>.+?) (?P<prep>on|to|at|in) (?:the )?(?P<a>" + _DIR_WORDS + r")(?: side)? or "
    r"(?:on |to |at |in )?(?:the )?(?P<b>" + _DIR_WORDS + r")(?P<side> side)?(?: of (?P<y>.+?))?" + _VIEW + r"$",
    re.IGNORECASE)
_REL_PAIR = r"above|below|in front of|behind|under|over|on top of|beneath"
_OR_REL = re.compile(r"^(?P<be>is|are) (?P<x>.+?) (?P<a>" + _REL_PAIR + r") or (?P<b>" + _REL_PAIR + r") (?P<y>.+?)"
                     + _VIEW + r"$", re.IGNORECASE)
_SIDE_FACING = re.compile(
    r"^which side of (?P<x>.+?) (?P<be>is|are) (?P<verb>facing(?: toward| towards)?|turned toward|turned towards|"
    r"pointing toward|pointing towards|pointing at|visible to|closest to|nearest to) (?P<y>.+?)$", re.IGNORECASE)
_DIRECTION = re.compile(
    r"^(?:in )?which direction (?P<be>is|are|does|do) (?P<x>.+?) (?P<verb>pointing|pointed|facing|moving|heading|"
    r"looking|going|travell?ing|oriented|turned|point|face|move|head|look|go|travel)" + _VIEW
    + r"(?:,[^?]*)?$", re.IGNORECASE)
_WHICH_FACING = re.compile(
    r"^which (?:object|one|thing|item|person|animal) (?P<be>is|are) (?P<x>.+?) (?P<verb>facing(?: toward| towards)?|"
    r"looking at|pointing at|pointing to|pointing toward|pointing towards|holding|touching|riding|carrying)"
    r"(?:,[^?]*)?$", re.IGNORECASE)
_COMPARISON = re.compile(
    r"^which (?:(?:object|one|item|thing|person|animal|of the (?:two|three|four|following)(?: objects| items)?|"
    r"of these(?: objects| items)?|of them) )?(?P<be>is|are) (?P<comp>(?:" + "|".join(_COMPARATIVE_BASES)
    + r"|more \w+|less \w+)\b[^,]*?)(?:,[ \t]*(?P<cands>[^,]+?(?:,[^,]+?)*\bor\b.+?))?$", re.IGNORECASE)
_PHOTOGRAPHER = re.compile(r"[ \t]+(?:taking|that took|which took|who took) (?:this|the) (?:photo|picture|image)",
                           re.IGNORECASE)
_ATTRIBUTES = r"colou?r|material|shape|size|pattern|texture"
_ATTR_OF = re.compile(r"^what (?P<be>is|are) the (?P<attr>" + _ATTRIBUTES + r")s? of (?P<x>.+?)$", re.IGNORECASE)
_ATTR_IS = re.compile(r"^what (?P<attr>" + _ATTRIBUTES + r")s? (?P<be>is|are) (?P<x>.+?)$", re.IGNORECASE)
_MADE_OF = re.compile(r"^what (?P<be>is|are) (?P<x>.+?) made of$", re.IGNORECASE)
_TEXT_NOUNS = (r"number|numbers|text|word|words|letter|letters|name|title|digit|digits|code|price|time|date|brand|"
               r"label|slogan|year|phone number|plate number|license plate number|license plate|address")
_READ_THE = re.compile(
    r"^what (?P<be>is|are) the (?P<what>(?:[\w-]+ ){0,3}?(?:" + _TEXT_NOUNS + r"))"
    r"(?P<rest> (?:written|shown|displayed|printed|painted|visible|on|in|at|of|above|below|near)\b.*)?$",
    re.IGNORECASE)
_READ_WHAT = re.compile(
    r"^what (?P<what>" + _TEXT_NOUNS + r") (?P<be>is|are) (?P<rest>(?:written|shown|displayed|printed|painted|"
    r"visible|on|in|at) .+)$", re.IGNORECASE)
_READ_SAY = re.compile(r"^what (?P<be>does|do) (?P<x>.+?) (?P<verb>say|read|show)$", re.IGNORECASE)
_READ_WHERE = re.compile(r"\b(?:on|in|at|of|above|below|near) (?P<where>.+)$", re.IGNORECASE)
_SPATIAL_REST = (r"(?:to|on|in|under|underneath|above|below|behind|beside|near|next|at|between|inside|outside|"
                 r"closest|nearest|farthest|furthest|directly|right|left|that|which|held|holding|being|located|"
                 r"placed|positioned|sitting|standing|lying|hanging|leaning)\b")
_WHAT_THE = re.compile(r"^what (?P<be>is|are) the (?P<head>[a-z]+(?: [a-z]+)?) (?P<rest>" + _SPATIAL_REST + r".+)$",
                       re.IGNORECASE)
_WHAT_HEAD = re.compile(r"^what (?P<head>[a-z]+) (?P<be>is|are) (?P<rest>" + _SPATIAL_REST + r".+)$", re.IGNORECASE)
_WHICH_NOUN = re.compile(r"^which (?P<noun>[a-z]+(?: [a-z]+)?) (?P<be>is|are|has|have|was|were) (?P<rest>.+)$",
                         re.IGNORECASE)
_WHICH_EXCLUDED = {"side", "direction", "caption", "captions", "statement", "description", "sentence", "option",
                   "choice", "answer", "way", "of", "one of"}
_LEADING_SPATIAL = re.compile(r"^(?:to the|on|in|under|underneath|above|below|behind|beside|near|next to|at|inside|"
                              r"outside|directly|between)\b", re.IGNORECASE)

# ------------------------------------------------------------------------------------------------ text helpers


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _lc(text: str) -> str:
    """Lower the first letter where the first word is a common word (``The lamp`` -> ``the lamp``, not ``Kevin``)."""
    first = text.split(" ", 1)[0].lower()
    if first in _DETERMINERS or first in ("from", "there", "it", "they"):
        return text[:1].lower() + text[1:]
    return text


def _strip_article(text: str) -> str:
    return re.sub(r"^(?:the|a|an)[ \t]+", "", text, count=1, flags=re.IGNORECASE)


def _is_plural(word: str) -> bool:
    w = word.lower().strip(".,")
    if w in _IRREGULAR_PLURALS:
        return True
    return len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is", "ous", "'s", "’s"))


def _singular(phrase: str) -> str:
    """``red cars`` -> ``red car``, ``pieces of cake`` -> ``piece of cake``: the head noun, by simple rules."""
    words = phrase.split()
    head = len(words) - 1
    for i, w in enumerate(words):
        if i > 0 and w.lower() in ("of", "with", "wearing", "holding", "in", "on", "that", "who", "which", "near"):
            head = i - 1
            break
    words[head] = _singular_word(words[head])
    return " ".join(words)


def _singular_word(word: str) -> str:
    lw = word.lower()
    if lw in _IRREGULAR_PLURALS:
        single = _IRREGULAR_PLURALS[lw]
        return single.capitalize() if word[:1].isupper() else single
    if lw in _UNCHANGED_PLURALS or not lw.endswith("s") or lw.endswith(("ss", "us", "is")) or len(lw) < 3:
        return word
    if lw.endswith("ies") and len(lw) > 4:
        return word[:-3] + "y"
    if lw.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    return word[:-1]


def _the(np: str) -> str:
    """A bare common noun gets ``the`` (``dog`` -> ``the dog``); a determiner, possessive or name is kept."""
    np = np.strip()
    if not np:
        return np
    first = np.split(" ", 1)[0]
    if (first.lower() in _DETERMINERS or first[:1].isupper() or first[:1].isdigit()
            or first.lower() in ("it", "they", "them", "he", "she", "him", "you", "me", "us")):
        return np
    return "the " + np  # "dog" -> "the dog", "camera's perspective" -> "the camera's perspective"


def _indefinite(np: str) -> str:
    """``bicycle`` -> ``a bicycle``, ``umbrella`` -> ``an umbrella``; plurals, names and determiners are kept."""
    np = np.strip()
    first = np.split(" ", 1)[0]
    if (first.lower() in _DETERMINERS or first[:1].isupper() or first[:1].isdigit() or _is_plural(np.split()[-1])
            or first.endswith(("'s", "’s"))):
        return np
    lw = first.lower()
    vowel = lw[:1] in "aeiou" and not lw.startswith(("uni", "use", "usu", "uti", "eu", "one", "ur"))
    vowel = vowel or lw.startswith(("hour", "honest", "honor", "heir"))
    return ("an " if vowel else "a ") + np


def _article_key(np: str) -> str:
    return _strip_article(" ".join(np.lower().split()))


def _be(word: str) -> str:
    return word.lower()


def _view(raw: str | None) -> str:
    """`` from camera's perspective`` -> ``from the camera's perspective``; None/empty -> ``""``."""
    if not raw or not raw.strip():
        return ""
    text = raw.strip()
    m = re.match(r"from (?:the )?(.+)$", text, re.IGNORECASE)
    return "from " + _the(m.group(1)) if m else text


def _number(text: str) -> int | None:
    t = text.strip().lower()
    if _NUMBER.match(t):
        return int(t)
    return _NUMBER_WORDS.get(t) if t not in ("no", "none") else 0


def _option_key(text: str) -> str:
    """An option's text for matching word lists: lower case, no article, no trailing ``side``."""
    t = " ".join(text.lower().split()).strip(" .")
    t = _strip_article(t)
    return t


def _quote(value: str) -> str:
    return value if re.fullmatch(r"[-+]?[0-9][0-9,.:/ -]*", value) else f'"{value}"'


def _ok_np(np: str, max_words: int = 10) -> bool:
    return bool(np.strip()) and len(np.split()) <= max_words and not re.search(r"[?{}<>\\]", np)


# ------------------------------------------------------------------------------------------------ the question


@dataclass(frozen=True)
class _Question:
    core: str
    """The asking sentence: hints, leading clauses, annotation parentheticals and the question mark removed."""
    marks: tuple[tuple[str, str], ...]
    """(object key, mark) pairs from annotations: (``lamp``, ``red box``)."""

    def mark(self, np: str) -> str | None:
        key = _article_key(np)
        for name, mark in self.marks:
            if name == key:
                return mark
        return None


def _question(text: str) -> _Question | None:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    if not lines:
        return None
    asked = [line for line in lines if "?" in line]
    line = " ".join((asked[-1] if asked else lines[-1]).split())
    if len(line) > _MAX_QUESTION_CHARS:
        return None
    marks = []
    for m in _ANNOTATED.finditer(line):
        np = m.group("np")
        last = list(re.finditer(r"\b(?:the|a|an)[ \t]", np, re.IGNORECASE))
        np = np[last[-1].start():] if last else " ".join(np.split()[-2:])
        mark = _MARK.search(m.group("note"))
        if mark and np.strip():
            marks.append((_article_key(np), mark.group(0).lower().replace(" bounding", "")))
    line = _ANNOTATION_ONLY.sub("", line)
    sentences = re.split(r"(?<=[.!?])[ \t]+(?=[A-Z])", line)
    asking = [s for s in sentences if "?" in s]
    core = asking[-1] if asking else sentences[-1]
    core = core.split("?")[0] if "?" in core else core
    clauses = list(_LEAD_CLAUSE.finditer(core))
    if clauses and not _WH_START.match(core):
        core = core[clauses[-1].end():]
    core = " ".join(core.split()).strip(" .!:;,")
    if not core:
        return None
    return _Question(core=core, marks=tuple(marks))


# ------------------------------------------------------------------------------------------------ frames

TargetSlots = Callable[[str], "dict | None"]


@dataclass(frozen=True)
class _Frame:
    kind: str
    common: dict
    phrase: TargetSlots
    """Option text or free-form value -> the slots that phrase it (None: this target cannot be phrased)."""
    subject: str | None = None
    """What an "absent" option ("The image does not feature the object") says is missing."""
    free_form: bool = False
    """Whether the type can phrase a free-form (numeric) value."""


def _yes_no(item: Item, q: _Question) -> _Frame | None:
    if not item.is_multiple_choice or sorted(_option_key(o) for o in item.options) != ["no", "yes"]:
        return None
    m = _THERE.match(q.core)
    if m:
        be, body = _be(m.group("be")), m.group("body")
        first, _, rest = body.partition(" ")
        if first.lower() in ("a", "an", "any", "some") and rest:
            negative = f"there {be} no {rest}"
        elif first.lower() in _NUMBER_WORDS or first.isdigit():
            negative = f"there {be} not {body}"
        else:
            negative = f"there {be} no {body}"
        positive = f"there {be} {_strip_any(body)}"
        subject = None
    else:
        m = _BE_QUESTION.match(q.core)
        if not m:
            return None
        be = _be(m.group("be"))
        split = _split_subject(m.group("body"))
        if split is None:
            return None
        subject, predicate = split
        positive, negative = f"{subject} {be} {predicate}", f"{subject} {be} not {predicate}"
    if not _ok_np(positive, 40):
        return None

    def phrase(text: str) -> dict | None:
        key = _option_key(text)
        if key not in ("yes", "no"):
            return None
        return {"holds": key == "yes", "fact": positive if key == "yes" else negative}

    return _Frame("yes_no", {"clause": positive}, phrase, subject=subject)


def _strip_any(body: str) -> str:
    """``any people on the bench`` -> ``people on the bench`` (the positive statement has no "any")."""
    return re.sub(r"^any[ \t]+", "", body, flags=re.IGNORECASE)


def _split_subject(body: str) -> tuple[str, str] | None:
    """``the cup on the left of the laptop`` -> (``the cup``, ``on the left of the laptop``); None when unsure."""
    tokens = body.split()
    if len(tokens) < 2:
        return None

    def real_subject(i: int) -> bool:
        head = [t.lower() for t in tokens[:i]]
        return any(t not in _DETERMINERS for t in head) and head[-1] not in _DETERMINERS | {"of", "and", "or"}

    for i in range(1, len(tokens)):
        if tokens[i].lower() in _PREDICATE_STARTS and real_subject(i):
            return " ".join(tokens[:i]), " ".join(tokens[i:])
    if tokens[0].lower() in ("this", "that", "it", "these", "those", "they"):
        return tokens[0], " ".join(tokens[1:])
    for i in range(2, len(tokens)):
        if tokens[i].lower() in ("a", "an") and real_subject(i):
            return " ".join(tokens[:i]), " ".join(tokens[i:])
    if len(tokens) >= 3 and tokens[-2].lower() not in _DETERMINERS | _PREPOSITIONS and real_subject(len(tokens) - 1):
        return " ".join(tokens[:-1]), tokens[-1]
    return None


def _caption_choice(item: Item, q: _Question) -> _Frame | None:
    m = _CAPTION_WORDS.search(q.core)
    if not item.is_multiple_choice or m is None:
        return None
    if any(len(_clean(o).split()) < 3 for o in item.options):
        return None
    noun = m.group("noun").lower()
    noun = "description" if noun.startswith("describe") else noun.removesuffix("s")

    def phrase(text: str) -> dict | None:
        text = _clean(text)
        if len(text.split()) > _MAX_OPTION_WORDS:
            return None
        sentence = bool(_SENTENCE_VERB.search(text))
        slots = {"text": text, "sentence": sentence, "shown": _lc(text), "objects": None, "fact": None}
        rel = None if sentence else _CAPTION_RELATION.match(text)
        if rel and not re.search(r"ing\b|\b(?:a|an|the|and|or|of|with)\b", f"{rel.group('x')} {rel.group('y')}",
                                 re.IGNORECASE):
            x, y = rel.group("x"), rel.group("y")
            slots["objects"] = f"{rel.group('d1').lower()} {x} and {rel.group('d2').lower()} {y}"
            slots["fact"] = f"the {x} is {rel.group('rel').lower()} the {y}"
        return slots

    return _Frame("caption_choice", {"noun": noun}, phrase)


def _counting(item: Item, q: _Question) -> _Frame | None:
    m = _COUNT.match(q.core)
    if not m:
        return None
    noun, verb = m.group("noun").strip(), m.group("verb").lower()
    rest = (m.group("rest") or "").strip()
    if noun.lower().startswith(("of ", "times", "more", "less")) or not _ok_np(noun, 6):
        return None
    past = verb.startswith(("were", "was"))
    if verb in ("can you see", "can be seen", "do you see", "could you see", "appear", "exist") and not rest:
        rest = "in the image"
    if rest and not _ok_np(rest, 20):
        return None
    common = {"plural": noun, "singular": _singular(noun), "rest": rest, "past": past}

    def phrase(text: str) -> dict | None:
        n = _number(_clean(text))
        return None if n is None else {"n": n}

    return _Frame("counting", common, phrase, free_form=True)


def _comparison(item: Item, q: _Question) -> _Frame | None:
    if not item.is_multiple_choice:
        return None
    m = _COMPARISON.match(q.core)
    if not m:
        return None
    comp = _PHOTOGRAPHER.sub("", m.group("comp")).strip()
    comp = _IN_IMAGE.sub("", comp) if "camera" not in comp else comp
    first, _, rest = comp.partition(" ")
    if not _ok_np(comp, 12):
        return None
    base = _COMPARATIVE_BASES.get(first.lower())
    lc = comp.lower()
    kind = ("camera" if "camera" in lc or "viewer" in lc else
            "height" if first.lower() in ("higher", "lower", "taller", "shorter") else
            "distance" if first.lower() in ("closer", "nearer", "farther", "further") else "generic")
    candidates = [_the(_clean(o)) for o in item.options if not _EQUAL.search(o)]
    unique: list[str] = []
    for c in candidates:
        if c.lower() not in (u.lower() for u in unique):
            unique.append(c)
    if len(unique) < 2 or any(not _ok_np(c, 8) for c in unique):
        return None
    marks = [q.mark(c) for c in unique]
    reference = re.search(r"\b(?:to|from) (?P<ref>(?:the|a|an) [\w'’ -]{1,40})$", comp, re.IGNORECASE)
    ref_mark = q.mark(reference.group("ref")) if reference else None

    def phrase(text: str) -> dict | None:
        text = _clean(text)
        if _EQUAL.search(text):
            if base is None:
                return None
            return {"equal": True, "target": None, "others": None,
                    "equal_phrase": f"equally {base}" + (f" {rest}" if rest else "")}
        target = _the(text)
        others = [c for c in unique if c.lower() != target.lower()]
        if not others:
            return None
        return {"equal": False, "target": target, "others": _or_join(others), "equal_phrase": None}

    common = {"comp": comp, "comp_kind": kind, "candidates": _and_join(unique), "all_marked": all(marks),
              "marked": [(c, mk) for c, mk in zip(unique, marks)], "pair": _and_join(unique),
              "n_candidates": len(unique), "reference": reference.group("ref") if reference else "",
              "ref_mark": ref_mark}
    return _Frame("comparison", common, phrase)


def _and_join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _or_join(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"either {items[0]} or {items[1]}"
    return "any of " + _and_join(items)


def _orientation(item: Item, q: _Question) -> _Frame | None:
    m = _SIDE_FACING.match(q.core)
    if m and item.is_multiple_choice:
        x, y = _the(m.group("x")), _the(m.group("y"))
        if not (_ok_np(x, 8) and _ok_np(y, 8)):
            return None

        def side(text: str) -> dict | None:
            value = _SIDES.get(_option_key(text))
            return None if value is None else {"side": value}

        common = {"form": "side", "x": x, "y": y, "be": _be(m.group("be")), "verb": m.group("verb").lower(),
                  "view": ""}
        return _Frame("orientation", common, side, subject=x)
    m = _DIRECTION.match(q.core)
    if m and item.is_multiple_choice:
        x, be, verb = _the(m.group("x")), _be(m.group("be")), m.group("verb").lower()
        if not _ok_np(x, 8):
            return None
        facing = verb.startswith(("fac", "look", "orient", "turn"))
        if be in ("does", "do"):
            finite = _third_person(verb) if be == "does" else verb
            be_out = ""
        else:
            finite, be_out = verb, be

        def direction(text: str) -> dict | None:
            key = _option_key(text)
            if key in _DIRECTIONS:
                return {"direction": _DIRECTIONS[key][1 if facing else 0]}
            if re.match(r"^(?:toward|towards|away from|to the|into|out of)\b", key) and len(key.split()) <= 6:
                return {"direction": _clean(text)}
            return None

        common = {"form": "direction", "x": x, "be": be_out, "verb": finite, "view": _view(m.group("view")),
                  "y": ""}
        return _Frame("orientation", common, direction, subject=x)
    m = _WHICH_FACING.match(q.core)
    if m and item.is_multiple_choice:
        x = _the(m.group("x"))
        if not _ok_np(x, 8):
            return None

        def facing_target(text: str) -> dict | None:
            text = _clean(text)
            return {"target": _the(text)} if _ok_np(text, 8) and not _SENTENCE_VERB.search(text) else None

        common = {"form": "object", "x": x, "be": _be(m.group("be")), "verb": m.group("verb").lower(), "view": "",
                  "y": ""}
        return _Frame("orientation", common, facing_target, subject=x)
    return None


def _third_person(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "o")):
        return verb + "es"
    return verb + "s"


def _relation(item: Item, q: _Question) -> _Frame | None:
    if not item.is_multiple_choice:
        return None
    style, x, y, be, view = "to", None, None, "is", ""
    core = _IN_IMAGE.sub("", q.core)
    m = _OR_SIDE.match(core)
    if m:
        x, y, be, view = m.group("x"), m.group("y"), _be(m.group("be")), _view(m.group("view"))
        if m.group("side") or re.search(r"\bside\b", q.core[m.start("a"):m.end("b")], re.IGNORECASE):
            style = "side"
        elif m.group("prep").lower() == "on":
            style = "on"
    else:
        m = _OR_REL.match(core) or _WHERE_REL.match(core)
        if m:
            x, y, be, view = m.group("x"), m.group("y"), _be(m.group("be")), _view(m.group("view"))
        else:
            m = _WHERE_ONE.match(core)
            if not m:
                return None
            x, be, view = m.group("x"), _be(m.group("be")), _view(m.group("view"))
    x = _the(_PLACED.sub("", _IN_IMAGE.sub("", x)))
    y = _the(_IN_IMAGE.sub("", y)) if y else None
    if not _ok_np(x, 8) or (y is not None and not _ok_np(y, 10)):
        return None

    def phrase(text: str) -> dict | None:
        rel = _relation_phrase(_clean(text), y, style)
        return None if rel is None else {"relation": rel}

    common = {"x": x, "y": y or "", "be": be, "view": view, "x_mark": q.mark(x) if y else None,
              "y_mark": q.mark(y) if y else None}
    return _Frame("relation", common, phrase, subject=x)


def _relation_phrase(text: str, y: str | None, style: str) -> str | None:
    key = _option_key(text)
    key = re.sub(r"[ \t]+side$", "", key)
    if key in _RELATIONS:
        with_y, without_y = _RELATIONS[key]
        if y is None:
            return without_y
        if key in ("left", "right") and style == "side":
            return f"on the {key} side of {y}"
        if key in ("left", "right") and style == "on":
            return f"on the {key} of {y}"
        return with_y.format(y=y) if with_y else None
    words = key.replace("-", " ").split()
    if 2 <= len(words) <= 3 and all(w in _COMPASS for w in words):  # "top left", "left back", "right front"
        if y is None:
            vertical = [w for w in words if w in ("top", "bottom", "upper", "lower")]
            lateral = [w for w in words if w in ("left", "right")]
            if len(words) == 2 and vertical and lateral:
                return f"at the {vertical[0]} {lateral[0]}"
            parts = [_RELATIONS[w][1] for w in words]
            return None if None in parts else _and_join(parts)
        preps = [_RELATIONS[w][0] for w in words]
        if None in preps:
            return None
        return _and_join([p.replace(" {y}", "") for p in preps]) + f" {y}"
    if re.match(r"^(?:on|in|under|underneath|beneath|below|above|over|behind|beside|near|next to|to the|at the|"
                r"inside|outside|in front of|on top of)\b", key) and 2 <= len(key.split()) <= 8:
        return _clean(text)
    return None


def _attribute(item: Item, q: _Question) -> _Frame | None:
    m = _ATTR_OF.match(q.core) or _ATTR_IS.match(q.core)
    if m:
        attr, x, be = m.group("attr").lower(), m.group("x"), _be(m.group("be"))
    else:
        m = _MADE_OF.match(q.core)
        if not m:
            return None
        attr, x, be = "material", m.group("x"), _be(m.group("be"))
    attr = "color" if attr.startswith("colo") else attr
    if _LEADING_SPATIAL.match(x) or not item.is_multiple_choice:
        return None
    x = _the(x)
    if not _ok_np(x, 12):
        return None

    def phrase(text: str) -> dict | None:
        value = _clean(text)
        if not _ok_np(value, 5) or _SENTENCE_VERB.search(value):
            return None
        if attr == "material":
            predicate = f"made of {value}"
        elif attr == "shape":
            predicate = (f"shaped like {_indefinite(value)}" if _option_key(value) in _SHAPE_NOUNS
                         else f"{value} in shape")
        else:
            predicate = value
        return {"value": value, "predicate": predicate}

    return _Frame("attribute", {"attr": attr, "x": x, "be": be}, phrase, subject=x)


def _text_reading(item: Item, q: _Question) -> _Frame | None:
    m = _READ_THE.match(q.core)
    if m:
        what, rest, be = m.group("what"), (m.group("rest") or "").strip(), _be(m.group("be"))
        form = "the"
        subject = f"the {what}" + (f" {rest}" if rest else "")
    else:
        m = _READ_WHAT.match(q.core)
        if m:
            what, rest, be = m.group("what"), m.group("rest"), _be(m.group("be"))
            form = "the"
            subject = f"the {what} {rest}"
        else:
            m = _READ_SAY.match(q.core)
            if not m:
                return None
            what, rest, be, form = "text", "", _be(m.group("be")), "say"
            subject = _the(m.group("x"))
            verb = m.group("verb").lower()
    where = _READ_WHERE.search(rest) if rest else None
    place = where.group("where") if where else (subject if form == "say" else "")
    if not _ok_np(subject, 16):
        return None
    common = {"form": form, "reading": subject, "what": what.lower(), "be": be, "place": place,
              "verb": (_third_person(verb) if be == "does" else verb) if form == "say" else ""}

    def phrase(text: str) -> dict | None:
        value = _clean(text)
        if not value or len(value) > 80 or "\n" in value:
            return None
        return {"value": value, "quoted": _quote(value)}

    return _Frame("text_reading", common, phrase, subject=None, free_form=True)


def _identify(item: Item, q: _Question) -> _Frame | None:
    if not item.is_multiple_choice:
        return None
    m = _WHAT_THE.match(q.core)
    form = None
    if m and m.group("head").lower() not in ("color", "colour", "number", "name"):
        form, head, rest, be = "the", m.group("head"), m.group("rest"), _be(m.group("be"))
    else:
        m = _WHAT_HEAD.match(q.core)
        if m and m.group("head").lower() not in ("color", "colour", "number", "time", "kind", "type"):
            form, head, rest, be = "what", m.group("head"), m.group("rest"), _be(m.group("be"))
        else:
            m = _WHICH_NOUN.match(q.core)
            if m and m.group("noun").lower() not in _WHICH_EXCLUDED and not m.group("noun").lower().startswith("of"):
                form, head, rest, be = "which", m.group("noun"), m.group("rest"), _be(m.group("be"))
    if form is None:
        return None
    head_words = head.split()
    if len(head_words) == 2 and head_words[1].lower() in _PREPOSITIONS:  # "animal next" + "to the tree"
        head, rest = head_words[0], f"{head_words[1]} {rest}"
    if not _ok_np(rest, 20):
        return None
    look = rest if _LEADING_SPATIAL.match(rest) and (form != "which" or be in ("is", "are")) else ""

    def phrase(text: str) -> dict | None:
        value = _clean(text)
        if not _ok_np(value, 6) or _SENTENCE_VERB.search(value):
            return None
        if form == "the":
            return {"target": _indefinite(value)}
        words = value.split()
        if form == "which" and len(words) == 1 and words[0].lower() in _MODIFIERS \
                and head.lower() not in _GENERIC_NOUNS:
            return {"target": f"the {value} {head}"}
        return {"target": _the(value)}

    common = {"form": form, "head": head, "rest": rest, "be": be, "look": look}
    return _Frame("identify", common, phrase)


_STRUCTURAL = (_yes_no, _caption_choice)
_BY_TYPE: dict[str, Callable[[Item, _Question], _Frame | None]] = {
    "counting": _counting, "comparison": _comparison, "orientation": _orientation, "relation": _relation,
    "attribute": _attribute, "text_reading": _text_reading, "identify": _identify,
}
_WORDING_ORDER = ("counting", "comparison", "orientation", "relation", "attribute", "text_reading", "identify")
_CATEGORY_TYPES = (  # (pattern on the lower-cased category, type): first match wins
    (r"count", "counting"),
    (r"ocr|text[ _-]?(?:recog|read)|text$", "text_reading"),
    (r"attribute|colou?r|material", "attribute"),
    (r"depth|distance|closer|height|higher|size_compar", "comparison"),
    (r"orientation_on_the_left|orientation_in_front_of|left_of|right_of|in-front_of|behind|^on$|^under$",
     "relation"),
    (r"orientation|facing|viewpoint|direction", "orientation"),
    (r"relation|position|location|spatial|one_obj|two_obj", "relation"),
)


def _category_type(category: str | None) -> str | None:
    if not category:
        return None
    label = str(category).strip().lower()
    for pattern, kind in _CATEGORY_TYPES:
        if re.search(pattern, label):
            return kind
    return None


@lru_cache(maxsize=4096)
def _analyse(item: Item) -> tuple[_Frame, tuple[dict, ...]] | None:
    """The item's frame and the slots of each option (multiple choice), or None: the item falls back."""
    q = _question(item.question)
    if q is None:
        return None
    order: list[Callable[[Item, _Question], _Frame | None]] = list(_STRUCTURAL)
    preferred = _category_type(item.category)
    if preferred is not None:
        order.append(_BY_TYPE[preferred])
    order += [_BY_TYPE[kind] for kind in _WORDING_ORDER if kind != preferred]
    for extract in order:
        try:
            frame = extract(item, q)
        except (ValueError, IndexError, KeyError):  # a question odd enough to break an extractor: try the next
            frame = None
        if frame is None:
            continue
        if not item.is_multiple_choice:
            if frame.free_form:
                return frame, ()
            continue
        slots = tuple(_option_slots(frame, text) for text in item.options)
        if all(s is not None for s in slots):
            return frame, slots
    return None


def _option_slots(frame: _Frame, text: str) -> dict | None:
    if _ABSENT.match(_clean(text)):
        return {"absent": True, "sentence": _cap(_clean(text))} if frame.kind != "yes_no" else None
    try:
        return frame.phrase(text)
    except (ValueError, IndexError, KeyError):
        return None


def classify(item: Item) -> str:
    """The item's question type (one of ``QUESTION_TYPES``), or ``template`` when it falls back."""
    analysed = _analyse(item)
    return FALLBACK if analysed is None else analysed[0].kind


# ------------------------------------------------------------------------------------------------ generator


class NaturalGenerator:
    """Captions stating the target as a fact about the image; rationales reasoning toward it (module docstring).

    ``fallback`` (default ``TemplateGenerator()``) writes the text of items no question type can phrase.
    """

    def __init__(self, fallback=None) -> None:
        self.fallback = fallback if fallback is not None else TemplateGenerator()

    def caption(self, item: Item, target: str) -> str:
        variables = self._variables(item, target)
        if variables is None:
            return self.fallback.caption(item, target)
        text = _tidy(render(self._template(variables, "caption"), **variables))
        return text if text else self.fallback.caption(item, target)

    def rationale(self, item: Item, target: str) -> str:
        variables = self._variables(item, target)
        if variables is None:
            return self.fallback.rationale(item, target)
        caption = _tidy(render(self._template(variables, "caption"), **variables))
        variables["statement"] = _lc(caption.rstrip(".").rstrip())
        text = _tidy(render(self._template(variables, "rationale"), **variables))
        if not text.endswith(f"so the answer is {variables['answer']}."):
            return self.fallback.rationale(item, target)  # a template that lost its commitment: never ship it
        return text

    @staticmethod
    def _template(variables: dict, kind: str) -> str:
        name = "absent" if variables.get("absent") else variables["kind"]
        return f"natural/{name}_{kind}.jinja"

    @staticmethod
    def _variables(item: Item, target: str) -> dict | None:
        if item.is_multiple_choice and target not in item.letters:
            raise ValueError(f"{item.benchmark} item {item.item_id!r}: target {target!r} is not one of "
                             f"{item.letters}")
        analysed = _analyse(item)
        if analysed is None:
            return None
        frame, option_slots = analysed
        if item.is_multiple_choice:
            index = item.letters.index(target)
            slots = option_slots[index]
            answer, text = f"({target})", _clean(item.options[index])
        else:
            value = " ".join(str(target).split())
            if not value:
                return None
            slots = _option_slots(frame, value)
            if slots is None:
                return None
            answer, text = value, value
        return {
            **frame.common, **slots, "kind": frame.kind, "pick": _draw(item, PHRASING_KEY), "answer": answer,
            "target_text": text, "subject": frame.subject, "absent": bool(slots.get("absent")),
            "is_multiple_choice": item.is_multiple_choice, "cap": _cap, "lc": _lc,
        }


def _tidy(text: str) -> str:
    """Blanks collapsed, no blank before punctuation, first letter capital."""
    text = " ".join(text.split())
    text = re.sub(r" +([.,;:!?])", r"\1", text)
    return _cap(text)
