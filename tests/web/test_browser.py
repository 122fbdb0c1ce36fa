"""Real headless Chromium against a real uvicorn: a coder signs in and codes with the keyboard only.

Skipped, with the reason, where /usr/bin/chromium or /usr/bin/chromedriver is missing.
"""

from __future__ import annotations

import httpx
import pytest

from service.web.routes import catalogue
from tests.service.conftest import auth

from .browser import chromium_missing, make_driver, new_user, service_settings, start_service, transcript, upload

pytestmark = [pytest.mark.browser, pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing()))]

N_SEGMENTS = 20


@pytest.fixture(scope="module")
def service(tmp_path_factory, trained_models_dir, small_corpus, small_transcripts):
    """One service for the module: a tmp SQLite database, an admin and a 20-segment transcript."""
    base = tmp_path_factory.mktemp("web")
    settings = service_settings(base, trained_models_dir, train_dir=small_corpus["train"], eval_dir=small_corpus["eval"],
                                transcripts_dir=small_transcripts)
    admin = new_user(settings, "ilse", "admin")
    server = start_service(settings, base / "server.log")
    try:
        document = upload(server, admin, transcript(N_SEGMENTS))
        assert document["n_segments"] == N_SEGMENTS
        yield {"server": server, "settings": settings, "document": document, "admin": admin}
    finally:
        server.stop()


@pytest.fixture
def driver(tmp_path):
    d = make_driver(tmp_path / "profile")  # a fresh profile: no stored token, no remembered toggles
    d.implicitly_wait(0)
    yield d
    d.quit()


def keys(driver, *sequence) -> None:
    """Type as a person would: to whatever has the focus, nothing clicked."""
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(*sequence).perform()


def ctrl_enter(driver) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(driver).key_down(Keys.CONTROL).send_keys(Keys.ENTER).key_up(Keys.CONTROL).perform()


def wait(driver, condition, timeout: float = 15):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def by_id(driver, element_id: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def done_count(driver) -> int:
    return int(by_id(driver, "done-count").text)


def sign_in(driver, base_url: str, token: str, path: str = "/documenten") -> None:
    from selenium.webdriver.common.keys import Keys

    driver.get(base_url + path)
    wait(driver, lambda d: "/aanmelden" in d.current_url)
    assert by_id(driver, "token") == driver.switch_to.active_element  # the token field has the focus
    keys(driver, token, Keys.ENTER)
    # The segment view adds ?segment=.. to its URL, so compare the path and the asked query only.
    wait(driver, lambda d: d.current_url.startswith(base_url + path))


def my_decisions(service, token: str, coder: str) -> dict[int, dict]:
    doc = httpx.get(f"{service['server'].url}/api/v1/documents/{service['document']['id']}", headers=auth(token)).json()
    return {s["ordinal"]: d for s in doc["segments"] for d in s["decisions"] if d["coder"] == coder}


def agreement_row(driver, pair: str):
    rows = css(driver, f'#kappa-pairs tr[data-pair="{pair}"]')
    return rows[0] if rows else None


def test_code_three_segments_with_the_keyboard_reload_and_see_agreement(service, driver):
    from selenium.webdriver.common.keys import Keys

    url, doc = service["server"].url, service["document"]
    token = new_user(service["settings"], "anna")
    sign_in(driver, url, token)
    row = css(driver, f'tr[data-document="{doc["id"]}"] .count')[0]
    assert row.text == f"0/{N_SEGMENTS}"

    driver.get(f"{url}/overeenstemming")
    assert agreement_row(driver, "anna|model") is None  # anna has decided nothing yet

    driver.get(f"{url}/documenten/{doc['id']}")
    wait(driver, lambda d: by_id(d, "position").text == "1")
    first_text = css(driver, "article.segment:not([hidden]) .line")[0].text
    assert first_text.startswith("Nou, ik heb me eigenlijk zelf aangemeld")
    assert "bij de PLG" in css(driver, "article.segment:not([hidden]) .question p")[0].text

    keys(driver, "a")  # accept; the view moves on by itself
    wait(driver, lambda d: done_count(d) == 1)
    keys(driver, "r")  # reject
    wait(driver, lambda d: done_count(d) == 2)
    keys(driver, "e")  # edit: the code picker opens with the search field focused
    wait(driver, lambda d: by_id(d, "picker").is_displayed())
    assert by_id(driver, "picker-search") == driver.switch_to.active_element
    keys(driver, "sfeer plg", Keys.ENTER)  # search by Dutch label, Enter adds the highlighted code
    wait(driver, lambda d: any(li.get_attribute("data-factor") == "sfeer_plg" for li in css(d, "#picker-chosen li.chosen")))
    ctrl_enter(driver)
    wait(driver, lambda d: done_count(d) == 3)
    assert by_id(driver, "position").text == "4"

    driver.refresh()  # decisions come back from the server
    wait(driver, lambda d: done_count(d) == 3)
    assert by_id(driver, "position").text == "4"  # the URL named the segment the coder was on
    keys(driver, "k", Keys.ARROW_LEFT, "k")
    wait(driver, lambda d: by_id(d, "position").text == "1")
    shown = [a.get_attribute("textContent").strip() for a in css(driver, "article.segment .mine .decision")[:3]]
    assert shown[0].startswith("geaccepteerd") and shown[1] == "afgewezen" and shown[2].startswith("aangepast")
    assert "Sfeer" in shown[2] or "sfeer" in shown[2]

    stored = my_decisions(service, token, "anna")
    assert {k: v["action"] for k, v in stored.items()} == {1: "accept", 2: "reject", 3: "correct"}
    assert any(c["factor"] == "sfeer_plg" for c in stored[3]["codes"])

    driver.get(f"{url}/overeenstemming")
    row = agreement_row(driver, "anna|model")
    assert row is not None  # the page changed: anna now agrees or not with the model, on n segments
    # The rejection is no value, so anna and the model share two segments.
    assert row.find_element("css selector", ".n-units").text == "2"
    assert css(driver, "#over-versions svg.plot")

    driver.get(f"{url}/documenten")
    assert css(driver, f'tr[data-document="{doc["id"]}"] .count')[0].text == f"3/{N_SEGMENTS}"


def test_a_new_coder_codes_all_twenty_segments_with_the_keyboard_only(service, driver):
    from selenium.webdriver.common.keys import Keys

    url, doc = service["server"].url, service["document"]
    token = new_user(service["settings"], "bram")
    sign_in(driver, url, token, f"/documenten/{doc['id']}?volgorde=zekerheid")  # most uncertain first
    wait(driver, lambda d: by_id(d, "position").text == "1")

    keys(driver, "?")  # the help lists the keys
    wait(driver, lambda d: by_id(d, "help").is_displayed())
    keys(driver, Keys.ESCAPE)
    wait(driver, lambda d: not by_id(d, "help").is_displayed())

    keys(driver, "c")  # hide confidences; remembered over a reload
    assert "hide-conf" in driver.find_element("tag name", "html").get_attribute("class")

    plan = []
    for i in range(N_SEGMENTS):
        if i == 5:  # look back and forth first: navigation does not decide anything
            keys(driver, "k", "j", Keys.ARROW_LEFT, Keys.ARROW_RIGHT)
            wait(driver, lambda d: by_id(d, "position").text == "6")
        if i % 5 == 4:  # correct: one code picked by label, its aard set with Tab and the arrow keys
            keys(driver, "e")
            wait(driver, lambda d: by_id(d, "picker").is_displayed())
            # Take the suggested codes off: Backspace in the empty search field, then Tab to a remove button.
            if css(driver, "#picker-chosen li.chosen"):
                n = len(css(driver, "#picker-chosen li.chosen"))
                keys(driver, Keys.BACKSPACE)
                wait(driver, lambda d, n=n: len(css(d, "#picker-chosen li.chosen")) == n - 1)
            while css(driver, "#picker-chosen li.chosen"):
                n = len(css(driver, "#picker-chosen li.chosen"))
                stops = len(css(driver, "#picker-chosen li.chosen")[0].find_elements("css selector", "select")) + 1
                keys(driver, *([Keys.TAB] * stops), Keys.ENTER)
                wait(driver, lambda d, n=n: len(css(d, "#picker-chosen li.chosen")) == n - 1)
            keys(driver, "facilitering", Keys.ENTER)
            wait(driver, lambda d: len(css(d, "#picker-chosen li.chosen")) == 1)
            keys(driver, Keys.TAB, Keys.ARROW_DOWN)  # aard: + (voldoende) -> - (onvoldoende)
            ctrl_enter(driver)
            plan.append("correct")
        else:
            action = {0: "accept", 1: "no_code", 2: "accept", 3: "reject"}[i % 5]
            keys(driver, {"accept": "a", "no_code": "n", "reject": "r"}[action])
            plan.append(action)
        wait(driver, lambda d, i=i: done_count(d) == i + 1)

    wait(driver, lambda d: by_id(d, "toast").get_attribute("textContent") == catalogue()["js"]["all_done"])
    stored = my_decisions(service, token, "bram")
    assert len(stored) == N_SEGMENTS
    assert sorted(d["action"] for d in stored.values()) == sorted(plan)
    corrected = [d for d in stored.values() if d["action"] == "correct"]
    assert len(corrected) == 4 and all(d["codes"] == [{"factor": "facilitering", "richting": "-", "aard": "-"}]
                                       for d in corrected)

    driver.refresh()
    wait(driver, lambda d: done_count(d) == N_SEGMENTS)
    assert "hide-conf" in driver.find_element("tag name", "html").get_attribute("class")
    assert not any(c.is_displayed() for c in css(driver, "article.segment:not([hidden]) .conf"))
