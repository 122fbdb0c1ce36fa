"""What the browser tests and the screenshot script share: headless Chromium, a running service
with a document to code, and a 20-segment Dutch transcript."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from service.settings import Settings
from tests.service.conftest import Server, add_user, auth
from training import paths

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

QUESTIONS = [
    "Kun je vertellen hoe je bij de PLG bent gekomen?",
    "Hoe ervaar je de ruimte om je eigen lessen anders in te richten?",
    "Wat doe je met die ruimte in de sectie?",
    "Hoe is de sfeer in de PLG?",
    "Wat vind je van de rol van de begeleider?",
    "Krijg je uren of andere faciliteiten?",
    "Wat heeft het je tot nu toe opgeleverd?",
    "Merk je iets van de schoolleiding?",
    "Hoe gaat het samen leren in de PLG?",
    "Wat zou je anders willen?",
]
ANSWERS = [
    "Nou, ik heb me eigenlijk zelf aangemeld, niemand heeft me gevraagd. Het kwam echt uit mezelf.",
    "In mijn eigen lessen kan ik doen wat ik wil, zeg maar, daar word ik niet op gecontroleerd.",
    "In de sectie heb ik voorgesteld om samen de toetsen te herzien, en dat doen we nu ook.",
    "Het is een veilige groep, je kunt alles zeggen en er wordt echt naar je geluisterd.",
    "De begeleider houdt het goed bij elkaar, ze stelt steeds de goede vragen.",
    "Ik krijg twintig taakuren, maar die dekken eigenlijk alleen de bijeenkomsten zelf.",
    "Ik kijk nu anders naar feedback geven, ik gebruik exit tickets aan het eind van de les.",
    "De nieuwe rector weet volgens mij niet eens dat ik in deze PLG zit.",
    "We lezen samen artikelen en bespreken elkaars lesontwerpen, dat werkt goed.",
    "Eerlijk gezegd zou ik meer structuur willen, soms weten we niet waar we naartoe werken.",
]


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} is missing: apt-get install -y {package} (.ci/run installs it)"
    return None


def make_driver(profile_dir: Path, width: int = 1280, height: int = 900):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile_dir}", f"--window-size={width},{height}", "--lang=nl"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=DriverService(str(CHROMEDRIVER)))


def transcript(n: int = 20) -> str:
    """An interview of n interviewer questions, each followed by one answer of respondent L9."""
    lines = []
    for i in range(n):
        lines.append(f"I: {QUESTIONS[i % len(QUESTIONS)]}")
        lines.append(f"L9: {ANSWERS[i % len(ANSWERS)]}" + (" Dat is het wel, denk ik." if i >= len(ANSWERS) else ""))
    return "\n".join(lines) + "\n"


def service_settings(base: Path, models_source: Path, **overrides) -> Settings:
    """A tmp SQLite database and a private copy of the model store; retrains on the small corpus."""
    models_dir = base / "models"
    shutil.copytree(models_source, models_dir)
    for p in models_dir.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return Settings(data_dir=base / "data", models_dir=models_dir, embedding_cache_dir=None,
                    train_config=paths.PACKAGE_DIR / "configs" / "lexical.yaml", model_poll_seconds=0.5,
                    **overrides)


def start_service(settings: Settings, log_path: Path) -> Server:
    return Server(settings, log_path).start()


def new_user(settings: Settings, name: str, role: str = "coder") -> str:
    return add_user(settings.resolved_database_url(), name, role)


def upload(server: Server, token: str, text: str, name: str = "startinterview_L9.txt", respondent: str = "L9") -> dict:
    r = httpx.post(f"{server.url}/api/v1/documents", headers=auth(token), timeout=60,
                   files={"file": (name, text.encode("utf-8"))},
                   data={"respondent": respondent, "role": "leraar", "moment": "start", "plg": "PLG formatief evalueren"})
    r.raise_for_status()
    return r.json()
