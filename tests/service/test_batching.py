"""Micro-batching of suggestions: requests scored together get exactly what each would get alone,
a large request does not hold back a small one, and a full queue refuses clearly and loses nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from service.batching import Overloaded, SuggestBatcher
from tests.service.conftest import add_user, auth
from training.artifacts import load_model, read_active
from training.data import Code
from training.memory import ConfirmationMemory, Remembered
from training.segmenting import Segment, read_file
from training.suggest import suggest_segments

ROOT = Path(__file__).resolve().parents[2]

TEXTS = [
    "Ik heb dit jaar veel ruimte gekregen van de schoolleiding om te experimenteren.",
    "In de sectie is er eigenlijk geen tijd om samen iets te ontwikkelen.",
    "De begeleider van de PLG stelde goede vragen over mijn leerdoelen.",
    "Ja.",
    "Nou ja, ik ben er zelf voor gekozen om mee te doen.",
]


@pytest.fixture(scope="module")
def loaded(trained_models_dir):
    return load_model(trained_models_dir, read_active(trained_models_dir))


@pytest.fixture(scope="module")
def interview() -> list[Segment]:
    return read_file(ROOT / "examples" / "startinterview_L7.txt").segments


def adhoc(texts: list[str]) -> list[Segment]:
    return [Segment(id=str(n), text=t) for n, t in enumerate(texts, 1)]


def test_requests_scored_together_get_what_each_gets_alone(loaded, interview):
    requests = [(interview, None), (adhoc(TEXTS[:2]), None), (adhoc(TEXTS[2:]), 0.2), (adhoc(TEXTS[:1]), None)]
    alone = [suggest_segments(loaded, segments, min_confidence) for segments, min_confidence in requests]
    batcher = SuggestBatcher(max_texts=16, wait_seconds=0.0)
    # Queued before the thread starts, so they are certainly batched together, the interview in shares.
    futures = [batcher.submit(loaded, segments, min_confidence) for segments, min_confidence in requests]
    batcher.start()
    try:
        together = [f.result(timeout=60) for f in futures]
    finally:
        batcher.stop()
    assert len(interview) > 16  # the interview really was split over several batches
    assert together == alone  # context across share boundaries, thresholds per request, ids, versions
    total = sum(len(segments) for segments, _ in requests)
    assert batcher.stats.batches == -(-total // 16)  # every batch full but the last
    assert batcher.stats.largest_batch == 16


def test_a_large_request_does_not_hold_back_a_small_one(loaded, interview):
    batcher = SuggestBatcher(max_texts=16, wait_seconds=0.0)
    finished: list[str] = []
    large = batcher.submit(loaded, interview * 3)
    small = batcher.submit(loaded, adhoc(TEXTS[:1]))
    large.add_done_callback(lambda _: finished.append("large"))
    small.add_done_callback(lambda _: finished.append("small"))
    batcher.start()
    try:
        assert len(large.result(timeout=60)) == 3 * len(interview)
        assert small.result(timeout=60)[0]["text"] == TEXTS[0]
    finally:
        batcher.stop()
    # The small request rode along with the large one's first share instead of waiting for all of it.
    assert finished == ["small", "large"]


def test_a_full_queue_refuses_at_once_and_loses_nothing(loaded):
    batcher = SuggestBatcher(max_texts=8, wait_seconds=0.0, max_queued_texts=5)
    first = batcher.submit(loaded, adhoc(TEXTS[:3]))
    second = batcher.submit(loaded, adhoc(TEXTS[3:5]))
    with pytest.raises(Overloaded, match="limit 5"):
        batcher.submit(loaded, adhoc(TEXTS[:1]))
    assert batcher.stats.refused == 1
    batcher.start()
    try:
        assert [r["text"] for r in first.result(timeout=60)] == TEXTS[:3]
        assert [r["text"] for r in second.result(timeout=60)] == TEXTS[3:5]
    finally:
        batcher.stop()
    # One request larger than the whole queue is still taken when nothing else waits.
    big = SuggestBatcher(max_texts=8, wait_seconds=0.0, max_queued_texts=2).start()
    try:
        assert len(big.suggest(loaded, adhoc(TEXTS))) == len(TEXTS)
    finally:
        big.stop()


def test_a_failing_batch_fails_its_requests_and_the_thread_goes_on(loaded):
    class Broken:
        version, codebook_version = loaded.version, loaded.codebook_version

        class model:  # noqa: N801 - stands in for a model whose scoring raises
            @staticmethod
            def predictions(inputs):
                raise RuntimeError("encoder gone")

    batcher = SuggestBatcher(max_texts=8, wait_seconds=0.0).start()
    try:
        with pytest.raises(RuntimeError, match="encoder gone"):
            batcher.suggest(Broken, adhoc(TEXTS[:2]))
        assert batcher.queued_texts == 0
        assert [r["text"] for r in batcher.suggest(loaded, adhoc(TEXTS[:2]))] == TEXTS[:2]
    finally:
        batcher.stop()


def test_the_memory_is_built_by_the_batching_thread_under_the_model_lock(loaded):
    # Building the confirmation memory encodes through the served encoder's cache, which is not
    # thread-safe: the batcher must build it itself, with the model lock held, not the client.
    segments = adhoc(TEXTS[:2])
    top = suggest_segments(loaded, segments, 0.0)[1]["codes"][0]
    memory = ConfirmationMemory(loaded.model, [Remembered("c1", TEXTS[1], (Code(top["factor"], top["richting"],
                                                                               top["aard"]),))])
    calls: list[tuple[str, bool]] = []
    batcher = SuggestBatcher(max_texts=8, wait_seconds=0.0)
    batcher.model_lock = threading.Lock()

    def memory_source() -> ConfirmationMemory:
        calls.append((threading.current_thread().name, batcher.model_lock.locked()))
        return memory

    batcher.start()
    try:
        records = batcher.suggest(loaded, segments, 0.0, memory=memory_source)
    finally:
        batcher.stop()
    assert calls == [("suggest-batcher", True)]
    assert records == suggest_segments(loaded, segments, 0.0, memory)  # the memory was blended in
    assert records[1]["memory_state"] == memory.state and records[1]["memory_weight"] > 0


def test_the_api_answers_503_with_retry_after_when_the_queue_is_full(client, loaded):
    services = client.app.state.services
    token = add_user(services.settings.resolved_database_url(), "carla")
    serving = services.registry.batcher
    full = SuggestBatcher(max_texts=8, max_queued_texts=1)  # not started: what is queued stays queued
    waiting = full.submit(services.registry.current, adhoc(TEXTS[:1]))
    services.registry.batcher = full
    try:
        r = client.post("/api/v1/suggest", headers=auth(token), json={"texts": [TEXTS[1]]})
        assert r.status_code == 503
        assert r.headers["retry-after"] == "1"
        assert "suggest_queue_texts" in r.json()["detail"]
        full.start()
        assert waiting.result(timeout=60)[0]["text"] == TEXTS[0]
        ok = client.post("/api/v1/suggest", headers=auth(token), json={"texts": [TEXTS[1]]})
        assert ok.status_code == 200 and ok.json()["results"][0]["text"] == TEXTS[1]
    finally:
        services.registry.batcher = serving
        full.stop()


def test_concurrent_clients_of_a_real_server_each_get_their_own_answer(settings, server_factory):
    token = add_user(settings.resolved_database_url(), "anna")
    server = server_factory(settings).start()
    texts = [f"{TEXTS[i % len(TEXTS)]} Dat gold ook voor project {i}." for i in range(24)]
    with httpx.Client(timeout=120) as c:
        alone = [c.post(f"{server.url}/api/v1/suggest", headers=auth(token), json={"texts": [t]}).json()
                 for t in texts]
    answers: dict[int, dict] = {}

    def client(i: int) -> None:
        with httpx.Client(timeout=120) as c:
            answers[i] = c.post(f"{server.url}/api/v1/suggest", headers=auth(token), json={"texts": [texts[i]]}).json()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [answers[i] for i in range(len(texts))] == alone
