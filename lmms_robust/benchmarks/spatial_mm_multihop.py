"""Spatial-MM Multihop (Spatial-CoT: multi-hop questions with reasoning paths) rows -> Items.

Release file (github.com/FatemehShiri/Spatial-MM): ``data/multihop_reasoning_309.json``, a list of
``{"image_name", "question", "answer", "reasoning", "hop"}``. The questions are OPEN-ENDED: ``answer`` is a short
text (``"left"``, ``"no"``, ``"black and white"``, ``"mobile phone"``), ``reasoning`` the annotated path
(``"{[a], [b], ...}"``) and ``hop`` its number of steps (2 to 8).

The protocol scores every set as multiple choice, and the paper we reproduce does not say how it made these items
multiple choice, so ``load_release`` builds the options itself (rule ``OPTIONS_RULE``), deterministically from the
item id: the answer is classed by the answer and the question together (``answer_kind``) and gets distractors of
its own kind that cannot also be right, so no option is told apart by its kind alone:
  yes_no   -> the other of yes/no (2 options)          gender -> the other of female/male (2 options)
  side     -> "Which hand/arm/leg/foot ...?": the other of left/right (2 options)
  relation -> 3 relations sharing no direction with it (``top`` excludes ``above``/``on``/``over``); a two-word
              answer such as ``left back`` gets itself with one or both directions flipped (``right back``, ...)
  color    -> 3 colours it does not contain or resemble (``golden`` excludes yellow; ``black and white`` gets
              two-colour distractors)
  pattern, material, fruit, food, drink, text, key -> 3 words of that kind's own list (``VOCABULARIES``) sharing
              no word with it ("What pattern is on the beanie?" -> striped, checkered, floral, polka-dotted)
  number   -> 3 nearby whole numbers                  person -> other people words (man, woman, boy, girl)
  object   -> 3 other ``object`` answers of the release sharing no word with it (fewer when the release has fewer)
then the options are ordered by SHA-256 of (item id, text) (``_common.keyed_order``). A copy that already has an
``options`` column (our row schema) is used as it is. Rule v1 classed by the answer alone and gave "striped" or
"orange juice" object distractors ("glass of milk", "pomegranate"); v2 (this) gives each its own kind.

Our row schema: the five release fields, ``id`` (``multihop:<image_name>:<k>``, see ``spatial_mm``), ``answer_kind``,
``options``, ``options_rule`` and ``image`` (an Image feature). The Item's category is ``"<hop>-hop"``.
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

from lmms_robust.benchmarks import spatial_mm
from lmms_robust.benchmarks._common import is_missing, keyed_order, require_fields, require_image, rgb_images
from lmms_robust.core.items import Item, ItemError

BENCHMARK = "spatial_mm_multihop"
IMAGE_FIELD = spatial_mm.IMAGE_FIELD
SPLIT = spatial_mm.SPLIT
RELEASE_FILE = "multihop_reasoning_309.json"
RELEASE_FIELDS = ("image_name", "question", "answer", "reasoning", "hop")
REQUIRED_FIELDS = ("id", "question", "answer", "options", IMAGE_FIELD)
OPTIONS_RULE = "lmms-robust/multihop-options/v2"
N_DISTRACTORS = 3

# Relation words -> the direction they name; two answers naming a common direction can both be right.
_DIRECTIONS = {
    "left": "left", "right": "right",
    "front": "front", "forward": "front", "forwards": "front", "foreground": "front",
    "behind": "back", "back": "back", "backward": "back", "backwards": "back", "background": "back", "rear": "back",
    "top": "top", "above": "top", "over": "top", "up": "top", "upward": "top", "upwards": "top", "on": "top",
    "bottom": "bottom", "below": "bottom", "under": "bottom", "beneath": "bottom", "underneath": "bottom",
    "down": "bottom", "downward": "bottom", "downwards": "bottom",
    "middle": "middle", "center": "middle", "centre": "middle", "between": "middle",
    "inside": "inside", "in": "inside", "within": "inside", "outside": "outside",
}
_RELATION_FILLER = {"of", "the", "to", "side", "hand", "corner", "and"}
_SINGLE_RELATIONS = ("left", "right", "front", "behind", "top", "bottom", "middle")
_CONTAINMENT_RELATIONS = ("inside", "outside", "top", "bottom", "front", "behind")
_OPPOSITES = {"left": ("right",), "right": ("left",), "front": ("behind",), "back": ("front",), "top": ("bottom",),
              "bottom": ("top",), "middle": ("left", "right"), "inside": ("outside",), "outside": ("inside",)}

_COLORS = ("red", "blue", "green", "yellow", "white", "black", "brown", "pink", "purple", "orange", "gray")
# A colour word -> the palette colours it can be confused with (answering one of them could be right too).
_COLOR_NEAR = {
    "grey": {"gray"}, "silver": {"gray", "white"}, "gold": {"yellow", "orange", "brown"},
    "golden": {"yellow", "orange", "brown"}, "beige": {"brown", "white"}, "cream": {"white"}, "tan": {"brown"},
    "copper": {"brown", "orange"}, "bronze": {"brown", "orange"}, "violet": {"purple"}, "navy": {"blue"},
    "maroon": {"red", "brown"}, "turquoise": {"blue", "green"}, "khaki": {"brown", "green"},
}
_COLOR_MODIFIERS = {"light", "dark", "and", "bright", "pale"}
_PEOPLE = {"man": {"man", "men"}, "woman": {"woman", "women"}, "boy": {"boy", "child", "kid"},
           "girl": {"girl", "child", "kid"}}
_PERSON_WORDS = {"man", "men", "woman", "women", "boy", "girl", "child", "kid", "baby"}
VOCABULARIES = {  # kinds with a closed list of their own: distractors come from it
    "pattern": ("striped", "checkered", "floral", "polka-dotted", "plaid", "plain", "zigzag"),
    "material": ("wood", "metal", "plastic", "glass", "fabric", "stone", "paper", "leather"),
    "fruit": ("apple", "banana", "orange", "pear", "peach", "mango", "grapes", "pomegranate", "strawberry",
              "strawberries", "pineapple", "lemon", "cherries", "kiwi", "watermelon", "blueberries"),
    "drink": ("orange juice", "glass of milk", "milk", "coffee", "tea", "water", "lemonade", "red wine",
              "apple juice", "soda"),
    "food": ("oysters", "bacon", "steak", "carrot sticks", "salad", "pasta", "rice", "soup", "bread", "eggs",
             "pancakes", "sushi", "french fries", "sausages", "cheese"),
    "text": ("love", "home", "happy", "coffee", "hello", "dream", "smile"),
    "key": ("enter", "shift", "tab", "space", "ctrl", "alt", "delete"),
}
ANSWER_NAMES_KIND = ("fruit", "drink", "food")
"""Kinds an answer alone settles; the others (pattern, material, text, key) need the question to ask for them."""
# (question pattern, kind): the question names the kind of its answer ("What pattern ...", "what fruit ...").
_QUESTION_KINDS = (
    (r"\b(?:which|what|in which|on which) (?:hand|arm|leg|foot|ear|eye|shoulder|paw|wing)\b", "side"),
    (r"\bpattern\b", "pattern"), (r"\bmaterial\b|\bmade of\b", "material"),
    (r"\b(?:fruit|fruits)\b", "fruit"), (r"\b(?:beverage|drink)\b", "drink"),
    (r"\bfood\b|\bon the plate\b|\bin the dish\b|\binside the (?:round )?dish\b", "food"),
    (r"\bkey on the keyboard\b", "key"), (r"\b(?:which|what) word\b|\bwritten\b|\bsays?\b", "text"),
    (r"\bcolou?r\b", "color"),
)


def images(doc: dict) -> list:
    return rgb_images(doc, IMAGE_FIELD)


def to_item(row: dict) -> Item:
    item_id = require_fields(BENCHMARK, row, REQUIRED_FIELDS, "id")
    require_image(BENCHMARK, item_id, row, IMAGE_FIELD)
    options = row["options"]
    if isinstance(options, str) or not hasattr(options, "__iter__"):
        raise ItemError(f"{BENCHMARK} item {item_id!r}: options must be a list, got {type(options).__name__}; build "
                        f"the rows with spatial_mm_multihop.load_release")
    options = tuple(options)
    if any(option is None or not str(option).strip() for option in options):
        raise ItemError(f"{BENCHMARK} item {item_id!r}: an option is empty; fix or drop the row")
    if len(options) < 2:
        raise ItemError(f"{BENCHMARK} item {item_id!r}: {len(options)} option(s); the release is open-ended and "
                        f"load_release builds 2 to 4 options per item: rebuild the rows with it, or drop the row")
    answer = str(row["answer"]).strip()
    if not answer:
        raise ItemError(f"{BENCHMARK} item {item_id!r}: empty answer; fix or drop the row")
    hop = row.get("hop")
    category = None if is_missing(hop) else f"{int(hop)}-hop"
    return Item(benchmark=BENCHMARK, item_id=item_id, question=str(row["question"]).strip(),
                options=tuple(str(option).strip() for option in options), answer=answer, category=category)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", str(text).casefold().replace("in front", "front").replace("on top", "top"))


def _directions(answer: str) -> set[str] | None:
    words = [word for word in _words(answer) if word not in _RELATION_FILLER]
    if not words or any(word not in _DIRECTIONS for word in words):
        return None
    return {_DIRECTIONS[word] for word in words}


def _colors(answer: str) -> set[str] | None:
    """The palette colours an answer names or resembles; None when it is not a colour answer."""
    words = [word for word in _words(answer) if word not in _COLOR_MODIFIERS]
    if not words or any(word not in _COLORS and word not in _COLOR_NEAR for word in words):
        return None
    named: set[str] = set()
    for word in words:
        named |= {word} if word in _COLORS else _COLOR_NEAR[word]
    return named


def answer_kind(answer: str, question: str = "") -> str:
    """``yes_no``, ``gender``, ``number``, ``side``, ``relation``, ``color``, a ``VOCABULARIES`` kind, ``person``
    or ``object``: by the answer first, then by what the question asks for."""
    text = " ".join(_words(answer))
    if text in ("yes", "no"):
        return "yes_no"
    if text in ("female", "male"):
        return "gender"
    if re.fullmatch(r"\d+", text):
        return "number"
    asked = next((kind for pattern, kind in _QUESTION_KINDS if re.search(pattern, question, re.IGNORECASE)), None)
    if asked == "side" and text in ("left", "right"):
        return "side"
    if _directions(answer) is not None:
        return "relation"
    if _colors(answer) is not None:
        return "color"
    if text in _PEOPLE:
        return "person"
    if asked in VOCABULARIES:
        return asked
    for kind in ANSWER_NAMES_KIND:  # "strawberries" is a fruit whatever the question; "glass" may be an object
        if text in VOCABULARIES[kind]:
            return kind
    return "object"


def _candidates(answer: str, kind: str, pool: list[str]) -> list[str]:
    text = " ".join(_words(answer))
    if kind == "yes_no":
        return ["no" if text == "yes" else "yes"]
    if kind == "gender":
        return ["male" if text == "female" else "female"]
    if kind == "side":
        return ["right" if text == "left" else "left"]
    if kind in VOCABULARIES:
        gold_words = set(_words(answer))
        return [w for w in VOCABULARIES[kind] if not (set(_words(w)) & gold_words)]
    if kind == "number":
        value = int(text)
        return [str(v) for v in (value - 2, value - 1, value + 1, value + 2, value + 3) if v >= 0]
    if kind == "relation":
        gold = _directions(answer)
        words = [word for word in _words(answer) if word not in _RELATION_FILLER]
        if len(words) > 1:  # "left back": flip one or more of its directions, keeping its words and their order
            choices = [(word, *_OPPOSITES[_DIRECTIONS[word]]) for word in words]
            combos = [" ".join(combo) for combo in itertools.product(*choices)]
            return [combo for combo in combos if combo != " ".join(words)]
        base = _CONTAINMENT_RELATIONS if gold & {"inside", "outside"} else _SINGLE_RELATIONS
        return [c for c in base if not (_directions(c) & gold)]
    if kind == "color":
        gold = _colors(answer)
        free = [c for c in _COLORS if c not in gold]
        if len([w for w in _words(answer) if w not in _COLOR_MODIFIERS]) > 1:
            return [f"{a} and {b}" for i, a in enumerate(free) for b in free[i + 1:]]
        return free
    if kind == "person":
        return [p for p, words in _PEOPLE.items() if p != text and not (words & _PEOPLE[text])]
    gold_words = set(_words(answer))
    seen, out = set(), []
    for other in pool:
        key = " ".join(_words(other))
        if key and key not in seen and not (set(_words(other)) & gold_words) and not (set(_words(other)) &
                                                                                    _PERSON_WORDS):
            seen.add(key)
            out.append(str(other).strip())
    return out


def build_options(item_id: str, answer: str, pool: list[tuple[str, str]] | list[str] = (), question: str = ""
                  ) -> tuple[str, list[str]]:
    """(answer_kind, options) for one open-ended answer: the answer and up to ``N_DISTRACTORS`` distractors of its
    kind, ordered by SHA-256 of the item id. ``pool``: the release's other (answer, question) pairs (or bare
    answers), the source of ``object`` distractors; ``question``: the item's question, which names the kind.

    A ValueError names the item when no distractor can be found (an ``object`` answer in a release with no other).
    """
    answer = " ".join(str(answer).split())
    kind = answer_kind(answer, question)
    pairs = [(p, "") if isinstance(p, str) else tuple(p) for p in pool]
    candidates = _candidates(answer, kind, [a for a, q in pairs if answer_kind(a, q) == "object"])
    if not candidates:
        raise ValueError(f"{BENCHMARK} item {item_id!r}: no distractor for the {kind} answer {answer!r} (the release "
                         f"has no other answer of that kind); add options by hand or drop the item")
    distractors = keyed_order(f"{item_id}#distractors", candidates)[:N_DISTRACTORS]
    return kind, keyed_order(item_id, [answer, *distractors])


def features():
    import datasets

    text = datasets.Value("string")
    return datasets.Features({"id": text, "image_name": text, "question": text, "answer": text, "reasoning": text,
                              "hop": datasets.Value("int32"), "answer_kind": text,
                              "options": datasets.Sequence(text), "options_rule": text,
                              IMAGE_FIELD: datasets.Image()})


def load_release(release_dir: str | Path, image_dir: str | Path | None = None):
    """``multihop_reasoning_309.json`` + its images -> a Dataset in our row schema, options built (see above).

    ``image_dir``: the folder holding the images; by default ``release_dir`` and its usual subfolders are searched.
    A missing file or image is an error naming its path; a record without an answer gets no options (``to_item``
    then names it).
    """
    import datasets

    path = spatial_mm.find_release_file(release_dir, RELEASE_FILE)
    rows = spatial_mm.read_records(path, ("image_name", "question", "answer"))
    ids = spatial_mm.record_ids("multihop", [str(row["image_name"]) for row in rows])
    answers = [(str(row["answer"]).strip(), str(row.get("question") or "")) for row in rows
               if not is_missing(row.get("answer"))]
    dirs = spatial_mm.image_dirs(release_dir, image_dir)
    records = []
    for item_id, row in zip(ids, rows, strict=True):
        record = {"id": item_id, **{field: spatial_mm.text_or_none(row.get(field)) for field in RELEASE_FIELDS}}
        record["hop"] = _hop(path, item_id, row.get("hop"))
        if is_missing(row.get("answer")):
            record.update(answer_kind=None, options=[], options_rule=OPTIONS_RULE)
        else:
            answer = str(row["answer"]).strip()
            kind, options = build_options(item_id, answer, [(a, q) for a, q in answers if a != answer],
                                          str(row.get("question") or ""))
            record.update(answer_kind=kind, options=options, options_rule=OPTIONS_RULE)
        record[IMAGE_FIELD] = spatial_mm.read_image(item_id, [spatial_mm.under(d, row["image_name"], item_id)
                                                                for d in dirs])
        records.append(record)
    return datasets.Dataset.from_list(records, features=features())


def _hop(path: Path, item_id: str, value) -> int | None:
    if is_missing(value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not number.is_integer():
        raise ValueError(f"{path}: item {item_id!r}: hop {value!r} is not a whole number of reasoning steps")
    return int(number)
