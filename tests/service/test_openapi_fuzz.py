"""Every operation of the OpenAPI schema under generated input answers without a server error.

Schemathesis reads the schema from a real ``codeerhulp serve`` (a subprocess on a loopback port)
and sends requests generated from it: valid ones, and invalid ones (negative mode: wrong types,
missing fields, values out of range), with NUL characters allowed in strings. The service holds a
document with decisions, so small generated ids hit real rows. Every answer must be below 500, and
every 4xx must carry a message. On SQLite, and on PostgreSQL when CODEERHULP_TEST_POSTGRES_URL is set.

Bounded in time: a fixed number of examples per operation, generated deterministically, so a run
takes about the same time every time and a failure replays.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode

from .conftest import BACKENDS, Server, add_user, auth, copy_store, fresh_database, make_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "startinterview_L7.txt"

EXAMPLES_PER_OPERATION = 20
# Ids the seeded service has (one document of ~40 segments, its first runs and jobs): half of the
# generated ids are folded into these, so that requests reach the code behind the lookups too.
UPLOAD_PATH = "/api/v1/documents"  # multipart: its texts cannot carry a lone surrogate
REAL_ID_RANGE = {"segment_id": 40, "document_id": 2, "job_id": 2, "suggestion_run": 2}


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_service(request, tmp_path_factory, trained_models_dir, small_corpus, small_transcripts):
    """One real service per backend for the whole module, with an admin, a coder and a coded document."""
    base = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    with fresh_database(request.param, base) as url:
        settings = make_settings(base, url, copy_store(trained_models_dir, base / "models"), small_corpus,
                                 small_transcripts)
        # A retrain the fuzz starts fails at once for want of a corpus: the endpoint is covered, and no
        # minute of training (or a newly promoted model for promote and rollback to flip between)
        # stretches the run. Retraining itself is tested in test_api.py.
        (base / "no-corpus").mkdir()
        settings = settings.model_copy(update={"train_dir": base / "no-corpus"})
        admin, coder = add_user(url, "admin", "admin"), add_user(url, "anna")
        server = Server(settings, base / "server.log").start()
        try:
            document = httpx.post(f"{server.url}/api/v1/documents", headers=auth(coder), timeout=120,
                                  files={"file": (EXAMPLE.name, EXAMPLE.read_bytes())}, data={"respondent": "L7"})
            assert document.status_code == 201, document.text
            for segment in document.json()["segments"][:5]:
                httpx.post(f"{server.url}/api/v1/decisions", headers=auth(coder), timeout=60,
                           json={"segment_id": segment["id"], "action": "accept"}).raise_for_status()
            yield {"server": server, "admin": admin}
        finally:
            server.stop()


def spiked(node, character: str):  # noqa: ANN001, ANN201 - any JSON value
    """The value with ``character`` added to every text in it."""
    if isinstance(node, str):
        return node + character
    if isinstance(node, list):
        return [spiked(item, character) for item in node]
    if isinstance(node, dict):
        return {key: spiked(value, character) for key, value in node.items()}
    return node


@pytest.fixture
def api_schema(fuzz_service):
    schema = schemathesis.openapi.from_url(f"{fuzz_service['server'].url}/openapi.json")
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], allow_x00=True,
                                    with_security_parameters=False)
    version = httpx.get(f"{fuzz_service['server'].url}/health", timeout=30).json()["model_version"]

    def steered(values, json_body: bool):  # noqa: ANN001, ANN202
        """The generated values, or the same with ids folded into real rows (so that requests get past
        the lookups), or with every text spiked with a NUL or (JSON only) a lone surrogate."""
        if not isinstance(values, dict):
            return st.just(values)
        folded = {key: (abs(value) % REAL_ID_RANGE[key]) + 1
                  if key in REAL_ID_RANGE and isinstance(value, int) and not isinstance(value, bool) else value
                  for key, value in values.items()}
        if "version" in folded:
            folded["version"] = version
        variants = [values, folded, spiked(folded, "\x00")]
        if json_body:  # a lone surrogate travels only as a JSON escape, not in a URL or a multipart form
            variants.append(spiked(folded, "\ud800"))
        return st.sampled_from(variants)

    def flatmap_body(context, body):  # noqa: ANN001, ANN202 - schemathesis hooks, named after their hook
        return steered(body, json_body=context.operation.path != UPLOAD_PATH)

    def flatmap_path_parameters(_context, parameters):  # noqa: ANN001, ANN202
        return steered(parameters, json_body=False)

    def flatmap_query(_context, query):  # noqa: ANN001, ANN202
        return steered(query, json_body=False)

    for hook in (flatmap_body, flatmap_path_parameters, flatmap_query):
        schema.hook(hook)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis_settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                     phases=[Phase.explicit, Phase.generate],
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                            HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
def test_no_operation_answers_a_server_error(case, fuzz_service):
    # As the admin, so that every operation runs its handler rather than stopping at 403.
    response = case.call(headers=auth(fuzz_service["admin"]), timeout=120)
    where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code < 500, f"{where}\n{case.as_curl_command()}\nserver log:\n" \
                                       f"{fuzz_service['server'].log()[-3000:]}"
    if response.status_code >= 400:
        detail = response.json().get("detail")
        assert detail, f"a {response.status_code} without a message: {where}"


def test_the_real_server_cuts_off_a_chunked_body_at_the_limit(fuzz_service):
    """Through uvicorn's HTTP parsing too: a body without Content-Length is counted as it arrives."""
    def endless_json():
        yield b'{"texts": ["'
        for _ in range(1000):  # 4 MB, twice the default max_request_bytes
            yield b"a" * 4096

    server = fuzz_service["server"]
    r = httpx.post(f"{server.url}/api/v1/suggest", content=endless_json(), timeout=120,
                   headers={**auth(fuzz_service["admin"]), "content-type": "application/json"})
    assert r.status_code == 413 and "max_request_bytes" in r.json()["detail"]
    assert httpx.get(f"{server.url}/health/live", timeout=30).status_code == 200  # and it keeps serving
