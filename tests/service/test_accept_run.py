"""Accept means what the coder saw: a decision stores the codes of the suggestion run the client
showed, also after the document was suggested again, and records which run that was."""

from __future__ import annotations

from pathlib import Path

from service import repository
from service.db import Database
from service.visibility import Viewer

from .conftest import auth, suggest_again

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "startinterview_L7.txt"
SECOND_RUN_CODE = {"factor": "facilitering", "richting": "-", "aard": "-"}


def plain(codes: list[dict]) -> list[dict]:
    return sorted(({k: c[k] for k in ("factor", "richting", "aard")} for c in codes),
                  key=lambda c: (c["factor"], c["richting"], c["aard"]))


def test_accept_stores_the_run_the_coder_saw_and_records_it(client, users, settings):
    anna, bram = auth(users["anna"]), auth(users["bram"])
    document = client.post("/api/v1/documents", headers=anna, files={"file": (EXAMPLE.name, EXAMPLE.read_bytes())},
                           data={"respondent": "L7"}).json()
    segment = next(s for s in document["segments"] if s["suggestions"])
    assert segment["suggestion_run"] == 1
    seen_codes, seen_version = plain(segment["suggestions"]), segment["suggestion_model_version"]
    assert seen_codes != [SECOND_RUN_CODE]

    # Anna has the page open (run 1) when the document is suggested again.
    assert suggest_again(settings, document, SECOND_RUN_CODE, "20990101-000000-second") == 2
    latest = next(s for s in client.get(f"/api/v1/documents/{document['id']}", headers=anna).json()["segments"]
                  if s["id"] == segment["id"])
    assert latest["suggestion_run"] == 2 and plain(latest["suggestions"]) == [SECOND_RUN_CODE]

    # She accepts what she saw: run 1's codes, and the decision says so.
    saw = client.post("/api/v1/decisions", headers=anna,
                      json={"segment_id": segment["id"], "action": "accept", "suggestion_run": 1})
    assert saw.status_code == 201, saw.text
    assert saw.json()["codes"] == seen_codes and saw.json()["suggestion_run"] == 1
    assert saw.json()["model_version"] == seen_version
    again = client.post("/api/v1/decisions", headers=anna,
                        json={"segment_id": segment["id"], "action": "accept", "suggestion_run": 1})
    assert again.status_code == 200 and again.json()["id"] == saw.json()["id"]  # a retry stores nothing

    # Without a run the API keeps its old meaning (the latest run) and records which run it used.
    latest_accept = client.post("/api/v1/decisions", headers=bram,
                                json={"segment_id": segment["id"], "action": "accept"})
    assert latest_accept.status_code == 201
    assert latest_accept.json()["codes"] == [SECOND_RUN_CODE] and latest_accept.json()["suggestion_run"] == 2
    assert latest_accept.json()["model_version"] == "20990101-000000-second"

    # Accepting the newer run after all is a new version of Anna's decision, with the newer codes.
    newer = client.post("/api/v1/decisions", headers=anna,
                        json={"segment_id": segment["id"], "action": "accept", "suggestion_run": 2})
    assert newer.status_code == 201 and newer.json()["version"] == 2 and newer.json()["codes"] == [SECOND_RUN_CODE]
    # (an admin reads the history: with blind coding anna would see only her own decisions)
    history = client.get(f"/api/v1/segments/{segment['id']}/decisions", headers=auth(users["admin"]),
                         params={"history": True}).json()
    assert [(d["coder"], d["version"], d["suggestion_run"]) for d in history] == [
        ("anna", 1, 1), ("anna", 2, 2), ("bram", 1, 2)]

    # Other actions record their run too; a run that does not exist is refused with the latest named.
    rejected = client.post("/api/v1/decisions", headers=bram,
                           json={"segment_id": segment["id"], "action": "reject", "suggestion_run": 1})
    assert rejected.json()["suggestion_run"] == 1 and rejected.json()["codes"] == []
    missing = client.post("/api/v1/decisions", headers=anna,
                          json={"segment_id": segment["id"], "action": "accept", "suggestion_run": 3})
    assert missing.status_code == 404 and "the latest is run 2" in missing.json()["detail"]


def test_migration_0003_keeps_earlier_decisions_with_an_unknown_run(database_url):
    from alembic import command
    from sqlalchemy import text

    from service.db import alembic_config, migrate

    db = Database(database_url)
    try:
        with db.engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
            conn.execute(text("INSERT INTO users (id, name, role, token_hash, active, created_at) "
                              "VALUES (1, 'anna', 'coder', 'h', true, CURRENT_TIMESTAMP)"))
            conn.execute(text("INSERT INTO documents (id, name, kind, text, uploaded_by, suggestion_run, created_at) "
                              "VALUES (1, 'a.txt', 'interview', 'x', 1, 1, CURRENT_TIMESTAMP)"))
            conn.execute(text("INSERT INTO segments (id, document_id, ordinal, external_id, text) "
                              "VALUES (1, 1, 1, 'a-0001', 'x')"))
            conn.execute(text("INSERT INTO decisions (segment_id, coder_id, action, codes, version, is_current, "
                              "created_at) VALUES (1, 1, 'no_code', '[]', 1, true, CURRENT_TIMESTAMP)"))
        migrate(db)
        admin = Viewer(user_id=0, is_admin=True, blind_coding=True)
        decisions = db.read(lambda s: repository.segment_decisions(s, 1, admin))
        assert [(d.coder, d.action, d.suggestion_run) for d in decisions] == [("anna", "no_code", None)]
        assert decisions[0].blind is None  # migration 0007: whether she coded blind is not known either
    finally:
        db.dispose()
