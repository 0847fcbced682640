"""A real admon server (uvicorn on 127.0.0.1) and ONE headless Chromium for all e2e tests.

The world (users, projects, results, lake) is the service tests' world
(``tests/service/conftest.py``), built once. Chromium and chromedriver are the
Debian packages (``make system-deps``); a missing one fails the tests, never skips them.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SHOTS = Path(tempfile.gettempdir()) / "admon-e2e-shots"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def e2e_world(tmp_path_factory):
    from admon.data.generate import generate_lake
    from admon.settings import load_settings

    home = tmp_path_factory.mktemp("e2e")
    generate_lake(home / "lake", hosts=2, days=1, start="2022-05-10", seed=7, step_seconds=300,
                  topics=["xrootd_raw_gled", "xrootd_raw_alice"])
    settings = load_settings(database_url=f"sqlite:///{home / 'e2e.db'}", lake_root=str(home / "lake"),
                             model_store=str(home / "models"))
    from tests.service.conftest import build_world

    return build_world(settings)


@contextlib.contextmanager
def running_app(settings) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a uvicorn server running the app of ``settings`` in a thread."""
    import uvicorn

    from admon.service.app import create_app

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not srv.started:
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail("the admon server did not start within 30 s")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def headless_chromium(profile: Path, *flags: str) -> Iterator[Any]:
    """The Debian Chromium, headless, with a fresh ``profile`` folder and extra ``flags``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).exists():
            pytest.fail(f"{binary} is missing; run `make system-deps` (Debian chromium, chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", *flags):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    SHOTS.mkdir(exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def server(e2e_world):
    """``http://127.0.0.1:PORT`` of a uvicorn server running the app in a thread."""
    with running_app(e2e_world.settings) as url:
        yield url


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    with headless_chromium(tmp_path_factory.mktemp("chromium-profile"), "--window-size=1360,1900") as driver:
        yield driver
