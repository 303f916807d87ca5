"""``--model robust_replay``: answers with saved responses instead of running a model.

For re-scoring generations made elsewhere (another harness, an API) and for driving exact outputs through the
real pipeline in tests. ``model_args``: ``path=FILE.jsonl`` where each line is
``{"task": "mathvista_misleadcap", "item_id": "17", "response": "..."}`` (``doc_id`` may stand in for
``item_id``). ``response`` is what the model wrote after any prefilled prefix, exactly as a samples log's
``resps`` holds it. An optional ``"letters": {"raw": {"A": 0.7, "B": 0.2}, "forced": false}`` carries a
recorded option-letter distribution, so saved runs re-score entropy, p_correct and calibration too, and an
optional ``"finish_reason"`` (``eos``, ``stop`` or ``length``) how the generation ended (``truncated_rate``).
``missing=error`` (default) stops on a request without a saved response; ``missing=empty``
answers it with an empty string (it is then scored as unparsed, and counted).
"""

from __future__ import annotations

import json
from pathlib import Path

from accelerate import Accelerator
from lmms_eval.api.instance import GenerationResult
from lmms_eval.api.model import lmms
from tqdm import tqdm

from lmms_robust.core.letters import LetterError, validate_letters
from lmms_robust.core.trailer import FINISH_REASONS, attach, contains_trailer


class ReplayError(ValueError):
    pass


def load_responses(path: str | Path) -> dict[tuple[str, str], str]:
    """``(task, item_id or doc_id as a string) -> response``; malformed lines are errors naming the line."""
    table: dict[tuple[str, str], str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line, object_pairs_hook=_unique_keys)
            except ValueError as exc:
                raise ReplayError(f"{where}: not JSON ({exc})") from None
            if not isinstance(row, dict) or "task" not in row or "response" not in row:
                raise ReplayError(f"{where}: each line needs 'task', 'response' and 'item_id' (or 'doc_id')")
            key_field = "item_id" if "item_id" in row else "doc_id" if "doc_id" in row else None
            if key_field is None:
                raise ReplayError(f"{where}: no 'item_id' or 'doc_id'")
            if not isinstance(row["response"], str):
                raise ReplayError(f"{where}: 'response' must be a string")
            if contains_trailer(row["response"]):
                raise ReplayError(f"{where}: 'response' holds an lmms_robust_meta trailer; give the model's text "
                                  f"only, and a distribution under 'letters'")
            letters = row.get("letters")
            if letters is not None:
                try:
                    validate_letters(letters)
                except LetterError as exc:
                    raise ReplayError(f"{where}: 'letters': {exc}") from None
            finish_reason = row.get("finish_reason")
            if finish_reason not in (None, *FINISH_REASONS):
                raise ReplayError(f"{where}: 'finish_reason' must be one of {FINISH_REASONS}, not {finish_reason!r}")
            row["response"] = attach(row["response"], letters=letters, finish_reason=finish_reason)
            key = (str(row["task"]), f"{key_field}={row[key_field]}")
            if key in table:
                raise ReplayError(f"{where}: a second response for task {row['task']!r} {key[1]}")
            table[key] = row["response"]
    return table


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"key(s) {repeated} appear twice in one object; which one was meant is unknowable")
    return dict(pairs)


class RobustReplay(lmms):
    is_simple = False

    def __init__(self, path: str, missing: str = "error", **kwargs) -> None:
        super().__init__()
        if missing not in ("error", "empty"):
            raise ReplayError(f"robust_replay: missing={missing!r}; use missing=error or missing=empty")
        accelerator = Accelerator()  # data parallel like a real backend: each rank replays its own shard
        self._rank, self._world_size = accelerator.process_index, accelerator.num_processes
        self.accelerator = accelerator
        self._device = accelerator.device  # the evaluator gathers per-rank tensors on it
        self.responses = load_responses(path)
        self.path = path
        self.missing = missing

    @property
    def device(self):
        return self._device

    def _lookup(self, task: str, doc_id: int, doc: dict) -> str:
        for key in (f"item_id={doc.get('lr_item_id')}", f"doc_id={doc_id}"):
            if (task, key) in self.responses:
                return self.responses[(task, key)]
        if self.missing == "empty":
            return ""
        raise ReplayError(
            f"robust_replay: {self.path} has no response for task {task!r} item_id {doc.get('lr_item_id')!r} "
            f"(doc_id {doc_id}); add it, or pass missing=empty to score it as unparsed"
        )

    def generate_until(self, requests):
        results = []
        for request in tqdm(requests, disable=self.rank != 0, desc="robust_replay"):
            _ctx, doc_to_messages, _gen_kwargs, doc_id, task, split = request.args
            doc = self.task_dict[task][split][doc_id]
            doc_to_messages(doc)  # builds the prompt as a real backend would: same checks, same errors
            response = self._lookup(task, doc_id, doc)
            self.cache_hook.add_partial("generate_until", (request.args[0], request.args[2]), response)
            results.append(GenerationResult(text=response))
        return results

    def loglikelihood(self, requests):
        raise NotImplementedError("robust_replay replays generations only")

    def generate_until_multi_round(self, requests):
        raise NotImplementedError("robust_replay replays generations only")
