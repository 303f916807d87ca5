"""How lmms-eval finds us: the ``lmms_eval.models`` entry point.

lmms-eval reads no entry point for tasks, and ``LMMS_EVAL_PLUGINS`` extends the task path only after the CLI has
built its TaskManager. The model entry point, however, is loaded when ``lmms_eval.models`` is imported, which the
CLI does before it builds its TaskManager; so besides returning our model manifests, it adds our shipped tasks to
every TaskManager's index (read cheaply from their YAMLs' top lines, see ``shipped_task_index``). Paths the user
passes with ``--include_path`` come first and win on a clash (that is how a local copy of our tasks, see
``lmms-robust localize``, replaces the shipped ones).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

from lmms_robust.resources import tasks_dir

MODELS = {
    "qwen2_5_vl_robust": "lmms_robust.models.qwen2_5_vl.Qwen2_5_VLRobust",
    "robust_replay": "lmms_robust.models.replay.RobustReplay",
    # imported only when chosen: vllm is an optional install (README: backends)
    "vllm_robust": "lmms_robust.models.vllm_backend.VllmRobust",
}


def model_manifests():
    from lmms_eval.models.registry_v2 import ModelManifest

    from lmms_robust import environment

    # lmms-eval turns an exception here into a warning and runs on into a failure of its own: stop instead
    environment.check("lmms-eval with the lmms-robust plugin")
    register_task_path()
    return [ModelManifest(model_id=name, chat_class_path=path) for name, path in MODELS.items()]


@lru_cache(maxsize=1)
def shipped_task_index() -> dict[str, dict]:
    """lmms-eval's task-index entries for our shipped task directory, from each YAML's top-level ``task:`` /
    ``group:`` line. lmms-eval itself would parse every file with its includes (three YAML parses for each of
    our 100+ tasks) on every run, whether or not the run uses any of them; the entries are the same
    (tests/harness/test_discovery_and_refusal.py compares them)."""
    index = {}
    for path in sorted(tasks_dir().rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        task = re.search(r"^task:[ \t]*([^\s#]+)[ \t]*$", text, re.M)
        group = re.search(r"^group:[ \t]*([^\s#]+)", text, re.M)
        if task:
            index[task.group(1)] = {"type": "task", "yaml_path": str(path)}
        elif group:  # a group config: its task: is a list
            index[group.group(1)] = {"type": "group", "task": -1, "yaml_path": str(path)}
    return index


def register_task_path() -> None:
    from lmms_eval.tasks import TaskManager

    original = TaskManager.initialize_tasks
    if getattr(original, "_lmms_robust_patched", False):
        return

    def initialize_tasks(self, include_path=None, include_defaults=True):
        paths = [include_path] if isinstance(include_path, str) else list(include_path or [])
        index = original(self, include_path=paths, include_defaults=include_defaults)
        ours = os.path.realpath(tasks_dir())
        if all(os.path.realpath(p) != ours for p in paths):
            for name, entry in shipped_task_index().items():
                index.setdefault(name, dict(entry))  # lmms-eval's own and --include_path tasks win on a clash
        return index

    initialize_tasks._lmms_robust_patched = True
    TaskManager.initialize_tasks = initialize_tasks
