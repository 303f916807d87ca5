"""constraints.txt (the versions CI tests with) agrees with pyproject.toml, and CI really installs it."""

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


def locked() -> dict[str, str]:
    pins = {}
    for number, line in enumerate((ROOT / "constraints.txt").read_text().split("\n"), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-!]+)", line)
        assert match, f"constraints.txt:{number}: {line!r} is not an exact 'name==version' pin"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"constraints.txt:{number}: {name} is pinned twice"
        assert not TORCH_FAMILY.match(name), f"constraints.txt:{number}: {name} belongs to the torch pin, not the lock"
        pins[name] = match.group(2)
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        lines += extra
    return [Requirement(line) for line in lines]


def test_every_declared_requirement_is_locked_at_a_version_it_allows():
    pins = locked()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        if TORCH_FAMILY.match(name):
            continue
        assert name in pins, f"pyproject.toml needs {requirement} but constraints.txt does not pin {name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, which pyproject.toml's {requirement} rules out")


def test_the_lock_keeps_filelock_below_the_release_that_breaks_lmms_eval():
    assert Requirement("filelock<4.3").specifier.contains(locked()["filelock"])


@pytest.mark.skipif(os.environ.get("LMMS_ROBUST_CHECK_LOCK") != "1",
                    reason="only where the environment was installed with -c constraints.txt (CI sets LMMS_ROBUST_CHECK_LOCK=1)")
def test_the_installed_environment_is_the_lock():
    """Every package lmms-robust[test,train] pulls in, recursively, is installed at its locked version."""
    pins = locked()
    seen, todo = set(), [Requirement("lmms-robust[test,train]")]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        key = (name, tuple(sorted(requirement.extras)))
        if key in seen:
            continue
        seen.add(key)
        installed = metadata.version(name)
        if name != "lmms-robust" and not TORCH_FAMILY.match(name):
            assert name in pins, f"{name} {installed} is installed but constraints.txt does not pin it"
            assert installed == pins[name], f"{name} {installed} is installed, constraints.txt pins {pins[name]}"
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
