"""A judge that runs a local transformers model (no server): same interface and cache as ``OpenAIJudge``."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from lmms_robust.judge.client import _Cache, cached_verdict, judge_cache_key, parse_verdict, store_verdict


class TransformersJudge:
    """Greedy chat generation with a local checkpoint; verdicts parsed exactly as from a server.

    Args:
        pretrained: a local directory or hub id of a chat model (text-only use of a VLM works too).
        device: ``cpu``, ``cuda``, ...; dtype: torch dtype name.
        max_new_tokens: room for the reply (reasoning judges need more).
        cache_dir: where ``judge_cache.jsonl`` lives; the key includes ``pretrained`` and ``max_new_tokens``, so
            reruns generate nothing that was read, and a rerun with more room asks again what was cut off.
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

        key = judge_cache_key(self.model, prompt, self.max_new_tokens, 0)
        hit = cached_verdict(self.cache, key)
        if hit is not None:
            return hit
        text = self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                  add_generation_prompt=True)
        inputs = self.tokenizer(text, return_tensors="pt", add_special_tokens=False).to(self.device)
        with torch.inference_mode():
            out = self._model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                       pad_token_id=self.tokenizer.pad_token_id)
        new = out[0, inputs["input_ids"].shape[1]:]
        reply = self.tokenizer.decode(new, skip_special_tokens=True)
        self.generations += 1
        # as a server says it: "stop" when the model ended its turn, "length" when max_new_tokens cut it
        ended = len(new) < self.max_new_tokens or (len(new) and int(new[-1]) in self._stop_ids())
        finish_reason = "stop" if ended else "length"
        verdict, reason = parse_verdict(reply, finish_reason)
        result = {"verdict": verdict, "reason": reason, "reply": reply, "cached": False, "attempts": 1,
                  "finish_reason": finish_reason}
        store_verdict(self.cache, key, self.model, result)
        return result

    def _stop_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id}
        configured = getattr(getattr(self._model, "generation_config", None), "eos_token_id", None)
        ids.update(configured if isinstance(configured, (list, tuple)) else [configured])
        return {int(i) for i in ids if i is not None}

    def judge_prompts(self, prompts: Sequence[str]) -> list[dict]:
        return [self.judge_prompt(p) for p in prompts]
