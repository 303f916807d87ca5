import pytest

from tests.harness.conftest import lmms_eval_runner, local_tasks, sample_dir, work  # noqa: F401 (fixtures)
from tests.judge.server import ScriptedServer


@pytest.fixture
def server():
    srv = ScriptedServer().start()
    try:
        yield srv
    finally:
        srv.stop()
