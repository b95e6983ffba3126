"""The console's static serving: index at ``/``, assets with their content types, no external URLs, and
``/health`` and ``/v1`` answering as before."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from control_plane.app import create_app
from control_plane.console import CONTENT_SECURITY_POLICY, STATIC_DIR
from platform_core.settings import Settings

pytestmark = pytest.mark.unit

ASSETS = sorted(path for path in STATIC_DIR.rglob("*") if path.is_file())
TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript"}
#: The only absolute URL allowed in an asset: the SVG namespace, a name that createElementNS needs, never fetched.
SVG_NAMESPACE = "http://www.w3.org/2000/svg"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("home"), temporal_address="127.0.0.1:9", temporal_ui_port=8999)
    with TestClient(create_app(settings)) as test_client:  # runs the lifespan: the database is migrated
        yield test_client


def test_the_index_is_served_at_the_root_with_a_same_origin_policy(client):
    answer = client.get("/")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY
    assert '<script type="module" src="/console/js/main.js"></script>' in answer.text
    assert '<a class="skip-link" href="#main">' in answer.text
    assert "/console/console.css" in answer.text
    assert "/" not in client.get("/openapi.json").json()["paths"]  # the page is not an API route


@pytest.mark.parametrize("asset", ASSETS, ids=lambda path: str(path.relative_to(STATIC_DIR)))
def test_every_asset_is_served_with_its_content_type(client, asset: Path):
    answer = client.get(f"/console/{asset.relative_to(STATIC_DIR).as_posix()}")
    assert answer.status_code == 200
    assert answer.headers["content-type"].split(";")[0] == TYPES[asset.suffix]
    assert answer.content == asset.read_bytes()


def test_no_asset_refers_to_another_origin():
    found = []
    for asset in ASSETS:
        for url in re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"'`)]*", asset.read_text()):
            if url != SVG_NAMESPACE:
                found.append(f"{asset.name}: {url}")
    assert found == []
    sources = "\n".join(asset.read_text() for asset in ASSETS)
    assert "@import" not in sources and "url(" not in sources.replace("url(#", "")  # no fonts or images fetched


def test_every_module_import_resolves_to_a_shipped_file():
    imports = 0
    for asset in STATIC_DIR.rglob("*.js"):
        for target in re.findall(r'^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"', asset.read_text(), re.M):
            assert target.startswith("./") or target.startswith("../"), f"{asset.name} imports {target}"
            assert (asset.parent / target).resolve().is_file(), f"{asset.name} imports a missing {target}"
            imports += 1
    assert imports > 20


def test_the_config_names_the_temporal_ui(client):
    answer = client.get("/console/config.json")
    assert answer.status_code == 200
    assert answer.json()["temporal_ui_url"] == "http://127.0.0.1:8999"
    assert answer.json()["temporal_namespace"] == "default"


def test_missing_assets_and_paths_outside_the_folder_are_problems(client):
    for path in ("/console/nothing.js", "/console/../app.py", "/console/%2e%2e/app.py"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/problem+json"


def test_health_and_the_api_still_answer(client):
    assert client.get("/health").json()["status"] == "ok"
    answer = client.get("/v1/projects")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert client.get("/docs").status_code == 200
