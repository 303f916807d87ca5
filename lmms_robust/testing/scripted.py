"""Make the tiny Qwen2.5-VL write given texts: forced decoding for end-to-end tests through the real backend.

A random-weight model writes gibberish, so tests driven by it never meet what real models write (paragraphs,
``</think>\\n\\n<answer>``, an answer before the think block, a CoT cut by ``max_new_tokens``). Here the model's
logits are replaced, after its real forward pass, by a scripted next-token distribution, so the real
``generate``, stop criteria, decoding and letter pass of ``qwen2_5_vl_robust`` process a chosen text.

A script is a JSON list of entries ``{"match": [substrings of the prompt], "turns": [{"text": ..., "p": ...,
"end": "<|im_end|>"}, ...]}``: the turns of every entry whose substrings all occur in the rendered prompt
(everything before the assistant turn) apply. Turns are whole assistant turns (a prefill included) with
probabilities; after assistant text ``D`` the next-token distribution is the mixture's: each turn whose text
starts with ``D`` gives its
``p`` to the longest token that spells its next bytes (to its ``end`` token once its text is complete); the other
tokens get a floor far below. So greedy decoding writes the most probable turn exactly, and where turns differ
only in their answer letter the letter pass reads their probabilities: turns ``…<answer>A…`` (0.1) and
``…<answer>B…`` (0.7) give P(A) = 0.1/0.8 and P(B) = 0.7/0.8 at that position. After a text no turn continues,
every token is equally likely.

Run the real CLI with it: ``python -m lmms_robust.testing.scripted SCRIPT.json <lmms-eval arguments>``.
"""

from __future__ import annotations

import functools
import json
import math
import runpy
import sys
from functools import lru_cache
from pathlib import Path

FLOOR = -60.0  # logit of tokens no turn continues with: e^-60 per token, nothing a test can see
ROWS = 8  # scripted positions per forward call: generation reads 1, the letter pass at most a few


def _bytes_to_unicode() -> dict[int, str]:
    """The byte-level BPE alphabet: which printable character stands for each byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            mapping[byte] = chr(byte)
        else:
            mapping[byte] = chr(256 + extra)
            extra += 1
    return mapping


class Vocabulary:
    """Token ids as bytes, for the tokenizer of a byte-level BPE checkpoint."""

    def __init__(self, tokenizer) -> None:
        to_byte = {char: byte for byte, char in _bytes_to_unicode().items()}
        special = set(tokenizer.all_special_tokens) | set(getattr(tokenizer, "added_tokens_encoder", {}))
        self.special_ids = {tokenizer.convert_tokens_to_ids(t) for t in special}
        self.bytes_of: dict[int, bytes] = {}
        self.id_of: dict[bytes, int] = {}
        for token, token_id in tokenizer.get_vocab().items():
            if token in special:
                continue
            raw = bytes(to_byte[c] for c in token)
            self.bytes_of[token_id] = raw
            self.id_of.setdefault(raw, token_id)
        self.longest = max(len(b) for b in self.id_of)
        self.im_start = tokenizer.convert_tokens_to_ids("<|im_start|>")
        self.convert = tokenizer.convert_tokens_to_ids

    def text(self, ids) -> bytes:
        return b"".join(self.bytes_of.get(int(i), b"") for i in ids)

    def next_token(self, remaining: bytes) -> int:
        for size in range(min(len(remaining), self.longest), 0, -1):
            if remaining[:size] in self.id_of:
                return self.id_of[remaining[:size]]
        raise ValueError(f"no token spells {remaining[:8]!r}")


class Script:
    def __init__(self, entries: list[dict], vocab: Vocabulary) -> None:
        self.vocab = vocab
        self.entries = []
        for entry in entries:
            turns = [(t["text"].encode("utf-8"), float(t["p"]), vocab.convert(t.get("end", "<|im_end|>")))
                     for t in entry["turns"]]
            self.entries.append((list(entry["match"]), turns))

    def distribution(self, prompt: str, said: bytes) -> dict[int, float] | None:
        """Next-token probabilities after assistant text ``said``; None where no turn continues it."""
        turns = [turn for match, entry_turns in self.entries if all(m in prompt for m in match) for turn in entry_turns]
        mass: dict[int, float] = {}
        for text, p, end in turns:
            if text.startswith(said):
                token = end if len(text) == len(said) else self.vocab.next_token(text[len(said):])
                mass[token] = mass.get(token, 0.0) + p
        total = sum(mass.values())
        return {token: m / total for token, m in mass.items()} if total > 0 else None


class _Patch:
    """Wraps the model class's forward; remembers each KV cache's token ids to know the whole context."""

    def __init__(self, entries: list[dict]) -> None:
        self.entries = entries
        self.contexts: dict[int, object] = {}

    @lru_cache(maxsize=4)
    def script_for(self, model_path: str) -> Script:
        from transformers import AutoTokenizer

        return Script(self.entries, Vocabulary(AutoTokenizer.from_pretrained(model_path)))

    def context(self, input_ids, cache, start: int):
        """All token ids so far: those the cache holds (``start`` of them, as its length said before the call)
        and ``input_ids``."""
        import torch

        if cache is None:
            return input_ids
        if start == 0 or id(cache) not in self.contexts:
            full = input_ids
        else:
            full = torch.cat([self.contexts[id(cache)][:, :start], input_ids], dim=1)
        self.contexts[id(cache)] = full
        return full

    def rewrite(self, model, full, logits):
        import torch

        script = self.script_for(model.name_or_path)
        vocab = script.vocab
        rows = min(logits.shape[1], ROWS)
        for b in range(full.shape[0]):
            ids = full[b].tolist()
            starts = [i for i, t in enumerate(ids) if t == vocab.im_start]
            if not starts:
                continue
            head = starts[-1] + 1
            prompt = vocab.text(ids[:head - 1]).decode("utf-8", "replace")
            for r in range(rows):
                position = len(ids) - rows + r  # the row predicting the token after ids[:position + 1]
                said = vocab.text(ids[head:position + 1])
                if not said.startswith(b"assistant\n"):
                    continue
                dist = script.distribution(prompt, said[len(b"assistant\n"):])
                row = torch.zeros(logits.shape[-1], dtype=logits.dtype, device=logits.device)
                if dist is not None:
                    row.fill_(FLOOR)
                    for token, p in dist.items():
                        row[token] = math.log(p)
                logits[b, logits.shape[1] - rows + r] = row
        return logits


def install(script_path: str | Path) -> None:
    """Script every forward pass of Qwen2_5_VLForConditionalGeneration in this process."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    patch = _Patch(json.loads(Path(script_path).read_text(encoding="utf-8")))
    original = Qwen2_5_VLForConditionalGeneration.forward

    @functools.wraps(original)  # generate checks its kwargs against forward's signature
    def forward(self, input_ids=None, *args, **kwargs):
        cache = kwargs.get("cache", kwargs.get("past_key_values"))  # transformers 5 renames the argument
        start = cache.get_seq_length() if cache is not None else 0
        out = original(self, input_ids, *args, **kwargs)
        if input_ids is not None:
            full = patch.context(input_ids, cache, start)
            out.logits = patch.rewrite(self, full, out.logits.clone())
        return out

    Qwen2_5_VLForConditionalGeneration.forward = forward


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    install(argv[0])
    sys.argv = ["lmms_eval", *argv[1:]]
    runpy.run_module("lmms_eval", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
