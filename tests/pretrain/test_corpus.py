"""The generated pretraining corpus: deterministic from its seed, labelled, read back through flaky storage."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from admon.errors import ConfigError, DataError
from admon.pretrain.corpus import (
    ANOMALY_KINDS,
    ResilientReader,
    generate_corpus,
    generate_series,
    read_corpus_meta,
    write_corpus,
)


def test_same_seed_same_corpus_other_seed_other_corpus():
    a, b = generate_corpus(3, 20, 512), generate_corpus(3, 20, 512)
    assert a.fingerprint() == b.fingerprint()
    assert generate_corpus(4, 20, 512).fingerprint() != a.fingerprint()


def test_a_series_does_not_depend_on_the_corpus_size():
    # what lets each worker build its own shard
    big = generate_corpus(5, 30, 512)
    v, lab, _ = generate_series(5, 17, 512)
    np.testing.assert_array_equal(big.values[17], v)
    np.testing.assert_array_equal(big.labels[17], lab)
    tail = generate_corpus(5, 10, 512, start=20)
    np.testing.assert_array_equal(tail.values, big.values[20:])


def test_anomalies_are_labelled_and_of_the_known_kinds():
    c = generate_corpus(0, 200, 1024)
    kinds = {k for ks in c.kinds for k in ks}
    assert kinds <= set(ANOMALY_KINDS) and len(kinds) >= 6
    with_anomaly = np.array([bool(ks) for ks in c.kinds])
    assert (c.labels.any(axis=1) == with_anomaly).all()
    assert 0.0 < c.labels.mean() < 0.1  # anomalies are rare
    assert np.isnan(c.values).any()  # gaps
    assert np.isfinite(c.values[~np.isnan(c.values)]).all()


def test_held_back_split_is_disjoint_and_a_tenth():
    c = generate_corpus(0, 50, 256)
    train, held = c.split(False), c.split(True)
    assert set(train).isdisjoint(held) and len(held) == 5 and len(train) + len(held) == 50


def test_bad_sizes_are_config_errors():
    with pytest.raises(ConfigError, match="length"):
        generate_corpus(0, 2, 10)


def test_shards_round_trip(tmp_path):
    write_corpus(tmp_path, seed=2, n_series=300, length=128)
    meta = read_corpus_meta(tmp_path)
    assert meta["shards"] == ["shard-00000.npz", "shard-00001.npz"]
    got = np.concatenate([v for v, _ in ResilientReader([tmp_path / s for s in meta["shards"]])])
    np.testing.assert_array_equal(got, generate_corpus(2, 300, 128).values)


def test_reader_retries_through_storage_that_comes_back(tmp_path):
    write_corpus(tmp_path, seed=1, n_series=4, length=64)
    shard = tmp_path / "shard-00000.npz"
    away = tmp_path / "away.npz"
    os.replace(shard, away)  # the mount is gone ...
    restore = threading.Timer(0.5, os.replace, (away, shard))  # ... and back half a second later
    restore.start()
    reader = ResilientReader([shard], retries=8, backoff=0.1)
    values = [v for v, _ in reader]
    restore.join()
    assert values[0].shape == (4, 64)
    assert reader.retried >= 1


def test_reader_gives_up_naming_the_file(tmp_path):
    reader = ResilientReader([tmp_path / "nope.npz"], retries=2, backoff=0.01)
    with pytest.raises(DataError, match=r"nope\.npz after 3 attempts"):
        list(reader)
    assert reader.retried == 2
