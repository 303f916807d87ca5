"""The vLLM backend's tests: only where vllm imports (the vLLM CI stage's venv, .ci/run); skipped elsewhere.

They run vLLM's CPU engine in-process (no engine subprocess: less memory, no spawn on 2 cores), eagerly (no graph
compilation: seconds, not a minute, to start), on a tiny Qwen2.5-VL whose text heads are 32 wide (vLLM's CPU
attention needs at least 32).
"""

from __future__ import annotations

import importlib.util
import os

import pytest

if importlib.util.find_spec("vllm") is None:
    collect_ignore_glob = ["test_*.py"]  # the default venv has no vllm: nothing here to run

from tests.harness.conftest import ALL_TASKS, ALL_VARIANTS, run_lmms_eval  # noqa: E402,F401

VLLM_ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "1"}
VLLM_ARGS = "dtype=float32,enforce_eager=True"
TRANSFORMERS_ARGS = "dtype=float32,device=cpu,device_map=cpu"


@pytest.fixture(scope="session", autouse=True)
def _vllm_env():
    saved = {key: os.environ.get(key) for key in VLLM_ENV}
    os.environ.update(VLLM_ENV)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("lmms_robust_vllm")


@pytest.fixture(scope="session")
def tiny_model(work):
    from lmms_robust.testing.tiny_qwen import build_tiny_qwen25vl

    return build_tiny_qwen25vl(work / "tiny-qwen25vl-hd32", text_head_dim=32)


@pytest.fixture(scope="session")
def local_tasks(work):
    from lmms_robust.localize import localize
    from lmms_robust.testing.sample import write_sample

    return localize("mathvista", write_sample(work / "sample"), work / "tasks")


@pytest.fixture(scope="session")
def lmms_eval_runner():
    def run(output, model, model_args, tasks, include_path, **kwargs):
        return run_lmms_eval(output, model, model_args, tasks, include_path, env={**VLLM_ENV, **kwargs.pop("env", {})},
                             **kwargs)

    return run
