"""GRPO rewards (PROTOCOL.md §6), scored with the evaluation's own parser so reward and metric agree.

Pure: stdlib and ``lmms_robust.core``; no torch, no lmms_eval.

- ``format_reward``: 1.0 when the whole assistant turn is ``<think>…</think><answer>…</answer>``: after stripping
  surrounding whitespace it starts with ``<think>`` and ends with ``</answer>``, each of the four tags occurs
  exactly once (lowercase, no blanks inside the tag), only whitespace separates ``</think>`` and ``<answer>``,
  and the answer is not blank (the think block may be). Else 0.0. Stricter than the parser on purpose: the
  parser reads sloppy turns, the format reward pays only for the exact format.
- ``accuracy_reward``: 1.0 when ``parse_response`` parses an answer and ``is_correct`` says it is gold.
- ``consistency_indicator``: 1.0 when the answer parsed, the CoT commits to a conclusion, and
  ``answers_match(conclusion, answer)`` (the rule the ``consistency`` metric uses). **Undetermined counts as
  0**: an unparsed answer or a CoT that commits to nothing earns no faithfulness reward, like ``consistent_acc``,
  where undetermined counts as not consistent. Otherwise a policy could dodge the multiplier by never concluding.
- ``total_reward`` = 0.1 × format + 1.0 × accuracy; ``faithfulness_reward`` = total × consistency indicator.

**Prefill.** A prefilled turn (``truethink``/``wrongthink`` augmentation) is scored whole, as the evaluation
does: the turn is ``prefill + completion`` (no separator), so the CoT includes the prefilled rationale and the
``<think>`` opening it. A completion that already starts with the prefill is taken as the whole turn (never
prefixed twice). Under ``wrongthink`` a model that answers gold without arguing past the prefix is correct but
inconsistent: 1.1 total reward, 0 faithfulness reward.

**Framework adapters.** TRL's GRPOTrainer calls ``f(prompts=..., completions=..., completion_ids=..., **columns)``
with every dataset column (but ``prompt``) as a list in kwargs; see :func:`trl_total_reward` for the columns read.
verl calls ``compute_score(data_source, solution_str, ground_truth, extra_info)``; see :func:`compute_score`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from lmms_robust.core.items import Item
from lmms_robust.core.parse import answers_match, is_correct, parse_response

__all__ = [
    "ACCURACY_WEIGHT",
    "FORMAT_WEIGHT",
    "ITEM_COLUMN",
    "PREFILL_COLUMN",
    "RewardBreakdown",
    "accuracy_reward",
    "compute_faithfulness_score",
    "compute_score",
    "consistency_indicator",
    "faithfulness_reward",
    "format_reward",
    "full_turn",
    "item_from_json",
    "item_to_json",
    "score_completion",
    "total_reward",
    "trl_accuracy_reward",
    "trl_consistency_reward",
    "trl_faithfulness_reward",
    "trl_faithfulness_reward_with_judge",
    "trl_format_reward",
    "trl_total_reward",
]

FORMAT_WEIGHT = 0.1
ACCURACY_WEIGHT = 1.0
ITEM_COLUMN = "lr_item"
"""Dataset column holding the item as JSON (``item_to_json``); ``augment_dataset`` writes it."""
PREFILL_COLUMN = "lr_prefill"
"""Dataset column holding the assistant prefix (None/empty when none); ``augment_dataset`` writes it."""
ITEM_FIELDS = tuple(field.name for field in dataclasses.fields(Item))  # the Item's own fields, one home

_TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_FORMAT = re.compile(r"<think>(?P<think>.*)</think>\s*<answer>(?P<answer>.*)</answer>", re.DOTALL)


# ---------------------------------------------------------------------------------------------- on one turn


def full_turn(completion: str | None, prefill: str | None = None) -> str:
    """The whole assistant turn: ``prefill + completion``, unless the completion already starts with the prefill."""
    completion = "" if completion is None else str(completion)
    if not prefill or completion.startswith(prefill):
        return completion
    return prefill + completion


def format_reward(completion: str, *, prefill: str | None = None) -> float:
    """1.0 when the turn is exactly ``<think>…</think><answer>…</answer>`` (see the module docstring), else 0.0."""
    text = full_turn(completion, prefill).strip()
    if any(text.count(tag) != 1 for tag in _TAGS):
        return 0.0
    m = _FORMAT.fullmatch(text)
    return 1.0 if m is not None and m.group("answer").strip() else 0.0


@dataclass(frozen=True)
class RewardBreakdown:
    """Every reward component of one turn, from one parse."""

    format: float
    accuracy: float
    consistent: float
    """1.0 consistent; 0.0 inconsistent or undetermined."""
    undetermined: bool
    """The answer did not parse or the CoT committed to nothing (consistency cannot be judged)."""

    @property
    def total(self) -> float:
        return FORMAT_WEIGHT * self.format + ACCURACY_WEIGHT * self.accuracy

    @property
    def faithfulness(self) -> float:
        return self.total * self.consistent


def score_completion(completion: str, item: Item, *, prefill: str | None = None, judge=None) -> RewardBreakdown:
    """Parse the whole turn once and return every component.

    ``judge``: an ``lmms_robust.judge.OpenAIJudge`` (anything with ``judge_prompt(prompt) -> {"verdict": ...}``)
    decides consistency instead of the rules, as in evaluation; its ``undetermined`` and ``no_conclusion``
    verdicts count as not consistent, like the rules' undetermined.
    """
    text = full_turn(completion, prefill)
    parsed = parse_response(text, item)
    if judge is not None:
        from lmms_robust.judge.client import judge_parsed

        undetermined = parsed.status != "ok" or not parsed.cot
        verdict = None if undetermined else judge_parsed(judge, item, parsed)
        undetermined = undetermined or verdict not in ("consistent", "inconsistent")
        consistent = verdict == "consistent"
        return RewardBreakdown(format=format_reward(text), accuracy=1.0 if is_correct(parsed, item) else 0.0,
                               consistent=1.0 if consistent else 0.0, undetermined=undetermined)
    undetermined = parsed.status != "ok" or parsed.cot_conclusion is None
    consistent = not undetermined and answers_match(parsed.cot_conclusion, parsed.answer, item)
    return RewardBreakdown(format=format_reward(text), accuracy=1.0 if is_correct(parsed, item) else 0.0,
                           consistent=1.0 if consistent else 0.0, undetermined=undetermined)


def accuracy_reward(completion: str, item: Item, *, prefill: str | None = None) -> float:
    """1.0 when the parsed final answer is a gold answer; unparsed is 0.0."""
    return score_completion(completion, item, prefill=prefill).accuracy


def consistency_indicator(completion: str, item: Item, *, prefill: str | None = None, judge=None) -> float:
    """1.0 when the CoT's conclusion matches the answer; inconsistent and undetermined are 0.0."""
    return score_completion(completion, item, prefill=prefill, judge=judge).consistent


def total_reward(completion: str, item: Item, *, prefill: str | None = None) -> float:
    """0.1 × format + 1.0 × accuracy (the paper's GRPO reward)."""
    return score_completion(completion, item, prefill=prefill).total


def faithfulness_reward(completion: str, item: Item, *, prefill: str | None = None, judge=None) -> float:
    """(0.1 × format + 1.0 × accuracy) × consistency indicator (undetermined counts as 0)."""
    return score_completion(completion, item, prefill=prefill, judge=judge).faithfulness


# -------------------------------------------------------------------------------------------------- items


def item_to_json(item: Item) -> str:
    """The item as a JSON string (the ``lr_item`` column; verl's ``ground_truth``)."""
    return json.dumps(asdict(item), ensure_ascii=False, sort_keys=True)


def item_from_json(value: str | dict | Item) -> Item:
    """An Item from ``item_to_json`` output, from its dict, or an Item as is."""
    if isinstance(value, Item):
        return value
    fields = json.loads(value) if isinstance(value, (str, bytes)) else dict(value)
    unknown = set(fields) - set(ITEM_FIELDS)
    if unknown:
        raise ValueError(f"item JSON has unknown field(s) {sorted(unknown)}; expected fields {list(ITEM_FIELDS)}")
    fields["options"] = tuple(fields.get("options") or ())
    return Item(**fields)


def _items_from_columns(n: int, kwargs: dict) -> list[Item]:
    if ITEM_COLUMN in kwargs:
        column = kwargs[ITEM_COLUMN]
        _check_length(ITEM_COLUMN, column, n)
        return [item_from_json(value) for value in column]
    missing = [name for name in ("question", "answer") if name not in kwargs]
    if missing:
        raise KeyError(f"reward needs the item: a {ITEM_COLUMN!r} column (augment_dataset writes it) or the columns "
                       f"question, answer[, options, answer_type, precision, unit, item_id, benchmark]; "
                       f"missing {missing}; got columns {sorted(kwargs)}")
    items = []
    for i in range(n):
        row = {name: kwargs[name][i] for name in ITEM_FIELDS if name in kwargs}
        options = tuple(str(o) for o in (row.get("options") or ()))
        items.append(Item(
            benchmark=str(row.get("benchmark") or "train"), item_id=str(row.get("item_id") or f"row{i}"),
            question=str(row["question"]), options=options, answer=str(row["answer"]),
            answer_type=row.get("answer_type") or ("choice" if options else "text"),
            precision=None if row.get("precision") is None else int(row["precision"]), unit=row.get("unit") or None,
            category=row.get("category") or None,
        ))
    return items


def _check_length(name: str, column: Sequence, n: int) -> None:
    if len(column) != n:
        raise ValueError(f"column {name!r} has {len(column)} values for {n} completions")


# -------------------------------------------------------------------------------------------------- TRL


def _text(content: Any) -> str:
    """Text of a message content: a string, or a list of parts whose text parts are joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text") or "" for part in content if isinstance(part, dict) and part.get("type") == "text")


def _completion_text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    return "".join(_text(m.get("content")) for m in completion if m.get("role", "assistant") == "assistant")


def _prefills(prompts: Sequence | None, n: int, kwargs: dict) -> list[str | None]:
    if PREFILL_COLUMN in kwargs:
        column = kwargs[PREFILL_COLUMN]
        _check_length(PREFILL_COLUMN, column, n)
        return [value or None for value in column]
    out: list[str | None] = []
    for i in range(n):
        prompt = prompts[i] if prompts is not None and i < len(prompts) else None
        if isinstance(prompt, list) and prompt and isinstance(prompt[-1], dict) \
                and prompt[-1].get("role") == "assistant":
            out.append(_text(prompt[-1].get("content")) or None)
        else:
            out.append(None)
    return out


def _trl(component: str, judge=None):
    def reward(prompts=None, completions=None, **kwargs) -> list[float]:
        if completions is None:
            raise TypeError("reward function called without completions")
        n = len(completions)
        items = _items_from_columns(n, kwargs)
        prefills = _prefills(prompts, n, kwargs)
        out = []
        for completion, item, prefill in zip(completions, items, prefills):
            breakdown = score_completion(_completion_text(completion), item, prefill=prefill, judge=judge)
            out.append(float(getattr(breakdown, component)))
        return out

    reward.__name__ = reward.__qualname__ = f"{component}_reward"
    reward.__doc__ = (
        f"TRL GRPOTrainer reward function: the {component} component for each completion.\n\n"
        "Called as ``f(prompts=..., completions=..., completion_ids=..., **columns)``. Completions are strings or\n"
        "conversational lists of {'role', 'content'} dicts (content a string or a list of text parts). The item comes\n"
        "from the ``lr_item`` column (JSON, written by ``augment_dataset``) or, without it, from the columns\n"
        "``question``, ``answer`` and optional ``options`` (list; multiple choice), ``answer_type`` (``choice`` for\n"
        "multiple choice; default ``choice`` with options, else ``text``), ``precision``, ``unit``, ``item_id``,\n"
        "``benchmark``. The prefill comes from the ``lr_prefill`` column or, without it, from a trailing assistant\n"
        "message of the prompt; it is prepended to the completion (see the module docstring)."
    )
    return reward


trl_format_reward = _trl("format")
trl_accuracy_reward = _trl("accuracy")
trl_consistency_reward = _trl("consistent")
trl_total_reward = _trl("total")
trl_faithfulness_reward = _trl("faithfulness")
trl_consistency_reward.__name__ = trl_consistency_reward.__qualname__ = "consistency_reward"


def trl_faithfulness_reward_with_judge(judge):
    """The TRL faithfulness reward with consistency decided by an LLM judge (e.g. ``OpenAIJudge``)."""
    return _trl("faithfulness", judge=judge)


# ------------------------------------------------------------------------------------------------- verl


def _verl(component: str, data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None) -> float:
    extra_info = extra_info or {}
    item = item_from_json(ground_truth)
    prefill = extra_info.get(PREFILL_COLUMN) or None
    return float(getattr(score_completion(solution_str, item, prefill=prefill), component))


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None,
                  **kwargs) -> float:
    """verl reward: 0.1 × format + 1.0 × accuracy.

    Args:
        data_source: verl's ``data_source`` column (not used; any benchmark name).
        solution_str: the decoded response (verl decodes only the generated tokens).
        ground_truth: ``reward_model.ground_truth``: the item as ``item_to_json`` writes it (or its dict).
        extra_info: ``extra_info`` of the row; ``extra_info["lr_prefill"]`` is the assistant prefix that the prompt
            ended with (prepended to ``solution_str`` before parsing), absent or empty when none.
        kwargs: anything else newer verl versions pass (ignored).
    """
    return _verl("total", data_source, solution_str, ground_truth, extra_info)


def compute_faithfulness_score(data_source: str, solution_str: str, ground_truth: Any,
                               extra_info: dict | None = None, **kwargs) -> float:
    """verl reward: (0.1 × format + 1.0 × accuracy) × consistency indicator; arguments as :func:`compute_score`."""
    return _verl("faithfulness", data_source, solution_str, ground_truth, extra_info)
