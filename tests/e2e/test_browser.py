"""In a real browser: log in, open an entity, see the plot, select a range, label it, export it."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

SHOTS = Path(tempfile.gettempdir()) / "admon-e2e-shots"  # screenshots, to look at after a run


def _wait(driver, seconds=20):
    return WebDriverWait(driver, seconds)


def _login(driver, server, token):
    driver.delete_all_cookies()
    driver.get(f"{server}/login")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "login-submit").click()
    _wait(driver).until(EC.presence_of_element_located((By.ID, "projects")))


def test_label_a_range_in_the_browser_and_find_it_in_the_export(browser, server, e2e_world, tmp_path):
    driver, world = browser, e2e_world
    _login(driver, server, world.tokens["alice"])
    assert driver.find_element(By.ID, "whoami").text == "alice"
    projects = driver.find_element(By.ID, "projects").text
    assert "Public" in projects and "Secret" in projects

    driver.find_element(By.LINK_TEXT, "Secret").click()
    driver.find_element(By.LINK_TEXT, "Secret xrootd").click()
    _wait(driver).until(lambda d: d.find_element(By.ID, "plot-area").get_attribute("data-rendered") == "true")
    area = driver.find_element(By.ID, "plot-area")
    assert area.get_attribute("data-points") == "288" and area.get_attribute("data-anomalies") == "1"
    # the canvas really has ink on it: count non-white pixels in the browser
    inked = driver.execute_script(
        "const c = document.querySelector('#plot-area canvas'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i+3] > 0 && (d[i] < 200 || d[i+1] < 200 || d[i+2] < 200)) n++;"
        "return n;")
    assert inked > 5000
    history = driver.find_element(By.ID, "run-history")  # the run history, drawn by uPlot
    assert history.get_attribute("data-rendered") == "true" and history.get_attribute("data-runs") == "2"
    canvas = driver.find_element(By.CSS_SELECTOR, "#plot-area .u-over")  # the first panel's plotting area
    driver.save_screenshot(str(SHOTS / "entity-before.png"))

    # drag across the middle of the plot: the form gets the selected range
    width = canvas.size["width"]
    ActionChains(driver).move_to_element_with_offset(canvas, -width // 10, 0).click_and_hold() \
        .move_by_offset(width // 8, 0).release().perform()
    start_text = driver.find_element(By.ID, "ann-start").get_attribute("value")
    end_text = driver.find_element(By.ID, "ann-end").get_attribute("value")
    assert start_text.startswith("2022-05-10T") and end_text > start_text

    driver.find_element(By.ID, "ann-kind").send_keys("level_shift")
    driver.find_element(By.ID, "ann-comment").send_keys("seen in the browser")
    driver.find_element(By.ID, "ann-save").click()
    _wait(driver).until(EC.text_to_be_present_in_element((By.ID, "annotations"), "seen in the browser"))
    row = driver.find_element(By.CSS_SELECTOR, "#annotations tbody tr").text
    assert "anomaly" in row and "level_shift" in row and "alice" in row and start_text in row

    # judge the detection as a false alarm
    driver.find_element(By.CSS_SELECTOR, "#detections button[data-verdict='false_alarm']").click()
    _wait(driver).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#detections .verdict"), "false alarm"))
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(SHOTS / "entity-labelled.png"))

    # the label comes out of `admon labels export`
    from admon.registry.db import session_scope
    from admon.service.access import Viewer
    from admon.service.labels import export_labels

    with session_scope(world.settings.database_url) as s:
        export_labels(s, Viewer(0, "cli", is_admin=True), world.settings, world.private_entity, tmp_path / "ds")
    windows = json.loads((tmp_path / "ds" / "labels" / "combined_windows.json").read_text())
    start = start_text.replace("T", " ").rstrip("Z")
    # one file per group and series; the label was drawn for every series of host 000
    for series in ("gled-value", "alice-value"):
        assert [w[0] for w in windows[next(k for k in windows if k.endswith(f"monit-xrootd-000__{series}.csv"))]] \
            == [f"{start}.000000"]
        # labelled on host 000 only; the false alarm adds no window
        assert windows[next(k for k in windows if k.endswith(f"monit-xrootd-001__{series}.csv"))] == []


def test_log_in_from_a_group_label_it_and_judge_its_incident(browser, server, e2e_world):
    """Logging in returns to the page and group one was on; the label form says and sends that
    group (not the first); an incident gets one verdict with one click."""
    from urllib.parse import unquote

    from admon.registry.db import session_scope
    from admon.registry.repository import list_annotations
    from tests.service.conftest import DAY0, HOSTS
    from tests.service.test_incident_labels import seed_incident

    driver, world = browser, e2e_world
    hour = 3_600_000
    incident = seed_incident(world.settings.database_url, world.public_entity, HOSTS[1], DAY0 + 14 * hour,
                             DAY0 + 16 * hour)
    driver.delete_all_cookies()
    page = f"{server}/entities/{world.public_entity}?group=host%3D{HOSTS[1]}"
    driver.get(page)
    driver.find_element(By.ID, "login-to-label").click()
    driver.find_element(By.ID, "token").send_keys(world.tokens["alice"])
    driver.find_element(By.ID, "login-submit").click()
    _wait(driver).until(lambda d: d.find_element(By.ID, "plot-area").get_attribute("data-rendered") == "true")
    assert unquote(driver.current_url) == unquote(page)  # the same page and group, not the first host
    assert driver.find_element(By.ID, "whoami").text == "alice"
    assert driver.find_element(By.ID, "ann-group").get_attribute("value") == f"host={HOSTS[1]}"

    canvas = driver.find_element(By.CSS_SELECTOR, "#plot-area .u-over")
    width = canvas.size["width"]
    ActionChains(driver).move_to_element_with_offset(canvas, width // 5, 0).click_and_hold() \
        .move_by_offset(width // 10, 0).release().perform()
    driver.find_element(By.ID, "ann-comment").send_keys("host 001 only")
    driver.find_element(By.ID, "ann-save").click()
    _wait(driver).until(EC.text_to_be_present_in_element((By.ID, "annotations"), "host 001 only"))
    assert f"on host={HOSTS[1]}" in driver.find_element(By.ID, "ann-message").text

    row = driver.find_element(By.CSS_SELECTOR, f"#incidents tr[data-incident='{incident}']")
    assert f"host={HOSTS[1]}" in row.text and "resolved" in row.text
    row.find_element(By.CSS_SELECTOR, "button[data-verdict='confirmed']").click()
    _wait(driver).until(EC.text_to_be_present_in_element(
        (By.CSS_SELECTOR, f"#incidents tr[data-incident='{incident}'] .verdict"), "confirmed"))
    driver.execute_script("window.scrollTo(0, 0)")  # the plot, the label form with its group, the incidents
    driver.save_screenshot(str(SHOTS / "entity-incident-labels.png"))

    with session_scope(world.settings.database_url) as s:
        notes = [(a.group_key, a.label, a.detection_id, a.comment)
                 for a in list_annotations(s, entity_id=world.public_entity)]
    assert ({"host": HOSTS[1]}, "anomaly", None, "host 001 only") in notes
    assert ({"host": HOSTS[1]}, "confirmed", incident, "") in notes


def test_zoom_changes_the_visible_range(browser, server, e2e_world):
    driver = browser
    driver.get(f"{server}/entities/{e2e_world.public_entity}")
    _wait(driver).until(lambda d: d.find_element(By.ID, "plot-area").get_attribute("data-rendered") == "true")
    canvas = driver.find_element(By.CSS_SELECTOR, "#plot-area .u-over")
    before = driver.execute_script("return document.querySelector('#plot-area canvas').toDataURL()")
    width = canvas.size["width"]
    ActionChains(driver).move_to_element_with_offset(canvas, 0, 0).click_and_hold() \
        .move_by_offset(width // 6, 0).release().perform()
    driver.find_element(By.ID, "zoom-in").click()
    after = driver.execute_script("return document.querySelector('#plot-area canvas').toDataURL()")
    assert after != before
    driver.find_element(By.ID, "zoom-reset").click()


def test_an_outsider_sees_nothing_of_the_private_project(browser, server, e2e_world):
    driver = browser
    _login(driver, server, e2e_world.tokens["bob"])
    assert "Secret" not in driver.find_element(By.TAG_NAME, "body").text
    driver.get(f"{server}/entities/{e2e_world.private_entity}")
    assert "Not found" in driver.find_element(By.TAG_NAME, "h1").text
    assert "Secret" not in driver.page_source
    driver.get(f"{server}/entities/{e2e_world.public_entity}")
    _wait(driver).until(lambda d: d.find_element(By.ID, "plot-area").get_attribute("data-rendered") == "true")
    assert not driver.find_elements(By.ID, "annotation-form")  # bob may look, not label
