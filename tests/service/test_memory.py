"""The learning loop between retrains: a correction changes the suggestion for a similar segment of
another document at once, and every suggestion names the memory state it was made with."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .conftest import auth, run_cli
from .test_api import wait_for_job, wait_for_model

TURN = ("Onze teamleider heeft de vrijdagmiddag vrijgeroosterd zodat wij met de sectie samen "
        "toetsen konden nakijken en bespreken.")
# The same turn as another teacher would say it, in a later interview.
SIMILAR = ("Onze teamleider heeft de vrijdagmiddag vrijgeroosterd zodat wij met de sectie samen "
           "toetsen konden bespreken en nakijken.")
UNRELATED = "Mijn dochter is net begonnen op de middelbare school en dat is wennen."


def document(*turns: str) -> bytes:
    lines = []
    for turn in turns:
        lines += ["I: Kun je daar iets meer over vertellen?", f"L3: {turn}"]
    return ("\n".join(lines) + "\n").encode()


def ranking(client: TestClient, token: str, text: str) -> dict:
    body = {"texts": [text], "min_confidence": 0}
    return client.post("/api/v1/suggest", headers=auth(token), json=body).json()["results"][0]


def test_a_correction_reaches_a_similar_segment_at_once(client: TestClient, users):
    anna, bram = users["anna"], users["bram"]
    before = ranking(client, anna, SIMILAR)
    assert before["memory_state"] is None  # nothing confirmed yet
    factors = [c["factor"] for c in before["codes"]]
    target = factors[6]  # a factor the model itself ranks far from the top for this turn
    assert target not in factors[:3]

    first = client.post("/api/v1/documents", headers=auth(anna), files={"file": ("a.txt", document(TURN))},
                        data={"respondent": "L3", "moment": "start"}).json()
    segment = first["segments"][0]
    codebook = client.get("/api/v1/codebook", headers=auth(anna)).json()
    factor = next(f for f in codebook["factors"] if f["id"] == target)
    richting = factor["richting"][0] if factor.get("richting") else "-"
    answer = client.post("/api/v1/decisions", headers=auth(anna), json={
        "segment_id": segment["id"], "action": "correct",
        "codes": [{"factor": target, "richting": richting, "aard": "-"}]})
    assert answer.status_code == 201, answer.text

    after = ranking(client, bram, SIMILAR)
    assert [c["factor"] for c in after["codes"]][:3].count(target) == 1
    assert after["memory_state"] and after["memory_state"].startswith("1:")
    assert after["memory_weight"] > 0
    moved = next(c for c in after["codes"] if c["factor"] == target)
    assert moved["aard"] == "-"  # the pole the coder gave travels with the factor

    unrelated = ranking(client, bram, UNRELATED)
    assert unrelated["memory_weight"] == 0
    assert [c["factor"] for c in unrelated["codes"]][:3] == \
        [c["factor"] for c in ranking(client, bram, UNRELATED)["codes"]][:3]

    # A later document is suggested with the memory, and its stored suggestions say so.
    second = client.post("/api/v1/documents", headers=auth(bram), files={"file": ("b.txt", document(SIMILAR))},
                         data={"respondent": "L4", "moment": "start"}).json()
    stored = second["segments"][0]
    assert stored["suggestion_memory_state"] == after["memory_state"]

    # Undone decisions leave the memory: a reject is no label, so the memory is empty again.
    client.post("/api/v1/decisions", headers=auth(anna), json={"segment_id": segment["id"], "action": "reject"})
    assert ranking(client, bram, SIMILAR)["memory_state"] is None


def test_after_a_retrain_and_promotion_the_new_version_carries_the_correction(client: TestClient, users,
                                                                                job_worker):
    """The second half of the loop: the admin retrains as a lead would (the retrain job, run by the
    job worker), the gate promotes, and suggestions then come from the new version.

    What "carries it" means here: the new model is trained on the corpus plus this one confirmed
    segment, and one example among thousands does not move a factor the model ranked seventh into its
    own top 3 (a guess, not a promise, so it is not asserted). What must hold is that the correction is
    not lost with the version change: the similar turn is now suggested by the new version, with the
    memory blended on top of it, and still has the coder's factor in its top 3; a new document's stored
    suggestions name the new version and the memory state.
    """
    anna, bram, admin = users["anna"], users["bram"], users["admin"]
    old_version = client.get("/health").json()["model_version"]
    factors = [c["factor"] for c in ranking(client, anna, SIMILAR)["codes"]]
    target = factors[6]

    first = client.post("/api/v1/documents", headers=auth(anna), files={"file": ("a.txt", document(TURN))},
                        data={"respondent": "L3", "moment": "start"}).json()
    codebook = client.get("/api/v1/codebook", headers=auth(anna)).json()
    factor = next(f for f in codebook["factors"] if f["id"] == target)
    richting = factor["richting"][0] if factor.get("richting") else "-"
    answer = client.post("/api/v1/decisions", headers=auth(anna), json={
        "segment_id": first["segments"][0]["id"], "action": "correct",
        "codes": [{"factor": target, "richting": richting, "aard": "-"}]})
    assert answer.status_code == 201, answer.text
    before = ranking(client, bram, SIMILAR)
    assert before["model_version"] == old_version and target in [c["factor"] for c in before["codes"]][:3]

    started = client.post("/api/v1/models/retrain", headers=auth(admin), json={"resolution": "latest"})
    assert started.status_code == 202, started.text
    job = wait_for_job(client, admin, started.json()["id"])
    assert job["status"] == "succeeded", job
    result = job["result"]
    # One confirmation is trained on, none held out (a 20 % share of one rounds to none), so the
    # gate compares on the synthetic held-out split, where one example more does not make the model
    # worse: the shipped gate (tolerance 0) promotes, as it would for a lead.
    assert result["n_confirmed_train"] == 1 and result["n_confirmed_held_out"] == 0
    assert result["promoted"] is True, job["message"]
    new_version = result["version"]
    assert new_version != old_version
    wait_for_model(client, new_version)

    after = ranking(client, bram, SIMILAR)
    assert after["model_version"] == new_version != before["model_version"]
    assert target in [c["factor"] for c in after["codes"]][:3]
    assert after["memory_state"] == before["memory_state"]  # the same one confirmation, on the new model
    assert after["memory_weight"] > 0

    second = client.post("/api/v1/documents", headers=auth(bram), files={"file": ("b.txt", document(SIMILAR))},
                         data={"respondent": "L4", "moment": "start"}).json()
    stored = second["segments"][0]
    assert stored["suggestion_model_version"] == new_version
    assert stored["suggestion_memory_state"] == after["memory_state"]
    assert target in [c["factor"] for c in stored["suggestions"]][:3]


def decide(client: TestClient, token: str, segment_id: int, factor_id: str) -> dict:
    codebook = client.get("/api/v1/codebook", headers=auth(token)).json()
    factor = next(f for f in codebook["factors"] if f["id"] == factor_id)
    richting = factor["richting"][0] if factor.get("richting") else "-"
    answer = client.post("/api/v1/decisions", headers=auth(token), json={
        "segment_id": segment_id, "action": "correct", "codes": [{"factor": factor_id, "richting": richting,
                                                                   "aard": "-"}]})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_forgetting_a_coder_withdraws_their_decisions_and_keeps_the_history(client: TestClient, users, settings,
                                                                            monkeypatch, capsys):
    """``codeerhulp users forget NAAM``: the coder's correction leaves the memory and agreement at once,
    another coder's decision stays, the withdrawn versions stay readable, and the coder can decide again."""
    anna, bram, admin = users["anna"], users["bram"], users["admin"]
    target = [c["factor"] for c in ranking(client, anna, SIMILAR)["codes"]][6]
    first = client.post("/api/v1/documents", headers=auth(anna), files={"file": ("a.txt", document(TURN, UNRELATED))},
                        data={"respondent": "L3", "moment": "start"}).json()
    turn, unrelated = first["segments"][0]["id"], first["segments"][1]["id"]
    decide(client, anna, turn, target)
    bram_factor = [c["factor"] for c in ranking(client, bram, UNRELATED)["codes"]][4]
    bram_decision = decide(client, bram, unrelated, bram_factor)
    with_both = ranking(client, bram, SIMILAR)
    assert with_both["memory_state"].startswith("2:") and target in [c["factor"] for c in with_both["codes"]][:3]
    agreement = client.get("/api/v1/agreement", headers=auth(admin)).json()
    assert agreement["requested_coders"] == ["anna", "bram"]

    code, out, err = run_cli(settings, monkeypatch, capsys, "users", "forget", "anna", "--reason", "proefcodering")
    assert code == 0, err
    assert out.startswith("1 besluit van 'anna' ingetrokken, op 1 document.")

    # Anna's correction no longer reaches the similar turn; Bram's confirmation is still remembered.
    without_anna = ranking(client, bram, SIMILAR)
    assert without_anna["memory_state"].startswith("1:") and without_anna["memory_weight"] == 0
    assert target not in [c["factor"] for c in without_anna["codes"]][:3]
    brams = client.get(f"/api/v1/segments/{unrelated}/decisions", headers=auth(bram)).json()
    assert [(d["coder"], d["version"], d["is_current"], d["codes"]) for d in brams] == \
        [("bram", 1, True, bram_decision["codes"])]
    # Only Bram is left to compare: agreement has no second coder.
    assert client.get("/api/v1/agreement", headers=auth(admin)).status_code == 422

    # Nothing was deleted: the correction is retired, and a withdrawal after it says who and why.
    assert client.get(f"/api/v1/segments/{turn}/decisions", headers=auth(anna)).json() == []
    history = client.get(f"/api/v1/segments/{turn}/decisions", headers=auth(anna), params={"history": True}).json()
    assert [(d["action"], d["version"], d["is_current"]) for d in history] == \
        [("correct", 1, False), ("withdrawn", 2, False)]
    assert "users forget" in history[1]["note"] and history[1]["note"].endswith(": proefcodering")

    # Once there is nothing left, the memory is empty; forgetting again withdraws nothing.
    assert run_cli(settings, monkeypatch, capsys, "users", "forget", "bram")[0] == 0
    assert ranking(client, bram, SIMILAR)["memory_state"] is None
    code, out, _ = run_cli(settings, monkeypatch, capsys, "users", "forget", "anna")
    assert code == 0 and "niets ingetrokken" in out

    # A forgotten coder codes on: the next decision is the next version, and it counts again.
    again = decide(client, anna, turn, target)
    assert again["version"] == 3 and again["is_current"]
    assert ranking(client, bram, SIMILAR)["memory_state"].startswith("1:")

    code, out, err = run_cli(settings, monkeypatch, capsys, "users", "forget", "niemand")
    assert code != 0 and out == ""
    assert "er is geen gebruiker 'niemand'" in err and "codeerhulp users list" in err


def test_forgetting_is_all_or_nothing(client: TestClient, users, settings, monkeypatch, capsys):
    """A withdrawal that cannot be written (here: an action the database refuses) leaves every
    decision current: retiring them and recording the withdrawals are one transaction."""
    from service import repository

    anna = users["anna"]
    first = client.post("/api/v1/documents", headers=auth(anna), files={"file": ("a.txt", document(TURN, UNRELATED))},
                        data={"respondent": "L3", "moment": "start"}).json()
    factor = [c["factor"] for c in ranking(client, anna, TURN)["codes"]][0]
    for segment in first["segments"]:
        decide(client, anna, segment["id"], factor)
    monkeypatch.setattr(repository, "WITHDRAWN", "vergeten")  # not an action ck_decisions_action allows
    code, _, err = run_cli(settings, monkeypatch, capsys, "users", "forget", "anna")
    assert code != 0 and "de database weigerde de wijziging" in err and "er is niets veranderd" in err
    for segment in first["segments"]:
        current = client.get(f"/api/v1/segments/{segment['id']}/decisions", headers=auth(anna)).json()
        assert [(d["version"], d["is_current"]) for d in current] == [(1, True)]
    assert ranking(client, anna, SIMILAR)["memory_state"].startswith("2:")
