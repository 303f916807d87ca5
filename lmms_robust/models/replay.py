"""``--model robust_replay``: answers with saved responses instead of running a model.

For re-scoring generations made elsewhere (another harness, an API) and for driving exact outputs through the
real pipeline in tests. ``model_args``: ``path=FILE.jsonl`` where each line is
``{"task": "mathvista_misleadcap", "item_id": "17", "response": "..."}`` (``doc_id`` may stand in for
``item_id``: one of the two per line, one line per doc). ``response`` is what the model wrote after any prefilled
prefix, exactly as a samples log's ``resps`` holds it. An optional ``"letters": {"raw": {"A": 0.7, "B": 0.2}, "forced": false}`` carries a
recorded option-letter distribution, so saved runs re-score entropy, p_correct and calibration too, and an
optional ``"finish_reason"`` (``eos``, ``stop`` or ``length``) how the generation ended (``truncated_rate``).
``missing=error`` (default) stops on a request without a saved response; ``missing=empty``
answers it with an empty string (it is then scored as unparsed, and counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from accelerate import Accelerator
from lmms_eval.api.instance import GenerationResult
from lmms_eval.api.model import lmms
from tqdm import tqdm

from lmms_robust.core.letters import LetterError, validate_letters
from lmms_robust.core.trailer import FINISH_REASONS, attach, contains_trailer
from lmms_robust.harness.docs import fetch_doc
from lmms_robust.jsonl import JsonlError, read_jsonl
from lmms_robust.resources import tasks_dir


class ReplayError(ValueError):
    pass


@dataclass(frozen=True)
class SavedResponse:
    response: str
    line: int
    """The line of the replay file that holds it."""


def load_responses(path: str | Path) -> dict[tuple[str, str], str]:
    """``(task, "item_id=<id>" or "doc_id=<n>") -> response``; malformed lines are errors naming the line."""
    return {key: saved.response for key, saved in read_responses(path).items()}


def read_responses(path: str | Path) -> dict[tuple[str, str], SavedResponse]:
    """``load_responses`` with the line of each response. Read with ``lmms_robust.jsonl``: a line that is not UTF-8
    or JSON, a key given twice, a lone surrogate (lmms-eval would stop logging samples at it) are errors naming
    ``file:line``."""
    try:
        read = read_jsonl(path, object_pairs_hook=_unique_keys,
                          fix="fix the line (one JSON object per line, written as UTF-8)")
    except JsonlError as exc:
        raise ReplayError(str(exc)) from None
    except OSError as exc:
        raise ReplayError(f"robust_replay: cannot read {path}: {exc}") from None
    table: dict[tuple[str, str], SavedResponse] = {}
    for number, row in read.rows:
        where = f"{path}:{number}"
        if not isinstance(row, dict) or "task" not in row or "response" not in row:
            raise ReplayError(f"{where}: each line needs 'task', 'response' and 'item_id' (or 'doc_id')")
        key_field = "item_id" if "item_id" in row else "doc_id" if "doc_id" in row else None
        if key_field is None:
            raise ReplayError(f"{where}: no 'item_id' or 'doc_id'")
        if "item_id" in row and "doc_id" in row:
            raise ReplayError(f"{where}: both 'item_id' and 'doc_id'; give one (which would win is unknowable)")
        if not isinstance(row["response"], str):
            raise ReplayError(f"{where}: 'response' must be a string")
        if key_field == "doc_id" and not (isinstance(row["doc_id"], int) and not isinstance(row["doc_id"], bool)
                                          and row["doc_id"] >= 0):
            raise ReplayError(f"{where}: 'doc_id' must be a whole number >= 0 (the doc's position in the split), "
                              f"got {row['doc_id']!r}")
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
            raise ReplayError(f"{where}: a second response for task {row['task']!r} {key[1]} (first at line "
                              f"{table[key].line})")
        table[key] = SavedResponse(response=row["response"], line=number)
    return table


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"key(s) {repeated} appear twice in one object; which one was meant is unknowable")
    return dict(pairs)


def check_rows(responses: dict[tuple[str, str], SavedResponse], task_dict: dict, splits: dict[str, str],
               path: str | Path, known_tasks: set[str]) -> None:
    """Every row names a doc of this run (or a task lmms-robust has that this run does not use), and no doc has two
    rows (one by item_id, one by doc_id).

    ``splits``: task -> the split this run reads. Raises ReplayError naming the line and the fix.
    """
    ids_by_task = {task: {str(item_id): doc_id for doc_id, item_id in enumerate(task_dict[task][split]["lr_item_id"])}
                   for task, split in splits.items()}
    by_doc: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for (task, key), saved in sorted(responses.items(), key=lambda kv: kv[1].line):
        where = f"{path}:{saved.line}"
        if task not in task_dict:
            if task in known_tasks:
                continue  # a task of ours this run does not ask for: not used, not wrong
            raise ReplayError(f"{where}: task {task!r} is neither in this run ({sorted(task_dict)}) nor an lmms-robust "
                              f"task; fix the task name or remove the row")
        if task not in ids_by_task:
            continue  # no request of this task on this process: its rows are checked where it runs
        ids = ids_by_task[task]
        field, value = key.split("=", 1)
        if field == "item_id":
            if value not in ids:
                raise ReplayError(f"{where}: task {task!r} has no item_id {value!r} (of {len(ids)} items); fix the id "
                                  f"or remove the row")
            doc_id = ids[value]
        else:
            doc_id = int(value)
            if doc_id >= len(ids):
                raise ReplayError(f"{where}: task {task!r} has no doc_id {doc_id} (it has {len(ids)} docs, 0 to "
                                  f"{len(ids) - 1}); fix the doc_id or remove the row")
        by_doc.setdefault((task, doc_id), []).append((key, saved.line))
    for (task, doc_id), rows in by_doc.items():
        if len(rows) > 1:
            lines = " and ".join(f"{path}:{line} ({key})" for key, line in rows)
            raise ReplayError(f"{lines} both answer task {task!r} doc {doc_id}; which one was meant is unknowable: "
                              f"keep one")


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
        self.saved = read_responses(path)
        self.responses = {key: saved.response for key, saved in self.saved.items()}
        self.path = path
        self.missing = missing
        self._checked = False

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
        if not self._checked:  # once, when the run's tasks are known: a row for no doc is a typo, not a spare
            splits = {request.args[4]: request.args[5] for request in requests}
            known = {p.stem for p in tasks_dir().rglob("*.yaml")}
            check_rows(self.saved, self.task_dict, splits, self.path, known)
            self._checked = True
        results = []
        for request in tqdm(requests, disable=self.rank != 0, desc="robust_replay"):
            _ctx, doc_to_messages, _gen_kwargs, doc_id, task, split = request.args
            doc = fetch_doc(self.task_dict, task, split, doc_id)
            doc_to_messages(doc)  # builds the prompt as a real backend would: same checks, same errors
            response = self._lookup(task, doc_id, doc)
            self.cache_hook.add_partial("generate_until", (request.args[0], request.args[2]), response)
            results.append(GenerationResult(text=response))
        return results

    def loglikelihood(self, requests):
        raise NotImplementedError("robust_replay replays generations only")

    def generate_until_multi_round(self, requests):
        raise NotImplementedError("robust_replay replays generations only")
