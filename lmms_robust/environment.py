"""Is the installed environment one lmms-robust runs in? Checked before anything starts lmms-eval.

A fresh ``pip install`` resolves whatever the registry holds that day, and an upstream release can break
lmms-eval deep inside a run (filelock 4.3 removed ``filelock._api``, which lmms-eval 0.7.3 imports while
evaluating, and lmms-eval then exits 0). So our entry points compare what is installed with what we declare,
and with what lmms-eval is known to need, and stop with the package, the version and the fix instead.
"""

from __future__ import annotations

import importlib.util
from importlib import metadata

DISTRIBUTION = "lmms-robust"
# Breakages we know of that our own requirement bounds also exclude; the check names the cause, not only the bound.
KNOWN_BREAKAGES = {
    "filelock": ("filelock._api", "filelock<4.3",
                 "lmms-eval 0.7.3 imports filelock._api while evaluating; filelock 4.3 removed it"),
}


class IncompatibleEnvironment(SystemExit):
    """Raised (as a SystemExit, so no host can swallow it into a warning) when the environment cannot run us."""


def problems() -> list[tuple[str, str]]:
    """``(what is wrong, the requirement that fixes it)`` per installed package our requirements (or a known
    breakage) rule out; [] when fine."""
    from packaging.requirements import Requirement

    try:
        declared = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:  # running from a plain checkout: nothing declared to compare
        return []
    found = []
    for line in declared:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue  # an extra's requirement, or one for another platform
        installed = installed_version(requirement.name)
        if installed is None:
            found.append((f"{requirement.name} is not installed (lmms-robust needs {requirement})", str(requirement)))
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            cause = KNOWN_BREAKAGES.get(requirement.name.lower(), (None, None, None))[2]
            found.append((f"{requirement.name} {installed} is installed, lmms-robust needs {requirement}"
                          + (f" ({cause})" if cause else ""), str(requirement)))
    for name, (module, bound, cause) in KNOWN_BREAKAGES.items():
        version = installed_version(name)
        if not any(p.startswith(f"{name} ") for p, _ in found) and version and importlib.util.find_spec(module) is None:
            found.append((f"{name} {version} is installed: {cause}", bound))
    return found


def check(context: str = "lmms-robust") -> None:
    """Stop with every problem and the fix when the environment cannot run lmms-robust."""
    found = problems()
    if found:
        lines = "\n".join(f"  - {problem}" for problem, _ in found)
        fix = " ".join(f"'{requirement}'" for _, requirement in found)
        raise IncompatibleEnvironment(
            f"{context}: this environment cannot run lmms-robust:\n{lines}\n"
            f"Fix: pip install {fix}\n"
            f"(or install the versions we test with: pip install -c constraints.txt -e . in a checkout; see README)"
        )


def installed_version(name: str) -> str | None:
    """The installed distribution's version, None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
