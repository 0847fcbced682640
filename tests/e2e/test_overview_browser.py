"""In a real browser, without network: the overview heatmap of a five-host fleet, and a click on
its worst cell opens that host's plot at that time.

The fleet is the demo's pipeline on a generated lake (``admon.data.generate``, seed 59: injected
anomalies on day 2 in three hosts; ``monit-xrootd-002`` has none on either day): a PCA model
trained on day 1, hourly runs backfilled over day 2. One server and one Chromium for the module;
Chromium resolves no host name but 127.0.0.1, so anything that is not the local server fails.
Screenshots go to the e2e folder and, with ``ADMON_UPDATE_SCREENSHOTS=1``, to ``docs/screenshots/`` for the README.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.conftest import SHOTS, headless_chromium, running_app

HOSTS = [f"monit-xrootd-{i:03d}" for i in range(5)]
WITH_INCIDENTS = {"monit-xrootd-001", "monit-xrootd-003", "monit-xrootd-004"}
ALWAYS_NORMAL = "monit-xrootd-002"
DOCS_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Settings, entity id and a member's token of the five-host fleet, its day 2 detected by
    backfilled runs; and the id of a second entity on it whose robust z-score model gives an
    expected band (no runs: the plot draws the band from the model and the input)."""
    from admon.data.generate import generate_lake
    from admon.demo import design_config
    from admon.models.training import train
    from admon.registry import repository as registry
    from admon.registry.db import init_database, session_scope
    from admon.registry.schemas import EntityCreate, ProjectCreate
    from admon.runs.backfill import backfill
    from admon.runs.runner import Runner
    from admon.settings import load_settings

    home = tmp_path_factory.mktemp("fleet")
    generate_lake(home / "lake", hosts=5, days=2, start="2022-05-10", seed=59, step_seconds=300,
                  topics=["xrootd_raw_gled", "xrootd_raw_alice"])
    settings = load_settings(database_url=f"sqlite:///{home / 'fleet.db'}", lake_root=str(home / "lake"),
                             model_store=str(home / "models"))
    init_database(settings.database_url)
    idc = design_config()
    with session_scope(settings.database_url) as s:
        alice = registry.create_user(s, "alice")
        registry.add_member(s, alice.id, "ops")
        token = registry.create_api_token(s, alice.id, "e2e")[1]
        project = registry.create_project(s, ProjectCreate(title="Fleet", egroup="ops", is_private=False))
        entity = registry.create_entity(s, EntityCreate(
            project_id=project.id, title="Fleet xrootd", interval_minutes=60, sliding_interval_minutes=60,
            input_data_config=idc, inference_model="fleet", inference_namespace="admon-dev",
            monit_label={"admon_entity": "fleet"}))
        entity_id = entity.id
        band_entity_id = registry.create_entity(s, EntityCreate(
            project_id=project.id, title="Fleet xrootd (z-score)", interval_minutes=60, sliding_interval_minutes=60,
            input_data_config=idc, inference_model="fleet-zscore", inference_namespace="admon-dev",
            monit_label={"admon_entity": "fleet-zscore"})).id
    train(idc, "2022-05-10", "2022-05-11", "robust_zscore", namespace="admon-dev", model="fleet-zscore",
          store=settings.model_store, lake_root=settings.lake_root, database_url=settings.database_url, record=True)
    train(idc, "2022-05-10", "2022-05-11", "pca", namespace="admon-dev", model="fleet",
          store=settings.model_store, lake_root=settings.lake_root, database_url=settings.database_url, record=True)
    report = backfill(entity_id, "2022-05-11", "2022-05-12", runner=Runner(settings))
    assert report.failed == 0 and report.succeeded == 24
    return settings, entity_id, token, band_entity_id


@pytest.fixture(scope="module")
def fleet_server(fleet):
    with running_app(fleet[0]) as url:
        yield url


@pytest.fixture(scope="module")
def offline_browser(tmp_path_factory):
    """Headless Chromium that can reach 127.0.0.1 only: every other host name fails to resolve."""
    with headless_chromium(tmp_path_factory.mktemp("chromium-offline"), "--window-size=1360,1100",
                           "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                           "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1") as driver:
        yield driver


def _wait(driver, seconds=30):
    return WebDriverWait(driver, seconds)


def _resources(driver) -> list[str]:
    """Every URL the page loaded (document, scripts, styles, fetches)."""
    return driver.execute_script(
        "return [location.href].concat(performance.getEntriesByType('resource').map(e => e.name))")


def _ink(driver, selector: str, rgba: tuple[int, int, int, int] | None = None) -> int:
    """Pixels drawn on the first canvas under ``selector`` (not transparent, not white), or of
    colour ``rgba`` (uPlot draws on a transparent canvas: a translucent fill keeps its alpha)."""
    return driver.execute_script(
        "const c = document.querySelector(arguments[0] + ' canvas'), d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data, want = arguments[1]; let n = 0;"
        "for (let i = 0; i < d.length; i += 4) {"
        "  if (want ? (Math.abs(d[i] - want[0]) < 6 && Math.abs(d[i+1] - want[1]) < 6 && Math.abs(d[i+2] - want[2]) < 6"
        "              && Math.abs(d[i+3] - want[3]) < 12)"
        "           : (d[i+3] > 0 && (d[i] < 200 || d[i+1] < 200 || d[i+2] < 200))) n++; }"
        "return n;", selector, list(rgba) if rgba else None)


def _keep(driver, name: str) -> None:
    """Save a screenshot in the e2e folder; with ADMON_UPDATE_SCREENSHOTS=1 also as the README's
    copy under docs/screenshots (a test run does not rewrite tracked files otherwise)."""
    driver.save_screenshot(str(SHOTS / name))
    if os.environ.get("ADMON_UPDATE_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(SHOTS / name, DOCS_SHOTS / name)


def test_the_overview_ranks_every_host_and_opens_the_worst_at_its_time(offline_browser, fleet_server, fleet):
    driver, entity_id = offline_browser, fleet[1]
    driver.get(f"{fleet_server}/entities/{entity_id}/overview")
    _wait(driver).until(lambda d: d.find_element(By.ID, "overview-heatmap").get_attribute("data-rendered") == "true")
    heatmap = driver.find_element(By.ID, "overview-heatmap")
    assert heatmap.get_attribute("data-rows") == "5"
    ranking = [tr.find_elements(By.TAG_NAME, "td")[1].text
               for tr in driver.find_elements(By.CSS_SELECTOR, "#overview-rows tbody tr")]
    assert all(r.startswith("host=") for r in ranking), ranking
    assert sorted(r.removeprefix("host=") for r in ranking) == HOSTS  # every host, once
    assert {r.removeprefix("host=") for r in ranking[:3]} == WITH_INCIDENTS
    assert ranking[-1] == f"host={ALWAYS_NORMAL}"
    # the cells are drawn: severity colours on the canvas (critical red for the worst host)
    assert _ink(driver, "#overview-heatmap", (0xdf, 0xe5, 0xec, 255)) > 20_000  # the normal cells
    assert _ink(driver, "#overview-heatmap", (0xfe, 0x50, 0x50, 255)) > 100
    assert all(url.startswith(fleet_server) for url in _resources(driver)), _resources(driver)
    assert driver.execute_script("return typeof uPlot") == "function"  # loaded from this server
    _keep(driver, "overview.png")

    # click the worst cell: the entity page opens on that host, around that time, the bucket selected
    data = driver.execute_script("return JSON.parse(document.getElementById('overview-data').textContent)")
    worst = data["groups"][0]
    bucket_start = data["buckets"][worst["worst_bucket"]]
    offset = driver.execute_script(f"return window.admonOverview.cellOffset(0, {worst['worst_bucket']})")
    over = driver.find_element(By.CSS_SELECTOR, "#overview-heatmap .u-over")
    ActionChains(driver).move_to_element_with_offset(over, round(offset["x"]), round(offset["y"])).click().perform()
    _wait(driver).until(lambda d: urlsplit(d.current_url).path == f"/entities/{entity_id}")
    query = parse_qs(urlsplit(driver.current_url).query)
    assert query["group"] == [worst["label"]] and int(query["focus_start"][0]) == bucket_start
    _wait(driver).until(lambda d: d.find_element(By.ID, "plot-area").get_attribute("data-rendered") == "true")
    assert driver.find_element(By.ID, "group-select").get_attribute("value") == worst["label"]
    plot = driver.find_element(By.ID, "plot")
    assert int(plot.get_attribute("data-start")) <= bucket_start < int(plot.get_attribute("data-end"))
    selection = driver.find_element(By.ID, "plot-area").get_attribute("data-selection")
    assert selection == f"{bucket_start},{bucket_start + data['bucket_ms']}"
    assert int(driver.find_element(By.ID, "plot-area").get_attribute("data-panels")) == 3  # gled, alice, score
    assert _ink(driver, "#plot-area") > 5_000
    assert driver.find_element(By.ID, "run-history").get_attribute("data-rendered") == "true"
    assert all(url.startswith(fleet_server) for url in _resources(driver)), _resources(driver)
    _keep(driver, "entity.png")


def test_without_a_group_the_entity_page_plots_the_worst_host(offline_browser, fleet_server, fleet):
    driver, entity_id = offline_browser, fleet[1]
    driver.get(f"{fleet_server}/entities/{entity_id}/overview")
    worst = driver.execute_script(
        "return JSON.parse(document.getElementById('overview-data').textContent).groups[0].label")
    driver.get(f"{fleet_server}/entities/{entity_id}")
    _wait(driver).until(lambda d: d.find_element(By.ID, "plot-area").get_attribute("data-rendered") == "true")
    assert driver.find_element(By.ID, "group-select").get_attribute("value") == worst
    assert worst != "host=monit-xrootd-000"  # not the alphabetically first host


def test_the_browser_really_has_no_network(offline_browser, fleet_server):
    driver = offline_browser
    driver.get(f"{fleet_server}/healthz")
    status = driver.execute_async_script(
        "const done = arguments[0];"
        "fetch('https://cdn.jsdelivr.net/npm/uplot@1.6.32/dist/uPlot.iife.min.js', {mode: 'no-cors'})"
        ".then(() => done('reached'), () => done('failed'));")
    assert status == "failed"


def test_a_verdict_on_the_incidents_page_is_exported_spanning_the_incident(offline_browser, fleet_server, fleet,
                                                                          tmp_path):
    import json

    import pandas as pd

    from admon.registry.db import session_scope
    from admon.registry.incidents import list_incidents
    from admon.service.access import Viewer
    from admon.service.labels import NAB_WINDOW_TIME, export_labels

    driver, (settings, entity_id, token, _) = offline_browser, fleet
    with session_scope(settings.database_url) as s:
        incidents = list_incidents(s, [entity_id])
    assert {i.group["host"] for i in incidents} == WITH_INCIDENTS
    worst = max(incidents, key=lambda i: i.peak_score)

    driver.delete_all_cookies()
    driver.get(f"{fleet_server}/login?next=/incidents")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "login-submit").click()
    _wait(driver).until(lambda d: d.find_elements(By.ID, "incident-list"))
    rows = driver.find_elements(By.CSS_SELECTOR, "#incident-list tbody tr[data-incident]")
    assert len(rows) == len(incidents)  # one per injected anomaly the model saw (a gap too)
    row = driver.find_element(By.CSS_SELECTOR, f"#incident-list tr[data-incident='{worst.id}']")
    row.find_element(By.CSS_SELECTOR, "button[data-verdict='confirmed']").click()
    _wait(driver).until(lambda d: d.find_element(
        By.CSS_SELECTOR, f"#incident-list tr[data-incident='{worst.id}'] .verdict").text == "confirmed")
    _keep(driver, "incidents.png")

    with session_scope(settings.database_url) as s:
        export_labels(s, Viewer(0, "cli", is_admin=True), settings, entity_id, tmp_path / "ds")
    windows = json.loads((tmp_path / "ds" / "labels" / "combined_windows.json").read_text())
    host = worst.group["host"]
    # NAB windows are closed: from the incident's start to the last millisecond before its end
    span = [pd.Timestamp(ms, unit="ms").strftime(NAB_WINDOW_TIME) for ms in (worst.start_ms, worst.end_ms - 1)]
    mine = {k: v for k, v in windows.items() if host in k}
    assert mine and all(v == [span] for v in mine.values()), mine  # every series of the host
    assert all(v == [] for k, v in windows.items() if host not in k)

    # its plot link opens the host with the incident's span selected
    row = driver.find_element(By.CSS_SELECTOR, f"#incident-list tr[data-incident='{worst.id}']")
    row.find_element(By.CSS_SELECTOR, "a.plot-link").click()
    _wait(driver).until(lambda d: d.find_element(By.ID, "plot-area").get_attribute("data-rendered") == "true")
    assert driver.find_element(By.ID, "group-select").get_attribute("value") == f"host={host}"
    assert driver.find_element(By.ID, "plot-area").get_attribute("data-selection") == f"{worst.start_ms},{worst.end_ms}"
    assert all(url.startswith(fleet_server) for url in _resources(driver)), _resources(driver)


def test_the_expected_band_is_drawn_behind_the_series(offline_browser, fleet_server, fleet):
    driver, band_entity = offline_browser, fleet[3]
    driver.get(f"{fleet_server}/entities/{band_entity}?group=host%3Dmonit-xrootd-004"
               "&start=2022-05-11T00:00:00Z&end=2022-05-11T12:00:00Z")
    _wait(driver).until(lambda d: d.find_element(By.ID, "plot-area").get_attribute("data-rendered") == "true")
    assert driver.find_element(By.ID, "plot-area").get_attribute("data-band") == "true"
    driver.execute_script("document.getElementById('plot').scrollIntoView()")
    _keep(driver, "entity-band.png")
    # the band's fill, rgba(31,119,180,0.12), covers a good part of the first panel
    assert _ink(driver, "#plot-area", (31, 119, 180, 31)) > 2_000


def test_a_forecast_entity_has_its_own_page(offline_browser, tmp_path_factory):
    from tests.service.test_forecast_page import build_forecast_world

    settings, entity_id, token, episode, _ = build_forecast_world(tmp_path_factory.mktemp("forecast-e2e"))
    with running_app(settings) as base:
        driver = offline_browser
        driver.delete_all_cookies()
        driver.get(f"{base}/login?next=/entities/{entity_id}")
        driver.find_element(By.ID, "token").send_keys(token)
        driver.find_element(By.ID, "login-submit").click()
        _wait(driver).until(lambda d: d.find_elements(By.ID, "forecast-plot"))
        plot = driver.find_element(By.ID, "forecast-plot")
        _wait(driver).until(lambda d: plot.get_attribute("data-rendered") == "true")
        assert urlsplit(driver.current_url).path == f"/entities/{entity_id}/forecast"
        assert int(plot.get_attribute("data-forecast-steps")) > 12 and plot.get_attribute("data-episodes") == "1"
        assert _ink(driver, "#forecast-plot", (255, 127, 14, 46)) > 1_000  # the forecast band
        assert all(url.startswith(base) for url in _resources(driver)), _resources(driver)
        _keep(driver, "forecast.png")
