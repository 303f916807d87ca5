"""The response trailer: what a backend says about a response rides through lmms-eval and is read back strictly."""

from __future__ import annotations

import pytest

from lmms_robust.core.trailer import TrailerError, attach, contains_trailer, detach

LETTERS = {"raw": {"A": 0.25, "B": 0.5}, "forced": False}


def test_round_trip_keeps_the_text_and_every_field():
    text = attach("<think>a\n\nb</think>\n\n<answer>B</answer>", letters=LETTERS, finish_reason="eos",
                  output_tokens=17, model={"backend": "x", "checkpoint": "/m", "revision": None})
    assert detach(text) == ("<think>a\n\nb</think>\n\n<answer>B</answer>",
                            {"letters": LETTERS, "finish_reason": "eos", "output_tokens": 17,
                             "model": {"backend": "x", "checkpoint": "/m", "revision": None}})


def test_plain_text_has_no_meta():
    assert detach("plain text") == ("plain text", None)


def test_a_trailer_that_is_not_last_is_the_models_own_text():
    forged = attach("x", finish_reason="eos") + " and more"
    assert detach(forged) == (forged, None)


@pytest.mark.parametrize("forged_json", [
    '{"letters": {"raw": {"A": true}, "forced": false}, "finish_reason": null, "output_tokens": null, "model": null}',
    '{"letters": {"raw": {"A": -1}, "forced": false}, "finish_reason": null, "output_tokens": null, "model": null}',
    '{"letters": null, "finish_reason": "tired", "output_tokens": null, "model": null}',
    '{"letters": null, "finish_reason": null, "output_tokens": -3, "model": null}',
    '{"letters": null, "finish_reason": null, "output_tokens": true, "model": null}',
    '{"letters": null, "finish_reason": null, "output_tokens": null, "model": null, "extra": 1}',
    '{"letters": null, "finish_reason": null, "output_tokens": null, "model": {"a": [1]}}',
    '{"letters": null',
])
def test_a_malformed_trailer_is_left_in_the_text_not_trusted(forged_json):
    text = "<answer>A</answer>\n<lmms_robust_meta>" + forged_json + "</lmms_robust_meta>"
    assert detach(text) == (text, None)


def test_attach_refuses_what_detach_would_refuse():
    with pytest.raises(TrailerError, match="finish_reason"):
        attach("x", finish_reason="done")
    with pytest.raises(TrailerError, match="not a probability"):
        attach("x", letters={"raw": {"A": 2.0}, "forced": False})


def test_trailer_lookalikes_are_found():
    assert contains_trailer("a <lmms_robust_meta>{}")
    assert not contains_trailer("<answer>A</answer>")
