"""Screenshots of the main pages for docs/web.md, taken in headless Chromium against a real service.

    python tests/web/make_screenshots.py [--out docs/screenshots]

Trains a small lexical model in a tmp dir (about a minute), uploads the example transcript, lets
two coders decide, retrains once so the agreement plots have two model versions, and saves PNGs.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.service.conftest import auth  # noqa: E402
from tests.web.browser import chromium_missing, make_driver, new_user, service_settings, start_service, upload  # noqa: E402
from training import paths  # noqa: E402
from training.artifacts import set_active  # noqa: E402
from training.train import TrainConfig, train_version  # noqa: E402

log = logging.getLogger("screenshots")


def small_corpus(base: Path) -> dict[str, Path]:
    """A deterministic sample of the shipped corpus, as tests/conftest.py cuts it."""
    out = {}
    rng = random.Random(7)
    for name, source, per_file in (("train", paths.TRAIN_DIR, 120), ("eval", paths.EVAL_DIR, 40)):
        rows = []
        for path in sorted(source.glob("*.jsonl")):
            lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            rng.shuffle(lines)
            rows.extend(lines[:per_file])
        (base / name).mkdir()
        (base / name / "sample.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
        out[name] = base / name
    return out


def decide_as(url: str, token: str, segments: list[dict], pick) -> None:  # noqa: ANN001 - pick(n, segment) -> body
    for n, s in enumerate(segments):
        body = pick(n, s)
        if body:
            httpx.post(f"{url}/api/v1/decisions", headers=auth(token), json={"segment_id": s["id"], **body},
                       timeout=30).raise_for_status()


def wait_job(url: str, token: str, job_id: int) -> dict:
    for _ in range(600):
        job = httpx.get(f"{url}/api/v1/jobs/{job_id}", headers=auth(token)).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.5)
    raise RuntimeError("the retrain did not finish")


def wait_served(url: str, version: str) -> None:
    """Until the service suggests with ``version``: a fixed pause lost that race on a busy machine,
    and the agreement plot then showed one model version instead of two."""
    for _ in range(240):
        if httpx.get(f"{url}/health", timeout=10).json().get("model_version") == version:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the service did not start serving {version}")


WIDTH, HEIGHT = 1366, 900  # a common laptop screen; the narrow views are 800 px wide


def shoot(driver, path: Path, full_page: bool = False, width: int = WIDTH) -> None:  # noqa: ANN001
    driver.set_window_size(width, HEIGHT)
    if full_page:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, max(HEIGHT, height + 120))  # + the window frame headless still counts
    time.sleep(0.4)  # let the toast and transitions settle
    driver.save_screenshot(str(path))
    driver.set_window_size(WIDTH, HEIGHT)
    log.info("saved %s", path)


def sign_in(driver, url: str, token: str, path: str) -> None:  # noqa: ANN001
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    driver.delete_all_cookies()
    driver.get(f"{url}/aanmelden?next={path}")
    ActionChains(driver).send_keys(token, Keys.ENTER).perform()
    time.sleep(0.8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if reason := chromium_missing():
        raise SystemExit(reason)
    args.out.mkdir(parents=True, exist_ok=True)
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        corpus = small_corpus(base)
        models = base / "trained"
        log.info("training a small lexical model")
        loaded = train_version(models_dir=models, config=TrainConfig.load(paths.PACKAGE_DIR / "configs" / "lexical.yaml"),
                               train_dir=corpus["train"], eval_dir=corpus["eval"], cache_dir=None)
        set_active(models, loaded.version)
        settings = service_settings(base / "svc", models, train_dir=corpus["train"], eval_dir=corpus["eval"],
                                    promotion_tolerance=1.0)
        (base / "svc").mkdir(exist_ok=True)
        tokens = {"ilse": new_user(settings, "ilse", "admin"), "anna": new_user(settings, "anna"),
                  "bram": new_user(settings, "bram")}
        server = start_service(settings, base / "server.log")
        try:
            url = server.url
            text = (ROOT / "examples" / "startinterview_L7.txt").read_text(encoding="utf-8")
            doc = upload(server, tokens["anna"], text, "startinterview_L7.txt", respondent="L7")
            segments = doc["segments"]
            decide_as(url, tokens["bram"], segments, lambda n, s: (
                {"action": "no_code"} if n % 6 == 5 else
                {"action": "correct", "codes": [{"factor": "facilitering", "richting": "-", "aard": "-"}]}
                if n % 6 == 3 else {"action": "accept"}))
            decide_as(url, tokens["anna"], segments[:8], lambda n, s: {"action": "reject"} if n == 2 else {"action": "accept"})
            job = httpx.post(f"{url}/api/v1/models/retrain", headers=auth(tokens["ilse"]), json={}).json()
            log.info("retrain: %s", wait_job(url, tokens["ilse"], job["id"])["message"])
            active = httpx.get(f"{url}/health", timeout=10).json()["active_model_version"]
            assert active != loaded.version, "the retrain did not promote a new version"
            wait_served(url, active)
            httpx.post(f"{url}/api/v1/documents/{doc['id']}/suggestions", headers=auth(tokens["ilse"]),
                       timeout=60).raise_for_status()

            driver = make_driver(base / "profile")
            try:
                driver.get(f"{url}/aanmelden")
                shoot(driver, args.out / "aanmelden.png")
                sign_in(driver, url, tokens["anna"], "/documenten")
                shoot(driver, args.out / "documenten.png")
                driver.get(f"{url}/documenten/{doc['id']}")
                time.sleep(0.5)
                shoot(driver, args.out / "fragment.png")
                shoot(driver, args.out / "fragment-800.png", width=800)
                ActionChains(driver).send_keys("?").perform()
                time.sleep(0.3)
                shoot(driver, args.out / "sneltoetsen.png")
                ActionChains(driver).send_keys(Keys.ESCAPE, "e").perform()
                time.sleep(0.3)
                # A code added from the search has no richting and aard yet: the coder chooses them.
                ActionChains(driver).send_keys(*[Keys.BACKSPACE] * 5, "ervaren ruimte", Keys.ENTER).perform()
                time.sleep(0.3)
                shoot(driver, args.out / "codekiezer.png")
                ActionChains(driver).send_keys(Keys.ESCAPE).perform()
                driver.get(f"{url}/bestaat-niet")
                shoot(driver, args.out / "niet-gevonden.png")
                sign_in(driver, url, tokens["ilse"], "/overeenstemming")
                shoot(driver, args.out / "overeenstemming.png", full_page=True)
            finally:
                driver.quit()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
