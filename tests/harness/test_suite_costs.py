"""Costs that grow with the suite, bounded by operation counts (benchmarks/suite_costs.py has the timings)."""

from __future__ import annotations

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


def test_a_batch_row_reads_its_letters_from_the_batched_generation_not_a_new_pass(tiny_model):
    """At batch > 1 each row's letter pass reads that row's generation logits and, for a step the model did not
    take, its own slice of the batch's cache: no second image preprocessing, no full forward pass."""
    from types import SimpleNamespace

    import pytest
    import torch

    from lmms_robust.models.prefill import Generation, _left_padding, _row_inputs
    from lmms_robust.models.qwen2_5_vl import Qwen2_5_VLRobust
    from lmms_robust.testing.sample import draw_image

    backend = Qwen2_5_VLRobust(pretrained=str(tiny_model), device="cpu", device_map="cpu", dtype="float32")
    prefix = "<think>The bar is green, so the answer is (B)."
    convs = []
    for index, prefill in enumerate((None, prefix)):  # different lengths: the first row is left-padded
        turn = [{"role": "user", "content": [{"type": "image", "image": draw_image(index)},
                                             {"type": "text", "text": "Q? (A) x (B) y"}]}]
        if prefill:
            turn.append({"role": "assistant", "content": [{"type": "text", "text": prefill}]})
        convs.append(turn)
    inputs = backend.prepare_inputs([backend.render(c) for c in convs], convs)
    written = " so</think><answer>B</answer>"
    generated = backend.tokenizer(written, add_special_tokens=False)["input_ids"]
    prompt_len = inputs["input_ids"].shape[1]
    ids = torch.cat([inputs["input_ids"], torch.tensor([generated, generated])], dim=1)
    mask = torch.cat([inputs["attention_mask"], torch.ones(2, len(generated), dtype=torch.long)], dim=1)
    side = {k: (torch.nn.functional.pad(v, (0, len(generated))) if k == "mm_token_type_ids" else v)
            for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
    # stand-in for a batched model.generate(output_logits=True): one pass over both rows, logits and cache
    with torch.inference_mode():
        full = backend.model(input_ids=ids, attention_mask=mask, use_cache=True, **side)
    out = SimpleNamespace(sequences=ids, logits=tuple(full.logits[:, prompt_len - 1 + k] for k in range(len(generated))),
                          past_key_values=full.past_key_values)
    rope_deltas = backend.model.model.rope_deltas
    assert _left_padding(inputs, 0) > 0 and _left_padding(inputs, 1) == 0
    for row, conv in enumerate(convs):
        pad = _left_padding(inputs, row)
        generation = Generation.of_row(out, row, prompt_len, pad, rope_deltas)
        assistant = (prefix if row else "") + written
        calls = []
        real_prepare = backend.prepare_inputs
        backend.prepare_inputs = lambda *a: calls.append(1) or real_prepare(*a)
        try:
            batched = backend.letter_distribution(conv, assistant, "AB", prompt_inputs=_row_inputs(inputs, row, pad, row, 1),
                                                  generation=generation)
        finally:
            backend.prepare_inputs = real_prepare
        alone = backend.letter_distribution(conv, assistant, "AB")
        assert batched["raw"] == pytest.approx(alone["raw"], rel=1e-4), row
        assert calls == [] and generation.reads == {"generation": 0, "cached_step": 1}, row


def test_a_forced_answer_place_is_read_with_cached_steps_not_a_full_pass(tiny_model):
    """The model wrote no <answer>: "</think><answer" is forced after its think block. The cache of its own
    generation already holds everything before that, so only the forced tokens are fed (no image, no prompt)."""
    import pytest
    import torch

    from lmms_robust.models.prefill import Generation
    from lmms_robust.models.qwen2_5_vl import Qwen2_5_VLRobust
    from lmms_robust.testing.sample import draw_image

    backend = Qwen2_5_VLRobust(pretrained=str(tiny_model), device="cpu", device_map="cpu", dtype="float32")
    conversation = [{"role": "user", "content": [{"type": "image", "image": draw_image(1)},
                                                 {"type": "text", "text": "Q? (A) x (B) y"}]}]
    inputs = backend.prepare_inputs([backend.render(conversation)], [conversation])
    written = "<think>the bar is green</think> and that is all"
    generated = backend.tokenizer(written, add_special_tokens=False)["input_ids"]
    prompt_len = inputs["input_ids"].shape[1]
    ids = inputs["input_ids"][0].tolist() + generated
    side = {k: (torch.nn.functional.pad(v, (0, len(generated))) if k == "mm_token_type_ids" else v)
            for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
    with torch.inference_mode():
        out = backend.model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                            use_cache=True, **side)
    generation = Generation(ids, prompt_len, tuple(out.logits[:, prompt_len - 1 + k] for k in range(len(generated))),
                            out.past_key_values)
    passes = []
    real_pass = backend.teacher_forced_logits
    backend.teacher_forced_logits = lambda *a: passes.append(1) or real_pass(*a)
    try:
        cached = backend.letter_distribution(conversation, written, "AB", prompt_inputs=inputs, generation=generation)
    finally:
        backend.teacher_forced_logits = real_pass
    fresh = backend.letter_distribution(conversation, written, "AB")
    assert cached["forced"] is True and cached["raw"] == pytest.approx(fresh["raw"], rel=1e-4)
    assert passes == [] and generation.reads["generation"] == 0 and generation.reads["cached_step"] >= 1
