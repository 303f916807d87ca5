"""What reproduces a run, for lmms-eval's results file and for every per-item record.

lmms-eval hands our hooks no run settings, and its results file has no place for a plugin's facts. Two routes:

- **Results file**: our task YAML's ``metadata`` names attributes of this module with ``!function`` (lmms-eval's
  loader imports the module and takes the attribute). The attributes are computed when the YAML is loaded, which
  lmms-eval does after it has built the model, so they hold the seed and perturbation source in force, the
  installed versions, and what the backend recorded about its checkpoint (``record_model``). lmms-eval copies
  task metadata into ``configs.<task>.metadata`` of the results file (and into its response-cache fingerprint, so
  runs with different seeds never share cached responses).
- **Records**: the seed and source travel in each doc (``harness/docs.py``), the model facts in the response
  trailer (``core/trailer.py``), and ``versions()`` is added when the record is scored.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
from pathlib import Path

from lmms_robust.environment import installed_version

_model_info: dict = {}


def record_model(info: dict) -> None:
    """Called by a backend once it has loaded its checkpoint (per process)."""
    _model_info.clear()
    _model_info.update(info)


def model_info() -> dict | None:
    return dict(_model_info) or None


@functools.lru_cache(maxsize=1)
def versions() -> dict:
    """Installed versions of what decides the numbers; ``lmms_robust_commit`` when run from a git checkout."""
    out = {name.replace("-", "_"): installed_version(name)
           for name in ("lmms-robust", "lmms-eval", "transformers", "torch")}
    out["lmms_robust_commit"] = _checkout_commit()
    out["python"] = platform.python_version()
    return out


def sha256_text(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def _checkout_commit() -> str | None:
    """HEAD of the checkout this package is imported from (editable installs), '+dirty' with local changes."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def __getattr__(name: str):
    """The values our task YAMLs name with ``!function lmms_robust.harness.provenance.<name>``."""
    from lmms_robust.harness.docs import perturbation_source, protocol_config

    if name == "seed":
        return protocol_config().seed
    if name == "perturbations":
        source = perturbation_source()
        return {"source": "file", "path": source.path, "sha256": source.sha256} if source else {"source": "generator"}
    if name == "run":
        return {"versions": versions(), "model": model_info()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
