"""The lmms-eval task hooks shared by every variant: prompts in, per-item records out."""

from __future__ import annotations

from functools import partial

from lmms_robust.benchmarks import IMAGE_FIELDS
from lmms_robust.core.parse import parse_response
from lmms_robust.core.scoring import METRICS, aggregate, score_item
from lmms_robust.harness.docs import perturbation_from_doc
from lmms_robust.harness.filters import decode_response
from lmms_robust.resources import render

PREFILL_KWARG = "prefill_supported"


class PrefillUnsupported(RuntimeError):
    pass


def doc_to_visual(doc: dict) -> list:
    image = doc.get(IMAGE_FIELDS[perturbation_from_doc(doc).item.benchmark])
    return [image.convert("RGB")] if image is not None else []


def user_text(doc: dict) -> str:
    pert = perturbation_from_doc(doc)
    item = pert.item
    return render(
        "user_prompt.jinja",
        question=item.question,
        options=list(zip(item.letters, item.options)),
        caption=pert.caption,
        instruction=render("instruction.jinja", is_multiple_choice=item.is_multiple_choice),
    )


def doc_to_text(doc: dict, lmms_eval_specific_kwargs: dict | None = None) -> str:
    """The user turn. Refuses prefill variants on a backend that cannot continue an assistant turn."""
    pert = perturbation_from_doc(doc)
    if pert.prefill is not None and not (lmms_eval_specific_kwargs or {}).get(PREFILL_KWARG, False):
        raise PrefillUnsupported(
            f"variant {pert.variant!r} prefills the assistant turn, and this backend would not continue it "
            f"(it would open a new turn or drop the prefix). Run it with --model qwen2_5_vl_robust "
            f"(or robust_replay to re-score saved outputs)."
        )
    return user_text(doc)


def doc_to_messages(doc: dict, lmms_eval_specific_kwargs: dict | None = None) -> list[dict]:
    text = doc_to_text(doc, lmms_eval_specific_kwargs)
    content = [{"type": "image", "url": image} for image in doc_to_visual(doc)]
    content.append({"type": "text", "text": text})
    messages = [{"role": "user", "content": content}]
    prefill = perturbation_from_doc(doc).prefill
    if prefill:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": prefill}]})
    return messages


def doc_to_target(doc: dict) -> str:
    item = perturbation_from_doc(doc).item
    return ",".join(item.gold_letters) if item.is_multiple_choice else item.answer


def process_results(doc: dict, results: list) -> dict:
    """One record per doc, under every metric name (each aggregation reads its own field).

    Never raises: lmms-eval retries a raising process_results and then drops the task silently.
    """
    pert = perturbation_from_doc(doc)
    response, letters = decode_response(results[0] if results else "")
    full_turn = (pert.prefill or "") + response
    parsed = parse_response(full_turn, pert.item) if pert.applicable else None
    record = score_item(pert, parsed, doc_id=doc.get("lr_doc_id"), prefill_chars=len(pert.prefill or ""),
                        letters=letters)
    return {metric: record for metric in METRICS}


def _aggregation(metric: str, records: list) -> float | None:
    return aggregate(records, metric)


for _metric in METRICS:
    globals()[f"aggregate_{_metric}"] = partial(_aggregation, _metric)
