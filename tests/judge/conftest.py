import pytest

from tests.judge.server import ScriptedServer


@pytest.fixture
def server():
    srv = ScriptedServer().start()
    try:
        yield srv
    finally:
        srv.stop()
