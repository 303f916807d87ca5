"""A judge that runs a local transformers model (no server): same interface and cache as ``OpenAIJudge``."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from lmms_robust.judge.client import _Cache, cached_verdict, parse_verdict


class TransformersJudge:
    """Greedy chat generation with a local checkpoint; verdicts parsed exactly as from a server.

    Args:
        pretrained: a local directory or hub id of a chat model (text-only use of a VLM works too).
        device: ``cpu``, ``cuda``, ...; dtype: torch dtype name.
        max_new_tokens: room for the reply (reasoning judges need more).
        cache_dir: where ``judge_cache.jsonl`` lives; the key includes ``pretrained``, so reruns generate nothing.
    """

    def __init__(self, pretrained: str | Path, device: str = "cpu", dtype: str = "float32", max_new_tokens: int = 64,
                 cache_dir: str | Path | None = None):
        import transformers

        self.model = str(pretrained)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.model)
        model = None
        for loader in (transformers.AutoModelForCausalLM, transformers.AutoModelForImageTextToText):
            try:
                model = loader.from_pretrained(self.model, dtype=dtype)
                break
            except ValueError:  # this Auto class does not know the architecture: try the next
                continue
        if model is None:
            raise ValueError(f"{self.model}: neither a causal LM nor an image-text-to-text model transformers can load")
        self._model = model.to(device).eval()
        self.device = device
        self.max_new_tokens = int(max_new_tokens)
        self.cache = _Cache(cache_dir)
        self.generations = 0

    def judge_prompt(self, prompt: str) -> dict:
        import torch

        key, hit = cached_verdict(self.cache, self.model, prompt)
        if hit is not None:
            return hit
        text = self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                  add_generation_prompt=True)
        inputs = self.tokenizer(text, return_tensors="pt", add_special_tokens=False).to(self.device)
        with torch.inference_mode():
            out = self._model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                       pad_token_id=self.tokenizer.pad_token_id)
        reply = self.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        self.generations += 1
        verdict, reason = parse_verdict(reply)
        self.cache.put({"key": key, "model": self.model, "verdict": verdict, "reason": reason, "reply": reply})
        return {"verdict": verdict, "reason": reason, "reply": reply, "cached": False, "attempts": 1}

    def judge_prompts(self, prompts: Sequence[str]) -> list[dict]:
        return [self.judge_prompt(p) for p in prompts]
