"""``pq keys create|list|revoke`` (services/cli/keys_commands.py): keys made straight in the metadata
database work against the API."""

from __future__ import annotations

import os
import re

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from control_plane.app import create_app
from platform_core.settings import load_settings
from services.cli.keys_commands import KeysCommandError, keys_app

pytestmark = pytest.mark.unit

KEY = re.compile(r"API key ([0-9a-f]{32}) \(([^)]*)\): (pq_\S+)")


@pytest.fixture
def home(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("PQ_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PQ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PQ_TEMPORAL_ADDRESS", "127.0.0.1:9")
    return tmp_path / "home"


def _run(*args: str):
    return CliRunner().invoke(keys_app, list(args))


def _made(result) -> tuple[str, str, str]:
    assert result.exit_code == 0, result.output + repr(result.exception)
    match = KEY.search(result.output)
    assert match, result.output
    return match.group(1), match.group(2), match.group(3)


def test_member_and_admin_keys_made_by_the_cli_work_against_the_api(home):
    member = _run("create", "--project", "demo", "--name", "notebook")
    assert "project demo: created" in member.output and "shown only once" in member.output
    member_id, scope, member_key = _made(member)
    assert scope == "member of demo"
    again = _run("create", "--project", "demo")
    again_id, _, _ = _made(again)
    assert "project demo: created" not in again.output
    admin_id, scope, admin_key = _made(_run("create", "--admin", "--name", "ops"))
    assert scope == "admin"
    with TestClient(create_app(load_settings())) as client:
        mine = client.get("/v1/projects", headers={"Authorization": f"Bearer {member_key}"}).json()
        assert [p["name"] for p in mine["items"]] == ["demo"]
        everyone = client.get("/v1/api-keys", headers={"Authorization": f"Bearer {admin_key}"}).json()
        assert {k["id"] for k in everyone["items"]} >= {member_id, again_id, admin_id}
        listed = _run("list")
        assert listed.exit_code == 0 and "notebook" in listed.output and member_key not in listed.output
        revoked = _run("revoke", member_id)
        assert revoked.exit_code == 0 and "revoked" in revoked.output
        assert "already revoked" in _run("revoke", member_id).output
        assert client.get("/v1/projects", headers={"Authorization": f"Bearer {member_key}"}).status_code == 401


@pytest.mark.parametrize("args, message", [
    ((), "give --project P"),
    (("--admin", "--project", "demo"), "either --admin or --project"),
])
def test_contradicting_options_are_one_line_errors(home, args, message):
    result = _run("create", *args)
    assert isinstance(result.exception, KeysCommandError) and message in str(result.exception)


def test_revoking_an_unknown_key_is_an_error(home):
    result = _run("revoke", "0" * 32)
    assert isinstance(result.exception, KeysCommandError) and "no API key" in str(result.exception)
