"""The API in-process (TestClient), on SQLite and, when configured, on PostgreSQL."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service import jobs, repository, retrain
from service.db import Database
from service.main import create_app
from service.registry import NoModelError
from service.tables import Decision, Document, Segment, Suggestion
from service.worker import run_leased_retrain
from training.artifacts import MODEL_FILE, read_active
from training import promotion
from training.promotion import Decision as GateDecision

from .conftest import auth, run_cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "startinterview_L7.txt"



def upload(client: TestClient, token: str, path: Path = EXAMPLE, **meta: str):
    data = {"respondent": "L7", "role": "leraar", "moment": "start", "plg": "PLG formatief evalueren", **meta}
    return client.post("/api/v1/documents", headers=auth(token), files={"file": (path.name, path.read_bytes())},
                       data=data)


def wait_for_job(client: TestClient, token: str, job_id: int, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=auth(token)).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def count(settings, table) -> int:
    db = Database(settings.resolved_database_url())
    try:
        return db.read(lambda s: s.scalar(select(func.count()).select_from(table)))
    finally:
        db.dispose()


def wait_for_model(client: TestClient, version: str, timeout: float = 30) -> dict:
    """The web worker follows a promotion by the job worker within its poll interval."""
    deadline = time.monotonic() + timeout
    while (health := client.get("/health").json())["model_version"] != version:
        assert time.monotonic() < deadline, health
        time.sleep(0.1)
    return health


def test_end_to_end(settings, users, job_worker):
    """Upload, suggestions, two coders on every segment, agreement, retrain, promotion, new suggestions."""
    # The gate is exercised on its own below; here the loop must complete, and two lexical models on
    # the small corpus may differ by a few points of macro-F1 either way.
    settings = settings.model_copy(update={"promotion_tolerance": 1.0})
    with TestClient(create_app(settings)) as client:
        first = client.get("/health").json()
        assert first["status"] == "ok" and first["database"] is True
        old_version = first["model_version"]

        response = upload(client, users["anna"])
        assert response.status_code == 201, response.text
        document = response.json()
        segments = document["segments"]
        assert len(segments) > 5 and document["moment"] == "start" and document["respondent"] == "L7"
        assert any(s["suggestions"] for s in segments)
        for s in segments:
            if s["suggestions"]:
                assert s["suggestion_model_version"] == old_version
                assert s["suggestion_codebook_version"] == first["codebook_version"]

        # Anna accepts every suggestion; Bram accepts most, corrects one and calls one no-code.
        for n, s in enumerate(segments):
            r = client.post("/api/v1/decisions", headers=auth(users["anna"]),
                            json={"segment_id": s["id"], "action": "accept"})
            assert r.status_code == 201, r.text
            body = {"segment_id": s["id"], "action": "accept"}
            if n == 0:
                body = {"segment_id": s["id"], "action": "correct",
                        "codes": [{"factor": "motief_autonoom", "richting": "-", "aard": "+"}]}
            elif n == 1:
                body = {"segment_id": s["id"], "action": "no_code"}
            r = client.post("/api/v1/decisions", headers=auth(users["bram"]), json=body)
            assert r.status_code == 201, r.text
            assert r.json()["coder"] == "bram" and r.json()["version"] == 1

        # Blind coding: bram sees only his own decisions until an admin opens the document for discussion.
        read = client.get(f"/api/v1/documents/{document['id']}", headers=auth(users["bram"])).json()
        assert all({d["coder"] for d in s["decisions"]} == {"bram"} for s in read["segments"])
        opened = client.post(f"/api/v1/documents/{document['id']}/discussion", headers=auth(users["admin"]))
        assert opened.status_code == 200, opened.text
        read = client.get(f"/api/v1/documents/{document['id']}", headers=auth(users["bram"])).json()
        assert all({d["coder"] for d in s["decisions"]} == {"anna", "bram"} for s in read["segments"])

        report = client.get("/api/v1/agreement", headers=auth(users["anna"]),
                            params={"coders": ["anna", "bram", "model"]}).json()
        factor = report["dimensions"]["factor"]
        assert factor["n_units"] == len(segments)
        pairs = {tuple(p["coders"]): p for p in factor["kappa_pairs"]}
        assert pairs[("anna", "model")]["kappa"] == pytest.approx(1.0)  # anna accepted every suggestion
        assert pairs[("anna", "bram")]["n_units"] == len(segments)
        assert factor["alpha_nominal"] is not None and "binary_alpha" in factor
        assert set(report["dimensions"]) == {"factor", "richting", "aard"}

        r = client.post("/api/v1/models/retrain", headers=auth(users["admin"]), json={"resolution": "consensus"})
        assert r.status_code == 202, r.text
        job = wait_for_job(client, users["admin"], r.json()["id"])
        assert job["status"] == "succeeded", job
        result = job["result"]
        assert result["promoted"] is True and result["previous_version"] == old_version
        # Consensus: the two segments where Anna and Bram differ are not training labels.
        assert result["skipped_disagreement"] >= 1
        assert result["n_confirmed_train"] + result["n_confirmed_held_out"] == result["segments_decided"] - \
            result["skipped_disagreement"]
        new_version = result["version"]
        assert new_version != old_version
        assert job["phase"] == "recording" and job["progress"] is not None and job["elapsed_seconds"] > 0

        health = wait_for_model(client, new_version)
        assert health["model_version"] == new_version == health["active_model_version"]
        models = {m["version"]: m for m in client.get("/api/v1/models", headers=auth(users["anna"])).json()}
        assert models[new_version]["active"] and models[new_version]["status"] == "promoted"
        assert models[new_version]["metrics"]["gate_set"]["n"] > 0

        again = client.post(f"/api/v1/documents/{document['id']}/suggestions", headers=auth(users["anna"])).json()
        versions = {s["suggestion_model_version"] for s in again["segments"] if s["suggestions"]}
        assert versions == {new_version}
        adhoc = client.post("/api/v1/suggest", headers=auth(users["anna"]),
                            json={"texts": ["Ik heb veel ruimte gekregen van de schoolleiding om te experimenteren."]})
        assert adhoc.json()["model_version"] == new_version
        assert adhoc.json()["results"][0]["model_version"] == new_version
        # Decisions stay, earlier suggestion runs too (provenance).
        assert count(settings, Decision) == 2 * len(segments)
        db = Database(settings.resolved_database_url())
        try:
            stored = db.read(lambda s: set(s.scalars(select(Suggestion.model_version).distinct())))
        finally:
            db.dispose()
        assert stored == {old_version, new_version}


def test_only_health_and_docs_are_open(client, users):
    assert client.get("/health").status_code == 200
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    for route in client.app.routes:
        path = getattr(route, "path", "")
        if not path.startswith("/api/v1"):
            continue
        for method in route.methods - {"HEAD", "OPTIONS"}:
            url = path.replace("{document_id}", "1").replace("{segment_id}", "1").replace("{job_id}", "1") \
                .replace("{version}", "x")
            r = client.request(method, url)
            assert r.status_code == 401, (method, url, r.status_code)
            r = client.request(method, url, headers=auth("cdh_not-a-token"))
            assert r.status_code == 401, (method, url, r.status_code)
    coder = auth(users["anna"])
    assert client.post("/api/v1/models/retrain", headers=coder).status_code == 403
    assert client.post("/api/v1/models/rollback", headers=coder).status_code == 403
    assert client.post("/api/v1/models/x/promote", headers=coder).status_code == 403
    assert client.get("/api/v1/users/me", headers=coder).json()["role"] == "coder"


def test_decision_versions_and_idempotency(client, users):
    segment = upload(client, users["anna"]).json()["segments"][0]["id"]
    post = lambda body, who="anna": client.post("/api/v1/decisions", headers=auth(users[who]),  # noqa: E731
                                                json={"segment_id": segment, **body})
    first = post({"action": "accept"})
    assert first.status_code == 201 and first.json()["version"] == 1
    same = post({"action": "accept"})
    assert same.status_code == 200 and same.json()["id"] == first.json()["id"] and same.json()["created"] is False
    corrected = post({"action": "correct", "codes": [{"factor": "ervaren_ruimte", "richting": "PO", "aard": "+"},
                                                     {"factor": "ervaren_ruimte", "richting": "PO", "aard": "+"}]})
    assert corrected.status_code == 201 and corrected.json()["version"] == 2
    assert corrected.json()["codes"] == [{"factor": "ervaren_ruimte", "richting": "PO", "aard": "+"}]
    assert post({"action": "no_code"}).json()["version"] == 3
    history = client.get(f"/api/v1/segments/{segment}/decisions", headers=auth(users["anna"]),
                         params={"history": True}).json()
    assert [d["version"] for d in history] == [1, 2, 3]
    assert [d["is_current"] for d in history] == [False, False, True]
    current = client.get(f"/api/v1/segments/{segment}/decisions", headers=auth(users["anna"])).json()
    assert len(current) == 1 and current[0]["action"] == "no_code"

    bad = post({"action": "correct", "codes": [{"factor": "bestaat_niet", "richting": "-", "aard": "+"}]})
    assert bad.status_code == 422 and "unknown factor" in bad.json()["detail"]
    bad = post({"action": "correct", "codes": [{"factor": "ervaren_ruimte", "richting": "-", "aard": "+"}]})
    assert bad.status_code == 422 and "richting" in bad.json()["detail"]
    assert post({"action": "correct"}).status_code == 422
    assert post({"action": "reject", "codes": [{"factor": "ervaren_ruimte", "richting": "PO", "aard": "+"}]}) \
        .status_code == 422
    assert post({"action": "maybe"}).status_code == 422
    missing = client.post("/api/v1/decisions", headers=auth(users["anna"]),
                          json={"segment_id": 999999, "action": "accept"})
    assert missing.status_code == 404


def test_limits_and_no_partial_rows(settings, users, monkeypatch):
    settings = settings.model_copy(update={"max_upload_bytes": 2000, "max_texts_per_request": 3,
                                           "max_segment_chars": 300})
    with TestClient(create_app(settings)) as client:
        token = users["anna"]
        big = client.post("/api/v1/documents", headers=auth(token),
                          files={"file": ("groot.txt", b"L1: " + b"woord " * 20_000)})
        assert big.status_code == 413 and "limit" in big.json()["detail"]
        just_over = client.post("/api/v1/documents", headers=auth(token),
                                files={"file": ("groot.txt", b"L1: " + b"x" * 2100)})
        assert just_over.status_code == 413
        many = client.post("/api/v1/suggest", headers=auth(token), json={"texts": ["a b c"] * 4})
        assert many.status_code == 413 and "limit of 3" in many.json()["detail"]
        assert "max_texts_per_request" in many.json()["detail"]
        long = client.post("/api/v1/suggest", headers=auth(token), json={"texts": ["woord " * 100]})
        assert long.status_code == 413 and "split it" in long.json()["detail"]
        assert "max_segment_chars" in long.json()["detail"]
        ok = client.post("/api/v1/suggest", headers=auth(token),
                         json={"texts": [{"id": "a", "text": "Ik voel me vrij in mijn lessen.", "question": "Ruimte?"}]})
        assert ok.status_code == 200 and ok.json()["results"][0]["id"] == "a"
        wrong_type = client.post("/api/v1/documents", headers=auth(token), files={"file": ("x.pdf", b"%PDF-1.4")})
        assert wrong_type.status_code == 422 and "unsupported file type" in wrong_type.json()["detail"]
        wrong_moment = client.post("/api/v1/documents", headers=auth(token), data={"moment": "midden"},
                                   files={"file": ("a.txt", b"I: Vraag?\nL1: Antwoord.\n")})
        assert wrong_moment.status_code == 422

        # A failure after the document and its segments were added leaves nothing behind.
        def boom(*args, **kwargs):
            raise RuntimeError("disk full")

        monkeypatch.setattr(repository, "_add_suggestions", boom)
        with TestClient(client.app, raise_server_exceptions=False) as raw:
            failed = raw.post("/api/v1/documents", headers=auth(token),
                              files={"file": ("a.txt", b"I: Vraag?\nL1: Een antwoord over ruimte.\n")})
        assert failed.status_code == 500
    assert count(settings, Document) == 0 and count(settings, Segment) == 0


def test_gate_keeps_the_old_model_and_one_retrain_at_a_time(client, users, settings, monkeypatch):
    """The retrain itself, in this process under a lease taken as the worker takes it: a refusing
    gate keeps the active model and says so in Dutch; a second retrain is refused while one is queued."""
    active = client.get("/health").json()["model_version"]
    monkeypatch.setattr(promotion, "gate", lambda new, old, **kw: GateDecision(False, "macro_f1 0.100 is worse"))
    admin = auth(users["admin"])
    first = client.post("/api/v1/models/retrain", headers=admin)
    assert first.status_code == 202 and first.json()["status"] == "queued"
    second = client.post("/api/v1/models/retrain", headers=admin)
    assert second.status_code == 409 and "already" in second.json()["detail"]

    db = Database(settings.resolved_database_url())
    try:
        lease = jobs.claim_next(db, jobs.worker_id(), settings.job_stale_seconds)
        assert lease is not None and lease.job_id == first.json()["id"]
        result = run_leased_retrain(db, settings, lease, first.json()["params"])
    finally:
        db.dispose()
    assert result["promoted"] is False
    job = client.get(f"/api/v1/jobs/{lease.job_id}", headers=admin).json()
    assert job["status"] == "succeeded" and job["result"]["promoted"] is False
    assert job["message"].startswith(f"Versie {result['version']} is niet geactiveerd")
    assert f"van het actieve model {active}" in job["message"] and "Het actieve model blijft" in job["message"]
    gate = job["result"]["gate"]
    assert gate["n"] == gate["n_synthetic"] + gate["n_confirmed"] > 0
    assert gate["new_value"] is not None and gate["active_value"] is not None
    # Every phase was timed (the next run's progress estimate uses them); "rule" only with a no-code detector,
    # "vectors" only with a sentence encoder (this test's model is lexical).
    assert set(retrain.PHASES) - {"rule", "vectors"} <= set(job["result"]["phase_seconds"]) <= set(retrain.PHASES)
    assert client.get("/health").json()["model_version"] == active
    models = {m["version"]: m for m in client.get("/api/v1/models", headers=admin).json()}
    assert models[job["result"]["version"]]["status"] == "rejected"
    assert models[active]["active"]


def test_promote_and_rollback(client, users, models_dir):
    admin = auth(users["admin"])
    old = client.get("/health").json()["model_version"]
    copy = copy_version(models_dir, old, "20990101-000000-copy01")
    r = client.post(f"/api/v1/models/{copy}/promote", headers=admin, json={"reason": "test"})
    assert r.status_code == 200 and r.json()["active"] and r.json()["serving"]
    assert client.get("/health").json()["model_version"] == copy
    r = client.post("/api/v1/models/rollback", headers=admin)
    assert r.status_code == 200 and r.json()["version"] == old
    assert client.get("/health").json()["model_version"] == old
    assert client.post("/api/v1/models/nope/promote", headers=admin).status_code == 422
    # The model store's ACTIVE file (the CLI's) is not the service's business.
    assert read_active(models_dir) == old


def copy_version(models_dir: Path, version: str, new: str) -> str:
    import shutil

    root = models_dir / "codeerhulp"
    shutil.copytree(root / version, root / new)
    manifest_path = root / new / "manifest.json"
    manifest_path.chmod(0o644)
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["version"] = new  # a real new version names itself; the model file (and its sha256) stay
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    return new


def tamper(models_dir: Path, version: str) -> None:
    path = models_dir / "codeerhulp" / version / MODEL_FILE
    path.chmod(0o644)
    with open(path, "ab") as handle:
        handle.write(b"tampered")


def test_tampered_model_without_fallback_fails_startup_clearly(settings, caplog):
    version = read_active(settings.models_dir)
    tamper(settings.models_dir, version)
    caplog.set_level(logging.ERROR)
    with pytest.raises(NoModelError, match="no loadable model"):
        with TestClient(create_app(settings)):
            pass
    assert any(f"refusing model {version}" in r.getMessage() and "does not match its manifest" in r.getMessage()
               for r in caplog.records)


def test_tampered_model_is_refused_and_the_previous_one_kept(settings, users, caplog):
    old = read_active(settings.models_dir)
    new = copy_version(settings.models_dir, old, "20990101-000000-copy02")
    caplog.set_level(logging.INFO)
    with TestClient(create_app(settings)) as client:
        admin = auth(users["admin"])
        assert client.post(f"/api/v1/models/{new}/promote", headers=admin).status_code == 200
        client.post("/api/v1/models/rollback", headers=admin)
        assert client.get("/health").json()["model_version"] == old
        tamper(settings.models_dir, new)
        refused = client.post(f"/api/v1/models/{new}/promote", headers=admin)
        assert refused.status_code == 422 and "tampered" in refused.json()["detail"]
        # Another worker (or a script) makes it active in the database anyway: the poll refuses it.
        db = Database(settings.resolved_database_url())
        db.write(lambda s: repository.activate(s, new, "forced", None))
        db.dispose()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(f"refusing model {new}" in r.getMessage()
                                                      for r in caplog.records):
            time.sleep(0.1)
        health = client.get("/health").json()
        assert health["model_version"] == old and health["status"] == "degraded"
        assert "cannot be loaded" in health["message"]
        assert client.post("/api/v1/suggest", headers=auth(users["anna"]),
                           json={"texts": ["Ik heb ruimte."]}).json()["model_version"] == old
    # At the next start the active (tampered) version is refused and the previous one serves.
    caplog.clear()
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").json()["model_version"] == old
    assert any(f"refusing model {new}" in r.getMessage() for r in caplog.records)


def test_users_cli(settings, monkeypatch, capsys):
    code, out, _ = run_cli(settings, monkeypatch, capsys, "users", "add", "carla", "--role", "admin")
    assert code == 0
    token = out.strip()
    assert token.startswith("cdh_")
    assert run_cli(settings, monkeypatch, capsys, "users", "add", "carla")[0] == 2
    code, out, _ = run_cli(settings, monkeypatch, capsys, "users", "list")
    assert code == 0
    assert "carla\tadmin" in out
    db = Database(settings.resolved_database_url())
    try:
        user = db.read(lambda s: repository.user_by_token(s, token))
        stored = db.read(lambda s: [u.token_hash for u in repository.list_users(s)])
    finally:
        db.dispose()
    assert user is not None and user.role == "admin"
    assert token not in stored  # only the hash is stored


def test_liveness_and_readiness_say_why_a_worker_cannot_serve(client, monkeypatch):
    assert client.get("/health/live").json() == {"status": "alive"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["reasons"] == []
    services = client.app.state.services
    monkeypatch.setattr(services.db, "ping", lambda: False)
    down = client.get("/health/ready")
    assert down.status_code == 503 and down.json()["reasons"] == ["database not reachable"]
    assert client.get("/health/live").status_code == 200  # alive, just not ready


def test_an_oversized_json_body_gets_413_with_its_limit_and_stores_nothing(settings, users):
    settings = settings.model_copy(update={"max_request_bytes": 5000})
    with TestClient(create_app(settings)) as client:
        token = users["anna"]
        before = client.get("/api/v1/documents", headers=auth(token)).json()
        huge = client.post("/api/v1/decisions", headers=auth(token),
                           json={"segment_id": 1, "action": "accept", "note": "x" * 6000})
        assert huge.status_code == 413
        assert "limit of 5000 bytes" in huge.json()["detail"] and "max_request_bytes" in huge.json()["detail"]
        small = client.post("/api/v1/suggest", headers=auth(token), json={"texts": ["We kregen geen uren."]})
        assert small.status_code == 200  # under the limit: served as before
        assert client.get("/api/v1/documents", headers=auth(token)).json() == before
