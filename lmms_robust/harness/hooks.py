"""The lmms-eval task hooks shared by every variant: prompts in, per-item records out."""

from __future__ import annotations

import os
import threading
from functools import lru_cache, partial

from lmms_robust.benchmarks import benchmark_module
from lmms_robust.core.parse import parse_response
from lmms_robust.core.scoring import METRICS, aggregate, metric_values, rejudge, score_item
from lmms_robust.harness.docs import image_error, image_errors, perturbation_from_doc, run_from_doc
from lmms_robust.harness.filters import decode_response
from lmms_robust.harness.provenance import versions
from lmms_robust.presets import presets
from lmms_robust.resources import render

PREFILL_KWARG = "prefill_supported"


class PrefillUnsupported(RuntimeError):
    pass


def doc_to_visual(doc: dict) -> list:
    return _images(doc, perturbation_from_doc(doc))


def user_text(doc: dict) -> str:
    return _user_text(perturbation_from_doc(doc))


def doc_to_text(doc: dict, lmms_eval_specific_kwargs: dict | None = None) -> str:
    """The user turn. Refuses prefill variants on a backend that cannot continue an assistant turn."""
    pert = perturbation_from_doc(doc)
    _require_prefill_support(pert, lmms_eval_specific_kwargs)
    return _user_text(pert)


def doc_to_messages(doc: dict, lmms_eval_specific_kwargs: dict | None = None) -> list[dict]:
    pert = perturbation_from_doc(doc)
    _require_prefill_support(pert, lmms_eval_specific_kwargs)
    return _messages(doc, pert)


def conversation(doc: dict, preset=None) -> list[dict]:
    """The chat messages of one of our docs as a backend of ours asks them, in a checkpoint's prompt preset
    (``lmms_robust.presets.Preset``; None: the protocol's). Backends that continue prefills call this directly."""
    return _messages(doc, perturbation_from_doc(doc), preset)


def _messages(doc: dict, pert, preset=None) -> list[dict]:
    content = [{"type": "image", "url": image} for image in _images(doc, pert)]
    content.append({"type": "text", "text": _user_text(pert, preset)})
    messages = [{"role": "user", "content": content}]
    if pert.prefill:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": pert.prefill}]})
    return messages


def _images(doc: dict, pert) -> list:
    try:
        return benchmark_module(pert.item.benchmark).images(doc)
    except image_errors() as exc:  # a path string, undecodable bytes, a decompression bomb: name the item
        raise image_error(f"{pert.item.benchmark}_{pert.variant}", doc, doc.get("lr_doc_id"), exc) from exc


def _user_text(pert, preset=None) -> str:
    # lmms-eval asks for the text (doc_to_text, its context string) and the backend for the messages: render once
    return _rendered_user_text(pert, None if preset is None else preset.name)


@lru_cache(maxsize=8192)
def _rendered_user_text(pert, preset_name: str | None) -> str:
    item = pert.item
    preset = None if preset_name is None else presets()[preset_name]
    if preset is None:
        instruction, prefix = render("instruction.jinja", is_multiple_choice=item.is_multiple_choice), ""
    else:
        instruction, prefix = preset.instruction_text(item.is_multiple_choice), preset.question_prefix
    return render(
        "user_prompt.jinja",
        question=item.question,
        question_prefix=prefix,
        options=list(zip(item.letters, item.options)),
        caption=pert.caption,
        instruction=instruction,
    )


def _require_prefill_support(pert, lmms_eval_specific_kwargs: dict | None) -> None:
    if pert.prefill is not None and not (lmms_eval_specific_kwargs or {}).get(PREFILL_KWARG, False):
        raise PrefillUnsupported(
            f"variant {pert.variant!r} prefills the assistant turn, and this backend would not continue it "
            f"(it would open a new turn or drop the prefix). Run it with --model qwen2_5_vl_robust or "
            f"--model vllm_robust (or robust_replay to re-score saved outputs)."
        )


def doc_to_target(doc: dict) -> str:
    item = perturbation_from_doc(doc).item
    return ",".join(item.gold_letters) if item.is_multiple_choice else item.answer


def process_results(doc: dict, results: list) -> dict:
    """One record per doc: whole under ``acc``, under every other metric the fields its aggregation reads
    (``core.scoring.metric_values``).

    Never raises: lmms-eval retries a raising process_results and then drops the task silently.
    """
    pert = perturbation_from_doc(doc)
    response, meta = decode_response(results[0] if results else "")
    meta = meta or {}
    full_turn = (pert.prefill or "") + response
    parsed = parse_response(full_turn, pert.item) if pert.applicable else None
    record = score_item(pert, parsed, doc_id=doc.get("lr_doc_id"), prefill_chars=len(pert.prefill or ""),
                        letters=meta.get("letters"), finish_reason=meta.get("finish_reason"),
                        output_tokens=meta.get("output_tokens"), run=run_from_doc(doc),
                        provenance={**versions(), "model": meta.get("model")})
    judge = configured_judge()
    if judge is not None and parsed is not None and (judge_mode() == "all" or _rules_left_open(record, parsed)):
        record = rejudge(record, _judge_verdict(judge, parsed, pert.item, record), judge.model)
    return metric_values(record)


JUDGE_ENV = ("LMMS_ROBUST_JUDGE_URL", "LMMS_ROBUST_JUDGE_MODEL", "LMMS_ROBUST_JUDGE_CACHE")
JUDGE_MODE_ENV = "LMMS_ROBUST_JUDGE_MODE"
JUDGE_MODES = ("all", "rules_first")


class JudgeConfigError(SystemExit):
    """A judge setting no run can use; a SystemExit so that lmms-eval's retry of process_results cannot swallow it
    into a silently dropped task."""


def judge_mode() -> str:
    """``all`` (the judge decides every item it can judge) or ``rules_first`` (the rules decide where they find a
    conclusion; the judge is asked only about parsed answers with a CoT that the rules leave undetermined)."""
    mode = (os.environ.get(JUDGE_MODE_ENV) or "all").strip().lower()
    if mode not in JUDGE_MODES:
        raise JudgeConfigError(f"{JUDGE_MODE_ENV}={mode!r} is not a judge mode; use one of {', '.join(JUDGE_MODES)} "
                               f"(unset: all)")
    return mode


def _rules_left_open(record: dict, parsed) -> bool:
    """Rules first: ask the judge only where it has something to judge and the rules found no conclusion."""
    return (record["consistency_applicable"] and record["status"] == "ok" and bool((parsed.cot or "").strip())
            and record["consistent"] is None)
_judge_lock = threading.Lock()
_judges: dict[tuple, object] = {}


def configured_judge():
    """The LLM judge for consistency during a run, when ``LMMS_ROBUST_JUDGE_URL`` and ``_MODEL`` are set.

    The URL of an OpenAI-compatible server, or ``local`` to run ``_MODEL`` with transformers; ``_CACHE`` names a
    verdict cache folder. One judge per process (process_results runs in a thread pool).
    """
    url, model, cache = (os.environ.get(name) for name in JUDGE_ENV)
    if not url or not model:
        return None
    with _judge_lock:
        if (url, model, cache) not in _judges:
            if url == "local":
                from lmms_robust.judge.local import TransformersJudge

                _judges[(url, model, cache)] = TransformersJudge(model, cache_dir=cache)
            else:
                from lmms_robust.judge.client import OpenAIJudge, api_key_from_env

                _judges[(url, model, cache)] = OpenAIJudge(url, model, api_key=api_key_from_env(), cache_dir=cache)
        return _judges[(url, model, cache)]


def _judge_verdict(judge, parsed, item, record: dict) -> str:
    """The judge's verdict, or ``not_applicable`` where there is nothing to judge; never raises."""
    if record["status"] != "ok" or not (parsed.cot or "").strip() or not record["consistency_applicable"]:
        return "not_applicable"
    from lmms_robust.judge.client import judge_parsed

    return judge_parsed(judge, item, parsed)


def _aggregation(metric: str, records: list) -> float | None:
    return aggregate(records, metric)


for _metric in METRICS:
    globals()[f"aggregate_{_metric}"] = partial(_aggregation, _metric)
