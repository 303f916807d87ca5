"""Costs that grow with the suite, bounded by operation counts (benchmarks/suite_costs.py has the timings)."""

from __future__ import annotations

import pytest

from lmms_robust.harness import docs as docs_module
from lmms_robust.harness import hooks
from lmms_robust.harness.docs import build_docs
from lmms_robust.models.prefill import ChatBackend
from lmms_robust.testing.sample import sample_dataset


def test_a_doc_is_decoded_once_and_its_prompt_rendered_once_whatever_reads_it(monkeypatch):
    doc = list(build_docs(sample_dataset(), "mathvista", "wrongthink"))[0]
    renders = []
    real_render = hooks.render
    monkeypatch.setattr(hooks, "render", lambda name, **kw: renders.append(name) or real_render(name, **kw))
    docs_module._decode_perturbation.cache_clear()
    hooks._rendered_user_text.cache_clear()
    # what one request costs: lmms-eval's context and visuals, the backend's messages and letters, the target,
    # then scoring
    kwargs = {"prefill_supported": True}
    hooks.doc_to_text(doc, kwargs)
    hooks.doc_to_visual(doc)
    hooks.doc_to_messages(doc, kwargs)
    hooks.conversation(doc)
    ChatBackend._option_letters(doc)
    hooks.doc_to_target(doc)
    hooks.process_results(doc, ["<think>x</think><answer>B</answer>"])
    decoded = docs_module._decode_perturbation.cache_info()
    assert (decoded.misses, decoded.hits) == (1, 6)
    assert renders.count("user_prompt.jinja") == 1 and hooks._rendered_user_text.cache_info().misses == 1


def conversation_with_image(index: int, prefill: str | None = None) -> list[dict]:
    from lmms_robust.testing.sample import draw_image

    turn = [{"role": "user", "content": [{"type": "image", "image": draw_image(index)},
                                         {"type": "text", "text": "Q? (A) x (B) y"}]}]
    if prefill:
        turn.append({"role": "assistant", "content": [{"type": "text", "text": prefill}]})
    return turn


def generated_batch(backend, conversations: list[list[dict]], written: str):
    """Stand-in for a batched ``model.generate(output_logits=True)`` that wrote ``written`` in every row: one
    pass over the left-padded prompts plus those tokens. Returns (processor inputs, generate-like output)."""
    from types import SimpleNamespace

    import torch

    inputs = backend.prepare_inputs([backend.render(c) for c in conversations], conversations)
    generated = backend.tokenizer(written, add_special_tokens=False)["input_ids"]
    rows = len(conversations)
    ids = torch.cat([inputs["input_ids"], torch.tensor([generated] * rows)], dim=1)
    mask = torch.cat([inputs["attention_mask"], torch.ones(rows, len(generated), dtype=torch.long)], dim=1)
    side = {key: (torch.nn.functional.pad(value, (0, len(generated))) if key == "mm_token_type_ids" else value)
            for key, value in inputs.items() if key not in ("input_ids", "attention_mask")}
    with torch.inference_mode():
        full = backend.model(input_ids=ids, attention_mask=mask, use_cache=True, **side)
    prompt_len = inputs["input_ids"].shape[1]
    steps = tuple(full.logits[:, prompt_len - 1 + k] for k in range(len(generated)))
    return inputs, SimpleNamespace(sequences=ids, logits=steps, past_key_values=full.past_key_values)


def letters_counting_passes(backend, conversation, assistant, inputs, generation):
    """The letter distribution, and how many fresh preprocessings and full passes it took."""
    calls = {"prepare_inputs": 0, "teacher_forced": 0}
    real_prepare, real_pass = backend.prepare_inputs, backend.teacher_forced_logits

    def prepare(*args):
        calls["prepare_inputs"] += 1
        return real_prepare(*args)

    def full_pass(*args):
        calls["teacher_forced"] += 1
        return real_pass(*args)

    backend.prepare_inputs, backend.teacher_forced_logits = prepare, full_pass
    try:
        return backend.letter_distribution(conversation, assistant, "AB", prompt_inputs=inputs,
                                           generation=generation), calls
    finally:
        backend.prepare_inputs, backend.teacher_forced_logits = real_prepare, real_pass


@pytest.fixture(scope="module")
def backend(tiny_model):
    from lmms_robust.models.qwen2_5_vl import Qwen2_5_VLRobust

    return Qwen2_5_VLRobust(pretrained=str(tiny_model), device="cpu", device_map="cpu", dtype="float32")


def test_a_batch_row_reads_its_letters_from_the_batched_generation_not_a_new_pass(backend):
    """At batch > 1 each row's letter pass reads that row's generation logits and, for a step the model did not
    take, its own slice of the batch's cache: no second image preprocessing, no full forward pass."""
    from lmms_robust.models.prefill import Generation, _left_padding, _row_inputs

    prefix = "<think>The bar is green, so the answer is (B)."
    convs = [conversation_with_image(0), conversation_with_image(1, prefix)]  # the first row is left-padded
    written = " so</think><answer>B</answer>"
    inputs, out = generated_batch(backend, convs, written)
    assert _left_padding(inputs, 0) > 0 and _left_padding(inputs, 1) == 0
    rope_deltas = backend.model.model.rope_deltas  # the batch's, as _generate_batch keeps them after generate
    for row, conv in enumerate(convs):
        pad = _left_padding(inputs, row)
        generation = Generation.of_row(out, row, inputs["input_ids"].shape[1], pad, rope_deltas)
        assistant = (prefix if row else "") + written
        batched, calls = letters_counting_passes(backend, conv, assistant, _row_inputs(inputs, row, pad, row, 1),
                                                 generation)
        alone = backend.letter_distribution(conv, assistant, "AB")
        assert batched["raw"] == pytest.approx(alone["raw"], rel=1e-4), row
        assert calls == {"prepare_inputs": 0, "teacher_forced": 0}, row
        assert generation.reads == {"generation": 0, "cached_step": 1}, row


def test_a_forced_answer_place_is_read_with_cached_steps_not_a_full_pass(backend):
    """The model wrote no <answer>: "</think><answer" is forced after its think block. The cache of its own
    generation already holds everything before that, so only the forced tokens are fed (no image, no prompt)."""
    from lmms_robust.models.prefill import Generation

    conversation = conversation_with_image(1)
    written = "<think>the bar is green</think> and that is all"
    inputs, out = generated_batch(backend, [conversation], written)
    generation = Generation.of_row(out, 0, inputs["input_ids"].shape[1], 0, None)
    cached, calls = letters_counting_passes(backend, conversation, written, inputs, generation)
    fresh = backend.letter_distribution(conversation, written, "AB")
    assert cached["forced"] is True and cached["raw"] == pytest.approx(fresh["raw"], rel=1e-4)
    assert calls == {"prepare_inputs": 0, "teacher_forced": 0} and generation.reads["cached_step"] >= 1
