"""``process_docs`` hooks named ``<benchmark>_<variant>``, all made by one factory (task YAMLs point here)."""

from lmms_robust.benchmarks import ADAPTERS
from lmms_robust.core.perturb import VARIANT_NAMES
from lmms_robust.harness.docs import make_process_docs

for _benchmark in ADAPTERS:
    for _variant in VARIANT_NAMES:
        globals()[f"{_benchmark}_{_variant}"] = make_process_docs(_benchmark, _variant)
