"""A retrain with enough confirmed segments held out for the gate carries the active version's calibration
(the heads are fitted once each: about half a retrain's time) and says so in its result and manifest."""

from __future__ import annotations

import random

from fastapi.testclient import TestClient

from training import paths
from training.transcripts import load_transcripts

from .conftest import auth
from .test_api import wait_for_job

N_TURNS = 60  # 20 % held out for the gate: 12, above the 10 from which it compares on them alone


def coded_turns(codebook_ids: set[str]) -> list:
    """Coded segments of the shipped transcript split, with a code the codebook knows."""
    split = [t.example for t in load_transcripts(paths.TRANSCRIPTS_DIR)]
    coded = [e for e in split if e.codes and all(c.factor in codebook_ids for c in e.codes) and "\n" not in e.text]
    return random.Random(5).sample(coded, N_TURNS)


def test_a_retrain_on_enough_confirmed_segments_carries_the_calibration(client: TestClient, users, job_worker):
    anna, admin = users["anna"], users["admin"]
    old_version = client.get("/health").json()["model_version"]
    codebook = client.get("/api/v1/codebook", headers=auth(anna)).json()
    turns = coded_turns({f["id"] for f in codebook["factors"]})
    text = "".join(f"I: Kun je daar iets over vertellen?\nL5: {e.text}\n" for e in turns)
    document = client.post("/api/v1/documents", headers=auth(anna), files={"file": ("c.txt", text.encode())},
                           data={"respondent": "L5", "moment": "start"}).json()
    segments = [s for s in document["segments"] if s["speaker"] != "I"]
    assert len(segments) == N_TURNS
    for segment, example in zip(segments, turns):
        codes = [{"factor": c.factor, "richting": c.richting, "aard": c.aard} for c in example.codes]
        answer = client.post("/api/v1/decisions", headers=auth(anna),
                             json={"segment_id": segment["id"], "action": "correct", "codes": codes})
        assert answer.status_code == 201, answer.text

    started = client.post("/api/v1/models/retrain", headers=auth(admin), json={"resolution": "latest"})
    job = wait_for_job(client, admin, started.json()["id"])
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["n_confirmed_held_out"] >= 10
    assert result["calibration"]["carried_from"] == old_version
    assert result["gate"]["decided_on"] == "paired"
    models = {m["version"]: m for m in client.get("/api/v1/models", headers=auth(anna)).json()}
    assert result["version"] in models
