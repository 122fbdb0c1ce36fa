"""The pages in-process (TestClient): sign-in, documents with progress, segment view, agreement,
the review order and the catalogue. The browser drives them in test_browser.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from service.web import plots, queries
from service.web.routes import WEB_DIR, catalogue
from tests.service.conftest import auth, form_token, sign_in

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "startinterview_L7.txt"



@pytest.fixture
def document(client, users) -> dict:
    r = client.post("/api/v1/documents", headers=auth(users["anna"]),
                    files={"file": (EXAMPLE.name, EXAMPLE.read_bytes())}, data={"respondent": "L7", "moment": "start"})
    assert r.status_code == 201, r.text
    return r.json()


def test_pages_need_a_signed_in_coder(client):
    for path in ("/documenten", "/documenten/1", "/overeenstemming"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("http://testserver/aanmelden?next=")
    page = client.get("/aanmelden")
    assert page.status_code == 200 and 'lang="nl"' in page.text and "Aanmelden" in page.text


def test_sign_in_refuses_unknown_tokens_and_open_redirects(client, users):
    csrf = form_token(client.get("/aanmelden").text)
    r = client.post("/aanmelden", data={"token": "cdh_wrong", "next": "/documenten", "csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 401 and catalogue()["signin"]["error_unknown"] in r.text
    r = client.post("/aanmelden", data={"token": users["anna"], "next": "//evil.example/", "csrf_token": csrf},
                    follow_redirects=False)
    assert r.headers["location"] == "/documenten"
    csrf = form_token(client.get("/documenten").text)
    r = client.post("/afmelden", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.headers["location"] == "/aanmelden?afgemeld=1"


def test_documents_show_progress_per_coder(client, users, document):
    segments = document["segments"]
    for s in segments[:3]:
        client.post("/api/v1/decisions", headers=auth(users["anna"]), json={"segment_id": s["id"], "action": "accept"})
    client.post("/api/v1/decisions", headers=auth(users["bram"]), json={"segment_id": segments[0]["id"],
                                                                        "action": "no_code"})
    sign_in(client, users["anna"])
    page = client.get("/documenten").text
    assert document["name"] in page
    assert f"anna 3/{len(segments)}" in page and f"bram 1/{len(segments)}" in page
    assert f'<span class="count">3/{len(segments)}</span>' in page


def test_segment_view_shows_question_lines_suggestions_and_decisions(client, users, document):
    first = document["segments"][0]
    client.post("/api/v1/decisions", headers=auth(users["bram"]), json={
        "segment_id": first["id"], "action": "correct",
        "codes": [{"factor": "motief_autonoom", "richting": "-", "aard": "+"}]})
    sign_in(client, users["anna"])
    page = client.get(f"/documenten/{document['id']}").text
    assert "Vraag van de interviewer" in page and first["question"][:40] in page
    assert f'<span class="lineno">{first["line_start"]}</span>' in page
    # Blind coding: bram's decision stays out of anna's page until an admin opens the document.
    assert "<strong>bram</strong>" not in page and 'id="blind-note"' in page
    assert client.post(f"/api/v1/documents/{document['id']}/discussion",
                       headers=auth(users["admin"])).status_code == 200
    page = client.get(f"/documenten/{document['id']}").text
    assert "Motief autonoom" in page or "motief autonoom" in page.lower()  # bram's code, by its Dutch label
    assert "<strong>bram</strong>: aangepast" in page and 'id="blind-note"' not in page
    # Opens at the first segment anna has not decided, and shows only that one.
    assert len(re.findall(r'<article class="segment"[^>]*\n\s*>', page)) == 1
    assert client.get(f"/documenten/{document['id']}?volgorde=onzin").status_code == 200
    assert client.get("/documenten/999").status_code == 404


def test_uncertain_orders(document):
    from service.schemas import DocumentOut
    doc = DocumentOut(**document)
    by_confidence = queries.order_segments(doc.segments, "zekerheid")
    tops = [queries.top_confidence(s) for s in by_confidence]
    assert tops == sorted(tops) and sorted(s.id for s in by_confidence) == sorted(s.id for s in doc.segments)
    assert [s.ordinal for s in queries.order_segments(doc.segments, "document")] == sorted(s.ordinal for s in doc.segments)
    by_disagreement = queries.order_segments(doc.segments, "onenigheid")
    assert len(by_disagreement) == len(doc.segments)


def test_most_instructive_order_leads_with_the_models_doubt_and_opens_as_a_page(client, users, document):
    from service.schemas import DocumentOut
    from training.review_order import margins
    from training.segmenting import Segment

    doc = DocumentOut(**document)
    registry = client.app.state.services.registry
    segments = [Segment(id=str(s.id), text=s.text, question=s.question) for s in doc.segments]
    positions = registry.most_instructive_first(segments)
    assert sorted(positions) == list(range(len(segments)))
    # Led by the segment where the served model hesitates most between its two best codes.
    scores = registry.suggest(segments, min_confidence=0.0)
    factor_ids = registry.current.model.factor_ids_
    p = [[next(c["confidence"] for c in r["codes"] if c["factor"] == f) for f in factor_ids] for r in scores]
    gaps = margins(np.array(p))
    assert gaps[positions[0]] == gaps.min()
    sign_in(client, users["anna"])
    page = client.get(f"/documenten/{document['id']}?volgorde=leerzaam")
    assert page.status_code == 200
    assert '?volgorde=leerzaam" aria-current="page">Meest leerzaam eerst<' in page.text
    first_text = doc.segments[positions[0]].text
    assert first_text[:30] in page.text  # opens at the most instructive segment anna has not decided


def test_disagreement_counts_different_answers(document):
    from service.schemas import DecisionOut, DocumentOut
    segment = DocumentOut(**document).segments[0]
    base = dict(id=1, segment_id=segment.id, version=1, is_current=True, model_version=None, codebook_version=None,
                note=None, created_at="2026-01-01T00:00:00Z")
    agree = DecisionOut(coder="a", action="accept", codes=[{k: c.__dict__[k] for k in ("factor", "richting", "aard")}
                                                             for c in segment.suggestions], **base)
    reject = DecisionOut(coder="b", action="reject", codes=[], **base)
    assert queries.disagreement(segment.model_copy(update={"decisions": [agree]})) == 0
    assert queries.disagreement(segment.model_copy(update={"decisions": [agree, reject]})) == 1


def test_agreement_page_shows_values_and_admin_controls(client, users, document):
    sign_in(client, users["anna"])
    assert catalogue()["agreement"]["none"] in client.get("/overeenstemming").text
    for s in document["segments"]:
        client.post("/api/v1/decisions", headers=auth(users["anna"]), json={"segment_id": s["id"], "action": "accept"})
    page = client.get("/overeenstemming").text
    assert 'id="agreement-current"' in page and 'data-pair="anna|model"' in page
    assert "<svg" in page and "kappa anna" in page
    # Every coefficient with its interval; no verdict on a single interview's few segments; columns explained.
    n = len(document["segments"])
    assert n < 30 and f'<td class="num n-units">{n}</td>' in page
    assert page.count('class="ci"') >= 4 and "1000 trekkingen" in page
    assert "te weinig fragmenten" in page and ">betrouwbaar<" not in page
    assert 'id="agreement-columns"' in page and "hoofdcode" in page
    assert 'id="admin"' not in page
    sign_in(client, users["admin"])
    page = client.get(f"/overeenstemming?document={document['id']}").text
    assert 'id="admin"' in page and 'id="retrain"' in page
    assert re.search(r'id="retrain"\s*>', page) and re.search(r'id="cancel-job"\s*hidden', page)
    # While a retrain is queued or running, the page starts with its button off and cancel offered.
    job = client.post("/api/v1/models/retrain", headers=auth(users["admin"])).json()
    page = client.get("/overeenstemming").text
    assert re.search(r'id="retrain"\s*disabled', page) and re.search(r'id="cancel-job"\s*>', page)
    data = re.search(r'<script type="application/json" id="job-data">(.*?)</script>', page, re.S).group(1)
    assert json.loads(data)["id"] == job["id"] and json.loads(data)["status"] == "queued"


def test_plots_escape_text_and_mark_missing_values():
    svg = plots.line_chart(["v1", "v2"], {"<b>": [None, 0.5]}, "t & t")
    assert "&lt;b&gt;" in svg and "t &amp; t" in svg and svg.count("<circle") == 1
    heat = plots.heatmap(["v1"], [("Sfeer", [(None, 0)])], "x")
    assert "cell-none" in heat and "–" in heat


def test_every_interface_string_comes_from_the_catalogue():
    """Templates and scripts hold no Dutch sentences of their own: they read the catalogue."""
    t = catalogue()
    assert set(t["js"]) >= {"saved", "save_failed", "sign_in_again", "all_done"}
    js = "".join(p.read_text(encoding="utf-8") for p in (WEB_DIR / "static").glob("*.js"))
    # Quoted strings in the scripts are keys, CSS classes, paths or symbols, never user-facing Dutch words.
    for word in ("Opgeslagen", "Afwijzen", "Volgende", "fragment", "codeur"):
        assert word not in js
    for template in (WEB_DIR / "templates").glob("*.html"):
        text = re.sub(r"{[{%#].*?[}%#]}", "", template.read_text(encoding="utf-8"), flags=re.S)
        visible = re.sub(r"<[^>]+>", " ", text)
        words = re.findall(r"[A-Za-zë]{4,}", visible)
        assert not words, f"{template.name} has text outside the catalogue: {words[:5]}"


def test_unknown_addresses_get_a_dutch_page_in_a_browser_and_json_from_the_api(client, users):
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}  # what a browser sends
    page = client.get("/bestaat-niet", headers=html)
    errors = catalogue()["errors"]
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert 'lang="nl"' in page.text and errors["page_not_found_title"] in page.text and errors["page_not_found"] in page.text
    # The API keeps JSON, for a browser too, and so does any client that does not ask for HTML.
    for path, headers in (("/api/v1/bestaat-niet", html), ("/bestaat-niet", {"Accept": "application/json"}),
                          ("/bestaat-niet", {})):
        r = client.get(path, headers=headers)
        assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    r = client.get("/api/v1/documents/999", headers={**html, **auth(users["anna"])})
    assert r.status_code == 404 and "999" in r.json()["detail"]
    # A signed-in coder keeps their header on the error page.
    sign_in(client, users["anna"])
    assert 'id="who">anna<' in client.get("/documenten/x/y", headers=html).text


def test_pages_have_our_own_favicon(client, users):
    sign_in(client, users["anna"])
    assert 'rel="icon" type="image/svg+xml"' in client.get("/documenten").text
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml") and "<svg" in icon.text
    r = client.get("/favicon.ico", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == "/static/favicon.svg"


def test_one_set_of_order_names_on_every_page(client, users, document):
    names = catalogue()["orders"]
    assert tuple(names) == queries.ORDERS  # every order has one Dutch name, and only those
    sign_in(client, users["anna"])
    listing = client.get("/documenten").text
    view = client.get(f"/documenten/{document['id']}").text
    for order, name in names.items():
        assert f'?volgorde={order}" aria-current="page">{name}<' in view or f'?volgorde={order}" >{name}<' in view
        if order != "document":  # the list opens the document order with its "Coderen" button
            assert f'?volgorde={order}">{name}<' in listing
    docs = (Path(__file__).resolve().parents[2] / "docs" / "web.md").read_text(encoding="utf-8")
    assert all(name.lower() in docs.lower() for name in names.values())


def test_help_lists_every_key_binding_and_the_page_handles_each(client, users, document):
    bindings = catalogue()["shortcuts"]["bindings"]
    sign_in(client, users["anna"])
    page = client.get(f"/documenten/{document['id']}").text
    help_keys = re.search(r'<dl class="keys" id="help-keys">(.*?)</dl>', page, re.S).group(1)
    names = catalogue()["shortcuts"]["key_names"]
    for b in bindings:
        assert b["text"] in help_keys
        for key in b["keys"]:
            assert f"<kbd>{names.get(key, key)}</kbd>" in help_keys
    # review.js builds its key handler from this list: every action it names must exist there.
    script = (WEB_DIR / "static" / "review.js").read_text(encoding="utf-8")
    handlers = re.search(r"const actions = \{(.*?)\n  \};", script, re.S).group(1)
    defined = set(re.findall(r"^\s+(\w+)(?:[:,])", handlers, re.M))
    assert {b["action"] for b in bindings} <= defined


def test_the_first_code_a_coder_gives_is_the_main_code_kappa_compares(client, users, document):
    """The picker sends codes in the order chosen; the first is the main code, kept as given."""
    first, second = document["segments"][0]["id"], document["segments"][1]["id"]
    rol = {"factor": "rol_schoolleiding", "richting": "-", "aard": "+"}
    er = {"factor": "ervaren_ruimte", "richting": "PO", "aard": "+"}
    for coder, codes in (("anna", [rol, er]), ("bram", [er, rol])):
        r = client.post("/api/v1/decisions", headers=auth(users[coder]),
                        json={"segment_id": first, "action": "correct", "codes": codes})
        assert r.status_code in (200, 201) and r.json()["codes"] == codes  # order kept, not sorted
        client.post("/api/v1/decisions", headers=auth(users[coder]),
                    json={"segment_id": second, "action": "correct", "codes": [er]})
    # An admin asks: while the document is coded blind, anna's own report would leave bram's decisions out.
    report = client.get("/api/v1/agreement", headers=auth(users["admin"]),
                        params={"coders": ["anna", "bram"], "dimension": "factor", "resamples": 200}).json()
    factor = report["dimensions"]["factor"]
    assert factor["percent_agreement"] == 1.0  # the same set of codes on both segments
    pair = factor["kappa_pairs"][0]
    assert pair["percent_agreement"] == 0.5  # but not the same main code on the first
    labels, matrix = pair["confusion_matrix"]["labels"], pair["confusion_matrix"]["matrix"]
    assert matrix[labels.index("rol_schoolleiding")][labels.index("ervaren_ruimte")] == 1
    assert report["bootstrap"]["resamples"] == 200 and pair["kappa_verdict"] == "too_few"
    assert "hoofdcode" in report["columns"]["percent_agreement_primary"]
    # The same codes in another order are another decision (the main code changed).
    r = client.post("/api/v1/decisions", headers=auth(users["anna"]),
                    json={"segment_id": first, "action": "correct", "codes": [er, rol]})
    assert r.json()["version"] == 2
