"""What a backend knows about a response besides its text, riding at the end of the response string.

lmms-eval turns every response into a string before it caches, logs and gathers it, so our backends append one
trailer, ``\\n<lmms_robust_meta>{json}</lmms_robust_meta>``, that the task's filter splits off again. It holds:

- ``letters``: the option-letter distribution at the answer position, ``{"raw": {letter: mass}, "forced": bool}``
  (multiple-choice items only; see ``core/letters.py``);
- ``finish_reason``: why generation ended: ``eos`` (an end-of-sequence / end-of-turn token), ``stop`` (a stop
  string the task asked for), ``length`` (``max_new_tokens`` reached, so the text may be cut);
- ``output_tokens``: tokens generated, the terminating end-of-sequence token included;
- ``model``: what reproduces the generation (backend, checkpoint, revision, chat template SHA-256, ...).

A trailer is read only when it is the very end of the string and every field is well formed; anything else is the
model's own text and stays in the response (so a model, or a replay file, cannot slip values past the checks).
Pure: stdlib only.
"""

from __future__ import annotations

import json
import re

from lmms_robust.core.letters import LetterError, validate_letters

FINISH_REASONS = ("eos", "stop", "length")
FIELDS = ("letters", "finish_reason", "output_tokens", "model")
_OPEN, _CLOSE = "\n<lmms_robust_meta>", "</lmms_robust_meta>"
_TRAILER = re.compile(re.escape(_OPEN) + r"(\{.*\})" + re.escape(_CLOSE) + r"\Z", re.S)


class TrailerError(ValueError):
    pass


def attach(text: str, *, letters: dict | None = None, finish_reason: str | None = None,
           output_tokens: int | None = None, model: dict | None = None) -> str:
    """``text`` with its trailer; raises ``TrailerError`` on a malformed field (a backend bug, never data)."""
    meta = {"letters": letters, "finish_reason": finish_reason, "output_tokens": output_tokens, "model": model}
    validate(meta)
    return text + _OPEN + json.dumps(meta, sort_keys=True, ensure_ascii=False) + _CLOSE


def detach(response: str) -> tuple[str, dict | None]:
    """``(model text, meta)``; meta is None when the string ends in no well-formed trailer."""
    match = _TRAILER.search(response)
    if match is None:
        return response, None
    try:
        meta = json.loads(match.group(1))
        validate(meta)
    except (ValueError, TrailerError):
        return response, None
    return response[: match.start()], meta


def validate(meta) -> None:
    if not isinstance(meta, dict) or set(meta) != set(FIELDS):
        raise TrailerError(f"a response trailer has exactly the fields {FIELDS}")
    if meta["letters"] is not None:
        try:
            validate_letters(meta["letters"])
        except LetterError as exc:
            raise TrailerError(str(exc)) from None
    if meta["finish_reason"] not in (None, *FINISH_REASONS):
        raise TrailerError(f"finish_reason {meta['finish_reason']!r} is not one of {FINISH_REASONS}")
    tokens = meta["output_tokens"]
    if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0):
        raise TrailerError(f"output_tokens {tokens!r} is not a count")
    model = meta["model"]
    if model is not None and not (isinstance(model, dict) and all(
            isinstance(k, str) and (v is None or isinstance(v, (str, int, float, bool))) for k, v in model.items())):
        raise TrailerError("model must map names to plain JSON values")


def contains_trailer(text: str) -> bool:
    """Whether ``text`` holds something that looks like our trailer (replay files must not)."""
    return "<lmms_robust_meta>" in text or "</lmms_robust_meta>" in text
