"""The overview heatmap (API and pages), the entity page's default group, and the vendored uPlot.

The world is the service tests' (``conftest.py``): two hosts with a detected anomaly each
(score 9, threshold 5) on 2022-05-10; tests add a worse result where they need one host ahead.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

import admon.service
from admon.registry.db import session_scope
from admon.registry.models import ResultRow, RunRow
from tests.conftest_servers import postgres_server, postgres_url  # noqa: F401
from tests.service.conftest import DAY0, HOSTS, STEP

UPLOT = Path(admon.service.__file__).parent / "static" / "vendor" / "uplot"
RANGE = {"start": DAY0, "end": DAY0 + 86_400_000}


def _add_result(database_url: str, entity_id: int, host: str, ts: int, score: float, *, anomaly: bool = True,
                group_key: dict | None = None) -> None:
    with session_scope(database_url) as s:
        run = s.query(RunRow).filter_by(entity_id=entity_id).first()
        s.add(ResultRow(id=f"extra-{entity_id}-{host}-{ts}-{score}", run_id=run.id, entity_id=entity_id,
                        window_end_ms=run.window_end_ms, group_key=group_key or {"host": host}, timestamp_ms=ts,
                        anomaly_score=score, is_anomaly=anomaly, threshold=5.0, document={}))


def test_the_overview_ranks_groups_worst_first_with_their_severity(client, world):
    _add_result(world.settings.database_url, world.public_entity, HOSTS[1], DAY0 + 40 * STEP, 99.0)
    body = client.get(f"/api/entities/{world.public_entity}/overview", params=RANGE).json()
    assert [g["group"] for g in body["groups"]] == [{"host": HOSTS[1]}, {"host": HOSTS[0]}]
    worst, second = body["groups"]
    assert worst["worst_score"] == 99.0 and worst["severity"] == "critical"  # (99 - 5) / 95 of the way to 100
    assert second["worst_score"] == 9.0 and second["severity"] == "warning"  # (9 - 5) / 95: the lowest band
    # one day of 5-minute results: 96 columns of 15 minutes, each cell the worst of its 3 buckets
    assert body["bucket_ms"] == 900_000 and len(body["buckets"]) == 96 and body["buckets"][0] == DAY0
    assert len(body["scores"]) == 2 and all(len(row) == 96 for row in body["scores"])
    column = (40 * STEP) // 900_000
    assert worst["worst_bucket"] == column and body["scores"][0][column] == 99.0
    assert body["severities"][0][column] == "critical" and body["severities"][0][0] is None  # normal: no band
    assert body["scores"][0][0] == pytest.approx(1.2)  # max of 1.0, 1.1, 1.2 in the first 15 minutes


def test_a_group_stored_with_its_keys_in_another_order_is_one_row(world):
    from admon.registry.overview import worst_per_bucket

    url, e = world.settings.database_url, world.public_entity
    _add_result(url, e, "a", DAY0, 3.0, anomaly=False, group_key={"host": "x", "site": "cern"})
    _add_result(url, e, "b", DAY0 + STEP, 4.0, anomaly=True, group_key={"site": "cern", "host": "x"})
    with session_scope(url) as s:
        cells = [c for c in worst_per_bucket(s, [e], DAY0, DAY0 + 3_600_000, 900_000) if "site" in c.group]
    assert len(cells) == 1 and cells[0].worst_score == 4.0 and cells[0].anomalous and cells[0].results == 2


def test_incidents_in_the_range_are_listed_on_their_row(client, world):
    from admon.incidents import Incident, IncidentChange
    from admon.registry.incidents import apply_incident_changes

    incident = Incident(id="inc-1", entity_id=world.public_entity, group={"host": HOSTS[1]}, start_ms=DAY0 + 3_600_000,
                        end_ms=None, last_window_end_ms=DAY0 + 7_200_000, peak_score=9.0,
                        peak_timestamp_ms=DAY0 + 3_600_000, features=["gled_value"], status="open",
                        run_ids=[1], revision=1, quiet_windows=0)
    with session_scope(world.settings.database_url) as s:
        apply_incident_changes(s, world.public_entity, [IncidentChange(incident, None, "open")], now=DAY0)
    body = client.get(f"/api/entities/{world.public_entity}/overview", params=RANGE).json()
    row = next(i for i, g in enumerate(body["groups"]) if g["group"] == {"host": HOSTS[1]})
    assert [(i["id"], i["row"], i["open"]) for i in body["incidents"]] == [("inc-1", row, True)]
    assert body["groups"][row]["open_incidents"] == 1


def test_a_private_entity_and_project_overview_are_invisible_to_outsiders(client, world):
    e, p = world.private_entity, world.private_project
    for who in (None, "bob"):
        for url in (f"/api/entities/{e}/overview", f"/api/projects/{p}/overview",
                    f"/entities/{e}/overview", f"/projects/{p}/overview"):
            response = client.get(url, headers=world.auth(who))
            assert response.status_code == 404, (who, url)
            assert "Secret" not in response.text
    assert client.get(f"/api/entities/{e}/overview", headers=world.auth("alice")).status_code == 200
    body = client.get(f"/api/projects/{p}/overview", headers=world.auth("alice"), params=RANGE).json()
    assert body["title"] == "Secret" and {g["entity_title"] for g in body["groups"]} == {"Secret xrootd"}


def test_a_bad_range_is_a_clear_error(client, world):
    response = client.get(f"/api/entities/{world.public_entity}/overview", params={"start": DAY0})
    assert response.status_code == 422 and "give both start and end" in response.json()["detail"]


def test_the_entity_page_plots_the_worst_group_of_the_range(client, world):
    # host 000 comes first alphabetically; host 001 has the worst score of the day
    _add_result(world.settings.database_url, world.public_entity, HOSTS[1], DAY0 + 40 * STEP, 99.0)
    page = client.get(f"/entities/{world.public_entity}", params=RANGE).text
    assert f'data-group="host={HOSTS[1]}"' in page
    asked = client.get(f"/entities/{world.public_entity}", params={**RANGE, "group": f"host={HOSTS[0]}"}).text
    assert f'data-group="host={HOSTS[0]}"' in asked


def test_the_entity_page_selects_the_bucket_it_was_opened_on(client, world):
    page = client.get(f"/entities/{world.public_entity}",
                      params={**RANGE, "focus_start": DAY0 + 900_000, "focus_end": DAY0 + 1_800_000}).text
    assert f'data-focus-start="{DAY0 + 900_000}" data-focus-end="{DAY0 + 1_800_000}"' in page


def test_pages_load_uplot_from_this_server_and_nothing_from_elsewhere(client, world):
    e, p = world.public_entity, world.public_project
    for url in (f"/entities/{e}", f"/entities/{e}/overview", f"/projects/{p}/overview", f"/projects/{p}", "/"):
        page = client.get(url).text
        external = re.findall(r"<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", page, re.I)
        assert external == [], url
    page = client.get(f"/entities/{e}/overview").text
    assert '<script src="/static/vendor/uplot/uPlot.iife.min.js">' in page
    for name in ("uPlot.iife.min.js", "uPlot.min.css", "LICENSE"):
        assert client.get(f"/static/vendor/uplot/{name}").status_code == 200
    assert client.get("/static/plot.js").status_code == 404  # the hand-written plot is gone


def test_the_vendored_uplot_is_the_version_its_note_names():
    note = (UPLOT / "VERSION").read_text()
    assert note.startswith("uPlot 1.6.32 ") and "MIT License" in (UPLOT / "LICENSE").read_text()
    for name in ("uPlot.iife.min.js", "uPlot.min.css"):
        digest = hashlib.sha256((UPLOT / name).read_bytes()).hexdigest()
        assert f"{digest}  {name}" in note, name
    assert "uPlot" in (UPLOT / "uPlot.iife.min.js").read_text()[:200_000]


@pytest.mark.integration
def test_the_overview_on_postgres(postgres_url, lake_root, tmp_path):  # noqa: F811
    from fastapi.testclient import TestClient

    from admon.service.app import create_app
    from admon.settings import load_settings
    from tests.service.conftest import build_world

    world = build_world(load_settings(database_url=postgres_url, lake_root=lake_root,
                                      model_store=str(tmp_path / "models")))
    _add_result(postgres_url, world.public_entity, HOSTS[1], DAY0 + 40 * STEP, 99.0)
    with TestClient(create_app(world.settings)) as client:
        body = client.get(f"/api/entities/{world.public_entity}/overview", params=RANGE).json()
    assert [g["group"] for g in body["groups"]] == [{"host": HOSTS[1]}, {"host": HOSTS[0]}]
    assert body["scores"][0][(40 * STEP) // 900_000] == 99.0 and len(body["buckets"]) == 96


def _incident(world, entity_id: int, host: str, start: int, *, status: str = "open", end: int | None = None) -> str:
    from admon.incidents import Incident, IncidentChange, incident_id
    from admon.registry.incidents import apply_incident_changes

    ident = incident_id(entity_id, {"host": host}, start)
    incident = Incident(id=ident, entity_id=entity_id, group={"host": host}, start_ms=start, end_ms=end,
                        last_window_end_ms=start + 3_600_000, peak_score=9.0, peak_timestamp_ms=start,
                        features=["gled_value"], status=status, run_ids=[1], revision=1, quiet_windows=0)
    with session_scope(world.settings.database_url) as s:
        apply_incident_changes(s, entity_id, [IncidentChange(incident, None, True)], now=DAY0)
    return ident


def test_the_incidents_page_lists_open_ones_first_and_only_what_the_viewer_may_see(client, world):
    resolved = _incident(world, world.public_entity, HOSTS[0], DAY0 + 7_200_000, status="resolved",
                         end=DAY0 + 10_800_000)
    opened = _incident(world, world.public_entity, HOSTS[1], DAY0 + 3_600_000)
    secret = _incident(world, world.private_entity, HOSTS[0], DAY0)
    page = client.get("/incidents", headers=world.auth("bob")).text
    rows = re.findall(r'<tr data-incident="(\w+)"', page)
    assert rows == [opened, resolved]  # open first although it started earlier; nothing of Secret
    assert secret not in page and "Secret" not in page
    assert "data-verdict" not in page  # bob is not in ops: he may look, not judge
    mine = client.get("/incidents", headers=world.auth("alice")).text
    assert re.findall(r'<tr data-incident="(\w+)"', mine) == [opened, secret, resolved]  # open: newest first
    assert mine.count('data-verdict="confirmed"') == 3
    href = re.search(rf'<tr data-incident="{resolved}".*?class="plot-link" href="([^"]+)"', mine, re.S)[1]
    href = href.replace("&amp;", "&")
    assert f"focus_start={DAY0 + 7_200_000}&focus_end={DAY0 + 10_800_000}" in href and "group=host%3D" in href
    only_open = client.get("/incidents", params={"open": "true"}, headers=world.auth("alice")).text
    assert re.findall(r'<tr data-incident="(\w+)"', only_open) == [opened, secret]
