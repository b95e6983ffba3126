"""``GET /health`` of the control plane API, and the cached Temporal probe behind it."""

from __future__ import annotations

import asyncio
import socket

import pytest
from fastapi.testclient import TestClient

from control_plane.api.deps import get_settings
from control_plane.app import create_app
from control_plane.temporal_probe import TemporalProbe
from control_plane.version import package_version
from platform_core.settings import Settings, SettingsError

pytestmark = pytest.mark.unit


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path, temporal_address=f"127.0.0.1:{_closed_port()}")


class _Listener:
    """A TCP listener that is not Temporal: it counts the connections made to it and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.accepted: list[socket.socket] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def connections(self) -> int:
        while True:
            try:
                self.accepted.append(self.sock.accept()[0])
            except BlockingIOError:
                return len(self.accepted)

    def close(self) -> None:
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def listener():
    listening = _Listener()
    yield listening
    listening.close()


def test_health_reports_ok_version_and_unreachable_temporal(settings):
    with TestClient(create_app(settings)) as client:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "ok", "version": package_version(), "temporal": "unreachable"}
    assert package_version() != "unknown"


def test_get_settings_override_decides_which_temporal_is_probed(settings, tmp_path, listener):
    app = create_app(settings)
    other = Settings(home=tmp_path / "other", temporal_address=listener.address)
    app.dependency_overrides[get_settings] = lambda: other
    with TestClient(app) as client:
        assert client.get("/health").json()["temporal"] == "unreachable"
    assert list(app.state.temporal_probes) == [(listener.address, "default")]
    assert listener.connections() >= 1


def test_create_app_reads_settings_from_the_environment_when_called(monkeypatch, tmp_path):
    monkeypatch.setenv("PQ_HOME", str(tmp_path))
    monkeypatch.setenv("PQ_API_PORT", "18765")
    app = create_app()
    assert app.state.settings.api_port == 18765
    assert app.state.settings.home == tmp_path.resolve()


def test_create_app_rejects_an_unknown_setting(monkeypatch):
    monkeypatch.setenv("PQ_API_PROT", "1")
    with pytest.raises(SettingsError, match="PQ_API_PROT.*PQ_API_PORT"):
        create_app()


def test_unknown_route_is_404(settings):
    with TestClient(create_app(settings)) as client:
        assert client.get("/nope").status_code == 404


def test_probe_reuses_its_answer_until_it_expires(listener):
    now = [100.0]
    probe = TemporalProbe(listener.address, timeout_s=0.3, ttl_s=5.0, clock=lambda: now[0])

    async def scenario() -> list[tuple[bool, int]]:
        seen = []
        for advance in (0.0, 1.0, 10.0):
            now[0] += advance
            seen.append((await probe.reachable(), listener.connections()))
        return seen

    (first, after_first), (second, after_second), (third, after_third) = asyncio.run(scenario())
    assert (first, second, third) == (False, False, False)  # it listens, but it is not Temporal
    assert after_first >= 1
    assert after_second == after_first  # cached: no new connection
    assert after_third > after_second  # expired: checked again


def test_probe_of_a_closed_port_is_unreachable():
    probe = TemporalProbe(f"127.0.0.1:{_closed_port()}", timeout_s=2.0, ttl_s=0)
    assert asyncio.run(probe.reachable()) is False


@pytest.mark.parametrize("timeout_s, ttl_s", [(0, 1), (-1, 1), (1, -1)])
def test_probe_rejects_bad_timings(timeout_s, ttl_s):
    with pytest.raises(ValueError):
        TemporalProbe("127.0.0.1:1", timeout_s=timeout_s, ttl_s=ttl_s)

