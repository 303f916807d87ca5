"""Natural perturbation text: captions that read like facts about the image, rationales that read like reasoning.

The default generator of ``perturb`` (PROTOCOL.md §2). Where :class:`~lmms_robust.core.perturb.TemplateGenerator`
writes "The image shows that the answer is (C) left.", this one writes "The lamp is to the left of the sofa." and
a rationale that reasons its way there and ends with the commitment the parser reads (``… so the answer is (C).``
for multiple choice, ``… so the answer is 41.`` for free-form).

How: each item is classified into a question type (``QUESTION_TYPES``), keyed first by the shape of its options
(yes/no, full-sentence options, captions), then by ``item.category`` (the benchmark's own label: CV-Bench ``Depth``,
3DSRBench ``orientation_on_the_left``, ...) and then by the question's wording. The type's extractor pulls slots out
of the question (subject, reference object, relation, viewpoint, the colour of an annotation box) and phrases each
option; the sentences are Jinja templates under ``templates/natural/`` (``<type>_caption.jinja``,
``<type>_rationale.jinja``). Options saying the thing asked about is not in the image ("The image does not feature
the object") and "none of the above" options have their own templates (``absent_*``, ``none_*``).

A target no type can phrase falls back to ``TemplateGenerator`` and says why (``NaturalGenerator.describe``, kept in
each perturbation as ``text_source``): generic text that names the answer is better than a nonsensical "fact".
The extractor that phrases most options of an item wins, so one odd option costs only its own target.

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

QUESTION_TYPES = ("yes_no", "statement", "caption_choice", "counting", "comparison", "egocentric", "predicate",
                  "body_part", "orientation", "relation", "action", "attribute", "text_reading", "identify",
                  "quantity")
"""The question types with natural phrasings; any other item is ``template`` (the generic fallback)."""

FALLBACK = "template"
PHRASING_KEY = "natural-phrasing"
"""Stands in for the seed in ``_draw``: the phrasing draw is (benchmark, item_id) only, apart from the wrong option."""

_MAX_QUESTION_CHARS = 400
_MAX_OPTION_WORDS = 40
_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")

# ------------------------------------------------------------------------------------------------ word lists

_DETERMINERS = {"the", "a", "an", "this", "that", "these", "those", "his", "her", "its", "their", "my", "your", "our",
                "some", "any", "each", "every", "no", "both", "all", "another", "one", "two", "three", "four", "five",
                "several", "many", "few", "other"}
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
_PLURAL_ONLY = {"scissors", "glasses", "sunglasses", "pants", "trousers", "jeans", "shorts", "headphones",
                "earphones", "binoculars", "pliers", "tongs", "goggles", "clothes", "stairs", "people", "police",
                "cattle", "leggings", "pajamas", "tights", "earrings", "chopsticks"}
_NOT_PLURAL = {"bus", "glass", "grass", "gas", "lens", "canvas", "chess", "dress", "mattress", "compass", "cactus",
               "octopus", "walrus", "bonus", "campus", "virus", "status", "iris", "tennis", "news", "species",
               "series", "physics", "mathematics", "asparagus", "hummus", "couscous", "analysis", "axis", "basis",
               "crisis", "boss", "cross", "class", "address", "process", "christmas", "this", "its", "his", "is",
               "was", "has", "does", "us"}
_COLORS = {"red", "orange", "yellow", "green", "blue", "purple", "violet", "pink", "brown", "black", "white", "gray",
           "grey", "silver", "gold", "golden", "beige", "cyan", "magenta", "navy", "maroon", "tan", "turquoise",
           "teal", "olive", "transparent", "colorful", "multicolored", "dark", "light", "cream", "khaki", "indigo",
           "lavender", "lime", "crimson", "amber", "bronze", "copper", "ivory", "peach", "coral", "mint"}
_MODIFIERS = _COLORS | {"big", "small", "large", "tiny", "huge", "tall", "short", "long", "wide", "narrow", "left",
                        "right", "top", "bottom", "middle", "center", "upper", "lower", "front", "back", "first",
                        "second", "third", "fourth", "last", "leftmost", "rightmost", "topmost", "biggest", "smallest",
                        "largest", "tallest", "shortest", "longest", "old", "new", "young", "wooden", "metal",
                        "plastic", "glass", "striped", "dotted", "round", "square"}
_SHAPE_NOUNS = {"circle", "square", "triangle", "rectangle", "star", "heart", "oval", "diamond", "hexagon",
                "pentagon", "octagon", "cross", "arrow", "crescent", "cylinder", "cube", "sphere", "cone", "ring"}
_GENERIC_NOUNS = {"object", "objects", "one", "item", "items", "thing", "things", "shape", "shapes", "figure",
                  "animal", "animals", "option", "choice", "vehicle", "person", "object's"}
_MALE = {"man", "boy", "gentleman", "guy", "father", "dad", "husband", "son", "brother", "king", "policeman",
         "grandfather", "grandpa", "uncle", "he", "sir", "fireman", "businessman", "fisherman", "sportsman",
         "waiter", "actor", "prince", "groom"}
_FEMALE = {"woman", "girl", "lady", "mother", "mom", "wife", "daughter", "sister", "queen", "grandmother", "grandma",
           "aunt", "she", "bride", "waitress", "actress", "princess", "policewoman"}
_PERSONS = {"person", "kid", "child", "player", "batter", "shopkeeper", "keeper", "worker", "people", "individual",
            "student", "teacher", "chef", "cook", "driver", "rider", "skier", "cyclist", "pedestrian", "customer",
            "toddler", "baby", "adult", "someone", "doctor", "officer", "athlete", "surfer", "skateboarder"}
_ADVERBS = {"directly", "just", "partly", "partially", "fully", "completely", "also", "still", "currently",
            "immediately", "exactly", "slightly", "mostly", "entirely", "actually", "really", "clearly"}

# Yes/no questions "Is <subject> <predicate>?": the first of these words (after a real subject) starts the predicate.
_PREDICATE_STARTS = {
    "on", "in", "inside", "under", "underneath", "beneath", "below", "above", "over", "behind", "beside", "near",
    "next", "to", "at", "left", "right", "closer", "nearer", "farther", "further", "higher", "lower", "taller",
    "shorter", "bigger", "larger", "smaller", "wider", "narrower", "longer", "heavier", "lighter", "facing",
    "touching", "holding", "wearing", "sitting", "standing", "lying", "pointing", "looking", "parallel",
    "perpendicular", "visible", "located", "positioned", "placed", "between", "across", "against", "along",
    "outside", "within", "more", "less", "same", "heading", "moving", "turned", "oriented", "leaning", "hanging",
    "carrying", "riding", "covered", "made", "open", "closed", "empty", "full", "upside", "straight", "aligned",
    "greater", "fewer", "equal", "bigger", "smaller", "the", "a", "an", "using", "eating", "drinking", "playing",
    "reading", "walking", "running", "driving", "flying", "swimming", "touched", "attached", "connected", "used",
    "shown", "seen", "worn", "parked", "stopped", "crossing", "waiting", "going", "coming", "getting", "taking",
    "putting", "raising", "lifting", "pushing", "pulling", "throwing", "catching", "kicking", "hitting",
    "smiling", "laughing", "talking", "wider", "darker", "brighter", "older", "younger", "cheaper", "faster",
    "slower", "thicker", "thinner", "deeper", "steeper", "warmer", "colder", "hotter", "cooler", "heavier",
    *_ADVERBS,
}
_PREPOSITIONS = {"on", "in", "inside", "under", "underneath", "beneath", "below", "above", "over", "behind",
                 "beside", "near", "next", "to", "at", "between", "across", "against", "along", "outside", "within",
                 "of", "from", "with", "by", "toward", "towards", "around", "into", "onto", "directly", "right",
                 "left", "closest", "nearest", "farthest", "furthest"}
# Base-form verbs a "Does/Do <subject> <verb> ...?" question can ask about (the word after the subject).
_DO_VERBS = {"have", "represent", "show", "contain", "appear", "look", "face", "hold", "touch", "wear", "need",
             "exceed", "intersect", "pass", "cross", "belong", "include", "point", "seem", "reach", "cover", "match",
             "lie", "sit", "stand", "go", "come", "move", "stay", "remain", "use", "carry", "overlap", "lean", "hang",
             "rest", "sleep", "eat", "drink", "play", "ride", "open", "close", "fit", "form", "make", "take", "get",
             "see", "equal", "increase", "decrease", "differ", "correspond", "lead", "follow", "divide", "bisect",
             "reflect", "cast", "block", "own", "support", "share", "lack", "display", "indicate", "depict",
             "resemble", "extend", "enter", "leave", "meet", "connect", "surround", "hit", "run", "fly", "wear",
             "be", "reach", "find", "fall", "survive", "grow", "live", "float", "sink", "break", "fit", "support"}
_IRREGULAR_PAST = {"sold", "went", "did", "made", "bought", "ate", "got", "had", "won", "ran", "swam", "read", "wrote",
                   "took", "gave", "saw", "spent", "drove", "flew", "sat", "stood"}
_BASE_VERBS = {  # gerund -> base form, for "What will X do?" options
    "stopping": "stop", "yielding": "yield", "slowing down": "slow down", "passing by": "pass by",
    "accelerating": "accelerate", "speeding up": "speed up", "following": "follow", "turning left": "turn left",
    "turning right": "turn right", "going straight": "go straight", "keeping moving": "keep moving",
    "moving": "move", "parking": "park", "waiting": "wait", "reversing": "reverse", "overtaking": "overtake",
    "braking": "brake", "changing lanes": "change lanes", "crossing": "cross", "walking": "walk",
    "standing": "stand", "running": "run", "turning": "turn",
}

# Relation words -> (phrase with a reference object "{y}", phrase without one); None: cannot be said that way.
_RELATIONS: dict[str, tuple[str | None, str | None]] = {
    "left": ("to the left of {y}", "on the left"),
    "right": ("to the right of {y}", "on the right"),
    "top": ("above {y}", "at the top"), "above": ("above {y}", "at the top"), "up": ("above {y}", "at the top"),
    "over": ("over {y}", "at the top"), "upper": ("above {y}", "at the top"),
    "bottom": ("below {y}", "at the bottom"), "below": ("below {y}", "at the bottom"),
    "down": ("below {y}", "at the bottom"), "beneath": ("beneath {y}", "at the bottom"),
    "lower": ("below {y}", "at the bottom"),
    "under": ("under {y}", "down below"), "underneath": ("underneath {y}", "down below"),
    "front": ("in front of {y}", "in the front"), "in front": ("in front of {y}", "in the front"),
    "in front of": ("in front of {y}", "in the front"), "forward": ("in front of {y}", "in the front"),
    "ahead": ("ahead of {y}", "in the front"),
    "behind": ("behind {y}", "in the back"), "back": ("behind {y}", "in the back"),
    "rear": ("behind {y}", "in the back"),
    "on": ("on {y}", "on top"), "on top": ("on top of {y}", "on top"), "on top of": ("on top of {y}", None),
    "next to": ("next to {y}", None), "beside": ("beside {y}", None), "near": ("near {y}", None),
    "close": ("close to {y}", None), "close to": ("close to {y}", None), "far": ("far from {y}", None),
    "far from": ("far from {y}", None), "inside": ("inside {y}", None), "in": ("in {y}", None),
    "within": ("within {y}", None), "outside": ("outside {y}", None), "side": ("to the side of {y}", None),
    "touching": ("touching {y}", None), "across": ("across from {y}", None),
    "middle": ("in the middle relative to {y}", "in the middle"), "center": (None, "in the center"),
    "centre": (None, "in the centre"),
}
_COMPASS = {"left", "right", "top", "bottom", "above", "below", "up", "down", "front", "back", "behind", "upper",
            "lower"}
_DIRECTIONS = {  # direction a thing points/moves -> (after "pointing"/"moving", after "facing"/"looking")
    "left": ("to the left", "left"), "right": ("to the right", "right"), "up": ("upward", "up"),
    "down": ("downward", "down"), "upward": ("upward", "upward"), "downward": ("downward", "downward"),
    "upwards": ("upwards", "upwards"), "downwards": ("downwards", "downwards"),
    "top": ("upward", "upward"), "bottom": ("downward", "downward"),
    "forward": ("forward", "forward"), "backward": ("backward", "backward"),
    "backwards": ("backward", "backward"),
    "front": ("toward the front", "toward the front"), "back": ("toward the back", "toward the back"),
    "behind": ("toward the back", "toward the back"), "middle": ("toward the middle", "toward the middle"),
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
# From the camera's point of view, facing "front" is facing the camera and facing "behind" is facing away from it.
_CAMERA_FACING = {"front": "toward the camera", "forward": "toward the camera", "behind": "away from the camera",
                  "back": "away from the camera", "backward": "away from the camera",
                  "backwards": "away from the camera"}
_SIDES = {"front": "front", "back": "back", "rear": "back", "left": "left side", "right": "right side",
          "top": "top", "bottom": "bottom", "front side": "front", "back side": "back", "rear side": "back",
          "left side": "left side", "right side": "right side", "top side": "top", "bottom side": "bottom"}
_COMPARATIVE_BASES = {
    "closer": "close", "nearer": "near", "farther": "far", "further": "far", "higher": "high", "lower": "low",
    "taller": "tall", "shorter": "short", "bigger": "big", "larger": "large", "smaller": "small", "longer": "long",
    "wider": "wide", "heavier": "heavy", "lighter": "light", "thicker": "thick", "thinner": "thin",
}
_BODY_PARTS = r"hands?|arms?|legs?|feet|foot|paws?|ears?|eyes?|shoulders?|soulders?|sholders?|wings?|knees?|elbows?"
_FIX_PART = {"soulder": "shoulder", "sholder": "shoulder", "soulders": "shoulder", "sholders": "shoulder",
             "feet": "foot"}

# ------------------------------------------------------------------------------------------------ patterns

_ANNOTATION = r"\((?P<note>(?:annotated|highlighted|marked|indicated|outlined|shown|circled|labell?ed|enclosed|boxed|" \
              r"denoted|surrounded|bounded)\b[^()]{0,80})\)"
_ANNOTATED = re.compile(r"(?P<np>[^,()?.]{1,60}?)[ \t]*" + _ANNOTATION, re.IGNORECASE)
_ANNOTATION_ONLY = re.compile(r"[ \t]*" + _ANNOTATION, re.IGNORECASE)
_ASIDE = re.compile(r"[ \t]*\((?:excluding|except|not including|e\.g\.|i\.e\.)[^()]{0,80}\)", re.IGNORECASE)
_MARK = re.compile(r"\b(?:red|blue|green|yellow|orange|purple|pink|black|white|gray|grey|cyan|magenta|brown)"
                   r"(?: bounding)? (?:box|circle|rectangle|outline|mask|arrow|point|dot|square)\b", re.IGNORECASE)
_LEAD_CLAUSE = re.compile(r",[ \t]+(?=(?:where|which|what|how|is|are|was|were|does|do|can|who|in which|on which|"
                          r"in how|for how)\b)", re.IGNORECASE)
_WH_START = re.compile(r"^(?:where|which|what|how|is|are|was|were|does|do|can|in which|who|in how|for how|on which|"
                       r"from which|to which|at which|towards which|if i (?:stand|am standing|were standing))\b",
                       re.IGNORECASE)
_SETTING = re.compile(r"^(?:in|at|for|on|during|after|before|by|if|when|since|according to)\b(?!.*\b(?:image|picture|photo|"
                      r"figure|diagram|graph|chart|perspective|viewpoint)\b)", re.IGNORECASE)
_PERSPECTIVE = re.compile(r"^(?:from (?:the )?[\w'’ -]{1,60}?(?:perspective|viewpoint|point of view)|"
                          r"from the (?:perspective|viewpoint|point of view) of [\w'’ -]{1,60})$", re.IGNORECASE)
_IN_IMAGE = re.compile(r"[ \t]+in (?:the|this) (?:image|photo|picture|scene|figure)(?: provided)?$", re.IGNORECASE)
_VIEWER = r"(?:(?!from\b)[\w'’ -]){1,60}?"  # who sees: "camera's", "the man with blue helmet's" (never "each other")
_VIEW = (r"(?P<view>[ \t]+from (?:(?:the )?" + _VIEWER + r"(?:perspective|viewpoint|point of view|view|"
         r"vantage point)|the (?:perspective|viewpoint|point of view|view) of [\w'’ -]{1,60}))?")
_VIEW_SUFFIX = re.compile(r"[ \t]+(?P<view>from (?:(?:the )?" + _VIEWER + r"(?:perspective|viewpoint|point of view)|"
                          r"the (?:perspective|viewpoint|point of view) of [\w'’ -]{1,60}))$", re.IGNORECASE)
_ABSENT = re.compile(r"^(?:(?:the|this) (?:image|picture|photo) (?:does not|doesn[’']t|do not) (?:feature|show|"
                     r"contain|include|have)|there (?:is|are) no\b(?! \w+ \w+ \w+ \w+ \w+)|"
                     r"(?:the )?object is not (?:present|visible|shown))\b", re.IGNORECASE)
_NONE = re.compile(r"^(?:none of (?:the )?(?:above|others|options|these)|all (?:of )?the above(?: answers)? (?:are|is) "
                   r"wrong|none|n/?a|not applicable|neither of (?:them|these))$", re.IGNORECASE)
_EQUAL = re.compile(r"\b(?:equal(?:ly)?|same|similar|neither)\b", re.IGNORECASE)
_SENTENCE_VERB = re.compile(r"\b(?:is|are|was|were|has|have|can|does|do|did|will|would|shows?|contains?|could|"
                            r"should|may|might|must)\b", re.IGNORECASE)
_NUMBER = re.compile(r"^[0-9]{1,9}$")
_BLANK = re.compile(r"\(\s*_*\s*\)|（\s*）|_{3,}")

_COUNT = re.compile(
    r"^how many (?P<noun>[\w'’ -]{1,60}?) (?P<verb>are there|is there|were there|was there|can you see|can be seen|"
    r"do you see|could you see|are|is|were|was|appear|exist)(?: (?P<rest>[^?]{1,120}?))?$", re.IGNORECASE)
_COUNT_NUMBER = re.compile(r"^what (?:is|'s) the (?P<total>total )?number of (?P<noun>[\w'’ -]{1,60}?)"
                           r"(?P<rest> (?:in|on|at|near|around|inside) [^?]{1,100})?$", re.IGNORECASE)
_SUBTRACT = re.compile(r"^(?:subtract|remove) (?P<what>all .+?)\.?$", re.IGNORECASE)
_THERE = re.compile(r"^(?P<be>is|are|was|were) there (?P<body>.+)$", re.IGNORECASE)
_BE_QUESTION = re.compile(r"^(?P<be>is|are|was|were) (?P<body>.+)$", re.IGNORECASE)
_DO_QUESTION = re.compile(r"^(?P<do>does|do|did) (?P<body>.+)$", re.IGNORECASE)
_CAPTION_WORDS = re.compile(r"\b(?P<noun>captions?|descriptions?|describes?|statements?|sentences?)\b", re.IGNORECASE)
_CAPTION_RELATION = re.compile(
    r"^(?P<d1>a|an|the) (?P<x>[\w'-]{1,30}(?: [\w'-]{1,30}){0,2}?) "
    r"(?P<rel>on top of|on|under|underneath|beneath|below|above|"
    r"to the left of|to the right of|in front of|behind|next to|beside|inside|in) (?P<d2>a|an|the) "
    r"(?P<y>[\w'-]{1,30}(?: [\w'-]{1,30}){0,2})$", re.IGNORECASE)
_REL_WITH = r"(?:with respect to|relative to|in (?:the )?relation to|compared to|in comparison to|with regard to|" \
            r"in respect to)"
_WHERE_REL = re.compile(
    r"\bwhere (?P<be>is|are) (?P<x>.+?)(?: (?:located|positioned|placed|situated|found))?,? " + _REL_WITH
    + r" (?P<y>.+?)" + _VIEW + r"$", re.IGNORECASE)
_POSITION_OF = re.compile(r"^what is the position of (?P<x>.+?) " + _REL_WITH + r" (?P<y>.+?)" + _VIEW + r"$",
                          re.IGNORECASE)
_PLACED = re.compile(r"[ \t]+(?:located|positioned|placed|situated|found)$", re.IGNORECASE)
_WHERE_ONE = re.compile(
    r"\bwhere (?P<be>is|are) (?P<x>.+?)(?: (?:located|positioned|placed|situated|found))?" + _VIEW + r"$",
    re.IGNORECASE)
_WHERE_ON = re.compile(r"^where (?P<be>is|are) (?P<x>.+?) (?P<verb>sitting|standing|lying|laying|placed|parked|"
                       r"hanging|resting|perched|sleeping)(?: (?P<prep>on|in|at|under|inside))?$", re.IGNORECASE)
_SIDE_OF = re.compile(r"^on which side of (?P<y>.+?) (?P<be>is|are) (?P<x>.+?)(?: (?:located|placed|positioned))?$",
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
_SIDE_VISIBLE = re.compile(r"^(?:in this image, )?which side of (?P<x>.+?) (?P<be>is|are) (?P<verb>visible|shown|seen)"
                           + _VIEW + r"$", re.IGNORECASE)
_DIRECTION = re.compile(
    r"^(?:in |towards? )?which (?:direction|side|way) (?P<be>is|are|does|do) (?P<x>.+?) (?P<verb>pointing|pointed|"
    r"facing|moving|heading|looking(?: at| towards?)?|going|travell?ing|oriented|turned|flying|running|walking|"
    r"swimming|driving|riding|point|face|move|head|look|go|travel|fly|run|walk)" + _VIEW + r"(?:,[^?]*)?$",
    re.IGNORECASE)
_SEEN_FROM = re.compile(r"^from which (?:viewpoint|direction|side|angle) (?P<be>is|are|can) (?P<x>.+?) (?:be )?"
                        r"(?P<verb>shown|seen|viewed|photographed|captured)" + _VIEW + r"$", re.IGNORECASE)
_WHICH_SIDE_IS = re.compile(r"^which side (?P<be>is|are) (?P<x>.+?)(?: on| located| placed)?" + _VIEW + r"$",
                            re.IGNORECASE)
_ORIENTATION_OF = re.compile(r"^what is the orientation of (?P<x>.+?)$", re.IGNORECASE)
_WHICH_FACING = re.compile(
    r"^which (?:object|one|thing|item|person|animal) (?P<be>is|are) (?P<x>.+?) (?P<verb>facing(?: toward| towards)?|"
    r"looking at|pointing at|pointing to|pointing toward|pointing towards|holding|touching|riding|carrying)"
    r"(?:,[^?]*)?$", re.IGNORECASE)
_COMPARISON = re.compile(
    r"^which (?:(?:object|one|item|thing|person|animal|of the (?:two|three|four|following)(?: objects| items)?|"
    r"of these(?: objects| items)?|of them) )?(?P<be>is|are) (?P<comp>(?:" + "|".join(_COMPARATIVE_BASES)
    + r"|more \w+|less \w+)\b[^,]*?)(?:,[ \t]*(?P<cands>[^,]+?(?:,[^,]+?)*\bor\b.+?))?$", re.IGNORECASE)
_HAS_LOCATION = re.compile(r"^which (?:object|one|item|thing) has a (?P<comp>higher|lower) location$", re.IGNORECASE)
_PHOTOGRAPHER = re.compile(r"[ \t]+(?:taking|that took|which took|who took) (?:this|the) (?:photo|picture|image)",
                           re.IGNORECASE)
_EGOCENTRIC = re.compile(
    r"^if i (?:stand|am standing|were standing) at (?P<who>.+?)(?:'s|’s) position,? facing where (?:it|he|she|they) "
    r"(?:is|are) facing, (?P<be>is|are) (?P<x>.+?) (?:in front of me or behind me|on the left or (?:on the )?right "
    r"of me|on my left or (?:my )?right|to the left or right of me)$", re.IGNORECASE)
_RELATIONSHIP = re.compile(r"^what is the (?:positional |spatial )?relationship between (?:the orientations of )?"
                           r"(?P<x>.+?)(?:,[ \t]*(?P<alts>.+))?$", re.IGNORECASE)
_PART_WHICH = re.compile(r"^(?:(?P<prep>in|on|with|to|at) )?which (?P<part>" + _BODY_PARTS + r")(?: of (?P<owner>.+?))? "
                         r"(?:(?P<be>is|are) )?(?P<rest>.+)$", re.IGNORECASE)
_ATTRIBUTES = r"colou?r|material|shape|size|pattern|texture|fur colou?r|hair colou?r"
_ATTR_OF = re.compile(r"^what (?P<be>is|are) the (?P<attr>" + _ATTRIBUTES + r")s? of (?P<x>.+?)$", re.IGNORECASE)
_ATTR_IS = re.compile(r"^what (?P<attr>" + _ATTRIBUTES + r")s? (?P<be>is|are) (?P<x>.+?)$", re.IGNORECASE)
_MADE_OF = re.compile(r"^what (?P<be>is|are) (?P<x>.+?) made of$", re.IGNORECASE)
_ATTR_ON = re.compile(r"^what (?P<attr>pattern|design|print|texture) (?P<be>is|are) (?:on|of) (?P<x>.+?)$",
                      re.IGNORECASE)
_TEXT_NOUNS = (r"number|numbers|text|word|words|letter|letters|name|title|digit|digits|code|price|time|date|brand|"
               r"label|slogan|year|phone number|plate number|license plate number|license plate|address|content|"
               r"fax number|telephone number|website|email|url|sign|logo")
_READ_THE = re.compile(
    r"^what(?:'s| (?P<be>is|are|may be|might be|could be)) the (?P<what>(?:[\w-]+ ){0,3}?(?:" + _TEXT_NOUNS + r"))"
    r"(?P<rest> (?:written|shown|displayed|printed|painted|visible|described|on|in|at|of|above|below|near|to the)\b.*)?$",
    re.IGNORECASE)
_READ_WHAT = re.compile(
    r"^what (?P<what>" + _TEXT_NOUNS + r") (?P<be>is|are) (?P<rest>(?:written|shown|displayed|printed|painted|"
    r"visible|on|in|at) .+)$", re.IGNORECASE)
_READ_SAY = re.compile(r"^(?:what|how) (?P<be>does|do) (?P<x>.+?) (?P<verb>say|read|show|mean)$", re.IGNORECASE)
_WRITTEN_ON = re.compile(r"^what (?:is|'s) (?P<verb>written|printed|painted|displayed|shown) (?P<rest>(?:on|in|at|"
                         r"above|below) .+)$", re.IGNORECASE)
_READ_WHERE = re.compile(r"\b(?:on|in|at|of|above|below|near) (?P<where>.+)$", re.IGNORECASE)
_SPATIAL_REST = (r"(?:to|on|in|under|underneath|above|below|behind|beside|near|next|at|between|inside|outside|"
                 r"closest|nearest|farthest|furthest|directly|right|left|that|which|held|holding|being|located|"
                 r"placed|positioned|sitting|standing|lying|hanging|leaning)\b")
_WHAT_THE = re.compile(r"^what (?P<be>is|are) the (?P<head>[a-z]+(?: [a-z]+)?) (?P<rest>" + _SPATIAL_REST + r".+)$",
                       re.IGNORECASE)
_WHAT_HEAD = re.compile(r"^what (?P<head>[a-z]+) (?P<be>is|are) (?P<rest>" + _SPATIAL_REST + r".+)$", re.IGNORECASE)
_WHAT_SPATIAL = re.compile(r"^(?P<wh>what|who)(?: (?P<be>is|are)|'s) (?P<rest>(?:(?:placed|located|positioned|hanging|"
                           r"sitting|standing|lying|right|directly|immediately) )?(?:in|on|under|underneath|above|"
                           r"below|behind|beside|near|next to|inside|between|to the|in front of|at)\b.+)$",
                           re.IGNORECASE)
_WHICH_NOUN = re.compile(r"^which (?:of the following |of these |one of the )?(?P<noun>[a-z]+(?: [a-z]+){0,2}?|"
                         r"(?:type|kind|sort|part|one) of (?:the )?[a-z]+(?: [a-z]+){0,2}) "
                         r"(?P<verb>is|are|has|have|was|were|would|will|can|could|should|must|might|may|cannot|"
                         r"had|did|cost|got|made|sold|won|ran|[a-z]+s|[a-z]+ed) (?P<rest>.+)$", re.IGNORECASE)
_WHICH_EXCLUDED = {"side", "direction", "caption", "captions", "statement", "description", "sentence", "option",
                   "choice", "answer", "way", "of", "one of", "hand", "arm", "leg", "foot"}
_KIND_OF = re.compile(r"^what (?:type|kind|sort) of (?:the )?(?P<noun>[\w' -]{1,40}?) (?P<be>is|are) (?P<rest>.+)$",
                      re.IGNORECASE)
_LEADING_SPATIAL = re.compile(r"^(?:to the|on|in|under|underneath|above|below|behind|beside|near|next to|at|inside|"
                              r"outside|directly|between)\b", re.IGNORECASE)
_MOTION = re.compile(r"^what is (?:the )?(?:motion|movement) of (?P<x>.+)$", re.IGNORECASE)
_FUTURE = re.compile(r"^what is the future (?:state|status|motion|action) of (?P<x>.+)$", re.IGNORECASE)
_SHOULD_DO = re.compile(r"^what should (?P<who>the ego (?:vehicle|car)) do when (?:encountering|approaching|facing) "
                        r"(?P<x>.+)$", re.IGNORECASE)
_WILL_DO = re.compile(r"^what will (?P<x>.+?) (?:(?P<how>most likely|probably|likely) )?do(?: (?P<when>when .+))?$",
                      re.IGNORECASE)
_SIGNAL = re.compile(r"^what is the traffic (?P<noun>signal|sign|light) (?P<rest>that .+)$", re.IGNORECASE)
_COPULA = re.compile(r"^(?:what|who|which)(?:'s| (?P<be>is|are|was|were|may be|might be|would be)) (?P<np>(?:the|a|an|"
                     r"this|these|(?-i:[A-Z])[\w-]*) .+)$", re.IGNORECASE)
# "find x in the triangle": where a geometry question says its figure is
_IN_FIGURE = (r"in (?:the|this) (?:figure|triangle|diagram|circle|parallelogram|trapezoid|image|quadrilateral|rhombus|"
              r"kite|graph|shape|polygon|rectangle|square)")
_FIND_ANY = re.compile(r"(?:^|[,.;:$]\s+|\bto )(?:find|express) (?P<what>[^,;?]+?)(?: as an? [a-z ]+?| to the "
                       r"nearest [a-z]+| rounded [a-z ]+)?(?: " + _IN_FIGURE + r")?(?:\.(?:\s|$)|[,;?]|$)",
                       re.IGNORECASE)
_SHARE = re.compile(r"^(?:approximately,? )?what (?P<kind>percent|percentage|fraction|proportion|share) of "
                    r"(?P<rest>.+)$", re.IGNORECASE)
_SHOWN = re.compile(r"^what (?P<noun>number|value|time|year|letter|word|digit|date) (?:is|are) (?P<rest>shown|"
                    r"displayed|written|indicated|missing)$|^which (?P<noun2>number|shape|picture|term|figure|value|"
                    r"letter|image) (?:is|comes) (?P<rest2>missing|next)$|^(?:can you )?(?:find|calculate|determine|"
                    r"what is) the (?P<rest3>missing) (?P<noun3>term|number|value|item|shape|picture|figure)$",
                    re.IGNORECASE)
_POINTS_TO = re.compile(r"^what (?:number|value) (?P<do>does|do) (?P<x>.+?) (?P<verb>point to|point at|show|read|"
                        r"indicate)$", re.IGNORECASE)
_HAPPEN = re.compile(r"^(?:what (?P<aux>would|will|happens) (?:happen )?to (?P<x>.+?) if (?P<cond>.+)|what "
                     r"(?P<aux2>would|will) happen if (?P<cond2>.+)|(?:.*?\b)?if (?P<cond3>.+?),? what (?P<aux3>will|"
                     r"would) (?P<x3>.+?) (?P<how>most likely )?do|(?:.*?\b)?if (?P<cond4>.+?),? (?P<x4>[^,]+?) "
                     r"(?P<aux4>will|would) (?P<how4>most likely )?do what|(?:.*?\b)?if (?P<cond5>.+?), what "
                     r"(?P<aux5>would|will) happen to (?P<x5>.+)|(?:which of the following|what) (?P<aux6>will|would) "
                     r"(?:most likely )?happen if (?P<cond6>.+)|(?:.*?\b)?if (?P<cond7>.+?), what is likely to "
                     r"happen|what happens if (?P<cond8>.+)|what (?P<aux9>would|will) happen to (?P<x9>.+)|what is "
                     r"likely to happen(?P<cond10>))$", re.IGNORECASE)
_COMPLETION = re.compile(r"^(?P<text>.{12,}?\b(?:if|be|is|are|was|were|by|to|of|than|will|would|likely|as))\s*:?$",
                         re.IGNORECASE)
_THERE_CHOICE = re.compile(r"^(?:is|are) there (?:a|an) (?P<a>[\w -]+?) or (?:a|an) (?P<b>[\w -]+?)$", re.IGNORECASE)
_WHAT_IF = re.compile(r"^if (?P<cond>.+?),? what (?P<noun>animal|organism|population|species|plant|creature) "
                      r"(?P<rest>(?:would|will|could|might) .+)$", re.IGNORECASE)
_WHO_OR = re.compile(r"^who (?P<rest>.+?), (?P<cands>[^,]+ or [^,]+)$|^who (?P<rest2>(?:[a-z]+ed|[a-z]+s|won|beat|"
                     r"hit|ran|made|took|gave|saw|found|caught|threw|drove|wrote|sang|stole) .+)$", re.IGNORECASE)
_WHOSE = re.compile(r"^whose (?P<noun>[\w' -]+?) (?P<be>is|are|was|were) (?P<rest>.+)$", re.IGNORECASE)
_WHERE_DOES = re.compile(r"^where (?P<do>does|do|did) (?P<x>[A-Z][\w-]+|the .+?) (?P<verb>work|live|stay|study|teach)$")
_IN_WHICH_DOES = re.compile(r"^in which (?P<noun>year|month|week|day|quarter) (?:does|do) (?P<x>.+?) (?P<adv>first |"
                            r"finally )?(?P<verb>exceed|reach|surpass|cross|pass|hit|become|drop below|fall below)"
                            r"(?P<rest> .+)$", re.IGNORECASE)
_IN_WHICH_AREA = re.compile(r"^in which (?:area|part|region|corner|half|section) (?:of (?P<y>.+?) )?(?P<be>is|are) "
                            r"(?P<x>.+?)(?: (?:located|placed|found|situated))?$", re.IGNORECASE)
_WHICH_BARE = re.compile(r"^which(?: of the following| of these| one)? (?P<verb>has|have|had|is|are|was|were|would|"
                         r"will|can|could|cannot|must|might|may|should) (?P<rest>.+)$", re.IGNORECASE)
_MODAL_QUESTION = re.compile(r"^(?P<modal>can|could|will|would|should|must|might|may) (?P<body>.+)$", re.IGNORECASE)
_MODAL_NOT = {"can": "cannot", "could": "could not", "will": "will not", "would": "would not",
              "should": "should not", "must": "must not", "might": "might not", "may": "may not"}
_IN_HOW_MANY = re.compile(r"^(?:in|for) how many (?P<noun>years|days|months|weeks|countries|cases|times|"
                          r"categories|groups),? (?P<be>is|are|was|were) (?P<body>.+)$", re.IGNORECASE)
_IN_WHICH = re.compile(r"^in which (?P<noun>year|month|week|day|country|city|season|category|period|quarter),? "
                       r"(?P<rest>(?!is |are |was |were |does |do |did ).+)$", re.IGNORECASE)
_COUNT_VERB = re.compile(r"^(?:how many|what number of) (?P<noun>(?:(?!\b(?:do|does|did|will|can|could|would)\b)"
                         r"[\w'’ -]){1,60}?) (?P<verb>are|is|will|can|could|would|have|has|had|achieve|get|got|score|show|"
                         r"contain|receive|exceed|reach|win|won|use|need|like|prefer|own|appear|went|did|made|sold|"
                         r"bought|ate|ran|swam|read|wrote|took|gave|saw|spent|[a-z]{3,}ed) (?P<rest>[^?]{1,120})$",
                         re.IGNORECASE)
_COUNT_DO = re.compile(r"^how many (?P<noun>[\w'’ -]{1,40}?) (?P<do>does|do|did) (?P<x>.+?) (?P<verb>have|contain|"
                       r"show|include|need|get|use|make|hold|carry|take|win|score|sell)(?P<tail> [^?]{1,60})?$",
                       re.IGNORECASE)
_WHEN_DOES = re.compile(r"^when (?P<do>does|do|did) (?P<x>.+?) (?P<verb>have|reach|start|begin|peak|hit|become|"
                        r"exceed|first reach|stop|cross)(?P<rest> .+)?$", re.IGNORECASE)
_HOW_MUCH = re.compile(r"^how much (?:money )?(?:(?P<do>does|do|did|will) (?P<x>.+?) (?P<verb>need|spend|pay|make|"
                       r"earn|save|lose|raise|have|get|cost)(?P<rest> .+)?|more (?P<do2>does|do) (?P<x2>.+?) cost "
                       r"than (?P<y2>.+)|(?P<comp>more|higher|lower|larger|bigger|smaller|less|longer|shorter|"
                       r"heavier|taller|cheaper|more expensive|greater) (?P<be>is|are|was|were) (?P<x3>.+?) than "
                       r"(?P<y3>.+))$", re.IGNORECASE)
_PAST = {"spend": "spent", "pay": "paid", "make": "made", "earn": "earned", "save": "saved", "lose": "lost",
         "raise": "raised", "have": "had", "get": "got", "need": "needed", "cost": "cost"}
_FIND = re.compile(r"^find (?P<what>.+?)(?: " + _IN_FIGURE + r"| to the nearest .+)?$", re.IGNORECASE)

# ------------------------------------------------------------------------------------------------ text helpers


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _lc(text: str) -> str:
    """Lower the first letter where the first word is a common word (``The lamp`` -> ``the lamp``, not ``Kevin``)."""
    first = text.split(" ", 1)[0].lower()
    if first in _DETERMINERS or first in ("from", "there", "it", "they", "for", "when", "after", "in", "standing",
                                          "he", "she", "we", "if", "at", "on", "no", "only", "none"):
        return text[:1].lower() + text[1:]
    return text


def _strip_article(text: str) -> str:
    return re.sub(r"^(?:the|a|an)[ \t]+", "", text, count=1, flags=re.IGNORECASE)


def _dedupe(text: str) -> str:
    """``the the sign`` -> ``the sign``, ``the a person`` -> ``a person`` (typos the releases carry)."""
    return re.sub(r"\b(?:the|a|an)[ \t]+(?=(?:the|a|an|its|his|her|their|my|your|our)\b)", "", text,
                  flags=re.IGNORECASE)


def _is_plural(word: str) -> bool:
    w = word.lower().strip(".,")
    if w in _IRREGULAR_PLURALS or w in _PLURAL_ONLY:
        return True
    if w in _NOT_PLURAL or w in _UNCHANGED_PLURALS:
        return False
    return len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is", "ous", "'s", "’s"))


def _head(np: str) -> str:
    """The head noun of a noun phrase: the last word before a preposition or a relative clause."""
    words = re.sub(r"\([^()]*\)", " ", np).split()
    for i, w in enumerate(words):
        if i >= 2 and w.lower().endswith("ing") and i + 1 < len(words):  # "the pedestrians preparing to cross"
            return words[i - 1]
        if i > 0 and w.lower() in ("of", "with", "wearing", "holding", "in", "on", "that", "who", "which", "near",
                                   "at", "to", "from", "behind", "under", "above", "below", "beside", "by", "next",
                                   "sitting", "standing", "lying", "using", "carrying", "placed", "located",
                                   "positioned", "directly", "immediately", "closest", "nearest", "facing", "being",
                                   "whose", "where", "having", "riding", "playing", "reading", "looking", "worn"):
            return words[i - 1]
    return words[-1] if words else ""


def _np_plural(np: str) -> bool:
    """Whether a noun phrase takes "are": two things joined by "and", or a plural head noun."""
    text = " ".join(np.split())
    if re.search(r"\band\b", re.split(r"\b(?:of|with|wearing|in|on|that|who|which)\b", text, maxsplit=1)[0]):
        return True
    first = text.split(" ", 1)[0].lower()
    if first in ("these", "those", "both", "many", "several", "two", "three", "four", "five", "some"):
        return True
    if first in ("a", "an", "one", "this", "that", "each", "every"):
        return False
    return _is_plural(_head(text))


def _agree(np: str, be: str = "is") -> str:
    """The form of "be" that agrees with ``np`` in the tense of ``be``."""
    past = be.lower() in ("was", "were")
    plural = _np_plural(np)
    return ("were" if plural else "was") if past else ("are" if plural else "is")


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
    if lw in _UNCHANGED_PLURALS or lw in _NOT_PLURAL or not lw.endswith("s") or lw.endswith(("ss", "us", "is")) \
            or len(lw) < 3:
        return word
    if lw.endswith("ies") and len(lw) > 4:
        return word[:-3] + "y"
    if lw.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    return word[:-1]


def _the(np: str) -> str:
    """A bare common noun gets ``the`` (``dog`` -> ``the dog``); a determiner, possessive or name is kept."""
    np = _dedupe(np.strip())
    if not np:
        return np
    words = np.split()
    first = words[0]
    if len(words) > 1 and re.fullmatch(r"[a-z]+", words[-1]) and first.lower() not in _DETERMINERS \
            and (first[:1].isupper() or first[:1] in "\"'“"):  # "ABBANK sign", '"VIA RODEO" sign', "Upper half"
        if re.fullmatch(r"[A-Z][a-z]+", first) and all(re.fullmatch(r"[a-z-]+", w) for w in words[1:]):
            np = np[:1].lower() + np[1:]  # a sentence-cased common phrase, not a name
        return "the " + np
    if (first.lower() in _DETERMINERS or first[:1].isupper() or first[:1].isdigit() or first[:1] in "\"'“$\\"
            or first.lower() in ("it", "they", "them", "he", "she", "him", "you", "me", "us")):
        return np
    return "the " + np  # "dog" -> "the dog", "camera's perspective" -> "the camera's perspective"


def _indefinite(np: str) -> str:
    """``bicycle`` -> ``a bicycle``, ``umbrella`` -> ``an umbrella``; plurals, names and determiners are kept."""
    np = np.strip()
    first = np.split(" ", 1)[0]
    if (first.lower() in _DETERMINERS or first[:1].isupper() or first[:1].isdigit() or _np_plural(np)
            or first.endswith(("'s", "’s")) or first[:1] in "\"'“$\\"):
        return np
    lw = first.lower()
    vowel = lw[:1] in "aeiou" and not lw.startswith(("uni", "use", "usu", "uti", "eu", "one", "ur"))
    vowel = vowel or lw.startswith(("hour", "honest", "honor", "heir"))
    return ("an " if vowel else "a ") + np


def _possessive(np: str) -> str:
    """``his``/``her``/``their``/``its`` for a noun phrase (a person whose sex the words do not say: ``their``)."""
    head = _head(np).lower().strip(".,'’s")
    if _np_plural(np):
        return "their"
    if head in _MALE:
        return "his"
    if head in _FEMALE:
        return "her"
    if head in _PERSONS or head.endswith(("er", "ist", "or")):
        return "their"
    return "its"


def _article_key(np: str) -> str:
    return _strip_article(" ".join(np.lower().split()))


def _be(word: str) -> str:
    return word.lower()


def _view(raw: str | None) -> str:
    """`` from camera's perspective`` -> ``from the camera's perspective``; None/empty -> ``""``."""
    if not raw or not raw.strip():
        return ""
    text = " ".join(raw.split())
    m = re.match(r"from (the )?(.+)$", text, re.IGNORECASE)
    view = ("from the " + m.group(2) if m.group(1) else "from " + _the(m.group(2))) if m else text
    return re.sub(r"\s+'s\b", "'s", view)  # "the horse 's perspective"


def _number(text: str) -> int | None:
    t = text.strip().lower()
    if _NUMBER.match(t):
        return int(t)
    return _NUMBER_WORDS.get(t) if t not in ("no", "none") else 0


def _option_key(text: str) -> str:
    """An option's text for matching word lists: lower case, no article, no trailing period."""
    t = " ".join(text.lower().split()).strip(" .")
    t = _strip_article(t)
    return t


def _quote(value: str) -> str:
    return value if re.fullmatch(r"[-+$€£]?[0-9][0-9,.:/ %-]*", value) else f'"{value}"'


def _ok_np(np: str, max_words: int = 10) -> bool:
    return bool(np.strip()) and len(np.split()) <= max_words and not re.search(r"[?{}<>\\]", np)


def _lower_value(value: str) -> str:
    """``Dark Green`` -> ``dark green``: a colour or other common-word value written in title case."""
    words = value.split()
    if words and all(w.lower().strip(",") in _COLORS | {"and", "or", "with", "-"} for w in words):
        return value.lower()
    return value


def _third_person(verb: str) -> str:
    if verb == "have":
        return "has"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    if verb.endswith(("s", "sh", "ch", "x", "o", "z")):
        return verb + "es"
    return verb + "s"


def _and_join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _or_join(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"either {items[0]} or {items[1]}"
    return "any of " + _and_join(items)


def _nor_join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " nor " + items[-1]


# ------------------------------------------------------------------------------------------------ the question


@dataclass(frozen=True)
class _Question:
    core: str
    """The asking sentence: hints, leading clauses, annotation parentheticals and the question mark removed."""
    marks: tuple[tuple[str, str], ...]
    """(object key, mark) pairs from annotations: (``lamp``, ``red box``)."""
    view: str = ""
    """A viewpoint the question puts in a leading clause ("From the perspective of the goat, is there ...")."""
    setting: str = ""
    """A leading clause that sets the scene of the fact ("In 2003", "At a price of $790", "If the trees died"): the
    caption keeps it in front."""
    lead: tuple[str, ...] = ()
    """The sentences before the asking one (``Subtract all red cubes.``)."""
    text: str = ""
    """The whole question on one line, annotations dropped (blank-filling questions use it)."""

    def mark(self, np: str) -> str | None:
        key = _article_key(np)
        for name, mark in self.marks:
            if name == key:
                return mark
        return None


@lru_cache(maxsize=4096)
def _question(text: str) -> _Question | None:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    if not lines:
        return None
    asked = [line for line in lines if "?" in line]
    line = " ".join((asked[-1] if asked else lines[-1]).split())
    marks = []
    for m in _ANNOTATED.finditer(line):
        np = m.group("np")
        last = list(re.finditer(r"\b(?:the|a|an)[ \t]", np, re.IGNORECASE))
        np = np[last[-1].start():] if last else " ".join(np.split()[-2:])
        mark = _MARK.search(m.group("note"))
        if mark and np.strip():
            marks.append((_article_key(np), mark.group(0).lower().replace(" bounding", "")))
    line = _ASIDE.sub("", _ANNOTATION_ONLY.sub("", line))
    sentences = re.split(r"(?<=[.!?])[ \t]+(?=[A-Z\"“])", line)
    asking = [i for i, s in enumerate(sentences) if "?" in s]
    index = asking[-1] if asking else len(sentences) - 1
    core = sentences[index]
    core = core.split("?")[0] if "?" in core else core
    view = setting = ""
    clauses = list(_LEAD_CLAUSE.finditer(core))
    if clauses and not _WH_START.match(core):
        head = core[: clauses[-1].start()].strip()
        if _PERSPECTIVE.match(head):
            view = _view(head)
        elif _SETTING.match(head) and len(head.split()) <= 14:
            setting = head
        core = core[clauses[-1].end():]
    core = _dedupe(" ".join(core.split()).strip(" .!:;,\"“”"))
    if not core or len(core) > _MAX_QUESTION_CHARS:
        return None
    lead = tuple(s.strip() for s in sentences[:index] if s.strip())
    return _Question(core=core, marks=tuple(marks), view=view, lead=lead, text=" ".join(sentences).strip(),
                     setting=setting)


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
    missing: str | None = None
    """For reading questions: what an absent option says the image does not show ("the number on the bus")."""


def _yes_no(item: Item, q: _Question) -> _Frame | None:
    if not item.is_multiple_choice or sorted(_option_key(o) for o in item.options) != ["no", "yes"]:
        return None
    core, view = q.core, q.view
    suffix = _VIEW_SUFFIX.search(core)
    if suffix:
        core, view = core[: suffix.start()], _view(suffix.group("view"))
    m = _THERE.match(core)
    subject = None
    if m:
        be, body = _be(m.group("be")), m.group("body")
        first, _, rest = body.partition(" ")
        if first.lower() in ("a", "an", "any", "some") and rest:
            negative = f"there {be} no {rest}"
            positive = f"there {be} {_strip_any(body)}"
        elif first.lower() == "the" and rest:  # "Is there the painting brush on the right?"
            negative, positive = f"there {be} no {rest}", f"there {be} {_indefinite(rest)}"
        elif first.lower() in _NUMBER_WORDS or first.isdigit() or first.lower() in ("fewer", "more", "less", "as"):
            negative, positive = f"there {be} not {body}", f"there {be} {body}"
        else:
            negative, positive = f"there {be} no {body}", f"there {be} {_strip_any(body)}"
    elif _DO_QUESTION.match(core) or _MODAL_QUESTION.match(core):
        m = _DO_QUESTION.match(core)
        split = _split_do(m.group("body"), m.group("do").lower()) if m else None
        if m is None:
            m = _MODAL_QUESTION.match(core)
            split = _split_modal(m.group("body"), m.group("modal").lower())
        if split is None:
            return None
        subject, positive, negative = split
    else:
        m = _BE_QUESTION.match(core)
        if not m:
            return None
        split = _split_subject(m.group("body"))
        if split is None:
            return None
        subject, predicate = split
        be = _agree(subject, m.group("be")) if subject.lower() not in ("this", "that", "it") else _be(m.group("be"))
        positive, negative = f"{subject} {be} {predicate}", f"{subject} {be} not {predicate}"
    if not _ok_np(positive, 40):
        return None
    clause = f"{positive} {view}" if view else positive

    def phrase(text: str) -> dict | None:
        key = _option_key(text)
        if key not in ("yes", "no"):
            return None
        fact = positive if key == "yes" else negative
        return {"holds": key == "yes", "fact": f"{view}, {fact}" if view else fact}

    return _Frame("yes_no", {"clause": clause}, phrase, subject=subject)


def _strip_any(body: str) -> str:
    """``any people on the bench`` -> ``people on the bench`` (the positive statement has no "any")."""
    return re.sub(r"^any[ \t]+", "", body, flags=re.IGNORECASE)


def _real_subject(tokens: list[str], i: int) -> bool:
    head = [t.lower() for t in tokens[:i]]
    return any(t not in _DETERMINERS for t in head) and head[-1] not in _DETERMINERS | {"of", "and", "or"}


_COMPARED = re.compile(r"^(?P<subject>.+?) (?P<predicate>(?:much |far |a lot |slightly )?(?:less|greater|more|fewer|"
                       r"larger|smaller|bigger|higher|lower|longer|shorter|taller|heavier|lighter|wider|narrower|"
                       r"older|younger|faster|slower|cheaper|darker|brighter|thicker|thinner) than\b.+|equal to\b.+)$",
                       re.IGNORECASE)


def _split_subject(body: str) -> tuple[str, str] | None:
    """``the cup on the left of the laptop`` -> (``the cup``, ``on the left of the laptop``); None when unsure."""
    compared = _COMPARED.match(body)  # "the number of bikes right of the cube less than ...": the comparative splits
    if compared:
        return compared.group("subject"), compared.group("predicate")
    tokens = body.split()
    if len(tokens) < 2:
        return None
    for i in range(1, len(tokens) - 1):  # "the woman in white directly underneath the light": the adverb splits
        if tokens[i].lower() in _ADVERBS and tokens[i + 1].lower() in _PREDICATE_STARTS and _real_subject(tokens, i):
            return " ".join(tokens[:i]), " ".join(tokens[i:])
    for i in range(1, len(tokens)):
        word = tokens[i].lower()
        if word in _PREDICATE_STARTS and _real_subject(tokens, i):
            if word in ("the", "a", "an") and tokens[i - 1].lower() in _PREPOSITIONS | {"with", "and", "or"}:
                continue  # "the man with the hat ...": an article after a preposition is still the subject
            return " ".join(tokens[:i]), " ".join(tokens[i:])
    if tokens[0].lower() in ("this", "that", "it", "these", "those", "they"):
        if tokens[1].lower() in ("a", "an", "the") or len(tokens) < 3 or tokens[0].lower() in ("it", "they"):
            return tokens[0], " ".join(tokens[1:])
        return " ".join(tokens[:2]), " ".join(tokens[2:])  # "this function convex"
    if len(tokens) >= 3 and tokens[-2].lower() not in _DETERMINERS | _PREPOSITIONS and _real_subject(tokens,
                                                                                                     len(tokens) - 1):
        return " ".join(tokens[:-1]), tokens[-1]
    return None


def _split_do(body: str, do: str) -> tuple[str, str, str] | None:
    """``the man wear a hat`` -> (subject, positive, negative) for "Does/Do/Did ..."; None without a known verb."""
    tokens = body.split()
    for i in range(1, len(tokens)):
        word = tokens[i].lower()
        if not _real_subject(tokens, i):
            continue
        subject, rest = " ".join(tokens[:i]), " ".join(tokens[i + 1:])
        tail = f" {rest}" if rest else ""
        if word.endswith("ing") and word in _PREDICATE_STARTS:  # "Do these ducks facing away ...?" (sic)
            be = _agree(subject)
            return subject, f"{subject} {be} {word}{tail}", f"{subject} {be} not {word}{tail}"
        if word in _DO_VERBS:
            if do == "did":
                return subject, f"{subject} did {word}{tail}", f"{subject} did not {word}{tail}"
            plural = do == "do" or _np_plural(subject)
            verb = word if plural else _third_person(word)
            return subject, f"{subject} {verb}{tail}", f"{subject} {'do' if plural else 'does'} not {word}{tail}"
    return None


def _split_modal(body: str, modal: str) -> tuple[str, str, str] | None:
    """``the boy reach the highest book`` (after "Can") -> (subject, positive, negative)."""
    tokens = body.split()
    for i in range(1, len(tokens)):
        if tokens[i].lower() in _DO_VERBS and _real_subject(tokens, i):
            subject, rest = " ".join(tokens[:i]), " ".join(tokens[i:])
            return subject, f"{subject} {modal} {rest}", f"{subject} {_MODAL_NOT[modal]} {rest}"
    return None


def _sentence_option(text: str) -> bool:
    text = _clean(text)
    words = text.split()
    verb = _SENTENCE_VERB.search(text) or re.search(r"\b[a-z]{3,}ed\b", text) or \
        words[0] in ("There", "He", "She", "They", "It", "We", "I", "This", "These")
    return len(words) >= 3 and text[:1].isupper() and bool(verb)


def _statement(item: Item, q: _Question) -> _Frame | None:
    if not item.is_multiple_choice:
        return None
    plain = [o for o in item.options if not _ABSENT.match(_clean(o)) and not _NONE.match(_option_key(o))]
    if len(plain) < 2 or not all(_sentence_option(o) for o in plain) or _CAPTION_WORDS.search(q.core):
        return None
    focus = _focus(q)

    def phrase(text: str) -> dict | None:
        text = " ".join(str(text).split())
        if not _sentence_option(text) or len(text.split()) > _MAX_OPTION_WORDS:
            return None
        sentence = text if text.endswith((".", "!")) else text + "."
        sentence = re.sub(r"^There are (1|one) (?=\w+ )", r"There is \1 ", sentence)  # V*'s "There are 1 person"
        return {"sentence": sentence, "shown": _lc(sentence.rstrip(".!"))}

    return _Frame("statement", {"focus": focus, "focus_plural": bool(focus) and _np_plural(focus)}, phrase,
                  subject=focus)


def _focus(q: _Question) -> str | None:
    """What a question is about, when its wording says it plainly (``the man's cap``), for the rationale's lead."""
    for pattern in (_ATTR_OF, _ATTR_IS, _OR_SIDE, _MADE_OF):
        m = pattern.match(q.core)
        if m:
            return _the(m.group("x"))
    m = re.search(r"\b(?:status|behaviou?r|state|motion|actions?|intention) of (?P<x>.+?)(?: that\b.*)?$", q.core,
                  re.IGNORECASE)
    if m:
        return _the(_IN_IMAGE.sub("", m.group("x")))
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
        shown = text[:1].lower() + text[1:] if re.match(r"[A-Z][a-z]", text) else _lc(text)
        slots = {"text": text, "sentence": sentence, "shown": shown, "objects": None, "fact": None}
        rel = None if sentence else _CAPTION_RELATION.match(text)
        if rel and not re.search(r"ing\b|\b(?:a|an|the|and|or|of|with)\b", f"{rel.group('x')} {rel.group('y')}",
                                 re.IGNORECASE):
            x, y = rel.group("x"), rel.group("y")
            slots["objects"] = f"{rel.group('d1').lower()} {x} and {rel.group('d2').lower()} {y}"
            slots["fact"] = f"the {x} {_agree(x)} {rel.group('rel').lower()} the {y}"
        return slots

    return _Frame("caption_choice", {"noun": noun}, phrase)


def _counting(item: Item, q: _Question) -> _Frame | None:
    total, form, verb_phrase = False, "there", ""
    m = _COUNT.match(q.core)
    if m:
        noun, verb = m.group("noun").strip(), m.group("verb").lower()
        rest = (m.group("rest") or "").strip()
    elif _COUNT_NUMBER.match(q.core):
        m = _COUNT_NUMBER.match(q.core)
        noun, verb, rest, total = m.group("noun").strip(), "are", (m.group("rest") or "").strip(), bool(m.group("total"))
    elif _COUNT_VERB.match(q.core):  # "How many racks have at least 10 ties?"
        m = _COUNT_VERB.match(q.core)
        noun, verb, rest, form = m.group("noun").strip(), m.group("verb").lower(), m.group("rest").strip(), "verb"
        verb_phrase = f"{verb} {rest}"
    elif _COUNT_DO.match(q.core):  # "How many zeros does this function have?"
        m = _COUNT_DO.match(q.core)
        noun, form, rest = m.group("noun").strip(), "have", ""
        owner, base = _the(m.group("x")), m.group("verb").lower()
        past = {"have": "had", "get": "got", "make": "made", "hold": "held", "take": "took", "win": "won",
                "sell": "sold"}
        verb = past.get(base, base + "ed") if m.group("do").lower() == "did" else \
            base if _np_plural(owner) else _third_person(base)
        verb_phrase = f"{owner} {verb}"
        rest = (m.group("tail") or "").strip()
    elif _IN_HOW_MANY.match(q.core):  # "In how many years is the rate greater than 0.4%?"
        m = _IN_HOW_MANY.match(q.core)
        split = _split_subject(m.group("body"))
        if split is None:
            return None
        noun, form, rest, verb = m.group("noun").lower(), "span", "", m.group("be").lower()
        verb_phrase = f"{split[0]} {_agree(split[0], verb)} {split[1]}"
    else:
        return None
    if noun.lower().startswith(("of ", "times", "more", "less")) or not _ok_np(noun, 12):
        return None
    past = verb.startswith(("were", "was")) or verb.endswith("ed") or verb in _IRREGULAR_PAST
    if verb in ("can you see", "can be seen", "do you see", "could you see", "appear", "exist") and not rest:
        rest = "in the image"
    if rest and not _ok_np(rest, 30) or verb_phrase and not _ok_np(verb_phrase, 30):
        return None
    removed = [m.group("what") for m in map(_SUBTRACT.match, q.lead) if m]
    after = f"after subtracting {_and_join(removed)}" if removed else ""
    singular_verb = verb
    if form == "verb" and not past:
        singular_verb = "has" if verb == "have" else _third_person(verb) if not verb.endswith("s") else verb
    common = {"form": form, "plural": noun, "singular": _singular(noun), "rest": rest, "past": past, "total": total,
              "after": after, "verb_phrase": verb_phrase, "verb": verb, "singular_verb": singular_verb}

    def phrase(text: str) -> dict | None:
        n = _number(_clean(text))
        return None if n is None or n < 0 else {"n": n}

    return _Frame("counting", common, phrase, free_form=True)


def _comparison(item: Item, q: _Question) -> _Frame | None:
    if not item.is_multiple_choice:
        return None
    m = _HAS_LOCATION.match(q.core)
    if m:
        comp = f"located {m.group('comp').lower()}"
    else:
        m = _COMPARISON.match(q.core)
        if not m:
            return None
        comp = _PHOTOGRAPHER.sub("", m.group("comp")).strip()
    comp = _IN_IMAGE.sub("", comp) if "camera" not in comp else comp
    if not _ok_np(comp, 12):
        return None
    words = comp.split()
    first = words[1] if words[0] == "located" else words[0]
    rest = " ".join(words[1:]) if words[0] != "located" else ""
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
    if len(unique) < 2 or any(not _ok_np(c, 12) for c in unique):
        return None
    marks = [q.mark(c) for c in unique]
    reference = re.search(r"\b(?:to|from) (?P<ref>(?:the|a|an) [\w'’ -]{1,40})$", comp, re.IGNORECASE)
    ref_mark = q.mark(reference.group("ref")) if reference else None

    def phrase(text: str) -> dict | None:
        text = _clean(text)
        if _EQUAL.search(text):
            if base is None:
                return None
            return {"equal": True, "target": None, "others": None, "target_be": "are",
                    "equal_phrase": f"equally {base}" + (f" {rest}" if rest else "")}
        target = _the(text)
        others = [c for c in unique if c.lower() != target.lower()]
        if not others:
            return None
        return {"equal": False, "target": target, "others": _or_join(others), "equal_phrase": None,
                "target_be": _agree(target)}

    common = {"comp": comp, "comp_kind": kind, "candidates": _and_join(unique), "all_marked": all(marks),
              "marked": [(c, mk, _agree(c)) for c, mk in zip(unique, marks)], "pair": _and_join(unique),
              "n_candidates": len(unique), "reference": reference.group("ref") if reference else "",
              "ref_mark": ref_mark}
    return _Frame("comparison", common, phrase)


def _egocentric(item: Item, q: _Question) -> _Frame | None:
    m = _EGOCENTRIC.match(q.core)
    if not m or not item.is_multiple_choice:
        return None
    who, x = _the(m.group("who")), _the(m.group("x"))
    if not (_ok_np(who, 10) and _ok_np(x, 10)):
        return None
    places = {"in front of": ("in front of them", "in front of me"), "in front": ("in front of them", "in front of me"),
              "front": ("in front of them", "in front of me"), "behind": ("behind them", "behind me"),
              "left": ("on their left", "on my left"), "on the left": ("on their left", "on my left"),
              "right": ("on their right", "on my right"), "on the right": ("on their right", "on my right")}

    def phrase(text: str) -> dict | None:
        place = places.get(re.sub(r"\s+(?:of )?me$", "", _option_key(text)))
        return None if place is None else {"where": place[0], "where_me": place[1]}

    return _Frame("egocentric", {"who": who, "x": x, "be": _agree(x, m.group("be")), "whose": _possessive(who)},
                  phrase, subject=x)


_PREDICATES = re.compile(r"^(?:(?:facing|pointing|looking|turned|oriented) )?(?:(?:the )?same|similar|very different|"
                         r"different|opposite|parallel|perpendicular|next to each other|far (?:away )?from each other|"
                         r"close to each other|(?:facing )?(?:away from|toward|towards) each other|facing each other|"
                         r"touching|not touching|overlapping)\b", re.IGNORECASE)


def _predicate(item: Item, q: _Question) -> _Frame | None:
    """Two or more predicates to choose between: "Are X and Y next to each other or far away from each other?"."""
    if not item.is_multiple_choice or not all(_PREDICATES.match(_option_key(o)) for o in item.options):
        return None
    core, lead = q.core, ""
    m = _RELATIONSHIP.match(core)
    if m:
        x = _the(m.group("x"))
    else:
        m = re.match(r"^(?:which (?:direction|way) )?(?P<be>is|are) (?P<body>.+)$", core, re.IGNORECASE)
        if not m:
            return None
        body = m.group("body")
        spots = [body.lower().find(_option_key(o)) for o in item.options]
        spots = [s for s in spots if s > 0]
        if spots:
            body = body[: min(spots)].strip()
        elif not core.lower().startswith("which"):
            return None
        words = body.split()
        if words and words[-1].lower() in ("facing", "pointing", "looking", "turned", "oriented"):
            lead = words.pop().lower()
        x = _the(" ".join(words))
    if not _ok_np(x, 14):
        return None
    orientation = bool(lead) or any(re.search(r"facing|parallel|perpendicular|direction", o, re.IGNORECASE)
                                    for o in item.options)

    def phrase(text: str) -> dict | None:
        value = _option_key(text)
        if lead and not value.startswith(lead):
            value = f"{lead} {value}"
        value = re.sub(r"\bfacing same\b", "facing the same", value)
        if value in ("parallel", "perpendicular"):
            value += " to each other"
        return {"predicate": value}

    return _Frame("predicate", {"x": x, "be": "are", "orientation": orientation}, phrase, subject=x)


def _body_part(item: Item, q: _Question) -> _Frame | None:
    m = _PART_WHICH.match(q.core)
    if not m or not item.is_multiple_choice:
        return None
    part = m.group("part").lower().rstrip("s") if m.group("part").lower() not in ("feet",) else "foot"
    part = _FIX_PART.get(part, _FIX_PART.get(m.group("part").lower(), part))
    prep, owner, rest = (m.group("prep") or "").lower(), m.group("owner"), m.group("rest")
    verb_at = re.search(r"\b(?P<verb>\w+ing)\b(?P<tail>.*)$", rest)
    if owner:  # "Which hand of this boy is up?", "Which hand of the boy is the man holding?"
        if not m.group("be"):
            return None
        doer = re.match(r"^(?P<x>.+?) (?P<verb>\w+ing)(?P<tail>.*)$", rest) if verb_at and verb_at.start() else None
        if doer:
            x = _the(doer.group("x"))
            template = {"form": "held", "owner": _the(owner), "x": x, "be": _agree(x), "verb": doer.group("verb"),
                        "tail": doer.group("tail").strip()}
        else:
            template = {"form": "owned", "owner": _the(owner), "be": _be(m.group("be")), "rest": rest}
    elif verb_at and (m.group("be") or prep):  # "In which hand (is) the woman holding papers?"  # "Which hand is the man using to point?", "In which hand is X holding Y?"
        x = rest[: verb_at.start()].strip()
        if not _ok_np(x, 8) or not x:
            return None
        tail = verb_at.group("tail").strip()
        lead_prep = ""
        if re.match(r"^(?:on|at|to|in)$", tail, re.IGNORECASE):  # "Which arm is the woman leaning on?"
            lead_prep, tail = tail.lower() + " ", ""
        template = {"form": "doer", "x": _the(x), "be": _agree(_the(x), m.group("be") or "is"),
                    "verb": verb_at.group("verb"),
                    "prep": prep, "lead_prep": lead_prep, "tail": tail,
                    "own": "the" if verb_at.group("verb").lower() in ("sitting", "standing", "lying", "laying",
                                                                      "perched") else _possessive(x)}
    elif m.group("be") and not verb_at:  # "Which foot is on the ground?"
        template = {"form": "plain", "be": _be(m.group("be")), "rest": rest}
    else:
        return None

    def phrase(text: str) -> dict | None:
        side = _option_key(text).replace(" side", "")
        return {"side": side} if side in ("left", "right") else None

    return _Frame("body_part", {**template, "part": part}, phrase, subject=template.get("x"))


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
                  "view": "", "its": _possessive(x)}
        return _Frame("orientation", common, side, subject=x)
    m = _SIDE_VISIBLE.match(q.core)
    if m and item.is_multiple_choice:
        x = _the(m.group("x"))

        def visible(text: str) -> dict | None:
            value = _SIDES.get(_option_key(text))
            return None if value is None else {"side": value}

        common = {"form": "visible", "x": x, "y": "", "be": _be(m.group("be")), "verb": m.group("verb").lower(),
                  "view": _view(m.group("view")) or q.view}
        return _Frame("orientation", common, visible, subject=x)
    m = _DIRECTION.match(q.core)
    if m and item.is_multiple_choice:
        x, be, verb = _the(m.group("x")), _be(m.group("be")), m.group("verb").lower()
        if not _ok_np(x, 8):
            return None
        verb = re.sub(r" (?:at|towards?)$", "", verb)
        facing = verb.startswith(("fac", "look", "orient", "turn"))
        view = _view(m.group("view")) or q.view
        if be in ("does", "do"):
            finite = _third_person(verb) if be == "does" else verb
            be_out = ""
        else:
            finite, be_out = verb, _agree(x, be)

        def direction(text: str) -> dict | None:
            key = _option_key(text)
            if facing and "camera" in view and key in _CAMERA_FACING:
                return {"direction": _CAMERA_FACING[key]}
            if key in _DIRECTIONS:
                return {"direction": _DIRECTIONS[key][1 if facing else 0]}
            if re.match(r"^(?:toward|towards|away from|to the|into|out of)\b", key) and len(key.split()) <= 6:
                return {"direction": _clean(text)}
            return None

        common = {"form": "direction", "x": x, "be": be_out, "verb": finite, "view": view, "y": "",
                  "its": _possessive(x)}
        return _Frame("orientation", common, direction, subject=x)
    m = _SEEN_FROM.match(q.core)
    if m and item.is_multiple_choice:  # "From which viewpoint is the car shown?"
        x = _the(m.group("x"))
        seen = {"above": "from above", "top": "from above", "below": "from below", "bottom": "from below",
                "under": "from below", "front": "from the front", "back": "from behind", "behind": "from behind",
                "side": "from the side", "left": "from the left", "right": "from the right"}

        def seen_from(text: str) -> dict | None:
            value = seen.get(_option_key(text))
            return None if value is None else {"direction": value}

        be = _agree(x, "is") if m.group("be").lower() != "can" else "can be"
        common = {"form": "direction", "x": x, "be": be, "verb": m.group("verb").lower(),
                  "view": _view(m.group("view")) or q.view, "y": ""}
        return _Frame("orientation", common, seen_from, subject=x)
    m = _ORIENTATION_OF.match(q.core)
    if m and item.is_multiple_choice:
        x = _the(_IN_IMAGE.sub("", m.group("x")))
        if not _ok_np(x, 10):
            return None

        def toward(text: str) -> dict | None:
            value = _clean(text)
            if not re.match(r"^the (?:left|right|top|bottom|front|back)\b", value, re.IGNORECASE) or \
                    len(value.split()) > 8:
                return None
            return {"direction": "toward " + _lc(value)}

        common = {"form": "direction", "x": x, "be": _agree(x), "verb": "oriented", "view": q.view, "y": ""}
        return _Frame("orientation", common, toward, subject=x)
    m = _WHICH_FACING.match(q.core)
    if m and item.is_multiple_choice:
        x = _the(m.group("x"))
        if not _ok_np(x, 8):
            return None

        def facing_target(text: str) -> dict | None:
            text = _clean(text)
            return {"target": _the(text)} if _ok_np(text, 8) and not _SENTENCE_VERB.search(text) else None

        common = {"form": "object", "x": x, "be": _agree(x, m.group("be")), "verb": m.group("verb").lower(),
                  "view": "", "y": ""}
        return _Frame("orientation", common, facing_target, subject=x)
    return None


def _relation(item: Item, q: _Question) -> _Frame | None:
    if not item.is_multiple_choice:
        return None
    style, x, y, be, view = "to", None, None, "is", ""
    core = _IN_IMAGE.sub("", q.core)
    m = _WHERE_ON.match(core)
    if m:
        x, verb, prep = _the(m.group("x")), m.group("verb").lower(), (m.group("prep") or "on").lower()

        def place(text: str) -> dict | None:
            value = _clean(text)
            return {"relation": f"{verb} {prep} {_the(value)}"} if _ok_np(value, 5) else None

        common = {"x": x, "y": "", "be": _agree(x, m.group("be")), "view": q.view, "x_mark": None, "y_mark": None}
        return _Frame("relation", common, place, subject=x)
    m = _SIDE_OF.match(core)
    if m:
        x, y, be, style = m.group("x"), m.group("y"), _be(m.group("be")), "side"
    elif _IN_WHICH_AREA.match(core):
        m = _IN_WHICH_AREA.match(core)
        x, y, be, style = m.group("x"), m.group("y"), _be(m.group("be")), "region"
    elif _WHICH_SIDE_IS.match(core):
        m = _WHICH_SIDE_IS.match(core)
        x, be, view, style = m.group("x"), _be(m.group("be")), _view(m.group("view")), "side"
    else:
        m = _OR_SIDE.match(core)
    if m and x is None:
        x, y, be, view = m.group("x"), m.group("y"), _be(m.group("be")), _view(m.group("view"))
        if m.group("side") or re.search(r"\bside\b", q.core[m.start("a"):m.end("b")], re.IGNORECASE):
            style = "side"
        elif m.group("prep").lower() == "on":
            style = "on"
    elif x is None:
        m = _OR_REL.match(core) or _WHERE_REL.match(core) or _POSITION_OF.match(core)
        if m:
            x, y, view = m.group("x"), m.group("y"), _view(m.group("view"))
            be = _be(m.groupdict().get("be") or "is")
        else:
            m = _WHERE_ONE.match(core)
            if not m:
                return None
            x, be, view = m.group("x"), _be(m.group("be")), _view(m.group("view"))
    view = view or q.view
    x = _the(_PLACED.sub("", _IN_IMAGE.sub("", x)))
    y = _the(_IN_IMAGE.sub("", y)) if y else None
    if not _ok_np(x, 12) or (y is not None and not _ok_np(y, 12)):
        return None
    be = _agree(x, be) if x.lower() not in ("it", "this") else be

    def phrase(text: str) -> dict | None:
        rel = _relation_phrase(_clean(text), y, style)
        return None if rel is None else {"relation": rel}

    common = {"x": x, "y": y or "", "be": be, "view": view, "x_mark": q.mark(x) if y else None,
              "y_mark": q.mark(y) if y else None, "y_it": "them" if y and _np_plural(y) else "it"}
    return _Frame("relation", common, phrase, subject=x)


_REGION = re.compile(r"^(?:the )?(?P<region>(?:(?:upper|lower|top|bottom|middle|center|centre|left|right|far left|"
                     r"far right)[ -]?){1,3}(?:corner|center|centre|side|part|area|half|edge|region)?)(?: of the "
                     r"(?:image|picture|photo))?$", re.IGNORECASE)


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
    region = _REGION.match(key)
    if region and len(words) >= 2:  # MME-RealWorld: "The upper left corner", "The left center"
        return f"in the {region.group('region')} of {y or 'the image'}"
    if style == "region" and re.fullmatch(r"(?:upper|lower|top|bottom|middle|left|right|medial|lateral|front|back|"
                                          r"inner|outer)(?: (?:half|part|side|area|section))?", key):
        return f"in the {key} of {y or 'the image'}" if " " in key else f"in the {key} part of {y or 'the image'}"
    if re.match(r"^(?:on|in|under|underneath|beneath|below|above|over|behind|beside|near|next to|to the|at the|"
                r"inside|outside|in front of|on top of|at|along|across|around|among|between)\b", key) \
            and 2 <= len(key.split()) <= 18:
        return _lc(_clean(text))
    return None


def _attribute(item: Item, q: _Question) -> _Frame | None:
    m = _ATTR_OF.match(q.core) or _ATTR_ON.match(q.core) or _ATTR_IS.match(q.core)
    if m:
        attr, x, be = m.group("attr").lower(), m.group("x"), _be(m.group("be"))
    else:
        m = _MADE_OF.match(q.core)
        if not m:
            return None
        attr, x, be = "material", m.group("x"), _be(m.group("be"))
    attr = "color" if attr.startswith("colo") else re.sub(r"colou?r$", "color", attr)
    if _LEADING_SPATIAL.match(x) or not item.is_multiple_choice:
        return None
    x = _the(_IN_IMAGE.sub("", re.sub(r"\s+made of$", "", x)))
    if not _ok_np(x, 28):
        return None
    be = _agree(x, be)

    def phrase(text: str) -> dict | None:
        value = _lower_value(_clean(text))
        if not _ok_np(value, 5) or _SENTENCE_VERB.search(value):
            return None
        if attr == "material":
            predicate = f"made of {value}"
        elif attr == "shape":
            predicate = (f"shaped like {_indefinite(value)}" if _option_key(value) in _SHAPE_NOUNS
                         else f"{value} in shape")
        elif attr in ("size", "texture"):
            predicate = f"{value} in {attr}" if len(value.split()) == 1 and not value.endswith(attr) else value
        elif attr != "color":  # "fur color"
            predicate = value
        else:
            predicate = value
        return {"value": value, "predicate": predicate}

    return _Frame("attribute", {"attr": attr, "x": x, "be": be}, phrase, subject=x)


def _action(item: Item, q: _Question) -> _Frame | None:
    """What a road user is doing or will do (MME-RealWorld's driving questions)."""
    if not item.is_multiple_choice:
        return None
    options = [_clean(o) for o in item.options if not _ABSENT.match(_clean(o))]
    m = _MOTION.match(q.core)
    if m:
        x = _the(m.group("x"))

        def motion(text: str) -> dict | None:
            key = _option_key(text)
            if key in ("other", "others", "something else"):
                rest = [o.lower() for o in options if _option_key(o) not in ("other", "others")]
                return {"predicate": f"neither {_nor_join(rest)}"} if rest else None
            return {"predicate": key} if _ok_np(key, 10) else None

        return _Frame("action", {"form": "motion", "x": x, "be": _agree(x), "who": ""}, motion, subject=x)
    m = _FUTURE.match(q.core)
    if m:
        x = _the(m.group("x").strip())

        def future(text: str) -> dict | None:
            key = _option_key(text)
            if key in ("stationary", "still", "stopped"):
                return {"predicate": f"going to stay {key}"}
            return {"predicate": f"going to {key}"} if re.match(r"^(?:turn|keep|go|stop|change|move)\b", key) else None

        return _Frame("action", {"form": "future", "x": x, "be": _agree(x), "who": ""}, future, subject=x)
    m = _SHOULD_DO.match(q.core)
    if m:
        x, who = _the(m.group("x")), m.group("who").lower()

        def should(text: str) -> dict | None:
            key = _option_key(text).split("/")[0].strip()
            if key in ("no response", "nothing", "none"):
                return {"predicate": "carry on without reacting"}
            return {"predicate": f"be {key}"} if re.match(r"^\w+ing\b", key) and len(key.split()) <= 4 else None

        return _Frame("action", {"form": "should", "x": x, "be": "", "who": who, "plural": _np_plural(x)}, should, subject=x)
    m = _WILL_DO.match(_IN_IMAGE.sub("", q.core))
    if m:
        x = _the(m.group("x"))

        def will(text: str) -> dict | None:
            key = _option_key(text)
            if key in ("no response", "nothing"):
                return {"predicate": "not react"}
            base = _BASE_VERBS.get(key, key)
            if base.split()[0].endswith("ing") or not re.match(r"^[a-z]+(?: [a-z]+){0,3}$", base):
                return None
            return {"predicate": base}

        when, how = m.group("when") or "", m.group("how") or ""
        return _Frame("action", {"form": "will", "x": x, "be": "", "who": "", "when": when, "how": how}, will,
                      subject=x)
    return None


def _text_reading(item: Item, q: _Question) -> _Frame | None:
    m = _WRITTEN_ON.match(q.core)
    if m:
        rest = m.group("rest")
        common = {"form": "written", "reading": f"what is {m.group('verb')} {rest}", "what": "text", "be": "is",
                  "place": re.sub(r"^\w+ ", "", rest), "verb": m.group("verb").lower(), "rest": rest}
        missing = f"anything {m.group('verb')} {rest}"
        return _Frame("text_reading", common, _reading_value, free_form=True, missing=missing)
    m = _READ_THE.match(q.core)
    if m and (" of " in f" {m.group('what')} " or re.fullmatch(r"(?:(?:highest|lowest|total|average|largest|"
                                                             r"smallest|maximum|minimum|mean|median) )?numbers?",
                                                             m.group("what"), re.IGNORECASE)
              and re.match(r"\s*of\b", m.group("rest") or "")):
        m = None  # "the mode of the numbers", "the highest number of responses": a quantity, not text to read
    if m:
        what, rest, be = m.group("what"), (m.group("rest") or "").strip(), _be(m.group("be") or "is")
        be = "is" if be in ("may be", "might be", "could be") else be
        form = "the"
        subject = f"the {what}" + (f" {rest}" if rest else "")
        verb = ""
    else:
        m = _READ_WHAT.match(q.core)
        if m:
            what, rest, be = m.group("what"), m.group("rest"), _be(m.group("be"))
            form, verb = "the", ""
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
    if not _ok_np(subject, 24):
        return None
    common = {"form": form, "reading": subject, "what": what.lower(), "be": be, "place": place, "rest": rest,
              "verb": (_third_person(verb) if be == "does" else verb) if form == "say" else ""}
    return _Frame("text_reading", common, _reading_value, subject=None, free_form=True, missing=subject)


def _reading_value(text: str) -> dict | None:
    value = _clean(text)
    if not value or len(value) > 80 or "\n" in value:
        return None
    return {"value": value, "quoted": _quote(value)}


def _identify(item: Item, q: _Question) -> _Frame | None:
    m = _SIGNAL.match(q.core)
    if m and item.is_multiple_choice:  # "What is the traffic signal that the ego vehicle should pay attention to?"
        rest, noun = m.group("rest"), m.group("noun").lower()

        def signal(text: str) -> dict | None:
            value = _clean(text)
            if not _ok_np(value, 5):
                return None
            if re.search(r"\b(?:light|sign|signal)$", value, re.IGNORECASE):
                return {"target": "the " + value[:1].lower() + value[1:]}
            return {"target": f'the "{value}" sign'}

        return _Frame("identify", {"form": "the", "head": f"traffic {noun}", "rest": rest, "be": "is", "look": "",
                                   "which_of": ""}, signal, missing=f"the traffic {noun} {rest}")
    m = _KIND_OF.match(q.core)
    if m and item.is_multiple_choice:  # "What type of the traffic signal (excluding traffic lights) is on the left?"
        noun, rest = m.group("noun").strip(), m.group("rest")
        sign = re.search(r"\b(?:sign|signal)s?$", noun, re.IGNORECASE)

        def kind_of(text: str) -> dict | None:
            value = _clean(text)
            if not _ok_np(value, 6) or _SENTENCE_VERB.search(value):
                return None
            if sign and not re.search(r"\b(?:sign|signal|light)s?$", value, re.IGNORECASE):
                if value.lower().startswith("no "):  # "no parking" -> a "no parking" sign
                    return {"target": f'a "{value}" sign'}
                value += " sign"
            return {"target": _indefinite(value[:1].lower() + value[1:] if value[1:2].islower() else value)}

        return _Frame("identify", {"form": "the", "head": noun, "rest": rest, "be": _be(m.group("be")), "look": "",
                                   "which_of": ""}, kind_of, subject=f"the {noun} {rest}")
    m = _WHOSE.match(q.core)
    if m and item.is_multiple_choice:  # "Whose MBTI is INFJ?"
        noun, rest, be = m.group("noun"), m.group("rest"), _be(m.group("be"))

        def whose(text: str) -> dict | None:
            value = _clean(text)
            if not _ok_np(value, 5) or _SENTENCE_VERB.search(value):
                return None
            return {"target": f"{value}'s {noun}", "target_be": be}

        return _Frame("identify", {"form": "which", "head": "", "rest": rest, "be": be, "look": "", "which_of": ""},
                      whose)
    m = _WHERE_DOES.match(q.core)
    if m and item.is_multiple_choice:  # "Where does Joseph work?"
        verb = m.group("verb")
        finite = verb + "ed" if m.group("do").lower() == "did" else _third_person(verb)

        def where(text: str) -> dict | None:
            value = _clean(text)
            return {"target": _the(m.group("x")), "target_be": f"{finite} in {value}"} if _ok_np(value, 5) else None

        return _Frame("identify", {"form": "which", "head": "", "rest": "", "be": "", "look": "", "which_of": ""},
                      where)
    m = _IN_WHICH_DOES.match(q.core)
    if m:  # "In which year does the revenue first exceed 10,000, according to the chart?"
        verb = m.group("verb").split()
        verb[0] = _third_person(verb[0])
        rest = f"{_the(m.group('x'))} {m.group('adv') or ''}{' '.join(verb)}{m.group('rest')}"

        def when(text: str) -> dict | None:
            value = _clean(text)
            return {"target": value, "target_be": ""} if _ok_np(value, 4) else None

        return _Frame("identify", {"form": "in", "head": m.group("noun").lower(), "rest": rest, "be": "", "look": "",
                                   "which_of": ""}, when, free_form=True)
    m = _WHO_OR.match(q.core) or _WHAT_IF.match(q.core)
    if m and item.is_multiple_choice:  # "Who donated more, Aubrey or Connor?", "If frogs were removed, what animal ..."
        rest, cond = m.group("rest") or m.groupdict().get("rest2"), m.groupdict().get("cond") or ""

        def who(text: str) -> dict | None:
            value = _clean(text)
            return {"target": value, "target_be": ""} if _ok_np(value, 5) and not _SENTENCE_VERB.search(value) \
                else None

        return _Frame("identify", {"form": "who", "head": "", "rest": rest, "be": "", "look": "", "which_of": "",
                                   "cond": cond}, who)
    m = _IN_WHICH.match(q.core)
    if m:  # "In which year the market share of KLA is highest?" (sic)

        def when(text: str) -> dict | None:
            value = _clean(text)
            return {"target": value, "target_be": ""} if _ok_np(value, 4) else None

        return _Frame("identify", {"form": "in", "head": m.group("noun").lower(), "rest": m.group("rest"), "be": "",
                                   "look": "", "which_of": ""}, when, free_form=True)
    form = None
    m = _WHAT_THE.match(q.core)
    if m and m.group("head").lower() not in ("color", "colour", "number", "name"):
        form, head, rest, be = "the", m.group("head"), m.group("rest"), _be(m.group("be"))
    else:
        m = _WHAT_HEAD.match(q.core)
        if m and m.group("head").lower() not in ("color", "colour", "number", "time", "kind", "type"):
            form, head, rest, be = "what", m.group("head"), m.group("rest"), _be(m.group("be"))
        else:
            m = _WHAT_SPATIAL.match(q.core)
            if m:
                form, head, rest, be = "what", "", m.group("rest"), _be(m.group("be") or "is")
            else:
                m = _WHICH_NOUN.match(q.core)
                if m and m.group("noun").lower() not in _WHICH_EXCLUDED and not m.group("noun").lower().startswith(
                        "of"):
                    form, head, rest, be = "which", m.group("noun"), m.group("rest"), m.group("verb").lower()
                elif _WHICH_BARE.match(q.core):  # "Which has the most uneven shape?"
                    m = _WHICH_BARE.match(q.core)
                    form, head, rest, be = "which", "", m.group("rest"), m.group("verb").lower()
    if form is None:
        return None
    if form != "which" and not item.is_multiple_choice:
        return None
    head_words = head.split()
    if len(head_words) == 2 and head_words[1].lower() in _PREPOSITIONS:  # "animal next" + "to the tree"
        head, rest = head_words[0], f"{head_words[1]} {rest}"
    if not _ok_np(rest, 24):
        return None
    verb_be = be in ("is", "are", "was", "were")
    look = rest if _LEADING_SPATIAL.match(rest) and (form != "which" or verb_be) else ""
    kind_noun = re.match(r"^(?:type|kind|sort) of (?P<noun>.+)$", head, re.IGNORECASE) if head else None

    def phrase(text: str) -> dict | None:
        value = _clean(text)
        if not _ok_np(value, 6) or _SENTENCE_VERB.search(value):
            return None
        if form == "the":
            return {"target": _indefinite(value), "target_be": be}
        words = value.split()
        if form == "which" and len(words) == 1 and words[0].lower() in _MODIFIERS \
                and head.lower() not in _GENERIC_NOUNS and not kind_noun:
            target = f"the {value} {head}"
        elif form == "which" and not head:
            target = value
        elif form == "which" and re.fullmatch(r"[0-9]+", value) and not re.search(r"year|date", head, re.I):
            target = f"{head.split()[-1]} {value}"  # "Which subject had ...?" -> "subject 3"
        elif form == "what":
            target = _indefinite(value) if value[:1].islower() else value
        else:
            target = _the(value) if not kind_noun else value
        verb = be
        if verb_be:
            verb = _agree(target, be)
        elif _np_plural(target) and verb.endswith("s") and not verb.endswith("ss"):  # "Which bars have ..."
            verb = "have" if verb == "has" else verb[:-1]
        return {"target": target, "target_be": verb}

    common = {"form": form, "head": head, "rest": rest, "be": be, "look": look, "which_of": "",
              "each": _singular(head) if head else ""}
    missing = f"which {head} {be} {rest}" if form == "which" else None
    return _Frame("identify", common, phrase, missing=missing, free_form=form == "which")


def _quantity(item: Item, q: _Question) -> _Frame | None:
    """A value the question asks for: a blank to fill ("then ∠C = ()"), "Find x", "What is the area of ...?",
    "What percentage of ... ?", "What would happen to X if Y?"."""
    zh = bool(_CJK.search(q.text))
    common = _blank_form(q, zh) if _BLANK.search(q.text) else None
    if common is None and zh:
        return None
    if common is None:
        common = _value_form(q)
    if common is None:
        return None
    common = {"whole": False, "before": "", "after": "", "np": "", "be": "is", "zh": zh, "percent": False,
              "cond": "", "aux": "", "how": "", "unit": common["form"] != "blank", "article": False,
              "completion": False, **common}
    if common["completion"] and not item.is_multiple_choice:
        return None
    unit = ""
    stated = re.search(r"\(Unit: ([^()]{1,20})\)", item.question)
    item_unit = item.unit or (stated.group(1).strip() if stated else None)
    if item_unit and not item.is_multiple_choice and common["unit"]:
        unit = item_unit if item_unit.strip() in ("$", "€", "£") else f" {item_unit}"
    currency = unit in ("$", "€", "£")
    reading = bool(re.search(r"\b(?:name|title|text|word|content|written|label|brand|company|plate)\b", q.core,
                             re.IGNORECASE) or re.search(r"ocr", item.category or "", re.IGNORECASE))

    def phrase(text: str) -> dict | None:
        value = _clean(text)
        form = common["form"]
        if not value or "\n" in value:
            return None
        if form == "happen":
            return _happen_value(value, common)
        if len(value.split()) > 8 or _SENTENCE_VERB.search(value) and form != "blank":
            return None
        if common["completion"] and (len(value.split()) > 6 or value.endswith(".")):
            return None
        shown = unit + value if currency else value + unit
        if common.get("when"):
            shown = f"in {value}" if re.fullmatch(r"[12][0-9]{3}", value) else f"at x = {value}"
        if common["article"]:
            shown = _indefinite(value)
        if reading and form == "copula":
            shown = _quote(value)
        if common.get("lower") and re.fullmatch(r"[A-Z][a-z]+(?: [a-z]+)*", value):
            shown = value.lower()
        if form == "share" and common["percent"] and re.fullmatch(r"[0-9.]+", value):
            shown = value + "%"
        return {"value": shown}

    task = (item.category or "").lower()
    style = ("geometry" if "geometry" in task else "chart" if re.search(r"figure|chart|diagram|table", task) else
             "reading" if reading and common["form"] == "copula" else "general")
    return _Frame("quantity", {**common, "style": style}, phrase, free_form=True,
                  missing=common["np"] or None)


def _blank_form(q: _Question, zh: bool) -> dict | None:
    """The clause holding the blank: "then ∠C = ()" -> before "∠C =", after ""."""
    sentence = next((s for s in re.split(r"(?<=[.!?。．])\s*", q.text) if _BLANK.search(s)), q.text)
    if zh:
        cut = max(sentence.rfind("则"), sentence.rfind("那么"))
        clause = sentence[cut + (2 if sentence[cut:cut + 2] == "那么" else 1):] if cut >= 0 else \
            re.split(r"[，,；;]", sentence)[-1]
        clause = clause.strip(" 。.?？")
        parts = _BLANK.split(clause)
        if len(parts) != 2 or not parts[0]:
            return None
        return {"form": "blank", "before": parts[0], "after": parts[1], "whole": False}
    long_or_lower = not re.match(r"^[A-Z]", sentence.strip()) or len(sentence.split()) > 14
    clause = re.split(r"[,;，；]\s*", sentence)[-1] if long_or_lower else sentence
    if not _BLANK.search(clause):
        clause = sentence
    clause = re.sub(r"^(?:then|so|and|thus|therefore|hence)\s+", "", clause.strip(), flags=re.IGNORECASE)
    clause = re.sub(r"[\s.?]+$", "", clause)
    if not clause or len(clause.split()) > 24 or len(_BLANK.findall(clause)) != 1:
        return None
    whole = clause[:1].isupper() and clause.split()[0].lower() in ("the", "it", "there", "this", "a", "an") or \
        bool(re.match(r"^[A-Za-z]\(", clause))  # "f(-1) is ____ f(0)"
    before, after = _BLANK.split(clause)
    return {"form": "blank", "before": before.rstrip(), "after": after, "whole": whole}


def _value_form(q: _Question) -> dict | None:
    m = _HOW_MUCH.match(q.core)
    if m:
        return _how_much(m)
    m = _WHEN_DOES.match(q.core)
    if m:
        x, verb = _the(m.group("x")), m.group("verb").lower().split()
        verb[-1] = _third_person(verb[-1]) if len(verb) == 1 else verb[-1]
        if len(verb) > 1:
            verb = [verb[0], _third_person(verb[1])]
        finite = " ".join(verb) if m.group("do").lower() != "did" else f"did {' '.join(m.group('verb').split())}"
        return {"form": "blank", "whole": True, "before": f"{x} {finite}{m.group('rest') or ''}", "after": "",
                "when": True}
    m = _THERE_CHOICE.match(q.core)
    if m:
        return {"form": "blank", "whole": True, "before": "there is", "after": "", "article": True}
    m = _SHOWN.match(q.core)
    if m:
        noun = (m.group("noun") or m.group("noun2") or m.group("noun3")).lower()
        rest = (m.group("rest") or m.group("rest2") or m.group("rest3")).lower()
        np = f"the {rest} {noun}" if rest in ("missing", "next") else f"the {noun} {rest}"
        return {"form": "copula", "np": np, "be": "is"}
    m = _POINTS_TO.match(q.core)
    if m:
        verb = m.group("verb").split()
        finite = " ".join([_third_person(verb[0]) if m.group("do").lower() == "does" else verb[0], *verb[1:]])
        return {"form": "copula", "np": _the(m.group("x")), "be": finite}
    m = _SHARE.match(q.core)
    if m:
        return {"form": "share", "np": m.group("rest"), "percent": m.group("kind").lower().startswith("percent")}
    m = _HAPPEN.match(q.core)
    if m:
        groups = m.groupdict()
        for n in ("", "2", "3", "4", "5", "6", "7", "8", "9", "10"):
            if groups.get(f"cond{n}") or n == "9" and groups.get("x9") or n == "10" and groups.get("cond10") == "":
                x = groups.get(f"x{n}") or ""
                aux = (groups.get(f"aux{n}") or "will").lower()
                how = groups.get("how" if n == "3" else f"how{n}") if n in ("3", "4") else ""
                return {"form": "happen", "np": _the(x) if x else "", "cond": groups.get(f"cond{n}") or "",
                        "aux": "will" if aux == "happens" else aux, "how": "most likely " if how else ""}
    m = _COMPLETION.match(q.core)
    if m and not _WH_START.match(q.core):
        return {"form": "blank", "whole": True, "before": m.group("text"), "after": "", "completion": True}
    finds = [m for m in _FIND_ANY.finditer(q.text)]
    if finds:
        what = finds[-1].group("what").strip()
        symbol = re.fullmatch(r"\$\s*([A-Za-z](?:_\{?\w+\}?)?)\s*\$", what)
        if symbol:
            what = symbol.group(1)
        if not _ok_np(what.replace("\\", ""), 14) and not what.startswith("$"):
            return None
        np_form = what.lower().startswith(("the ", "a "))
        return {"form": "find", "np": what, "be": "is" if np_form else "="}
    m = _COPULA.match(q.core)
    if not m or re.search(r"\b(?:following|which|what|how)\b", m.group("np"), re.IGNORECASE):
        return None
    np = m.group("np").split(", ")[0]  # "the length of the segment, in cm, to one decimal place"
    if not _ok_np(np.replace("\\", ""), 40):
        return None
    be = (m.group("be") or "is").lower()
    be = "is" if be in ("may be", "might be", "would be") else be
    lower = bool(re.search(r"\b(?:emotions?|feelings?|mood|occupation|job|profession|weather|season|expression)\b",
                           np, re.IGNORECASE))
    return {"form": "copula", "np": np, "be": _agree(np, be) if be in ("is", "are", "was", "were") else be,
            "lower": lower}


def _how_much(m: re.Match) -> dict | None:
    """"How much does Hannah need to buy X?" -> before "Hannah needs", after " to buy X" (the value goes between)."""
    if m.group("x"):
        x, do, verb = _the(m.group("x")), m.group("do").lower(), m.group("verb").lower()
        rest = m.group("rest") or ""
        if do == "did":
            finite = _PAST[verb]
        elif do == "will":
            finite = f"will {verb}"
        else:
            finite = verb if _np_plural(x) else _third_person(verb)
        return {"form": "blank", "whole": True, "before": f"{x} {finite}", "after": rest, "unit": True}
    if m.group("x2"):
        x = _the(m.group("x2"))
        cost = "cost" if _np_plural(x) else "costs"
        return {"form": "blank", "whole": True, "before": f"{x} {cost}", "after": f" more than {m.group('y2')}",
                "unit": True}
    x = _the(m.group("x3"))
    return {"form": "blank", "whole": True, "before": f"{x} {_agree(x, m.group('be'))}",
            "after": f" {m.group('comp').lower()} than {m.group('y3')}", "unit": True}


def _happen_value(value: str, common: dict) -> dict | None:
    """What "would happen": a verb for "what would happen to X" ("decrease"), a clause for "what would happen if"."""
    key = _option_key(value)
    if common["np"]:  # "What would happen to the phytoplankton if krill increased?" -> "... would decrease"
        key = re.sub(r"^(?:it|they) (?:would|will) (?:also )?", "", key)
        key = re.sub(r"^remains\b", "remain", re.sub(r"^stays\b", "stay", key))
        key = {"increases": "increase", "decreases": "decrease", "nothing": "not change",
               "nothing would happen": "not change", "stay same": "stay the same"}.get(key, key)
        if not re.fullmatch(r"(?:increase|decrease|remain the same|stay the same|stay constant|remain constant|"
                            r"go up|go down|die out|grow|shrink|fluctuate|double|skyrocket|plummet|not change)", key):
            return None
        return {"value": key}
    if len(key.split()) < 2 or len(key.split()) > 10:  # "What would happen if ...?" -> "... mice would increase"
        return None
    return {"value": value[:1].lower() + value[1:] if value[1:2].islower() else value}


_STRUCTURAL = (_yes_no, _statement, _caption_choice)
_BY_TYPE: dict[str, Callable[[Item, _Question], _Frame | None]] = {
    "counting": _counting, "comparison": _comparison, "egocentric": _egocentric, "predicate": _predicate,
    "body_part": _body_part, "orientation": _orientation, "relation": _relation, "action": _action,
    "attribute": _attribute, "text_reading": _text_reading, "identify": _identify, "quantity": _quantity,
}
_WORDING_ORDER = ("counting", "comparison", "egocentric", "predicate", "body_part", "orientation", "relation",
                  "action", "attribute", "text_reading", "identify", "quantity")
_CATEGORY_TYPES = (  # (pattern on the lower-cased category, type): first match wins
    (r"count", "counting"),
    (r"ocr|text[ _-]?(?:recog|read)|text$|license|phone|adver|book_map", "text_reading"),
    (r"orientation_on_the_left|orientation_in_front_of", "egocentric"),
    (r"attribute_motion|intention|interaction", "action"),
    (r"attribute|colou?r|material", "attribute"),
    (r"depth|distance|closer|height|higher|size_compar", "comparison"),
    (r"left_of|right_of|in-front_of|behind|^on$|^under$", "relation"),
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
def _analyse(item: Item) -> tuple[_Frame, tuple[dict | None, ...]] | str:
    """The item's frame and the slots of each option (None where one cannot be phrased), or why it falls back.

    The first frame that phrases every option wins; otherwise the one that phrases most (ties: the earlier)."""
    q = _question(item.question)
    if q is None:
        return "no asking sentence (empty or over-long question)"
    if item.is_multiple_choice and (
            all(re.fullmatch(r"\(?[A-Za-z]\)?", _clean(o)) for o in item.options)
            or all(re.fullmatch(r"[0-9]", _clean(o)) for o in item.options)
            and re.search(r"\b(?:missing|pattern|matrix|choose|complete|continues|next)\b", q.text, re.IGNORECASE)):
        return "the options are labels in the image (A, B, ... or 1, 2, ...): any statement would name one"
    order: list[Callable[[Item, _Question], _Frame | None]] = list(_STRUCTURAL)
    preferred = _category_type(item.category)
    if preferred is not None:
        order.append(_BY_TYPE[preferred])
    order += [_BY_TYPE[kind] for kind in _WORDING_ORDER if kind != preferred]
    best, best_count = None, 0
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
        count = sum(s is not None for s in slots)
        if count == len(slots):
            return frame, slots
        if count > best_count:
            best, best_count = (frame, slots), count
    if best is not None:
        return best
    return "no question type matches the wording" if not _CJK.search(item.question) else "the question is not in English"


def _option_slots(frame: _Frame, text: str) -> dict | None:
    cleaned = _clean(text)
    if frame.kind != "yes_no" and _NONE.match(_option_key(cleaned)):
        return {"none": True}
    if _ABSENT.match(cleaned):
        if frame.kind == "yes_no":
            return None
        return {"absent": True, "sentence": _cap(cleaned)}
    try:
        return frame.phrase(text)
    except (ValueError, IndexError, KeyError):
        return None


def classify(item: Item) -> str:
    """The item's question type (one of ``QUESTION_TYPES``), or ``template`` when it falls back."""
    analysed = _analyse(item)
    return FALLBACK if isinstance(analysed, str) else analysed[0].kind


# ------------------------------------------------------------------------------------------------ generator


class NaturalGenerator:
    """Captions stating the target as a fact about the image; rationales reasoning toward it (module docstring).

    ``fallback`` (default ``TemplateGenerator()``) writes the text of targets no question type can phrase.
    """

    def __init__(self, fallback=None) -> None:
        self.fallback = fallback if fallback is not None else TemplateGenerator()

    def caption(self, item: Item, target: str) -> str:
        texts = _natural_texts(item, target)
        return self.fallback.caption(item, target) if isinstance(texts, str) else texts[0]

    def rationale(self, item: Item, target: str) -> str:
        texts = _natural_texts(item, target)
        return self.fallback.rationale(item, target) if isinstance(texts, str) else texts[1]

    def describe(self, item: Item, target: str) -> str:
        """``natural/<type>``, or ``generic: <why>`` where the target falls back to the generic template."""
        texts = _natural_texts(item, target)
        return f"generic: {texts}" if isinstance(texts, str) else f"natural/{texts[2]}"


def _template(variables: dict, kind: str) -> str:
    name = "none" if variables.get("none") else "absent" if variables.get("absent") else variables["kind"]
    return f"natural/{name}_{kind}.jinja"


@lru_cache(maxsize=8192)
def _natural_texts(item: Item, target: str) -> tuple[str, str, str] | str:
    """(caption, rationale, question type) for ``target``, or why the target falls back to the generic template."""
    variables = _variables(item, target)
    if isinstance(variables, str):
        return variables
    caption = _tidy(render(_template(variables, "caption"), **variables))
    if not caption:
        return f"{variables['kind']}: the caption template wrote nothing"
    setting = _question(item.question).setting
    if setting and setting.lower() not in caption.lower():  # "In 2003," / "At a price of $790," stays in front
        caption = f"{_cap(setting)}, {_lc(caption)}"
    variables["statement"] = _lc(caption.rstrip(".").rstrip())
    rationale = _tidy(render(_template(variables, "rationale"), **variables))
    if not rationale.endswith(f"so the answer is {variables['answer']}."):
        return f"{variables['kind']}: the rationale lost its commitment"  # never ship one that concludes nothing
    return caption, rationale, variables["kind"]


def _variables(item: Item, target: str) -> dict | str:
    if item.is_multiple_choice and target not in item.letters:
        raise ValueError(f"{item.benchmark} item {item.item_id!r}: target {target!r} is not one of {item.letters}")
    analysed = _analyse(item)
    if isinstance(analysed, str):
        return analysed
    frame, option_slots = analysed
    if item.is_multiple_choice:
        index = item.letters.index(target)
        slots = option_slots[index]
        answer, text = f"({target})", _clean(item.options[index])
        if slots is None:
            return f"{frame.kind} question, option {text[:60]!r} cannot be phrased"
    else:
        value = " ".join(str(target).split())
        slots = _option_slots(frame, value) if value else None
        if slots is None:
            return f"{frame.kind} question, the value {value!r} cannot be phrased"
        answer, text = value, value
    return {
        **frame.common, **slots, "kind": frame.kind, "pick": _draw(item, PHRASING_KEY), "answer": answer,
        "target_text": text, "subject": frame.subject, "missing": frame.missing, "absent": bool(slots.get("absent")),
        "none": bool(slots.get("none")), "is_multiple_choice": item.is_multiple_choice, "cap": _cap, "lc": _lc,
        "the": _the, "strip_article": _strip_article,
    }


def _tidy(text: str) -> str:
    """Blanks collapsed, no blank before punctuation, first letter capital."""
    text = " ".join(text.split())
    text = re.sub(r" +([.,;:!?])", r"\1", text)
    text = re.sub(r"([.!?])\.", r"\1", text)
    return _cap(text)
