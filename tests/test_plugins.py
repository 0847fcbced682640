"""One plugin boundary: a package declares detectors, post-rules, transforms and sinks as entry points.

The plugin here is "installed" without pip: a module and a ``*.dist-info`` folder with an
``entry_points.txt`` on a temporary ``sys.path`` entry, which is all importlib.metadata
looks for. The plugin's detector, rule and sink then pass admon's own conformance suite, and a
run delivers its results to the plugin's sink when ``ADMON_SINKS`` names it.
"""

from __future__ import annotations

import contextlib
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import admon.detectors as detectors
from admon.data.generate import host_names
from admon.data.sources import SOURCES
from admon.detectors.base import DETECTORS
from admon.detectors.postrules import POST_RULES, PostRuleChain, post_rule_from_dict
from admon.errors import ConfigError
from admon.models.transforms import TRANSFORMS, apply_transforms
from admon.plugins import Registry
from admon.runs.backfill import backfill
from admon.runs.runner import Runner
from admon.settings import load_settings
from admon.sinks.base import SINKS, parse_sink
from admon.testing.checks import (
    SinkProbe,
    check_a_groups_scores_do_not_depend_on_the_other_groups,
    checks_for,
    make_frame,
)

sys.path.insert(0, str(Path(__file__).parent / "runs"))
from runs_helpers import HOSTS, generate_small_lake, make_entity  # noqa: E402

PLUGIN = textwrap.dedent('''
    """A tiny admon plugin: one detector, one post-rule, one transform, one sink."""
    import numpy as np
    from pydantic import Field

    from admon.detectors.base import Detector, DetectorConfig
    from admon.detectors.postrules import PostRule, PostRuleConfig


    class DistanceConfig(DetectorConfig):
        scale: float = Field(1.0, gt=0)


    class DistanceFromMedian(Detector):
        """Largest distance of a row's values from their training medians."""

        Config = DistanceConfig

        def _fit(self, frame):
            self.center_ = [float(v) for v in np.nanmedian(self._filled_values(frame), axis=0)]

        def _score(self, frame):
            x = self._filled_values(frame)
            return np.abs(x - np.asarray(self.center_)).max(axis=1) / self.config.scale


    class CapConfig(PostRuleConfig):
        cap: float = Field(50.0, gt=0)


    class Cap(PostRule):
        """Scores above ``cap`` become ``cap``."""

        Config = CapConfig

        def apply(self, table, context):
            return table.assign(anomaly_score=table["anomaly_score"].clip(upper=self.config.cap))


    def negate(frame, columns=()):
        out = frame.copy()
        for c in columns:
            out[c] = -out[c]
        return out


    class MemorySink:
        """Keeps every document it accepts in this process, dropping ids it already holds."""

        url_form = "tiny_memory"
        durable = True
        received = []

        def __init__(self):
            self.url = "tiny_memory"

        @classmethod
        def from_url(cls, url, options):
            return cls()

        def send(self, documents):
            held = {d["id"] for d in MemorySink.received}
            MemorySink.received.extend(d for d in documents if d["id"] not in held)
''')

ENTRY_POINTS = textwrap.dedent("""
    [admon.detectors]
    tiny_distance = admon_tiny_plugin:DistanceFromMedian

    [admon.post_rules]
    tiny_cap = admon_tiny_plugin:Cap

    [admon.transforms]
    tiny_negate = admon_tiny_plugin:negate

    [admon.sinks]
    tiny_memory = admon_tiny_plugin:MemorySink
""")


@pytest.fixture
def tiny_plugin(tmp_path, monkeypatch):
    site = tmp_path / "site"
    dist = site / "admon_tiny_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (site / "admon_tiny_plugin.py").write_text(PLUGIN)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: admon-tiny-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))
    registries = ((DETECTORS, "tiny_distance"), (POST_RULES, "tiny_cap"), (TRANSFORMS, "tiny_negate"),
                  (SINKS, "tiny_memory"))
    for registry, _ in registries:
        registry.refresh()  # this process started before the plugin was installed
    yield
    for registry, name in registries:
        registry.unregister(name)
    sys.modules.pop("admon_tiny_plugin", None)


def test_a_plugin_package_is_found_through_its_entry_points(tiny_plugin):
    assert "tiny_distance" in detectors.available()
    assert "tiny_cap" in POST_RULES.names() and "tiny_negate" in TRANSFORMS.names()
    frame = make_frame(hosts=("a",), n=50, spike=("a", 40, "gled_value", 500.0))
    det = detectors.from_config({"name": "tiny_distance", "scale": 2.0}).fit(frame)
    assert det.name == "tiny_distance" and int(det.score(frame).idxmax()) == 40
    chain = PostRuleChain([{"name": "tiny_cap", "cap": 3.0}])
    assert chain.apply(det.score(frame))["anomaly_score"].max() == 3.0
    assert chain.to_dict() == {"rules": [{"name": "tiny_cap", "cap": 3.0}]}
    negated = apply_transforms(frame, [{"name": "tiny_negate", "columns": ["alice_value"]}])
    np.testing.assert_array_equal(negated["alice_value"], -frame["alice_value"])


def test_the_plugin_passes_admons_conformance_suite(tiny_plugin):
    plugin_objects = [detectors.create("tiny_distance"), post_rule_from_dict({"name": "tiny_cap"})]
    for obj, check in checks_for(plugin_objects):
        check(obj)


@contextlib.contextmanager
def open_memory_sink():
    sink = parse_sink("tiny_memory")
    yield sink, lambda docs: [d["id"] for d in type(sink).received if d in docs]


def test_the_plugins_sink_passes_the_sink_suite(tiny_plugin):
    for probe, check in checks_for([SinkProbe("tiny_memory", open_memory_sink)]):
        check(probe)


def test_a_run_delivers_to_a_plugin_sink_named_in_admon_sinks(tiny_plugin, tmp_path, monkeypatch):
    """ADMON_SINKS names the plugin's sink; the runner builds it from the settings, as the
    scheduler and the service do, and the outbox delivers a backfilled window to it."""
    generate_small_lake(tmp_path / "lake", days=1)
    monkeypatch.setenv("ADMON_LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("ADMON_SINKS", "tiny_memory")
    entity = make_entity(interval=10, slide=5, sources=1)
    runner = Runner(load_settings())
    assert [s.url for s in runner.sinks] == ["tiny_memory"]
    report = backfill(entity.id, "2022-05-10T00:00:00Z", "2022-05-10T00:10:00Z", runner=runner)
    import admon_tiny_plugin  # importable only once the fixture has installed it

    received = admon_tiny_plugin.MemorySink.received
    assert report.succeeded == 1 and report.delivered == len(received) == HOSTS
    assert sorted(d["group"]["host"] for d in received) == host_names(HOSTS)
    assert all(d["entity_id"] == entity.id for d in received)


def test_the_conformance_suite_catches_a_detector_that_breaks_the_contract(tiny_plugin):
    import admon_tiny_plugin  # importable only once the fixture has installed it

    class LeaksAcrossGroups(admon_tiny_plugin.DistanceFromMedian):
        def _score(self, frame):  # a row's score depends on every group's values
            return super()._score(frame) + np.nanmean(self._values(frame))

    try:
        detectors.register("tiny_leaky")(LeaksAcrossGroups)
        with pytest.raises(AssertionError):
            check_a_groups_scores_do_not_depend_on_the_other_groups(detectors.create("tiny_leaky"))
    finally:
        detectors.unregister("tiny_leaky")


def test_a_broken_entry_point_is_an_error_naming_it(tmp_path, monkeypatch):
    dist = tmp_path / "broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[admon.test_broken_things]\nbroken_thing = no_such_module_xyz:Thing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    things = Registry("thing", "admon.test_broken_things")
    for _ in range(2):  # reported on every lookup, not once and then silently skipped
        with pytest.raises(ConfigError, match="broken_thing.*no_such_module_xyz"):
            things.names()


def test_every_registry_has_the_same_shape():
    from admon.forecast.base import FORECASTERS

    for registry, known in ((DETECTORS, "default"), (POST_RULES, "suppress"), (FORECASTERS, "gbm"),
                            (TRANSFORMS, "log1p"), (SINKS, "jsonl"), (SOURCES, "lake")):
        assert isinstance(registry, Registry) and registry.group.startswith("admon.")
        assert known in registry.names() and known in registry
        with pytest.raises(ConfigError, match=f"unknown {registry.kind} 'nope'; available {registry.kind}s: "):
            registry.get("nope")
