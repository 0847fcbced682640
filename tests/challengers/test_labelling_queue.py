"""The labelling queue (issue 20, part 2): windows where the champion and its challengers
disagree come first, then scores just around a threshold; labelled windows leave the queue;
the same list from ``admon labels queue`` and ``GET /api/entities/{id}/queue``."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from admon.registry import challengers as registry_challengers
from admon.registry.db import session_scope
from admon.runs.backfill import backfill
from admon.service.app import create_app
from admon.settings import load_settings

from .test_champion_challengers import champion_and_challenger, cli, judge_incidents


def test_the_queue_ranks_disagreement_first_then_scores_around_the_threshold(db_url, lake):
    de = champion_and_challenger(lake)  # champion flags at 50, the challenger 'strict' at 98
    assert backfill(de.id, "2022-05-10T06:00:00Z", "2022-05-10T16:00:00Z").succeeded == 20
    code, out = cli("labels", "queue", str(de.id), "--json", "--limit", "100")
    assert code == 0, out
    queue = json.loads(out)
    items = queue["items"]
    assert queue["models"] == ["champion", "strict"] and queue["considered"] == 60 and queue["labelled"] == 0
    reasons = [item["reason"] for item in items]
    disagreements = reasons.count("disagreement")
    assert disagreements >= 2 and reasons == ["disagreement"] * disagreements + ["near_threshold"] * (
        len(items) - disagreements)
    for item in items[:disagreements]:  # the champion flags them, the strict challenger does not
        assert item["flags"] == {"champion": True, "strict": False}
        assert item["incident_id"] is not None and "models disagree" in item["why"]
        assert set(item["scores"]) == {"champion", "strict"} and item["window_end"] - item["window_start"] == 1_800_000
    spreads = [item["priority"] for item in items[:disagreements]]
    assert spreads == sorted(spreads, reverse=True)
    near = items[disagreements:]
    assert near and all(min(abs(s - item["thresholds"][m]) for m, s in item["scores"].items()) <= 10.0
                        for item in near)
    distances = [-item["priority"] for item in near]
    assert distances == sorted(distances)

    code, out = cli("labels", "queue", str(de.id), "--limit", "3")
    assert code == 0 and "models disagree" in out and "strict" in out, out

    # the API gives the same list
    with TestClient(create_app(load_settings())) as client:
        r = client.get(f"/api/entities/{de.id}/queue", params={"limit": 100})
        assert r.status_code == 200, r.text
        assert r.json()["items"] == items
        assert client.get(f"/api/entities/{de.id}/queue", params={"limit": 0}).status_code == 422
        assert client.get("/api/entities/999/queue").status_code == 404
        page = client.get(f"/entities/{de.id}/queue")  # anonymous: the queue, no label buttons
        assert page.status_code == 200 and f'<span id="queue-left">{min(len(items), 50)}</span> left' in page.text
        assert items[0]["why"] in page.text and 'data-label="anomaly"' not in page.text and "Log in" in page.text
        assert page.text.count('class="queue-item"') == min(len(items), 50)

    # labelled windows leave the queue
    judge_incidents(de.id)
    with session_scope() as s:
        after = registry_challengers.labelling_queue(s, de.id, limit=100)
    assert after["labelled"] > 0 and all(item["reason"] != "disagreement" for item in after["items"])
    assert len(after["items"]) < len(items)
