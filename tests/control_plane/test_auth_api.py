"""API keys: hashed at rest, bearer tokens on every route, 401 problem details, revocation, roles.

Runs on SQLite (unit) and PostgreSQL (integration), see conftest.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from control_plane.auth import (
    AuthenticationError,
    authenticate,
    create_first_admin_key,
    hash_secret,
    parse_token,
)
from control_plane.db.models import ApiKey, utcnow


def _assert_401(response, detail_part: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["status"] == 401 and body["title"] == "Unauthorized" and body["instance"] == "/v1/projects"
    assert detail_part in body["detail"]


def test_the_first_admin_key_is_made_once_and_stored_only_as_a_hash(settings, database):
    token = create_first_admin_key(settings)
    assert token is not None and token.startswith("pq_")
    assert create_first_admin_key(settings) is None
    key_id, secret = parse_token(token)
    with database.session() as session:
        keys = session.scalars(select(ApiKey)).all()
        assert [(k.id, k.role, k.secret_hash) for k in keys] == [(key_id, "admin", hash_secret(secret))]
        dump = " ".join(str(v) for row in session.execute(text("SELECT * FROM api_keys")) for v in row)
    assert secret not in dump and token not in dump


def test_a_revoked_admin_key_lets_a_new_first_admin_key_be_made(settings, database):
    token = create_first_admin_key(settings)
    with database.session() as session:
        session.get(ApiKey, parse_token(token)[0]).revoked_at = utcnow()
        session.commit()
    again = create_first_admin_key(settings)
    assert again is not None and again != token


@pytest.mark.parametrize("headers, detail", [
    ({}, "needs an API key"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "needs an API key"),
    ({"Authorization": "Bearer not-a-key"}, "not an API key"),
    ({"Authorization": "Bearer pq_" + "0" * 32 + "_" + "A" * 43}, "invalid API key"),
])
def test_missing_or_bad_keys_are_401_problem_details(api, headers, detail):
    _assert_401(api.as_(None).get("/v1/projects", headers=headers), detail)


def test_a_wrong_secret_for_a_real_key_id_is_401(api):
    key_id, _ = parse_token(api.key)
    _assert_401(api.as_(f"pq_{key_id}_{'B' * 43}").get("/v1/projects"), "invalid API key")


def test_a_revoked_key_is_401_from_then_on(api):
    project = api.ok("POST", "/v1/projects", 201, json={"name": "p"})
    created = api.ok("POST", f"/v1/projects/{project['id']}/api-keys", 201, json={"name": "ci"})
    member = api.as_(created["key"])
    assert member.get("/v1/projects").status_code == 200
    revoked = api.ok("DELETE", f"/v1/projects/{project['id']}/api-keys/{created['id']}")
    assert revoked["revoked_at"] is not None
    _assert_401(member.get("/v1/projects"), "revoked")


def test_health_and_docs_need_no_key_but_every_resource_does(api):
    anonymous = api.as_(None)
    assert anonymous.get("/health").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200
    assert anonymous.get("/v1/projects").status_code == 401
    assert anonymous.get("/v1/projects/whatever/tables").status_code == 401


def test_openapi_declares_bearer_auth_and_problem_responses(api):
    spec = api.as_(None).ok("GET", "/openapi.json")
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    operation = spec["paths"]["/v1/projects/{project_id}/tables"]["get"]
    assert operation["security"] == [{"HTTPBearer": []}]
    assert "application/problem+json" in operation["responses"]["404"]["content"]


def test_last_used_is_recorded_at_most_once_a_minute(database, settings):
    token = create_first_admin_key(settings)
    now = utcnow()
    with database.session() as session:
        assert authenticate(session, token, now=now).is_admin
        assert authenticate(session, token, now=now + timedelta(seconds=30)).is_admin
        stored = session.get(ApiKey, parse_token(token)[0])
        session.refresh(stored)
        assert abs(stored.last_used_at.replace(tzinfo=None) - now.replace(tzinfo=None)) < timedelta(seconds=1)
        authenticate(session, token, now=now + timedelta(minutes=2))
        session.refresh(stored)
        assert stored.last_used_at.replace(tzinfo=None) > (now + timedelta(minutes=1)).replace(tzinfo=None)
        with pytest.raises(AuthenticationError):
            authenticate(session, None)


def test_members_see_and_manage_only_their_projects(api, member_of):
    a = api.ok("POST", "/v1/projects", 201, json={"name": "a"})["id"]
    b = api.ok("POST", "/v1/projects", 201, json={"name": "b"})["id"]
    c = api.ok("POST", "/v1/projects", 201, json={"name": "c"})["id"]
    both = api.as_(member_of(a, b))
    assert {p["id"] for p in both.ok("GET", "/v1/projects")["items"]} == {a, b}
    assert both.get(f"/v1/projects/{c}").status_code == 404
    assert both.post("/v1/projects", json={"name": "d"}).status_code == 403
    assert both.get("/v1/api-keys").status_code == 403
    renamed = both.ok("PATCH", f"/v1/projects/{a}", json={"description": "shop"})
    assert renamed["description"] == "shop" and renamed["name"] == "a"
    # A key of several projects is revoked by an admin, not through one of its projects by a member.
    me = both.ok("GET", "/v1/api-keys/me")
    only_a = api.as_(api.member_key(a))
    assert only_a.delete(f"/v1/projects/{a}/api-keys/{me['key_id']}").status_code == 403
    assert api.ok("DELETE", f"/v1/projects/{a}/api-keys/{me['key_id']}")["revoked_at"] is not None


def test_admins_make_keys_for_any_projects(api):
    a = api.ok("POST", "/v1/projects", 201, json={"name": "a"})["id"]
    made = api.ok("POST", "/v1/api-keys", 201, json={"name": "etl", "project_ids": [a]})
    assert made["role"] == "member" and made["project_ids"] == [a] and made["key"].startswith("pq_")
    assert api.as_(made["key"]).ok("GET", "/v1/api-keys/me")["project_ids"] == [a]
    admin2 = api.ok("POST", "/v1/api-keys", 201, json={"name": "ops", "role": "admin"})
    assert api.as_(admin2["key"]).ok("GET", "/v1/api-keys/me")["role"] == "admin"
    listed = api.ok("GET", "/v1/api-keys")
    assert listed["total"] == 3 and all("key" not in item for item in listed["items"])
    bad = api.post("/v1/api-keys", json={"name": "x", "project_ids": ["nope"]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "project_ids", 0]
    assert api.post("/v1/api-keys", json={"name": "x"}).status_code == 422  # a member key needs projects
    assert api.post("/v1/api-keys", json={"name": "x", "role": "admin", "project_ids": [a]}).status_code == 422
    assert api.ok("DELETE", f"/v1/api-keys/{admin2['id']}")["revoked_at"] is not None
    assert api.as_(admin2["key"]).get("/v1/projects").status_code == 401


def test_deleting_a_project_removes_its_resources_and_revokes_its_only_keys(api, tmp_path, member_of):
    seeded = api.seed_project("gone", tmp_path / "data")
    other = api.ok("POST", "/v1/projects", 201, json={"name": "kept"})["id"]
    shared = member_of(seeded.project_id, other)
    api.ok("DELETE", f"/v1/projects/{seeded.project_id}", 204)
    assert api.get(f"/v1/projects/{seeded.project_id}").status_code == 404
    assert api.as_(seeded.key).get("/v1/projects").status_code == 401
    assert api.as_(shared).ok("GET", "/v1/projects")["total"] == 1
    with api.database.session() as session:
        for table in ("connectors", "tables", "graphs", "graph_tables", "pqueries", "training_jobs",
                      "training_trials", "prediction_jobs", "artifacts"):
            assert session.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar() == 0, table
