"""Hostile input gets a 4xx with a message, never a 500, and leaves nothing behind.

The sweep walks the app's own OpenAPI schema, so an operation added later is swept too: every id
parameter gets ids past PostgreSQL's INTEGER and SQLite's 64-bit range, every text parameter a NUL,
every JSON body a NUL, a lone surrogate and an out-of-range id in each of its fields. Then the
limits (also for chunked bodies), malformed multipart, undecodable JSON and a unique-key conflict.
On SQLite and, when CODEERHULP_TEST_POSTGRES_URL is set, on PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service import repository
from service.db import Database, WriteConflict
from service.main import create_app
from service.schemas import MAX_ROW_ID
from service.tables import Decision, Document, ModelVersion, Segment, User

from .conftest import auth, sign_in

OUT_OF_RANGE_IDS = [MAX_ROW_ID + 1, 2**63, 2**64, -(2**63) - 1]
JSON = {"content-type": "application/json"}

# A valid body for every operation that takes JSON; the sweep breaks one field at a time. An
# operation with a JSON body that is missing here fails the sweep, so new ones get swept too.
VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/v1/decisions"): {"segment_id": 1, "action": "correct", "note": "goed",
                                    "codes": [{"factor": "ervaren_ruimte", "richting": "PO", "aard": "+"}],
                                    "suggestion_run": 1},
    ("post", "/api/v1/suggest"): {"texts": ["Ik heb ruimte.", {"id": "b", "text": "We delen.", "question": "Hoe?"}],
                                  "min_confidence": 0.5},
    ("post", "/api/v1/models/{version}/promote"): {"reason": "test"},
    ("post", "/api/v1/models/rollback"): {"reason": "test"},
    ("post", "/api/v1/models/retrain"): {"resolution": "latest", "promote": False},
}


def counts(settings) -> dict[str, int]:
    db = Database(settings.resolved_database_url())
    try:
        return {t.__tablename__: db.read(lambda s, t=t: s.scalar(select(func.count()).select_from(t)))
                for t in (User, Document, Segment, Decision, ModelVersion)}
    finally:
        db.dispose()


def operations(client: TestClient) -> Iterator[tuple[str, str, dict]]:
    for path, methods in client.app.openapi()["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def _types(schema: dict) -> set[str]:
    if "anyOf" in schema:
        return {t for option in schema["anyOf"] for t in _types(option)}
    if schema.get("type") == "array":
        return _types(schema.get("items", {}))
    return {schema.get("type", "")}


def _valid_params(operation: dict, version: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Path values and required query values that are valid, so only the broken one is refused."""
    path = {p["name"]: (version if p["name"] == "version" else 1)
            for p in operation.get("parameters", []) if p["in"] == "path"}
    query = {p["name"]: ["anna", "model"] if p["name"] == "coders" else "nieuwe-gebruiker"
             for p in operation.get("parameters", []) if p["in"] == "query" and p.get("required")}
    return path, query


def _url(path: str, path_values: dict[str, Any], query: dict[str, Any]) -> str:
    for name, value in path_values.items():
        path = path.replace("{" + name + "}", quote(str(value), safe=""))
    pairs = [(k, v) for k, values in query.items() for v in (values if isinstance(values, list) else [values])]
    return path + ("?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in pairs) if pairs else "")


def assert_refused(response, expected: set[int], what: str) -> None:
    assert response.status_code in expected, f"{what}: {response.status_code} {response.text[:300]}"
    detail = response.json()["detail"]
    assert detail, f"{what}: no message"


def broken_bodies(body: Any) -> Iterator[tuple[str, bytes]]:
    """The body with one field at a time made hostile, as raw JSON (a lone surrogate is an escape)."""
    def walk(node: Any, where: str) -> Iterator[tuple[str, Any]]:
        if isinstance(node, dict):
            for key, value in node.items():
                for label, replaced in walk(value, f"{where}.{key}"):
                    yield label, {**node, key: replaced}
        elif isinstance(node, list):
            for i, value in enumerate(node):
                for label, replaced in walk(value, f"{where}[{i}]"):
                    yield label, [*node[:i], replaced, *node[i + 1:]]
        elif isinstance(node, str):
            yield f"{where} with NUL", node + "\x00"
            yield f"{where} with a lone surrogate", node + "\ud800"
        elif isinstance(node, int) and not isinstance(node, bool):
            for n in OUT_OF_RANGE_IDS[:3]:
                yield f"{where} = {n}", n

    for label, broken in walk(body, "body"):
        # ensure_ascii writes the lone surrogate as the escape "\ud800", as a hostile client would.
        yield label, json.dumps(broken, ensure_ascii=True).encode("ascii")


def test_the_whole_schema_refuses_hostile_ids_and_texts_with_4xx(client, users, settings):
    anna, admin = auth(users["anna"]), auth(users["admin"])
    assert client.post("/api/v1/documents", headers=anna, data={"respondent": "L7"},
                       files={"file": ("a.txt", b"I: Hoe ging het?\nL7: Ik kreeg veel ruimte van de schoolleiding.\n")}
                       ).status_code == 201
    version = client.get("/health").json()["model_version"]
    before = counts(settings)
    swept_params = swept_bodies = 0
    for method, path, operation in operations(client):
        path_values, query = _valid_params(operation, version)
        for param in operation.get("parameters", []):
            name, types = param["name"], _types(param["schema"])
            target = path_values if param["in"] == "path" else query
            if "integer" in types:
                for n in OUT_OF_RANGE_IDS:
                    url = _url(path, {**path_values, name: n} if param["in"] == "path" else path_values,
                               {**query, name: n} if param["in"] == "query" else query)
                    response = client.request(method, url, headers=admin)
                    if name.endswith("_id"):
                        assert_refused(response, {422}, f"{method} {url}")
                    else:  # a count or a seed: clamped or refused as documented, never a 500
                        assert response.status_code in (200, 422), (url, response.text[:300])
                    swept_params += 1
            if "string" in types:
                hostile = "a\x00b"
                broken = {**target, name: [hostile] if isinstance(target.get(name), list) else hostile}
                url = _url(path, broken if target is path_values else path_values, broken if target is query else query)
                assert_refused(client.request(method, url, headers=admin), {422}, f"{method} {url}")
                swept_params += 1
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            assert (method, path) in VALID_BODIES, f"add a valid body for {method} {path} to VALID_BODIES"
            url = _url(path, path_values, query)
            for label, raw in broken_bodies(VALID_BODIES[(method, path)]):
                response = client.request(method, url, headers={**admin, **JSON}, content=raw)
                assert_refused(response, {422}, f"{method} {path} {label}")
                swept_bodies += 1
    assert swept_params > 30 and swept_bodies > 20
    assert counts(settings) == before  # nothing refused left a row


def test_what_a_refusal_says(client, users):
    anna = auth(users["anna"])
    r = client.get(f"/api/v1/documents/{2**63}", headers=anna)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "document_id"]
    assert "2147483647" in r.json()["detail"][0]["msg"]
    r = client.post("/api/v1/suggest", headers={**anna, **JSON}, content=b'{"texts": ["Ik heb \\ud800 ruimte."]}')
    assert r.status_code == 422 and "lone surrogate" in r.json()["detail"][0]["msg"]
    assert "input" not in r.json()["detail"][0]  # the text is not echoed back (personal data)
    r = client.post("/api/v1/suggest", headers=anna, json={"texts": ["Ik heb\x00 ruimte."]})
    assert r.status_code == 422 and "NUL character" in r.json()["detail"][0]["msg"]
    assert "position 7" in r.json()["detail"][0]["msg"]
    # A lone surrogate in a key: the answer names where, and is valid UTF-8 JSON itself.
    r = client.post("/api/v1/decisions", headers={**anna, **JSON},
                    content=b'{"segment_id": 1, "action": "accept", "\\udc80x": 1}')
    assert r.status_code == 422 and json.loads(r.content.decode("utf-8"))
    r = client.post("/api/v1/suggest", headers={**anna, **JSON}, content=b'{"texts": ["\xff\xfe"]}')
    assert r.status_code == 400 and "not UTF-8" in r.json()["detail"]
    r = client.get("/api/v1/agreement", headers=anna, params={"coders": ["anna", "model"], "seed": -785})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "seed"]
    r = client.post("/api/v1/suggest", headers={**anna, **JSON}, content=b'{"texts": [')
    assert r.status_code == 422 and "JSON decode error" in r.json()["detail"][0]["msg"]


def test_uploads_with_unstorable_text_or_names_are_refused_whole(client, users, settings):
    anna = auth(users["anna"])
    before = counts(settings)
    cases = {
        "a NUL past the first 8 KB": (("a.txt", b"I: Vraag?\nL1: " + b"woord " * 2000 + b"\x00\n"), "NUL byte"),
        "a lone surrogate in JSONL": (("a.jsonl", b'{"id": "s1", "text": "Ruimte \\ud800."}\n'), "lone surrogate"),
        "a NUL in JSONL": (("a.jsonl", b'{"id": "s1", "text": "Ruimte \\u0000."}\n'), "NUL character"),
        "a speaker that is no text": (("a.jsonl", b'{"id": "s1", "text": "Ruimte.", "speaker": {"a": 1}}\n'),
                                      "must be text"),
        "a file name of 300 characters": (("a" * 296 + ".txt", b"I: Vraag?\nL1: Antwoord.\n"), "rename the file"),
        "segment ids over 100 characters": (("a" * 120 + ".txt", b"I: Vraag?\nL1: Antwoord.\n"), "shorten it"),
        "a JSONL id over 100 characters": (("a.jsonl", json.dumps({"id": "x" * 101, "text": "Ruimte."}).encode()),
                                           "shorten it"),
    }
    for what, (file, message) in cases.items():
        r = client.post("/api/v1/documents", headers=anna, files={"file": file})
        assert r.status_code == 422 and message in r.json()["detail"], (what, r.status_code, r.text[:300])
    r = client.post("/api/v1/documents", headers=anna, data={"plg": "PLG\x00"},
                    files={"file": ("a.txt", b"I: Vraag?\nL1: Antwoord.\n")})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "plg"]
    assert counts(settings) == before


def test_malformed_multipart_gets_4xx(client, users, settings):
    anna = auth(users["anna"])
    before = counts(settings)
    part = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nI: Vraag?\nL1: Ja.\r\n'
    cases = {
        "no boundary": ("multipart/form-data", part + b"--xyz--\r\n"),
        "another boundary": ("multipart/form-data; boundary=abc", part + b"--xyz--\r\n"),
        "cut off": ("multipart/form-data; boundary=xyz", part[:60]),
        "a part without a name": ("multipart/form-data; boundary=xyz", b"--xyz\r\n\r\nhallo\r\n--xyz--\r\n"),
        "JSON instead of a form": ("application/json", b'{"file": "I: Vraag?"}'),
        "garbage": ("multipart/form-data; boundary=xyz", bytes(range(256)) * 4),
    }
    for what, (content_type, body) in cases.items():
        r = client.post("/api/v1/documents", headers={**anna, "content-type": content_type}, content=body)
        assert r.status_code in (400, 422) and r.json()["detail"], (what, r.status_code, r.text[:300])
    r = client.post("/api/v1/documents", headers=anna, data={"file": "I: Vraag?\nL1: Ja."})  # a field, not a file
    assert r.status_code == 422
    assert counts(settings) == before


@pytest.fixture
def small_limits(settings, users):
    limited = settings.model_copy(update={"max_request_bytes": 5000, "max_upload_bytes": 100_000,
                                          "max_texts_per_request": 3, "max_segment_chars": 300,
                                          "max_codes_per_decision": 2})
    with TestClient(create_app(limited)) as client:
        yield client, limited


def chunks(total: int, size: int = 4096) -> Iterator[bytes]:
    """A body sent chunked: the client cannot know its length, so no Content-Length is sent."""
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


def test_every_limit_answers_413_with_the_limit_also_for_chunked_bodies(small_limits, users):
    client, settings = small_limits
    anna = auth(users["anna"])
    before = counts(settings)

    def json_chunks(text_bytes: int) -> Iterator[bytes]:
        yield b'{"texts": ["'
        yield from (c.replace(b" ", b"a") for c in chunks(text_bytes))
        yield b'"]}'

    r = client.post("/api/v1/suggest", headers={**anna, **JSON}, content=json_chunks(20_000))
    assert r.status_code == 413 and "limit of 5000 bytes" in r.json()["detail"]
    assert "max_request_bytes" in r.json()["detail"]
    r = client.post("/api/v1/suggest", headers={**anna, **JSON}, content=json_chunks(50))  # chunked, small: served
    assert r.status_code == 200

    head = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nI: Vraag?\nL1: '
    upload = [head, *chunks(300_000), b"\r\n--xyz--\r\n"]
    r = client.post("/api/v1/documents", headers={**anna, "content-type": "multipart/form-data; boundary=xyz"},
                    content=iter(upload))
    assert r.status_code == 413 and "max_upload_bytes" in r.json()["detail"] and "100000" in r.json()["detail"]

    r = client.post("/api/v1/suggest", headers=anna, json={"texts": ["a"] * 4})
    assert r.status_code == 413 and "limit of 3" in r.json()["detail"] and "max_texts_per_request" in r.json()["detail"]
    r = client.post("/api/v1/suggest", headers=anna, json={"texts": [{"text": "Ruimte.", "question": "x" * 301}]})
    assert r.status_code == 413 and "max_segment_chars" in r.json()["detail"]
    document = client.post("/api/v1/documents", headers=anna,
                           files={"file": ("a.txt", b"I: Vraag?\nL1: Ik kreeg ruimte.\n")}).json()
    code = {"richting": "PO", "aard": "+"}
    r = client.post("/api/v1/decisions", headers=anna, json={
        "segment_id": document["segments"][0]["id"], "action": "correct",
        "codes": [{"factor": f, **code} for f in ("ervaren_ruimte", "benutten_ruimte", "creeren_ruimte")]})
    assert r.status_code == 413 and "max_codes_per_decision" in r.json()["detail"]
    after = counts(settings)
    assert after["decisions"] == before["decisions"] and after["documents"] == before["documents"] + 1


def test_a_unique_key_conflict_fails_fast_with_409(settings, users):
    db = Database(settings.resolved_database_url())
    attempts = []

    def duplicate_user(session):
        attempts.append(1)
        # Bypasses create_user's check, as a second worker inserting the same name would.
        session.add(User(name="anna", role="coder", token_hash=f"{len(attempts):064d}", active=True))
        session.flush()

    try:
        started = time.monotonic()
        with pytest.raises(WriteConflict, match="try again"):
            db.write(duplicate_user)
        assert len(attempts) == 2  # one retry for a race, then the answer: not eight
        assert time.monotonic() - started < 5

        # Through the API: the name is taken, a clear 409 at once.
        with TestClient(create_app(settings)) as client:
            r = client.post("/api/v1/users", headers=auth(users["admin"]), params={"name": "anna"})
            assert r.status_code == 409 and "exists already" in r.json()["detail"]

        # A version an admin made active by hand before its retrain job recorded it: the job's
        # result completes the row instead of colliding with its key.
        db.write(lambda s: repository.activate(s, "20990101-000000-hand01", "by hand", None))
        db.write(lambda s: repository.record_model_version(s, "20990101-000000-hand01", "rejected",
                                                           {"macro_f1": 0.5}, "macro_f1 0.500 is worse", None))
        row = db.read(lambda s: s.get(ModelVersion, "20990101-000000-hand01"))
        assert row.status == "promoted" and row.metrics == {"macro_f1": 0.5} and "by hand" in row.gate_reason
    finally:
        db.dispose()


def test_pages_refuse_ids_out_of_range_with_their_own_404(client, users):
    sign_in(client, users["anna"])
    for n in (MAX_ROW_ID + 1, 2**63, 2**64):
        r = client.get(f"/documenten/{n}")
        assert r.status_code == 404 and "text/html" in r.headers["content-type"]
        assert client.get(f"/overeenstemming?document={n}").status_code == 200  # the whole set instead


def test_one_coder_racing_themselves_on_a_segment_never_gets_409_or_500(client, users):
    """A double click, or a retry while the first attempt is still running in another thread: each
    request waits for the one before (a lock on the coder), so every one succeeds, in some order."""
    from concurrent.futures import ThreadPoolExecutor

    anna = auth(users["anna"])
    segment = client.post("/api/v1/documents", headers=anna,
                          files={"file": ("a.txt", b"I: Vraag?\nL7: Ik kreeg ruimte.\n")}).json()["segments"][0]["id"]
    actions = ["accept", "no_code", "reject"] * 8

    def post(action: str) -> int:
        response = client.post("/api/v1/decisions", headers=anna, json={"segment_id": segment, "action": action})
        return response.status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(post, actions))
    assert set(statuses) <= {200, 201}, statuses
    history = client.get(f"/api/v1/segments/{segment}/decisions", headers=anna, params={"history": True}).json()
    assert [d["version"] for d in history] == list(range(1, len(history) + 1))
    assert sum(d["is_current"] for d in history) == 1 and len(history) == statuses.count(201)
