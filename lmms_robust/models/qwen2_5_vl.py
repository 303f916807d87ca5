"""Qwen2.5-VL family (Qwen2.5-VL-7B-Instruct and its RL derivatives: Vision-R1, VLAA-Thinker, SpaceR, ...)."""

from __future__ import annotations

from lmms_robust.models.prefill import PrefillChatModel


class Qwen2_5_VLRobust(PrefillChatModel):
    """``--model qwen2_5_vl_robust``: lmms-eval's Qwen2.5-VL model_args, plus exact assistant-turn continuation."""

    accepted_model_types = ("qwen2_5_vl",)
    backend_name = "qwen2_5_vl_robust"

    def load(self, pretrained: str, attn_implementation: str | None = None, min_pixels: int = 256 * 28 * 28,
             max_pixels: int = 1605632, use_cache: bool = True, dtype: str = "bfloat16", max_num_frames: int = 32,
             fps: float | None = None, interleave_visuals: bool = False, revision: str | None = None,
             **unused) -> None:
        # max_num_frames, fps, interleave_visuals: accepted as lmms-eval's qwen2_5_vl takes them (our tasks are
        # single-image, so they change nothing). reasoning_prompt is refused: our templates set the instruction.
        if unused:
            raise TypeError(f"qwen2_5_vl_robust: unknown model_args {sorted(unused)} (the instruction comes from "
                            f"lmms_robust's templates, so reasoning_prompt is not taken)")
        from transformers import AutoProcessor, AutoTokenizer, Qwen2_5_VLForConditionalGeneration

        self.revision = revision  # a hub branch, tag or commit; recorded in every record and the results
        model_kwargs = {"dtype": dtype, "device_map": self.device_map, "revision": revision}
        if attn_implementation:
            model_kwargs["attn_implementation"] = attn_implementation
        self._model = Qwen2_5_VLForConditionalGeneration.from_pretrained(pretrained, **model_kwargs)
        self.processor = AutoProcessor.from_pretrained(pretrained, min_pixels=int(min_pixels), max_pixels=int(max_pixels),
                                                       revision=revision)
        self._tokenizer = AutoTokenizer.from_pretrained(pretrained, revision=revision)
        self.use_cache = use_cache

    def prepare_inputs(self, texts, hf_messages):
        from qwen_vl_utils import process_vision_info

        images, videos = process_vision_info(hf_messages)
        return self.processor(text=texts, images=images, videos=videos, padding=True, padding_side="left",
                              return_tensors="pt")
