"""Filters: keep the whole response, CoT included, out of reach of lmms-eval's reasoning-tag stripping."""

from __future__ import annotations

import json

from lmms_eval.api.filter import Filter


def encode_response(text: str) -> str:
    # Escaping < and > means no tag-stripping pass (reasoning_tags, auto_strip_thinking) can match inside it.
    return json.dumps({"response": text}, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


def decode_response(value) -> str:
    if not isinstance(value, str):
        return "" if value is None else str(value)
    try:
        payload = json.loads(value)
    except ValueError:
        return value  # not ours: a raw response (e.g. a user's own filter pipeline)
    if isinstance(payload, dict) and isinstance(payload.get("response"), str):
        return payload["response"]
    return value


class PreserveResponse(Filter):
    """First response of each request, JSON-encoded (filter outputs must be strings)."""

    def apply(self, resps, docs):
        return [encode_response(_first_text(r)) for r in resps]


def _first_text(resp) -> str:
    if isinstance(resp, (list, tuple)):
        resp = resp[0] if resp else ""
    return "" if resp is None else str(resp)
