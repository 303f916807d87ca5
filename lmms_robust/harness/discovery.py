"""How lmms-eval finds us: the ``lmms_eval.models`` entry point.

lmms-eval reads no entry point for tasks, and ``LMMS_EVAL_PLUGINS`` extends the task path only after the CLI has
built its TaskManager. The model entry point, however, is loaded when ``lmms_eval.models`` is imported, which the
CLI does before it builds its TaskManager; so besides returning our model manifests, it adds our task directory
to every TaskManager's include path. Paths the user passes with ``--include_path`` come first and win on a clash
(that is how a local copy of our tasks, see ``lmms-robust localize``, replaces the shipped ones).
"""

from __future__ import annotations

import os

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


def register_task_path() -> None:
    from lmms_eval.tasks import TaskManager

    original = TaskManager.initialize_tasks
    if getattr(original, "_lmms_robust_patched", False):
        return

    def initialize_tasks(self, include_path=None, include_defaults=True):
        paths = [include_path] if isinstance(include_path, str) else list(include_path or [])
        ours = os.path.realpath(tasks_dir())
        if all(os.path.realpath(p) != ours for p in paths):
            paths.append(str(tasks_dir()))
        return original(self, include_path=paths, include_defaults=include_defaults)

    initialize_tasks._lmms_robust_patched = True
    TaskManager.initialize_tasks = initialize_tasks
