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
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode

from .conftest import BACKENDS, Server, add_user, auth, copy_store, fresh_database, make_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "startinterview_L7.txt"

EXAMPLES_PER_OPERATION = 25


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_service(request, tmp_path_factory, trained_models_dir, small_corpus, small_transcripts):
    """One real service per backend for the whole module, with an admin, a coder and a coded document."""
    base = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    with fresh_database(request.param, base) as url:
        settings = make_settings(base, url, copy_store(trained_models_dir, base / "models"), small_corpus,
                                 small_transcripts)
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


@pytest.fixture
def api_schema(fuzz_service):
    schema = schemathesis.openapi.from_url(f"{fuzz_service['server'].url}/openapi.json")
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], allow_x00=True,
                                    with_security_parameters=False)
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
