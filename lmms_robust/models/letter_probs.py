"""Option-letter probabilities at the answer position, from one teacher-forced forward pass.

A letter L is scored as the total probability of writing ``<answer>L`` or ``<answer> L`` after the answer
context (PROTOCOL.md §4). Tokenizers split that place differently (Qwen's pre-tokenizer makes ``<answer>A`` into
``<answer`` + ``>A``; ``<answer> A`` into ``<answer`` + ``>`` + `` A``), so nothing is assumed about tokens: each
form is tokenized after the context, the forms' common token prefix is fed once, and each form's remaining tokens
(one or more) are scored by the chain rule. The continuations' shared non-letter tokens (``>``) ride in the same
forward pass, so one pass serves all letters unless a tokenizer needs several branching paths.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from lmms_robust.core.letters import letter_forms


def common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    first = sequences[0]
    length = min(len(s) for s in sequences)
    for i in range(length):
        if any(s[i] != first[i] for s in sequences):
            return i
    return length


def continuation_paths(tokenize: Callable[[str], list[int]], context: str, letters: Sequence[str],
                       tail_chars: int = 64):
    """Token ids of the forms' common prefix, and per letter the distinct token paths that finish each form.

    Only the context's last ``tail_chars`` (cut before a space, a pre-token boundary) are re-tokenized with each
    form; the cut is used only when it tokenizes exactly like the whole context.
    """
    cut = context.rfind(" ", 0, max(0, len(context) - tail_chars))
    stem: list[int] = []
    if cut > 0:
        stem = tokenize(context[:cut])
        if stem + tokenize(context[cut:]) != tokenize(context):
            stem, cut = [], 0
    tail = context[max(cut, 0):] if stem else context
    forms = {(letter, form): tokenize(tail + form) for letter in letters for form in letter_forms(letter)}
    shared = common_prefix_length(list(forms.values()))
    prefix = stem + list(next(iter(forms.values()))[:shared])
    paths: dict[str, set[tuple[int, ...]]] = {letter: set() for letter in letters}
    for (letter, _form), ids in forms.items():
        paths[letter].add(tuple(ids[shared:]))
    return prefix, paths


def branches(paths: dict[str, set[tuple[int, ...]]]) -> list[tuple[int, ...]]:
    """The fewest token runs to feed so every path's every step is read: maximal path-prefixes without the last token."""
    stems = {path[:-1] for letter_paths in paths.values() for path in letter_paths}
    return sorted(s for s in stems if not any(len(o) > len(s) and o[: len(s)] == s for o in stems))


def letter_masses(forward: Callable[[list[int]], torch.Tensor], prefix: list[int],
                  paths: dict[str, set[tuple[int, ...]]]) -> dict[str, float]:
    """Raw probability per letter. ``forward(extra_ids)`` returns log-probs at the last ``len(extra_ids) + 1``
    positions of (context tokens + prefix + extra_ids), i.e. the next-token distributions after the prefix and
    after each extra token."""
    step_logprobs: dict[tuple[int, ...], torch.Tensor] = {}
    for stem in branches(paths):
        rows = forward(list(stem))
        for depth in range(len(stem) + 1):
            step_logprobs[stem[:depth]] = rows[depth]
    masses = {}
    for letter, letter_paths in paths.items():
        total = 0.0
        for path in letter_paths:
            logp = sum(float(step_logprobs[path[:i]][token]) for i, token in enumerate(path))
            total += float(torch.tensor(logp).exp())
        masses[letter] = total
    return masses
