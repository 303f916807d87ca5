"""``leaderboard.json``: one entry per model x benchmark x variant, validated against ``leaderboard.schema.json``.

Document (``schema_version`` "1"):
    ``schema_version``: string, "1"; bumped on any incompatible change.
    ``lmms_robust_version``: the lmms-robust that wrote the report.
    ``bootstrap``: ``{"n_resamples": 10000, "seed": 0, "ci_level": 0.95, "method": "percentile"}``.
    ``entries``: list of entries (below), ordered by model, benchmark, variant (protocol order, base first).
    ``warnings``: the coverage warnings, each ``{"level": "warning"|"info", "kind", "model", "benchmark",
        "variant", "count", "item_ids", "message"}``; ``item_ids`` lists at most 50, ``count`` is complete. Kinds:
        see ``lmms_robust.report.paired``; the loader adds ``duplicate_task`` (a task logged by several results
        files: the newest is used) and ``empty_task`` (a samples file without lines).

Entry:
    ``model``: display name (the source's last path part for a local path, else the source; the full
        ``model_id`` where two models would share a name).
    ``model_id``: ``<backend>:<source>@seed=<seed>``, the identity variants are paired within (the seed part where
        the run recorded one: two seeds of one model are two runs).
    ``model_backend``: lmms-eval ``--model``. ``model_source``: its ``pretrained=``/``path=`` argument or null.
    ``benchmark``, ``variant``: from the per-item records. ``task``: the lmms-eval task that logged them.
    ``run_dir``: the folder the task was read from.
    ``n_items``: records of this variant after removing duplicate item_ids (not_applicable included).
    ``metrics``: every key of ``lmms_robust.report.paired.ROW_METRICS``, a number or null:
        the protocol metrics recomputed from the records with ``lmms_robust.core.scoring.summarize`` (``acc``
        ... ``abstain_rate``, ``ece``, ``brier``), the counts (``n_items n_scored n_not_applicable n_unparsed
        n_undetermined n_letter_items``), the means of ``letter_entropy letter_entropy_norm p_correct
        letter_mass`` over scored records that have them (``n_<field>``: how many), and
        the paired metrics vs base (null on base itself and without base): ``n_paired``, ``paired_acc_base``,
        ``paired_acc_variant``, ``drop`` (base minus variant accuracy over paired items; positive = lost) with
        ``drop_ci_low``/``drop_ci_high``, ``n_base_correct``, ``n_base_wrong``, ``flip_correct_to_wrong``,
        ``flip_wrong_to_correct``, ``auroc_p_correct`` and ``auroc_neg_entropy`` with the item counts
        ``n_auroc_p_correct``/``n_auroc_neg_entropy``.
    ``protocol``: the protocol defaults the task ran with (results ``configs.<task>.metadata.protocol``) or null.
    ``seed``: the perturbation seed in force for that run (``protocol.seed``), or null where none was recorded.
    ``perturbation_file_sha256``: content hash of a user perturbation file when the task metadata has one, else
        null (template generator).
    ``lmms_eval_version``: the installed lmms-eval package version when the report was written.
    ``lmms_eval_version_recorded``: the string lmms-eval wrote into the results (``branch@commit`` of the
        working directory's git checkout, so not always lmms-eval's own), or null.
    ``lmms_robust_version``: as above.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import lmms_robust
from lmms_robust.environment import installed_version

__all__ = ["SCHEMA_PATH", "SCHEMA_VERSION", "build_leaderboard", "load_schema", "validate_leaderboard"]

SCHEMA_VERSION = "1"
SCHEMA_PATH = Path(__file__).with_name("leaderboard.schema.json")


@lru_cache(maxsize=1)
def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def lmms_eval_version() -> str | None:
    return installed_version("lmms_eval")


def build_leaderboard(rows: list[dict], warnings: list[dict], tasks: dict, bootstrap: dict) -> dict:
    """The leaderboard document.

    Args:
        rows: ``analyze`` rows whose ``model`` is the model_id.
        warnings: coverage warnings (already carrying display names or ids).
        tasks: ``{(model_id, benchmark, variant): {"task", "run_dir", "protocol", "seed", "perturbation_file_sha256",
            "lmms_eval_version_recorded", "model", "model_backend", "model_source"}}``.
        bootstrap: the bootstrap settings.
    """
    version = lmms_eval_version()
    entries = []
    for row in rows:
        info = tasks[(row["model"], row["benchmark"], row["variant"])]
        entries.append({
            "model": info["model"],
            "model_id": row["model"],
            "model_backend": info["model_backend"],
            "model_source": info["model_source"],
            "benchmark": row["benchmark"],
            "variant": row["variant"],
            "task": info["task"],
            "run_dir": info["run_dir"],
            "n_items": row["metrics"]["n_items"],
            "metrics": row["metrics"],
            "protocol": info["protocol"],
            "seed": info["seed"],
            "perturbation_file_sha256": info["perturbation_file_sha256"],
            "lmms_eval_version": version,
            "lmms_eval_version_recorded": info["lmms_eval_version_recorded"],
            "lmms_robust_version": lmms_robust.__version__,
        })
    return {"schema_version": SCHEMA_VERSION, "lmms_robust_version": lmms_robust.__version__,
            "bootstrap": bootstrap, "entries": entries, "warnings": warnings}


def validate_leaderboard(document: dict) -> None:
    """Raise ``jsonschema.ValidationError`` when ``document`` does not match ``leaderboard.schema.json``."""
    import jsonschema

    schema = load_schema()
    jsonschema.validators.validator_for(schema)(schema).validate(document)
