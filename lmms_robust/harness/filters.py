"""Filters: keep the whole response, CoT included, out of reach of lmms-eval's reasoning-tag stripping."""

from __future__ import annotations

import json

from lmms_eval.api.filter import Filter

from lmms_robust.core.trailer import detach


def encode_response(text: str) -> str:
    """The response without its trailer, and the trailer's fields, as one JSON string.

    Escaping < and > means no tag-stripping pass (reasoning_tags, auto_strip_thinking) can match inside it.
    """
    response, meta = detach(text)
    payload = json.dumps({"response": response, "meta": meta}, ensure_ascii=False)
    return payload.replace("<", "\\u003c").replace(">", "\\u003e")


def decode_response(value) -> tuple[str, dict | None]:
    """``(response, trailer meta)`` back from ``encode_response``; a raw string (not ours) passes through."""
    if not isinstance(value, str):
        return ("" if value is None else str(value)), None
    try:
        payload = json.loads(value)
    except ValueError:
        return detach(value)
    if isinstance(payload, dict) and set(payload) == {"response", "meta"} and isinstance(payload["response"], str):
        return payload["response"], payload["meta"]
    return detach(value)


class PreserveResponse(Filter):
    """First response of each request, JSON-encoded (filter outputs must be strings)."""

    def apply(self, resps, docs):
        return [encode_response(_first_text(r)) for r in resps]


def _first_text(resp) -> str:
    if isinstance(resp, (list, tuple)):
        resp = resp[0] if resp else ""
    return "" if resp is None else str(resp)
