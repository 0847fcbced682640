"""The conformance suites of detectors, post-rules and sinks, importable by plugin authors.

The same checks admon runs over its built-ins (``tests/detectors``) run over yours,
as scikit-learn's ``parametrize_with_checks`` does for estimators::

    import pytest
    from admon.testing.checks import parametrize_with_checks
    from my_package.detectors import MyDetector      # registered as "my_detector"
    from my_package.rules import MyRule              # registered as "my_rule"

    @parametrize_with_checks([MyDetector(window=12), MyRule()])
    def test_admon_conformance(obj, check):
        check(obj)

Each check takes the object as given (unfitted), works on a fresh copy of it and
raises ``AssertionError`` saying what broke. A detector or rule must be registered
(decorator or entry point) for its config to round-trip through the registry.

A sink is checked through a :class:`SinkProbe`: how to set one up (and its receiver)
and how to read back what the receiver holds::

    @contextlib.contextmanager
    def open_memory_sink():
        sink = parse_sink("memory")                       # your registered sink kind
        yield sink, lambda docs: [d["id"] for d in sink.received if d in docs]

    @parametrize_with_checks([SinkProbe("memory", open_memory_sink)])
    def test_sink_conformance(obj, check):
        check(obj)

>>> from admon.detectors import create
>>> pairs = list(checks_for([create("robust_zscore")]))
>>> pairs[0][1].__name__, len(pairs) == len(DETECTOR_CHECKS)
('check_fit_returns_self_and_scores_are_finite_and_aligned', True)
>>> pairs[0][1](pairs[0][0])  # runs the check; silent when it passes
"""

from __future__ import annotations

import copy
import json
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from admon.detectors import from_config, to_config
from admon.detectors.base import Detector, group_positions
from admon.detectors.postrules import PostRule, PostRuleChain, ScoreContext, post_rule_from_dict
from admon.errors import ConfigError, NotFittedError
from admon.sinks.base import Sink, parse_sink
from admon.sinks.documents import build_document

STEP = 300_000  # 5-minute buckets
T0 = 1_652_169_600_000


def make_frame(hosts: Iterable[str] = ("h1", "h2", "h3"), n: int = 160, seed: int = 0,
               spike: tuple[str, int, str, float] | None = None) -> pd.DataFrame:
    """A data-layer-shaped frame: ``host`` (str), ``timestamp`` (int64 ms), ``gled_value``, ``alice_value``.

    ``spike=(host, step, column, value)`` sets one value.

    >>> make_frame(hosts=("a",), n=3).columns.tolist()
    ['host', 'timestamp', 'gled_value', 'alice_value']
    """
    rng = np.random.default_rng(seed)
    parts = []
    t = np.arange(n)
    for i, h in enumerate(hosts):
        gled = 100 + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, n) + i
        alice = 5 + rng.normal(0, 0.5, n)
        parts.append(pd.DataFrame({"host": h, "timestamp": T0 + t.astype("int64") * STEP,
                                   "gled_value": gled, "alice_value": alice}))
    frame = pd.concat(parts, ignore_index=True)
    frame["host"] = frame["host"].astype("str")
    if spike is not None:
        host, idx, col, value = spike
        frame.loc[(frame["host"] == host) & (frame["timestamp"] == T0 + idx * STEP), col] = value
    return frame


# ---------------------------------------------------------------------------- detectors
def _fresh(detector: Detector) -> Detector:
    return type(detector)(detector.config)


def _check_scores(scores: Any, frame: pd.DataFrame, who: str) -> None:
    assert isinstance(scores, pd.Series), f"{who}: score() returned {type(scores).__name__}, not a Series"
    assert scores.dtype == np.float64, f"{who}: scores have dtype {scores.dtype}, not float64"
    assert scores.index.equals(frame.index), f"{who}: scores are not aligned to the frame's index"
    assert np.isfinite(scores.to_numpy()).all(), f"{who}: some scores are not finite"


def check_fit_returns_self_and_scores_are_finite_and_aligned(detector: Detector) -> None:
    det, frame = _fresh(detector), make_frame()
    assert det.fit(frame) is det, f"{det.name}: fit() must return self"
    _check_scores(det.score(frame), frame, det.name)


def check_input_frame_is_unchanged(detector: Detector) -> None:
    frame = make_frame()
    before = frame.copy(deep=True)
    _fresh(detector).fit(frame).score(frame)
    pd.testing.assert_frame_equal(frame, before)


def check_save_load_gives_identical_scores(detector: Detector) -> None:
    det, frame = _fresh(detector).fit(make_frame()), make_frame()
    with tempfile.TemporaryDirectory(prefix="admon-check-") as tmp:
        det.save(Path(tmp) / "m")
        loaded = Detector.load(Path(tmp) / "m")
    assert type(loaded) is type(det), f"{det.name}: loaded a {type(loaded).__name__}"
    assert to_config(loaded) == to_config(det), f"{det.name}: the config changed through save/load"
    np.testing.assert_array_equal(loaded.score(frame).to_numpy(), det.score(frame).to_numpy())


def check_saved_artifacts_are_not_pickles(detector: Detector) -> None:
    det = _fresh(detector).fit(make_frame())
    with tempfile.TemporaryDirectory(prefix="admon-check-") as tmp:
        det.save(Path(tmp) / "m")
        for path in (Path(tmp) / "m").rglob("*"):
            if path.is_file():
                assert path.suffix in {".json", ".npz", ".skops", ".safetensors"}, f"{det.name} saved {path.name}"
                assert not path.read_bytes().startswith(b"\x80"), f"{path.name} looks like a pickle"


def check_same_seed_gives_same_scores(detector: Detector) -> None:
    frame = make_frame()
    a = _fresh(detector).fit(frame).score(frame)
    b = _fresh(detector).fit(frame).score(frame)
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())


def check_nan_gaps_are_handled(detector: Detector) -> None:
    frame = make_frame()
    rng = np.random.default_rng(3)
    holes = rng.choice(len(frame), size=len(frame) // 10, replace=False)
    frame.loc[holes, "gled_value"] = np.nan
    frame.loc[frame.index[20:30], "alice_value"] = np.nan  # a whole gap
    frame = frame.drop(index=frame.index[40:45])  # missing buckets (absent rows)
    det = _fresh(detector).fit(frame)
    _check_scores(det.score(frame), frame, det.name)


def check_constant_series_raises_nothing(detector: Detector) -> None:
    frame = make_frame(hosts=("c1", "c2"), n=80)
    frame["gled_value"] = 7.0
    frame["alice_value"] = 0.0
    det = _fresh(detector).fit(frame)
    _check_scores(det.score(frame), frame, det.name)
    bumped = frame.copy()
    bumped.loc[50, "gled_value"] = 8.0
    _check_scores(det.score(bumped), bumped, det.name)


def check_score_before_fit_raises_not_fitted(detector: Detector) -> None:
    with pytest.raises(NotFittedError, match="fit"):
        _fresh(detector).score(make_frame())


def check_config_round_trips(detector: Detector) -> None:
    cfg = to_config(detector)
    assert cfg["name"] == detector.name, f"config name {cfg['name']!r} is not the registered {detector.name!r}"
    assert to_config(from_config(cfg)) == cfg, f"{detector.name}: config does not round-trip the registry"
    assert json.loads(json.dumps(cfg)) == cfg, f"{detector.name}: config is not JSON-able"


def check_unknown_parameter_is_a_config_error_naming_it(detector: Detector) -> None:
    with pytest.raises(ConfigError, match="no_such_param"):
        type(detector)(no_such_param=1)


def check_config_is_frozen(detector: Detector) -> None:
    with pytest.raises(ValidationError):
        detector.config.features = ("x",)  # type: ignore[misc]


def check_row_order_does_not_change_a_rows_score(detector: Detector) -> None:
    frame = make_frame()
    det = _fresh(detector).fit(frame)
    expected = det.score(frame)
    shuffled = frame.sample(frac=1.0, random_state=7)
    got = det.score(shuffled)
    assert got.index.equals(shuffled.index), f"{det.name}: scores of a shuffled frame are not aligned to it"
    np.testing.assert_allclose(got.sort_index().to_numpy(), expected.sort_index().to_numpy(), rtol=1e-5, atol=1e-6)


def check_unseen_group_and_short_window_are_scored(detector: Detector) -> None:
    det = _fresh(detector).fit(make_frame())
    window = make_frame(hosts=("h1", "new-host"), n=12, seed=5)
    _check_scores(det.score(window), window, det.name)


def check_empty_frame_scores_empty(detector: Detector) -> None:
    frame = make_frame()
    scores = _fresh(detector).fit(frame).score(frame.iloc[0:0])
    assert len(scores) == 0 and scores.dtype == np.float64, f"{detector.name}: an empty frame gave {scores!r}"


def check_a_groups_scores_do_not_depend_on_the_other_groups(detector: Detector) -> None:
    # what per-group scoring (and the Spark adapter, one group per task) relies on
    frame = make_frame()
    det = _fresh(detector).fit(frame)
    together = det.score(frame)
    for host in ("h1", "h3"):
        alone = frame[frame["host"] == host]
        np.testing.assert_allclose(det.score(alone).to_numpy(), together[alone.index].to_numpy(),
                                   rtol=1e-6, atol=1e-9)


def check_a_group_that_leaves_its_peers_scores_highest(detector: Detector) -> None:
    # the cross-group counterpart of the check above: other groups' rows are the reference
    hosts = tuple(f"h{i}" for i in range(6))
    frame = make_frame(hosts=hosts)
    det = _fresh(detector).fit(frame)
    moved = frame.copy()
    late = (moved["host"] == "h5") & (moved["timestamp"] >= moved["timestamp"].quantile(0.75))
    moved.loc[late, det.feature_columns_] += 20 * moved[det.feature_columns_].std()
    worst = det.score(moved).groupby(moved["host"]).max()
    assert worst.idxmax() == "h5" and worst["h5"] > 2 * worst.drop("h5").max(), (
        f"{det.name}: a host shifted away from five peers did not stand out: {worst.to_dict()}")


def check_its_post_rule_chain_labels_its_scores(detector: Detector) -> None:
    # the chain a model of this detector is trained with: its own rules, calibrate, threshold
    frame = make_frame()
    det = _fresh(detector).fit(frame)
    scores = det.score(frame)
    chain = PostRuleChain.for_detector(det).fit(scores, frame, group_by=det.group_columns_)
    out = chain.apply(scores, frame, group_by=det.group_columns_)
    assert out.index.equals(frame.index), f"{det.name}: post-rule results are not aligned to the frame"
    assert out["anomaly_score"].between(0, 100).all() and out["is_anomaly"].dtype == bool
    again = PostRuleChain.from_dict(json.loads(json.dumps(chain.to_dict())))
    pd.testing.assert_frame_equal(again.apply(scores, frame, group_by=det.group_columns_), out)


DETECTOR_CHECKS: tuple[Callable[[Detector], None], ...] = (
    check_fit_returns_self_and_scores_are_finite_and_aligned,
    check_input_frame_is_unchanged,
    check_save_load_gives_identical_scores,
    check_saved_artifacts_are_not_pickles,
    check_same_seed_gives_same_scores,
    check_nan_gaps_are_handled,
    check_constant_series_raises_nothing,
    check_score_before_fit_raises_not_fitted,
    check_config_round_trips,
    check_unknown_parameter_is_a_config_error_naming_it,
    check_config_is_frozen,
    check_row_order_does_not_change_a_rows_score,
    check_unseen_group_and_short_window_are_scored,
    check_empty_frame_scores_empty,
    check_a_groups_scores_do_not_depend_on_the_other_groups,
    check_its_post_rule_chain_labels_its_scores,
)


def check_carried_state_gives_the_scores_of_a_whole_frame(detector: Detector) -> None:
    """A detector that ``supports_state`` (runs carry it: :mod:`admon.runs.state`): each group
    scored in pieces, its streams saved as arrays and restored between pieces, gives the very
    per-feature scores of one scoring of the frame, and ``combine_features`` gives ``score``."""
    det = _fresh(detector).fit(make_frame(n=200, seed=3))
    frame = make_frame(n=120, seed=4, spike=("h2", 90, "gled_value", 400.0))
    frame["timestamp"] += 200 * STEP
    frame.loc[frame.index[::17], "alice_value"] = np.nan
    whole = det.feature_scores(frame)
    assert whole is not None, f"{det.name}: supports_state but gives no per-feature scores"
    features = list(det.feature_columns_)
    values = frame[features].to_numpy(dtype=float, na_value=np.nan)
    for key, pos in group_positions(frame, list(det.group_columns_)):
        streams = det.start_streams(key, int(frame["timestamp"].iloc[pos[0]]))  # type: ignore[attr-defined]
        pieces = []
        for part in np.array_split(pos, [1, 50, 51, 97]):
            arrays = {f"f{j}.{name}": array.copy() for j, stream in enumerate(streams)
                      for name, array in stream.arrays().items()}
            streams = det.stream_states(arrays, len(features))  # type: ignore[attr-defined]
            pieces.append(det.advance_streams(streams, values[part], key))  # type: ignore[attr-defined]
        got = np.vstack(pieces)
        np.testing.assert_array_equal(got, whole.to_numpy()[pos], err_msg=f"{det.name}: group {key}")
    np.testing.assert_array_equal(det.combine_features(whole.to_numpy()),  # type: ignore[attr-defined]
                                  det.score(frame).to_numpy())


#: The checks a detector that carries state between runs takes besides the others.
STATE_CHECKS: tuple[Callable[[Detector], None], ...] = (check_carried_state_gives_the_scores_of_a_whole_frame,)

#: The checks a cross-group detector (``Detector.cross_group``) takes instead of per-group ones.
CROSS_GROUP_CHECKS: dict[Callable[[Detector], None], Callable[[Detector], None]] = {
    check_a_groups_scores_do_not_depend_on_the_other_groups: check_a_group_that_leaves_its_peers_scores_highest,
}


# ---------------------------------------------------------------------------- post-rules
def _fresh_rule(rule: PostRule) -> PostRule:
    return type(rule)(rule.config)


def score_table(frame: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, ScoreContext]:
    """A score table for ``frame`` as a rule finds it mid-chain: scores in [0, 1], the top tenth flagged."""
    scores = np.random.default_rng(seed).random(len(frame))
    table = pd.DataFrame({"raw_score": scores, "anomaly_score": scores, "is_anomaly": scores >= 0.9,
                          "threshold": 0.9}, index=frame.index)
    return table, ScoreContext.of(frame, len(frame), ["host"])


def _fitted(rule: PostRule) -> PostRule:
    frame = make_frame()
    table, context = score_table(frame, seed=1)
    fitted = _fresh_rule(rule)
    assert fitted.fit(table, context) is fitted, f"post-rule {rule.name}: fit() must return self"
    return fitted


def check_rule_config_round_trips(rule: PostRule) -> None:
    cfg = rule.get_config()
    assert cfg["name"] == rule.name and rule.name, f"post-rule {type(rule).__name__} is not registered"
    again = post_rule_from_dict(json.loads(json.dumps(cfg)))
    assert type(again) is type(rule) and again.get_config() == cfg, f"post-rule {rule.name}: config does not round-trip"


def check_rule_unknown_parameter_is_a_config_error_naming_it(rule: PostRule) -> None:
    with pytest.raises(ConfigError, match="no_such_param"):
        post_rule_from_dict({**rule.get_config(), "no_such_param": 1})


def check_rule_config_is_frozen(rule: PostRule) -> None:
    field = next(iter(type(rule.config).model_fields), None)
    if field is not None:
        with pytest.raises(ValidationError):
            setattr(rule.config, field, None)


def check_rule_leaves_its_input_alone_and_keeps_the_rows(rule: PostRule) -> None:
    fitted, frame = _fitted(rule), make_frame()
    table, context = score_table(frame)
    before = table.copy(deep=True)
    out = fitted.apply(table, context)
    pd.testing.assert_frame_equal(table, before)
    assert out.index.equals(table.index), f"post-rule {rule.name}: output rows differ from its input's"
    np.testing.assert_array_equal(out["raw_score"].to_numpy(), table["raw_score"].to_numpy())


def check_rule_fitted_state_round_trips(rule: PostRule) -> None:
    fitted, frame = _fitted(rule), make_frame()
    table, context = score_table(frame)
    again = post_rule_from_dict(json.loads(json.dumps(fitted.to_dict())))
    pd.testing.assert_frame_equal(again.apply(table, context), fitted.apply(table, context))


def check_rule_is_deterministic(rule: PostRule) -> None:
    frame = make_frame()
    table, context = score_table(frame)
    pd.testing.assert_frame_equal(_fitted(rule).apply(table, context), _fitted(rule).apply(table, context))


def check_rule_treats_groups_apart_and_ignores_row_order(rule: PostRule) -> None:
    fitted, frame = _fitted(rule), make_frame()
    table, context = score_table(frame)
    together = fitted.apply(table, context)
    alone = frame[frame["host"] == "h2"]
    part = fitted.apply(table.loc[alone.index], ScoreContext.of(alone, len(alone), ["host"]))
    pd.testing.assert_frame_equal(part, together.loc[alone.index])
    shuffled = frame.sample(frac=1.0, random_state=3)
    mixed = fitted.apply(table.loc[shuffled.index], ScoreContext.of(shuffled, len(shuffled), ["host"]))
    pd.testing.assert_frame_equal(mixed.sort_index(), together.sort_index())


def check_rule_applies_to_an_empty_table(rule: PostRule) -> None:
    frame = make_frame().iloc[0:0]
    table, context = score_table(frame)
    assert len(_fitted(rule).apply(table, context)) == 0


POST_RULE_CHECKS: tuple[Callable[[PostRule], None], ...] = (
    check_rule_config_round_trips,
    check_rule_unknown_parameter_is_a_config_error_naming_it,
    check_rule_config_is_frozen,
    check_rule_leaves_its_input_alone_and_keeps_the_rows,
    check_rule_fitted_state_round_trips,
    check_rule_is_deterministic,
    check_rule_treats_groups_apart_and_ignores_row_order,
    check_rule_applies_to_an_empty_table,
)


# ---------------------------------------------------------------------------- sinks
#: ``held(documents)``: the ids of those ``documents`` the receiver holds, one per copy, in the order received.
Held = Callable[[list[dict[str, Any]]], list[str]]


@dataclass(frozen=True)
class SinkProbe:
    """A sink kind under test.

    ``open()`` is a context manager that sets up a receiver and yields ``(sink, held)``; each
    check opens its own. ``keeps_duplicates``: the receiver gets a re-sent batch again (an HTTP
    receiver drops duplicates by id itself), instead of the sink dropping it.
    """

    name: str
    open: Callable[[], AbstractContextManager[tuple[Sink, Held]]]
    keeps_duplicates: bool = False


def sample_documents(n: int = 3) -> list[dict[str, Any]]:
    """``n`` result documents of consecutive hourly windows, each of its own group (a host named
    ``conf-<random>-<i>``, so that documents of earlier checks in a shared receiver do not count)."""
    tag = uuid.uuid4().hex[:8]
    end = 1_652_144_400_000  # 2022-05-10 01:00 UTC
    return [build_document(entity_id=3, entity_title="conformance", project_id=1, model_id="builtin:check",
                           run_id=1, monit_producer="admon", monit_label={"admon_entity": "conformance"},
                           group_key={"host": f"conf-{tag}-{i}"}, window_start_ms=end + (i - 1) * 3_600_000,
                           window_end_ms=end + i * 3_600_000, anomaly_score=10.0 * (i + 1),
                           is_anomaly=i == n - 1, threshold=75.0, severity=None, top_features=["value"],
                           peak_timestamp_ms=end + i * 3_600_000 - 300_000, rows=12)
            for i in range(n)]


def _ids(documents: list[dict[str, Any]]) -> list[str]:
    return [str(d["id"]) for d in documents]


def check_sink_has_an_identity_that_its_url_rebuilds(probe: SinkProbe) -> None:
    with probe.open() as (sink, _):
        assert isinstance(sink, Sink), f"sink {probe.name}: {sink!r} lacks url, durable or send()"
        assert isinstance(sink.url, str) and sink.url, f"sink {probe.name}: url {sink.url!r} is not a string"
        assert isinstance(sink.durable, bool), f"sink {probe.name}: durable {sink.durable!r} is not a bool"
        again = parse_sink(sink.url)
        assert type(again) is type(sink) and again.url == sink.url, (
            f"sink {probe.name}: its url {sink.url!r} builds {again!r} (url {again.url!r})")
        chunk = getattr(sink, "chunk_size", None)
        assert chunk is None or (isinstance(chunk, int) and chunk >= 1), f"sink {probe.name}: chunk_size {chunk!r}"


def check_sink_delivers_a_batch_in_order(probe: SinkProbe) -> None:
    docs = sample_documents()
    with probe.open() as (sink, held):
        sink.send(docs)
        assert held(docs) == _ids(docs), f"sink {probe.name}: the receiver holds {held(docs)}, not {_ids(docs)}"


def check_sink_same_batch_twice_is_harmless(probe: SinkProbe) -> None:
    docs = sample_documents()
    with probe.open() as (sink, held):
        sink.send(docs)
        sink.send(docs)  # a re-send after a lost acknowledgement
        expected = _ids(docs) * 2 if probe.keeps_duplicates else _ids(docs)
        assert held(docs) == expected, f"sink {probe.name}: after a re-send the receiver holds {held(docs)}"


def check_sink_empty_batch_is_harmless(probe: SinkProbe) -> None:
    docs = sample_documents()
    with probe.open() as (sink, held):
        sink.send([])
        assert held(docs) == []
        sink.send(docs)
        assert held(docs) == _ids(docs)


def check_sink_leaves_the_documents_unchanged(probe: SinkProbe) -> None:
    docs = sample_documents()
    before = copy.deepcopy(docs)
    with probe.open() as (sink, _):
        sink.send(docs)
    assert docs == before, f"sink {probe.name}: send() changed the documents it was given"


SINK_CHECKS: tuple[Callable[[SinkProbe], None], ...] = (
    check_sink_has_an_identity_that_its_url_rebuilds,
    check_sink_delivers_a_batch_in_order,
    check_sink_same_batch_twice_is_harmless,
    check_sink_empty_batch_is_harmless,
    check_sink_leaves_the_documents_unchanged,
)


# ---------------------------------------------------------------------------- pytest
Checked = Detector | PostRule | SinkProbe


def checks_for(objects: Iterable[Checked]) -> Iterator[tuple[Any, Callable[[Any], None]]]:
    """``(object, check)`` for every check that applies to each detector, post-rule or sink probe."""
    for obj in objects:
        if isinstance(obj, Detector):
            checks: tuple[Callable[[Any], None], ...] = DETECTOR_CHECKS
            if obj.cross_group:  # its scores depend on the other groups by design
                checks = tuple(CROSS_GROUP_CHECKS.get(c, c) for c in checks)
            if obj.supports_state:
                checks += STATE_CHECKS
        elif isinstance(obj, PostRule):
            checks = POST_RULE_CHECKS
        elif isinstance(obj, SinkProbe):
            checks = SINK_CHECKS
        else:
            raise TypeError(f"admon has conformance checks for detectors, post-rules and SinkProbes, not {obj!r}")
        for check in checks:
            yield obj, check


def parametrize_with_checks(objects: Iterable[Checked]) -> pytest.MarkDecorator:
    """``pytest.mark.parametrize("obj, check", ...)`` over :func:`checks_for`, with readable ids."""
    pairs = list(checks_for(objects))
    ids = [f"{obj.name or type(obj).__name__}-{check.__name__.removeprefix('check_')}" for obj, check in pairs]
    return pytest.mark.parametrize(("obj", "check"), pairs, ids=ids)
