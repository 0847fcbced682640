"""The plot's expected band (issue 17, part 3): from the entity's stored model when its detector
says what it expected, aligned to the plotted series; none, and why, when it cannot."""

from __future__ import annotations

from admon.models.training import train
from tests.service.conftest import DAY0, HOSTS, design_idc

RANGE = {"start": DAY0, "end": DAY0 + 86_400_000}


def _train(world, detector: str) -> None:
    s = world.settings
    train(design_idc(), "2022-05-10", "2022-05-11", detector, namespace="admon-dev", model="public-model",
          store=s.model_store, lake_root=s.lake_root, database_url=s.database_url, record=True)


def test_the_plot_has_the_band_of_a_robust_zscore_model(client, world):
    _train(world, "robust_zscore")
    body = client.get(f"/api/entities/{world.public_entity}/plot",
                      params={**RANGE, "group": f"host={HOSTS[1]}"}).json()
    n = len(body["series"]["timestamp"])
    assert n == 288 and body["expected_note"] is None
    assert set(body["expected"]) == {"gled_value", "alice_value"}
    for column, band in body["expected"].items():
        assert {k: len(v) for k, v in band.items()} == {"mean": n, "lower": n, "upper": n}
        inside = sum(lo <= v <= hi for v, lo, hi in zip(body["series"][column], band["lower"], band["upper"],
                                                        strict=True) if v is not None)
        assert all(lo < m < hi for m, lo, hi in zip(band["mean"], band["lower"], band["upper"], strict=True))
        assert inside > 0.8 * n  # most of an ordinary day lies in the band


def test_a_model_without_expected_values_gives_no_band_and_says_why(client, world):
    none_yet = client.get(f"/api/entities/{world.public_entity}/plot", params=RANGE).json()
    assert none_yet["expected"] is None and none_yet["expected_note"]  # no stored model: the fallback
    _train(world, "pca")
    body = client.get(f"/api/entities/{world.public_entity}/plot", params=RANGE).json()
    assert body["expected"] is None and "gives no expected value" in body["expected_note"]
