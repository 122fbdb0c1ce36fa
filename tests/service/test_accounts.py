"""Revoking and rotating tokens, from the CLI and the admin API, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import select

from service.db import Database
from service.main import create_app
from service.security import hash_token
from service.tables import BrowserSession, User

from .conftest import auth, run_cli, sign_in


def _stored_user(settings, name: str) -> User:
    db = Database(settings.resolved_database_url())
    try:
        return db.read(lambda s: s.scalar(select(User).where(User.name == name)))
    finally:
        db.dispose()


def test_an_admin_rotates_a_token_in_the_api_and_the_old_one_stops_at_once(client, users, settings):
    anna, admin = users["anna"], auth(users["admin"])
    assert client.get("/api/v1/users/me", headers=auth(anna)).status_code == 200  # now in this worker's cache
    r = client.post("/api/v1/users/anna/rotate", headers=admin)
    assert r.status_code == 200, r.text
    new = r.json()["token"]
    assert new.startswith("cdh_") and new != anna and r.json()["active"] is True
    # The worker that rotated drops the cached token: refused at once, not after auth_cache_seconds.
    assert client.get("/api/v1/users/me", headers=auth(anna)).status_code == 401
    assert client.get("/api/v1/users/me", headers=auth(new)).json()["name"] == "anna"
    stored = _stored_user(settings, "anna")
    assert stored.token_hash == hash_token(new) and new not in stored.token_hash  # only the hash is kept
    assert client.post("/api/v1/users/anna/rotate", headers=auth(users["bram"])).status_code == 403  # coders cannot
    assert client.post("/api/v1/users/nobody/rotate", headers=admin).status_code == 404


def test_an_admin_revokes_a_user_in_the_api_but_not_themselves(client, users):
    admin = auth(users["admin"])
    assert client.get("/api/v1/documents", headers=auth(users["bram"])).status_code == 200
    r = client.post("/api/v1/users/bram/revoke", headers=admin)
    assert r.status_code == 200 and r.json() == {"id": r.json()["id"], "name": "bram", "role": "coder", "active": False}
    assert client.get("/api/v1/documents", headers=auth(users["bram"])).status_code == 401
    listed = {u["name"]: u["active"] for u in client.get("/api/v1/users", headers=admin).json()}
    assert listed == {"admin": True, "anna": True, "bram": False}
    refused = client.post("/api/v1/users/admin/revoke", headers=admin)
    assert refused.status_code == 409 and "your own account" in refused.json()["detail"]
    assert client.get("/api/v1/users/me", headers=admin).status_code == 200
    # Access is given back with a new token; the revoked one stays dead.
    new = client.post("/api/v1/users/bram/rotate", headers=admin).json()["token"]
    assert client.get("/api/v1/documents", headers=auth(new)).status_code == 200
    assert client.get("/api/v1/documents", headers=auth(users["bram"])).status_code == 401


def test_cli_revoke_and_rotate_reach_a_running_service_within_the_auth_cache_time(settings, users, monkeypatch,
                                                                                  capsys):
    settings = settings.model_copy(update={"auth_cache_seconds": 0.5})
    anna, bram = users["anna"], users["bram"]
    with TestClient(create_app(settings)) as client:
        for token in (anna, bram):  # both tokens are now trusted by this worker for up to 0.5 s
            assert client.get("/api/v1/users/me", headers=auth(token)).status_code == 200
        code, out, err = run_cli(settings, monkeypatch, capsys, "users", "revoke", "anna")
        assert code == 0 and out == "" and "ingetrokken" in err and "0.5 s" in err
        code, out, err = run_cli(settings, monkeypatch, capsys, "users", "rotate", "bram")
        new = out.strip()
        assert code == 0 and new.startswith("cdh_") and "nieuwe sleutel" in err and new not in err
        time.sleep(0.6)  # the auth cache time: the promise is "within", so wait for it
        assert client.get("/api/v1/users/me", headers=auth(anna)).status_code == 401
        assert client.get("/api/v1/users/me", headers=auth(bram)).status_code == 401
        assert client.get("/api/v1/users/me", headers=auth(new)).json()["name"] == "bram"
    code, out, _ = run_cli(settings, monkeypatch, capsys, "users", "list")
    assert "anna\tcoder\tingetrokken" in out and "bram\tcoder\tactief" in out
    code, _, err = run_cli(settings, monkeypatch, capsys, "users", "revoke", "niemand")
    assert code == 2 and "geen gebruiker 'niemand'" in err


def test_revoke_and_rotate_end_the_users_browser_sessions(client, users, settings):
    sign_in(client, users["anna"])
    assert client.get("/documenten", follow_redirects=False).status_code == 200
    client.post("/api/v1/users/anna/rotate", headers=auth(users["admin"]))
    # Sessions are not cached: the next page is refused at once, in every worker.
    assert client.get("/documenten", follow_redirects=False).status_code == 303
    sign_in(client, users["bram"])
    client.post("/api/v1/users/bram/revoke", headers=auth(users["admin"]))
    assert client.get("/documenten", follow_redirects=False).status_code == 303
    db = Database(settings.resolved_database_url())
    try:
        assert db.read(lambda s: s.scalars(select(BrowserSession)).all()) == []
    finally:
        db.dispose()
