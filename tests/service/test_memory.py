"""The learning loop between retrains: a correction changes the suggestion for a similar segment of
another document at once, and every suggestion names the memory state it was made with."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .conftest import auth

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
