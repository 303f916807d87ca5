"""Which tokens spell a letter answer, for a tokenizer built with Qwen's pre-tokenizer regex (not GPT-2's)."""

from __future__ import annotations

import math

import pytest
import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from lmms_robust.models.letter_probs import branches, continuation_paths, letter_masses

QWEN_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")


@pytest.fixture(scope="module")
def qwen_like():
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    corpus = [f"<think>so the answer is ({x}).</think><answer>{x}</answer> <answer> {x}</answer>" for x in "ABCD"] * 50
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, show_progress=False,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok


def test_qwen_pretokenizer_merges_the_bracket_into_the_letter(qwen_like):
    # after "</think>" the punctuation run "><" is one pre-token, so "answer" stands alone before ">A"
    assert qwen_like.encode("</think><answer>A").tokens[-2:] == ["answer", ">A"]
    assert qwen_like.encode("</think><answer> A").tokens[-3:] == ["answer", ">", "ĠA"]


def test_paths_cover_the_merged_and_the_spaced_form(qwen_like):
    ids = qwen_like.token_to_id
    prefix, paths = continuation_paths(lambda s: qwen_like.encode(s).ids, "</think>", "AB")
    assert qwen_like.decode(prefix).endswith("</think><answer")
    assert paths["A"] == {(ids(">A"),), (ids(">"), ids("ĠA"))}
    assert paths["B"] == {(ids(">B"),), (ids(">"), ids("ĠB"))}
    assert branches(paths) == [(ids(">"),)]  # one forward pass reads every step


def test_masses_use_the_chain_rule_over_both_forms(qwen_like):
    ids = qwen_like.token_to_id
    _prefix, paths = continuation_paths(lambda s: qwen_like.encode(s).ids, "</think>", "AB")
    vocab = qwen_like.get_vocab_size()
    after_prefix = torch.full((vocab,), -30.0)
    after_prefix[ids(">A")], after_prefix[ids(">B")], after_prefix[ids(">")] = 2.0, 1.0, 0.0
    after_bracket = torch.full((vocab,), -30.0)
    after_bracket[ids("ĠA")], after_bracket[ids("ĠB")] = 0.0, 1.0
    rows = torch.stack([after_prefix.log_softmax(-1), after_bracket.log_softmax(-1)])
    calls = []

    def forward(extra):
        calls.append(extra)
        return rows[: len(extra) + 1]

    masses = letter_masses(forward, _prefix, paths)
    z1, z2 = math.exp(2) + math.exp(1) + 1, 1 + math.exp(1)
    assert masses["A"] == pytest.approx(math.exp(2) / z1 + (1 / z1) * (1 / z2), rel=1e-5)
    assert masses["B"] == pytest.approx(math.exp(1) / z1 + (1 / z1) * (math.exp(1) / z2), rel=1e-5)
    assert calls == [[ids(">")]]


def test_long_context_is_cut_only_where_it_tokenizes_the_same(qwen_like):
    context = "<think>" + "so the answer is (B). " * 40 + "</think>"
    tokenize = lambda s: qwen_like.encode(s).ids  # noqa: E731
    prefix, paths = continuation_paths(tokenize, context, "AB")
    whole = {letter: {tuple(tokenize(context + form)) for form in (f"<answer>{letter}", f"<answer> {letter}")}
             for letter in "AB"}
    for letter in "AB":
        assert {tuple(prefix) + path for path in paths[letter]} == whole[letter]
