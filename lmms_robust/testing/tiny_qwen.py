"""Build a tiny random-weight Qwen2.5-VL checkpoint offline (~0.2M parameters, under a second).

It has its own byte-level BPE tokenizer (Qwen's special tokens and chat template), image/video processors and a
2-layer text model with a depth-1 vision tower: enough for lmms-eval and our backend to load, prompt with images,
continue a prefix and generate. Its words are random; it exists to test wiring, not answers.
"""

from __future__ import annotations

import json
from pathlib import Path

SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>",
]

# Structure of the official Qwen2-VL / Qwen2.5-VL chat template (default system prompt when none is given).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    "What is shown in the figure? (A) red (B) green (C) blue (D) yellow (E) black",
    "<think> The answer is clearly (B) because the bar is taller. </think><answer>B</answer>",
    "Answer as <think>...</think><answer>LETTER</answer>. Options: (A) (B) (C) (D) 12 3.5 cm",
    "Okay let's see. This should be the final answer. But I could be wrong. so the answer is",
    "the a an is of to and in on that it for with as was at by this from be or are image shows",
] * 20


def build_tokenizer(vocab_size: int = 512):
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_CORPUS, trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=None, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", unk_token=None, model_max_length=32768, padding_side="left")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def control_logits(model, tokenizer, token_logits: dict[str, float], default: float = -20.0) -> None:
    """Make every next-token logit of the text model a chosen constant, whatever the input.

    Identical embedding rows and zeroed attention-output and MLP-down weights leave the final hidden state equal
    to RMSNorm(ones) = ones at every position, so ``lm_head`` row t sets logit t exactly: ``token_logits`` maps
    token strings (as the tokenizer spells them, e.g. "A", "Ġ", "<|im_end|>") to logits; all others get
    ``default``. Tests use it to know the letter distribution in advance.
    """
    import torch

    language_model = model.model.language_model
    hidden = language_model.embed_tokens.weight.shape[1]
    with torch.no_grad():
        language_model.embed_tokens.weight.fill_(1.0)
        for layer in language_model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        language_model.norm.weight.fill_(1.0)
        model.lm_head.weight.fill_(default / hidden)
        for token, logit in token_logits.items():
            token_id = tokenizer.convert_tokens_to_ids(token)
            if token_id is None or token_id == tokenizer.unk_token_id:
                raise ValueError(f"token {token!r} is not in the tiny tokenizer's vocabulary")
            model.lm_head.weight[token_id].fill_(logit / hidden)


# Qwen2.5-VL-7B-Instruct's layer count, widths and heads (its config.json), for timing runs with random weights
SHAPE_7B = {
    "text": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                 num_key_value_heads=4, mrope_section=[16, 24, 24]),
    "vision": dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, fullatt_block_indexes=[7, 15, 23, 31]),
}


def build_tiny_qwen25vl(out: str | Path, seed: int = 0, token_logits: dict[str, float] | None = None,
                        text_head_dim: int = 16, shape: str = "tiny") -> Path:
    """Save a tiny random-weight Qwen2.5-VL (model, tokenizer, processor) to ``out`` and return the path.

    With ``token_logits`` the text model's logits are fixed constants (see ``control_logits``).
    ``text_head_dim``: the text attention's head size (4 heads, so the hidden size is 4x it); vLLM's CPU attention
    needs at least 32. ``shape="7b"``: Qwen2.5-VL-7B's layers, widths and heads instead (``SHAPE_7B``; the tiny
    tokenizer and vocabulary stay; ~8B random parameters saved in bfloat16), for benchmarks on a GPU.
    """
    if shape not in ("tiny", "7b"):
        raise ValueError(f"shape={shape!r}: use 'tiny' or '7b'")
    if text_head_dim % 8:
        raise ValueError(f"text_head_dim={text_head_dim}: use a multiple of 8 (the M-RoPE sections split head_dim/2)")
    import torch
    from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor,
                              Qwen2VLImageProcessor, Qwen2VLVideoProcessor)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    vocab_padded = ((len(tokenizer) + 63) // 64) * 64
    hidden = 4 * text_head_dim
    rotary = text_head_dim // 2  # M-RoPE splits the rotary half into (temporal, height, width) sections
    mrope_section = [rotary // 4, (rotary - rotary // 4) // 2, rotary - rotary // 4 - (rotary - rotary // 4) // 2]
    layers = dict(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, mrope_section=mrope_section)
    vision = dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, fullatt_block_indexes=[0])
    if shape == "7b":
        layers, vision = dict(SHAPE_7B["text"]), dict(SHAPE_7B["vision"])
    mrope = layers.pop("mrope_section")
    text_config = dict(
        vocab_size=vocab_padded, **layers, max_position_embeddings=4096 if shape == "tiny" else 128000,
        rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": mrope},
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
    )
    vision_config = dict(**vision, in_channels=3, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
                         window_size=112, out_hidden_size=text_config["hidden_size"])
    config = Qwen2_5_VLConfig(text_config=text_config, vision_config=vision_config, image_token_id=ids["<|image_pad|>"],
                              video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                              vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=False)
    if shape == "7b":
        torch.set_default_dtype(torch.bfloat16)  # ~8B parameters: random-initialised and saved in bfloat16
    try:
        model = Qwen2_5_VLForConditionalGeneration(config).eval()
    finally:
        torch.set_default_dtype(torch.float32)
    # as in Qwen2.5-VL-7B-Instruct's generation_config: both end-of-turn and end-of-text end a generation
    model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.bos_token_id = ids["<|endoftext|>"]
    model.generation_config.do_sample = False
    if token_logits is not None:
        control_logits(model, tokenizer, token_logits)
    model.save_pretrained(out)
    pixels = dict(min_pixels=56 * 56, max_pixels=112 * 112, patch_size=14, merge_size=2, temporal_patch_size=2)
    processor = Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(**pixels), tokenizer=tokenizer,
                                    video_processor=Qwen2VLVideoProcessor(**pixels), chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "lmms_robust_tiny.json").write_text(json.dumps({"seed": seed, "special_ids": ids}))
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Build a tiny random-weight Qwen2.5-VL checkpoint")
    parser.add_argument("out", nargs="?", default="tiny-qwen25vl")
    parser.add_argument("--text-head-dim", type=int, default=16, help="32 or more for vLLM's CPU attention")
    args = parser.parse_args()
    print(build_tiny_qwen25vl(args.out, text_head_dim=args.text_head_dim))
