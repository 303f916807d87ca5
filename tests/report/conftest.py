"""The harness fixtures (tiny local MathVista sample, localized tasks, the lmms-eval runner) for the report e2e."""

from tests.harness.conftest import lmms_eval_runner, local_tasks, sample_dir, work  # noqa: F401 (fixtures)
