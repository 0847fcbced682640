"""In a real browser: the labelling queue page (issue 20, part 2): label the shown window, then
the next, with the count done and left; the label is stored."""

from __future__ import annotations

import json
import urllib.request

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.test_browser import _login


def test_label_the_first_queued_window_then_the_next_is_shown(browser, server, e2e_world):
    driver, world = browser, e2e_world
    _login(driver, server, world.tokens["alice"])
    driver.get(f"{server}/entities/{world.public_entity}/queue?limit=5")
    wait = WebDriverWait(driver, 20)
    items = driver.find_elements(By.CSS_SELECTOR, ".queue-item")
    assert len(items) == 5 and items[0].is_displayed() and not items[1].is_displayed()
    assert driver.find_element(By.ID, "queue-left").text == "5"
    first = items[0]
    window = (int(first.get_attribute("data-start")), int(first.get_attribute("data-end")))
    group = json.loads(first.get_attribute("data-group"))
    label = "normal"
    if first.get_attribute("data-incident"):
        label = "anomaly"
    first.find_element(By.CSS_SELECTOR, f'button[data-label="{label}"]').click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "queue-done"), "1"))
    assert driver.find_element(By.ID, "queue-left").text == "4"
    assert items[1].is_displayed() and not items[0].is_displayed()
    # skip moves on without a label
    items[1].find_element(By.CSS_SELECTOR, 'button[data-label=""]').click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "queue-left"), "3"))
    assert driver.find_element(By.ID, "queue-done").text == "1" and items[2].is_displayed()

    request = urllib.request.Request(f"{server}/api/entities/{world.public_entity}/annotations",
                                     headers=world.auth("alice"))
    with urllib.request.urlopen(request) as answer:
        stored = json.loads(answer.read())
    if label == "normal":
        assert any(a["label"] == "normal" and a["kind"] == "queue" and a["group_key"] == group
                   and (a["start_ms"], a["end_ms"]) == window for a in stored), stored
    else:
        assert any(a["label"] == "confirmed" for a in stored), stored
