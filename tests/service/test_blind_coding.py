"""Blind coding on SQLite and PostgreSQL: a coder sees the model's suggestions and their own decisions,
not another coder's, until an admin opens the document for discussion; admins always see all; the
setting off shows all; every decision records whether it was made blind and agreement counts them."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from service.main import create_app

from .conftest import auth, run_cli, sign_in

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "startinterview_L7.txt"
CODE = {"factor": "motief_autonoom", "richting": "-", "aard": "+"}


def upload(client: TestClient, token: str, content: bytes | None = None, name: str = EXAMPLE.name) -> dict:
    r = client.post("/api/v1/documents", headers=auth(token), files={"file": (name, content or EXAMPLE.read_bytes())},
                    data={"respondent": "L7", "moment": "start"})
    assert r.status_code == 201, r.text
    return r.json()


def decide(client: TestClient, token: str, segment_id: int, action: str = "accept", codes=None) -> dict:  # noqa: ANN001
    body = {"segment_id": segment_id, "action": action, **({"codes": codes} if codes else {})}
    r = client.post("/api/v1/decisions", headers=auth(token), json=body)
    assert r.status_code in (200, 201), r.text
    return r.json()


def coders_seen(client: TestClient, token: str, document_id: int) -> set[str]:
    """Every coder whose decision the caller gets back, through each read of decisions the API has."""
    document = client.get(f"/api/v1/documents/{document_id}", headers=auth(token)).json()
    seen = {d["coder"] for s in document["segments"] for d in s["decisions"]}
    for segment in document["segments"][:2]:
        for params in ({}, {"history": True}):
            r = client.get(f"/api/v1/segments/{segment['id']}/decisions", headers=auth(token), params=params)
            seen |= {d["coder"] for d in r.json()}
    return seen


def test_a_coder_sees_others_decisions_only_once_the_document_is_open_for_discussion(client, users):
    anna, bram, admin = users["anna"], users["bram"], users["admin"]
    document = upload(client, anna)
    assert document["blind"] is True and document["discussion_opened_at"] is None and document["others_hidden"]
    segments = document["segments"]
    decide(client, anna, segments[0]["id"], "correct", [CODE])
    decide(client, anna, segments[1]["id"])
    decide(client, bram, segments[0]["id"], "no_code")

    assert coders_seen(client, bram, document["id"]) == {"bram"}
    assert coders_seen(client, anna, document["id"]) == {"anna"}
    assert coders_seen(client, admin, document["id"]) == {"anna", "bram"}
    read = client.get(f"/api/v1/documents/{document['id']}", headers=auth(bram)).json()
    assert read["others_hidden"] is True and read["segments"][0]["suggestions"] == segments[0]["suggestions"]
    assert client.get(f"/api/v1/documents/{document['id']}", headers=auth(admin)).json()["others_hidden"] is False

    opened = client.post(f"/api/v1/documents/{document['id']}/discussion", headers=auth(admin))
    assert opened.status_code == 200 and opened.json()["blind"] is False and opened.json()["discussion_opened_at"]
    assert coders_seen(client, bram, document["id"]) == {"anna", "bram"}
    listed = client.get("/api/v1/documents", headers=auth(bram)).json()
    assert listed[0]["blind"] is False and listed[0]["discussion_opened_at"] == opened.json()["discussion_opened_at"]
    again = client.post(f"/api/v1/documents/{document['id']}/discussion", headers=auth(admin))
    assert again.json()["discussion_opened_at"] == opened.json()["discussion_opened_at"]  # keeps when it opened

    closed = client.delete(f"/api/v1/documents/{document['id']}/discussion", headers=auth(admin))
    assert closed.status_code == 200 and closed.json()["blind"] is True
    assert closed.json()["discussion_opened_at"] is None
    assert coders_seen(client, bram, document["id"]) == {"bram"}


def test_only_admins_open_or_close_a_discussion(client, users):
    document = upload(client, users["anna"])
    path = f"/api/v1/documents/{document['id']}/discussion"
    for token in (users["anna"], users["bram"]):
        assert client.post(path, headers=auth(token)).status_code == 403
        assert client.delete(path, headers=auth(token)).status_code == 403
    assert client.get(f"/api/v1/documents/{document['id']}", headers=auth(users["anna"])).json()["blind"] is True
    missing = client.post("/api/v1/documents/999999/discussion", headers=auth(users["admin"]))
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]
    assert client.post("/api/v1/documents/0/discussion", headers=auth(users["admin"])).status_code == 422


def test_with_blind_coding_off_everyone_sees_every_decision(settings, users):
    with TestClient(create_app(settings.model_copy(update={"blind_coding": False}))) as client:
        document = upload(client, users["anna"])
        assert document["blind"] is False and document["others_hidden"] is False
        decide(client, users["anna"], document["segments"][0]["id"])
        made = decide(client, users["bram"], document["segments"][0]["id"], "no_code")
        assert made["blind"] is False
        assert coders_seen(client, users["bram"], document["id"]) == {"anna", "bram"}


def test_decisions_record_whether_they_were_made_blind_and_agreement_counts_them(client, users):
    anna, bram, admin = users["anna"], users["bram"], users["admin"]
    document = upload(client, anna)
    segments = document["segments"]
    for s in segments[:4]:
        assert decide(client, anna, s["id"])["blind"] is True
    assert decide(client, admin, segments[0]["id"])["blind"] is False  # an admin sees the others' decisions
    client.post(f"/api/v1/documents/{document['id']}/discussion", headers=auth(admin))
    for s in segments[:3]:
        assert decide(client, bram, s["id"])["blind"] is False
    history = client.get(f"/api/v1/segments/{segments[0]['id']}/decisions", headers=auth(admin)).json()
    assert {d["coder"]: d["blind"] for d in history} == {"admin": False, "anna": True, "bram": False}

    report = client.get("/api/v1/agreement", headers=auth(admin),
                        params={"coders": ["anna", "bram"], "resamples": 0}).json()
    assert report["blind_decisions"] == {"compared": 7, "blind": 4, "unknown": 0}
    assert report["dimensions"]["factor"]["kappa_pairs"][0]["n_units"] == 3

    sign_in(client, admin)
    page = client.get("/overeenstemming").text
    # admin 1, anna 4 (blind), bram 3: every human decision the page compares
    assert "Blind gecodeerd: 4 van 8 vergeleken besluiten" in page


def test_a_coder_s_agreement_report_leaves_out_what_they_may_not_see(client, users):
    anna, bram = users["anna"], users["bram"]
    document = upload(client, anna)
    segments = document["segments"]
    for s in segments[:3]:
        decide(client, anna, s["id"])
        decide(client, bram, s["id"], "correct", [CODE])
    params = {"coders": ["anna", "bram"], "resamples": 0}
    report = client.get("/api/v1/agreement", headers=auth(bram), params=params).json()
    factor = report["dimensions"]["factor"]
    # Not even the disagreements' per-segment codes: anna's decisions are not in bram's report at all.
    assert factor["n_units"] == 0 and not factor.get("disagreements")
    assert report["blind_decisions"] == {"compared": 3, "blind": 3, "unknown": 0}
    with_model = client.get("/api/v1/agreement", headers=auth(bram), params={"coders": ["bram", "model"],
                                                                             "resamples": 0}).json()
    assert with_model["dimensions"]["factor"]["n_units"] == 3  # bram's own decisions against the suggestions

    sign_in(client, bram)
    page = client.get("/overeenstemming").text
    assert 'data-pair="anna|bram"' not in page and 'data-pair="bram|model"' in page
    assert "Blind gecodeerd: 3 van 3" in page and "Blind coderen staat aan" in page

    client.post(f"/api/v1/documents/{document['id']}/discussion", headers=auth(users["admin"]))
    report = client.get("/api/v1/agreement", headers=auth(bram), params=params).json()
    assert report["dimensions"]["factor"]["n_units"] == 3 and report["dimensions"]["factor"]["disagreements"]
    assert 'data-pair="anna|bram"' in client.get("/overeenstemming").text


def test_the_pages_show_the_state_and_only_admins_get_the_button(client, users):
    document = upload(client, users["anna"])
    sign_in(client, users["anna"])
    page = client.get("/documenten").text
    assert 'class="blind"' in page and "discussion-toggle" not in page
    sign_in(client, users["admin"])
    page = client.get("/documenten").text
    assert re.search(rf'data-document="{document["id"]}"\s+data-open="0"', page)
    assert "Openzetten voor bespreking" in page
    client.post(f"/api/v1/documents/{document['id']}/discussion", headers=auth(users["admin"]))
    page = client.get("/documenten").text
    assert re.search(rf'data-document="{document["id"]}"\s+data-open="1"', page) and "Bespreking sluiten" in page


TURN = ("Onze teamleider heeft de vrijdagmiddag vrijgeroosterd zodat wij met de sectie samen "
        "toetsen konden nakijken en bespreken.")


def test_a_blind_document_s_new_suggestions_are_not_steered_by_its_own_confirmations(client, users):
    """The confirmation memory: anna's correction reaches another document at once, but a new run of
    her still blind document (shown to bram too) is made without it, until the document is open."""
    anna, admin = users["anna"], users["admin"]
    turn = f"I: Kun je daar iets meer over vertellen?\nL3: {TURN}\n".encode()
    blind = upload(client, anna, turn, "a.txt")
    decide(client, anna, blind["segments"][0]["id"], "correct", [CODE])

    rerun = client.post(f"/api/v1/documents/{blind['id']}/suggestions", headers=auth(admin)).json()
    assert rerun["segments"][0]["suggestion_run"] == 2
    assert rerun["segments"][0]["suggestion_memory_state"] is None  # nothing else was confirmed
    other = upload(client, anna, turn, "b.txt")
    assert other["segments"][0]["suggestion_memory_state"].startswith("1:")

    client.post(f"/api/v1/documents/{blind['id']}/discussion", headers=auth(admin))
    rerun = client.post(f"/api/v1/documents/{blind['id']}/suggestions", headers=auth(admin)).json()
    assert rerun["segments"][0]["suggestion_memory_state"].startswith("1:")
    assert rerun["segments"][0]["suggestions"][0]["factor"] == CODE["factor"]


def test_the_command_line_opens_and_closes_a_discussion(client, users, settings, monkeypatch, capsys):
    document = upload(client, users["anna"])

    def cli(*argv: str) -> tuple[int, str, str]:
        return run_cli(settings, monkeypatch, capsys, *argv)

    code, out, _ = cli("documents", "list")
    assert code == 0 and f"{document['id']}\t{EXAMPLE.name}\t" in out and out.rstrip().endswith("blind")
    code, _, err = cli("documents", "discuss", str(document["id"]))
    assert code == 0 and "staat open voor bespreking" in err
    assert client.get(f"/api/v1/documents/{document['id']}", headers=auth(users["bram"])).json()["blind"] is False
    code, out, _ = cli("documents", "list")
    assert "open voor bespreking sinds" in out
    code, _, err = cli("documents", "close", str(document["id"]))
    assert code == 0 and "gesloten" in err
    assert client.get(f"/api/v1/documents/{document['id']}", headers=auth(users["bram"])).json()["blind"] is True
    code, _, err = cli("documents", "discuss", "999")
    assert code == 2 and "document 999 bestaat niet" in err
