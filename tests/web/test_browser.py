"""Real headless Chromium against a real uvicorn: a coder signs in and codes with the keyboard only.

Skipped, with the reason, where /usr/bin/chromium or /usr/bin/chromedriver is missing.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import create_engine, delete

from service.tables import Suggestion
from service.web.routes import catalogue
from tests.service.conftest import auth, suggest_again

from .browser import (ANSWERS, QUESTIONS, chromium_missing, make_driver, new_user, service_settings, start_service,
                      transcript, upload)

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
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # The pages re-render parts of themselves while polling (the job status every second): an element found a
    # moment ago may be gone when its text is read, which only means "look again".
    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(condition)


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


def has_suggestion(driver) -> bool:
    return bool(css(driver, "article.segment:not([hidden]) .suggestions li"))


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

    assert has_suggestion(driver)  # the first answer always gets its best factor
    keys(driver, "a")  # accept; the view moves on by itself
    wait(driver, lambda d: done_count(d) == 1)
    keys(driver, "r")  # reject
    wait(driver, lambda d: done_count(d) == 2)
    keys(driver, "e")  # edit: the code picker opens with the search field focused
    wait(driver, lambda d: by_id(d, "picker").is_displayed())
    assert by_id(driver, "picker-search") == driver.switch_to.active_element
    keys(driver, "sfeer plg", Keys.ENTER)  # search by Dutch label, Enter adds the highlighted code
    wait(driver, lambda d: any(li.get_attribute("data-factor") == "sfeer_plg" for li in css(d, "#picker-chosen li.chosen")))
    ctrl_enter(driver)  # refused: the new code has no aard yet; the focus goes to its aard
    wait(driver, lambda d: by_id(d, "picker-message").is_displayed())
    assert "veilig-constructief (+) of onveilig-destructief (-)" in by_id(driver, "picker-message").text
    keys(driver, Keys.ARROW_DOWN)  # + veilig-constructief
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
    assert {"factor": "sfeer_plg", "richting": "-", "aard": "+"} in stored[3]["codes"]

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
            # No aard is chosen for a new code: the first arrow picks + (voldoende), the second - (onvoldoende).
            keys(driver, Keys.TAB, Keys.ARROW_DOWN, Keys.ARROW_DOWN)
            ctrl_enter(driver)
            plan.append("correct")
        else:
            action = {0: "accept", 1: "no_code", 2: "accept", 3: "reject"}[i % 5]
            if action == "accept" and not has_suggestion(driver):
                action = "no_code"  # nothing to accept: the page refuses an empty accept (tested below)
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


# ---------------------------------------------------------------------------------------------
# What a coder tripped over in Chromium at 1366x900 and 800 px, one test each.

def open_document(driver, service, document_id: int, query: str = "") -> None:
    driver.get(f"{service['server'].url}/documenten/{document_id}{query}")
    wait(driver, lambda d: by_id(d, "position").text != "")


def visible(driver, selector: str):
    return css(driver, f"article.segment:not([hidden]) {selector}")[0]


def uncovered(driver, element) -> bool:
    """The element lies inside the viewport and nothing (the sticky action bar) is drawn over it."""
    return driver.execute_script("""
        const el = arguments[0], r = el.getBoundingClientRect();
        if (r.width === 0 || r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth) return false;
        const hit = document.elementFromPoint(r.left + Math.min(r.width / 2, 40), r.top + r.height / 2);
        return hit !== null && (el === hit || el.contains(hit));""", element)


def test_the_help_lists_every_key_the_page_handles_and_question_mark_in_the_picker_is_text(service, driver):
    from selenium.webdriver.common.keys import Keys

    url, doc = service["server"].url, service["document"]
    sign_in(driver, url, new_user(service["settings"], "carla"), f"/documenten/{doc['id']}")
    keys(driver, "?")
    wait(driver, lambda d: by_id(d, "help").is_displayed())
    names = catalogue()["shortcuts"]["key_names"]
    handled = by_id(driver, "review").get_attribute("data-keys").split(" ")  # what the key handler answers to
    listed = [k.text for k in css(driver, "#help-keys dt kbd")]
    assert sorted(names.get(k, k) for k in handled) == sorted(listed)
    texts = [dd.text for dd in css(driver, "#help-keys dd")]
    assert len(texts) == len(catalogue()["shortcuts"]["bindings"]) and all(texts)
    assert catalogue()["shortcuts"]["bindings"][0]["text"] in texts
    keys(driver, "?")  # the same key closes it
    wait(driver, lambda d: not by_id(d, "help").is_displayed())

    keys(driver, "e")
    wait(driver, lambda d: by_id(d, "picker").is_displayed())
    keys(driver, "?")  # typed in the search field: text, not the help
    assert by_id(driver, "picker-search").get_attribute("value") == "?"
    assert not by_id(driver, "help").is_displayed()
    keys(driver, Keys.ESCAPE)
    wait(driver, lambda d: not by_id(d, "picker").is_displayed())
    assert my_decisions(service, service["admin"], "carla") == {}  # looking around decided nothing


@pytest.mark.parametrize("width", [1366, 800])
def test_the_own_decision_is_visible_and_the_page_fits_from_800_px(service, driver, width):
    url = service["server"].url
    admin = service["admin"]
    # Long answers: the card is taller than the window, as on a real transcript.
    long_answer = " ".join(ANSWERS * 2)[:1800]
    text = "".join(f"I: {QUESTIONS[i]}\nL9: {long_answer}\n" for i in range(3))
    long_doc = upload(service["server"], admin, text, f"lang_{width}.txt")
    driver.set_window_size(width, 900)
    name = f"dirk{width}"
    sign_in(driver, url, new_user(service["settings"], name), f"/documenten/{long_doc['id']}")
    assert driver.execute_script("return document.documentElement.scrollWidth <= innerWidth")  # no sideways scroll
    decision = visible(driver, ".mine .decision")
    assert uncovered(driver, decision) and decision.text == catalogue()["segment"]["undecided"]
    for button in css(driver, ".actions-bar button"):
        assert uncovered(driver, button)
    keys(driver, "n")  # decided: the view moves on; coming back shows the decision in view
    wait(driver, lambda d: by_id(d, "position").text == "2")
    keys(driver, "k")
    wait(driver, lambda d: by_id(d, "position").text == "1")
    decision = visible(driver, ".mine .decision")
    assert decision.text == catalogue()["decision"]["no_code"] and uncovered(driver, decision)
    # Scrolled to the end of a long segment, the whole card ends above the action bar.
    driver.execute_script("window.scrollTo(0, document.documentElement.scrollHeight)")
    assert driver.execute_script("""
        const card = document.querySelector("article.segment:not([hidden])").getBoundingClientRect();
        return card.bottom <= document.querySelector(".actions-bar").getBoundingClientRect().top + 1;""")
    driver.get(f"{url}/documenten")
    assert driver.execute_script("return document.documentElement.scrollWidth <= innerWidth")


def test_accept_without_a_suggestion_is_refused_with_a_message(service, driver):
    url, admin = service["server"].url, service["admin"]
    doc = upload(service["server"], admin, transcript(2), "zonder_voorstel.txt")
    first = doc["segments"][0]["id"]
    # The model had nothing to suggest for the first segment (as its no-code detector often decides).
    engine = create_engine(service["settings"].resolved_database_url())
    with engine.begin() as conn:
        conn.execute(delete(Suggestion).where(Suggestion.segment_id == first))
    engine.dispose()
    sign_in(driver, url, new_user(service["settings"], "eva"), f"/documenten/{doc['id']}")
    assert not has_suggestion(driver)
    keys(driver, "a")
    refused = catalogue()["js"]["nothing_to_accept"]
    wait(driver, lambda d: by_id(d, "toast").get_attribute("textContent") == refused)
    assert by_id(driver, "position").text == "1" and done_count(driver) == 0
    assert my_decisions_of(service, admin, doc["id"], "eva") == {}
    keys(driver, "n")  # what the message suggests works
    wait(driver, lambda d: done_count(d) == 1)
    assert my_decisions_of(service, admin, doc["id"], "eva")[1]["action"] == "no_code"


def my_decisions_of(service, token: str, document_id: int, coder: str) -> dict[int, dict]:
    doc = httpx.get(f"{service['server'].url}/api/v1/documents/{document_id}", headers=auth(token)).json()
    return {s["ordinal"]: d for s in doc["segments"] for d in s["decisions"] if d["coder"] == coder}


def test_a_failed_save_does_not_advance_says_why_and_survives_a_reload(service, driver):
    url, doc = service["server"].url, service["document"]
    token = new_user(service["settings"], "femke")
    sign_in(driver, url, token, f"/documenten/{doc['id']}")
    keys(driver, "n")
    wait(driver, lambda d: done_count(d) == 1 and by_id(d, "position").text == "2")
    # The session ends on the server while the page is open: femke signs out in another tab.
    coding_tab = driver.current_window_handle
    driver.switch_to.new_window("tab")
    driver.get(f"{url}/documenten")
    by_id(driver, "signout").find_element("tag name", "button").click()
    wait(driver, lambda d: "afgemeld=1" in d.current_url)
    driver.close()
    driver.switch_to.window(coding_tab)
    keys(driver, "r")
    wait(driver, lambda d: by_id(d, "save-alert").is_displayed())
    js = catalogue()["js"]
    alert = by_id(driver, "save-alert-text").text
    assert js["not_saved"] in alert and js["reason_401"] in alert and js["kept"] in alert
    assert by_id(driver, "save-alert-signin").is_displayed()
    assert by_id(driver, "position").text == "2" and done_count(driver) == 1  # did not advance, nothing counted
    assert visible(driver, ".mine .unsaved").is_displayed()
    assert catalogue()["decision"]["reject"] in visible(driver, ".mine .unsaved-text").text
    assert set(my_decisions(service, token, "femke")) == {1}

    by_id(driver, "save-alert-signin").click()  # sign in again from the message: back on the same segment
    wait(driver, lambda d: "/aanmelden" in d.current_url)
    keys(driver, token, "\n")
    wait(driver, lambda d: f"/documenten/{doc['id']}" in d.current_url and d.find_elements("id", "position"))
    assert by_id(driver, "position").text == "2"
    assert by_id(driver, "save-alert").is_displayed() and visible(driver, ".mine .unsaved").is_displayed()

    keys(driver, "j", "j")  # wander off, then reload: the position and the unsaved decision come back
    driver.execute_script("history.replaceState(null, '', location.pathname)")  # as if opened from the list
    driver.refresh()
    wait(driver, lambda d: by_id(d, "position").text == "4")
    assert by_id(driver, "save-alert").is_displayed()
    keys(driver, "k", "k")
    wait(driver, lambda d: by_id(d, "position").text == "2")
    assert visible(driver, ".mine .unsaved").is_displayed()
    keys(driver, "s")
    wait(driver, lambda d: done_count(d) == 2)
    assert not by_id(driver, "save-alert").is_displayed()
    assert not visible(driver, ".mine .unsaved").is_displayed()
    assert visible(driver, ".mine .decision").text == catalogue()["decision"]["reject"]
    assert {k: v["action"] for k, v in my_decisions(service, token, "femke").items()} == {1: "no_code", 2: "reject"}


def test_the_picker_asks_for_richting_and_aard_with_the_pole_labels(service, driver):
    from selenium.webdriver.common.keys import Keys

    url, doc = service["server"].url, service["document"]
    token = new_user(service["settings"], "gijs")
    sign_in(driver, url, token, f"/documenten/{doc['id']}")
    keys(driver, "e")
    wait(driver, lambda d: by_id(d, "picker").is_displayed())
    while css(driver, "#picker-chosen li.chosen"):  # start empty: take the suggested codes off
        n = len(css(driver, "#picker-chosen li.chosen"))
        keys(driver, Keys.BACKSPACE)
        wait(driver, lambda d, n=n: len(css(d, "#picker-chosen li.chosen")) == n - 1)
    keys(driver, "ervaren ruimte", Keys.ENTER)  # a factor with both richtingen
    wait(driver, lambda d: len(css(d, "#picker-chosen li.chosen")) == 1)
    selects = css(driver, "#picker-chosen li.chosen select")
    assert [s.get_attribute("value") for s in selects] == ["", ""]  # nothing chosen for the coder
    assert "veel (+) of weinig (-)" in selects[1].text  # the pole labels, before any choice
    ctrl_enter(driver)
    wait(driver, lambda d: by_id(d, "picker-message").is_displayed())
    message = by_id(driver, "picker-message").text
    assert "Ervaren ruimte" in message and "PO of SO" in message
    assert driver.switch_to.active_element == selects[0]
    keys(driver, Keys.ARROW_DOWN, Keys.ARROW_DOWN)  # SO
    ctrl_enter(driver)
    wait(driver, lambda d: "veel (+) of weinig (-)" in by_id(d, "picker-message").text)
    assert driver.switch_to.active_element == selects[1]
    assert my_decisions(service, token, "gijs") == {}  # nothing saved while a choice is missing
    keys(driver, Keys.ARROW_DOWN, Keys.ARROW_DOWN)  # - weinig
    ctrl_enter(driver)
    wait(driver, lambda d: done_count(d) == 1)
    assert my_decisions(service, token, "gijs")[1]["codes"] == [{"factor": "ervaren_ruimte", "richting": "SO", "aard": "-"}]


def test_an_unknown_address_shows_a_dutch_page(service, driver):
    url = service["server"].url
    sign_in(driver, url, new_user(service["settings"], "hanna"))
    driver.get(f"{url}/documenten/1/bestaat-niet")
    errors = catalogue()["errors"]
    assert driver.find_element("tag name", "h1").text == errors["page_not_found_title"]
    assert errors["page_not_found"] in by_id(driver, "error-page").text
    assert driver.find_element("tag name", "html").get_attribute("lang") == "nl"
    assert "{" not in driver.page_source.split("<body", 1)[1][:200]  # a page, not JSON
    css(driver, "#error-page a")[0].click()
    wait(driver, lambda d: d.current_url.endswith("/documenten"))


def test_the_pages_run_under_the_content_security_policy_and_the_browser_holds_no_token(service, driver):
    """Every page works with no CSP violation (no inline script, handler or style was left), the
    session cookie is out of the scripts' reach, and the API token is nowhere in the browser."""
    url, doc = service["server"].url, service["document"]
    # Record every violation from the first byte of each page, before the page's own scripts run.
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": """
        window.__violations = [];
        document.addEventListener("securitypolicyviolation",
            (e) => window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline")));"""})
    token = new_user(service["settings"], "ines", "admin")
    driver.get(f"{url}/aanmelden")
    assert driver.execute_script("return window.__violations") == []
    sign_in(driver, url, token, "/overeenstemming")
    for path in ("/overeenstemming", "/documenten", f"/documenten/{doc['id']}", "/bestaat-niet"):
        driver.get(url + path)
        wait(driver, lambda d: d.execute_script("return document.readyState") == "complete")
        assert driver.execute_script("return window.__violations") == [], path
        assert token not in driver.page_source
        stored = driver.execute_script("return JSON.stringify(sessionStorage) + JSON.stringify(localStorage)")
        assert token not in stored and "codeerhulp_session" not in driver.execute_script("return document.cookie")
    session = driver.get_cookie("codeerhulp_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["value"] != token
    # The review page's scripts work under the policy: a decision is saved with the CSRF header.
    driver.get(f"{url}/documenten/{doc['id']}")
    wait(driver, lambda d: by_id(d, "position").text != "")
    keys(driver, "n")
    wait(driver, lambda d: done_count(d) >= 1)
    assert driver.execute_script("return window.__violations") == []
    assert [d["action"] for d in my_decisions(service, token, "ines").values()] == ["no_code"]


def test_accept_stores_the_suggestions_the_page_showed(service, driver):
    """The document is suggested again while the coder has it open: accept stores what she saw."""
    url, settings = service["server"].url, service["settings"]
    document = upload(service["server"], service["admin"], transcript(3), name="startinterview_L10.txt",
                      respondent="L10")
    token = new_user(settings, "joost")
    sign_in(driver, url, token, f"/documenten/{document['id']}")
    wait(driver, lambda d: by_id(d, "position").text == "1")
    shown = sorted((li.get_attribute("data-factor"), li.get_attribute("data-richting"), li.get_attribute("data-aard"))
                   for li in css(driver, "article.segment:not([hidden]) .suggestions li"))
    newer = {"factor": "facilitering", "richting": "-", "aard": "-"}
    assert shown != [tuple(newer.values())]
    assert suggest_again(settings, document, newer, "20990101-000000-newer") == 2  # behind the page's back

    keys(driver, "a")
    wait(driver, lambda d: done_count(d) == 1)
    stored = httpx.get(f"{url}/api/v1/segments/{document['segments'][0]['id']}/decisions", headers=auth(token)).json()
    assert len(stored) == 1 and stored[0]["action"] == "accept" and stored[0]["suggestion_run"] == 1
    assert sorted((c["factor"], c["richting"], c["aard"]) for c in stored[0]["codes"]) == shown


def test_an_admin_opens_and_closes_a_discussion_with_the_button_on_the_documents_page(service, driver):
    """Blind coding: the button calls the API from app.js (no inline script under the CSP) and the
    page shows the new state after its reload; a coder's answer follows it."""
    url, admin = service["server"].url, service["admin"]
    document = upload(service["server"], admin, transcript(3), name="logboek1_L9.txt")
    coder = new_user(service["settings"], "kees")
    httpx.post(f"{url}/api/v1/decisions", headers=auth(admin),
               json={"segment_id": document["segments"][0]["id"], "action": "no_code"}).raise_for_status()

    def coder_sees_admin() -> bool:
        read = httpx.get(f"{url}/api/v1/documents/{document['id']}", headers=auth(coder)).json()
        return any(d["coder"] == "ilse" for s in read["segments"] for d in s["decisions"])

    assert not coder_sees_admin()
    sign_in(driver, url, admin, "/documenten")
    toggle = f'tr[data-document="{document["id"]}"] button.discussion-toggle'

    def shown_open(d) -> str | None:  # noqa: ANN001 - the page reloads after a click: look again each time
        from selenium.common.exceptions import WebDriverException

        # One script reads the button and its state together, so no element handle can outlive the reload;
        # a read that lands in the middle of the reload ("node does not belong to the document") is no answer yet.
        try:
            return d.execute_script(
                "const b = document.querySelector(arguments[0]); return b ? b.getAttribute('data-open') : null;",
                toggle)
        except WebDriverException:
            return None

    assert shown_open(driver) == "0"
    css(driver, toggle)[0].click()
    wait(driver, lambda d: d.switch_to.alert).accept()  # "Dit document openzetten voor bespreking? ..."
    wait(driver, lambda d: shown_open(d) == "1")
    assert css(driver, f'tr[data-document="{document["id"]}"] td.discussion .open')
    assert coder_sees_admin()
    css(driver, toggle)[0].click()
    wait(driver, lambda d: d.switch_to.alert).accept()
    wait(driver, lambda d: shown_open(d) == "0")
    assert not coder_sees_admin()


def test_a_research_lead_follows_a_retrain_and_reads_the_gate_in_dutch(service, driver):
    """Last in this module: the retrain may change the model the service serves."""
    from selenium.webdriver.common.by import By

    url, admin = service["server"].url, service["admin"]
    t = catalogue()["admin"]
    sign_in(driver, url, admin, "/overeenstemming")
    retrain = by_id(driver, "retrain")
    assert retrain.is_enabled() and not by_id(driver, "cancel-job").is_displayed()
    retrain.click()
    wait(driver, lambda d: d.switch_to.alert).accept()  # "Het model opnieuw trainen ...?"

    # While it runs: the button is off, the phase is named in Dutch, a progress bar and the time so far.
    phases, shown = set(t["phases"].values()), []
    def running_view(d):
        state = css(d, "#job-status .job-state.running")
        names = css(d, "#job-status .phase-name")
        if state and names and names[0].text in phases:
            shown.append((names[0].text, css(d, "#job-status progress")[0].get_attribute("value"),
                          css(d, "#job-status .elapsed")[0].text, by_id(d, "retrain").is_enabled(),
                          by_id(d, "cancel-job").is_displayed()))
            return True
        return False

    wait(driver, running_view, timeout=120)
    phase, value, elapsed, enabled, cancel_shown = shown[0]
    assert not enabled and cancel_shown
    assert 0 <= int(value) < 100 and elapsed.endswith(f" {t['seconds']}")
    # The time runs and the page follows the job by itself.
    wait(driver, lambda d: css(d, "#job-status .elapsed") and css(d, "#job-status .elapsed")[0].text != elapsed
         or css(d, "#gate-result"), timeout=30)

    # Then the gate's result: one labelled metric per model, the held-out size, a verdict; in Dutch only.
    wait(driver, lambda d: css(d, "#gate-result"), timeout=600)
    job = httpx.get(f"{url}/api/v1/jobs/{by_id(driver, 'job-status').get_attribute('data-job')}",
                    headers=auth(admin)).json()
    assert job["status"] == "succeeded"
    gate = job["result"]["gate"]
    row = css(driver, f'#gate-result tr[data-metric="{gate["metric"]}"]')[0]
    assert row.find_element(By.CSS_SELECTOR, "td").text == t["gate_metric"]
    assert row.find_element(By.CSS_SELECTOR, ".gate-new").text == f"{gate['new_value']:.3f}".replace(".", ",")
    assert row.find_element(By.CSS_SELECTOR, ".gate-active").text == f"{gate['active_value']:.3f}".replace(".", ",")
    headers = [th.text for th in css(driver, "#gate-result th")]
    assert headers[1].startswith(t["model_new"]) and headers[2].startswith(t["model_active"])
    assert css(driver, "#job-status .gate-n")[0].text.startswith(f"{gate['n']} ({gate['n_confirmed']} ")
    verdict = css(driver, "#job-status .verdict")[0].text
    assert verdict == (t["promoted_yes"] if job["result"]["promoted"] else t["promoted_no"])
    text = by_id(driver, "job-status").text
    assert job["message"] in text
    for english in ("promoted", "macro_f1", "worse", "kept", "failed", "running", "not "):
        assert english not in text, (english, text)
    assert by_id(driver, "retrain").is_enabled() and not by_id(driver, "cancel-job").is_displayed()
    # After the page reloads itself, the result is still there, from the server.
    driver.refresh()
    wait(driver, lambda d: css(d, "#gate-result"))
    assert by_id(driver, "retrain").is_enabled()
