"""Fixtures for model tests: a fitted detector, a frame, and a moto S3 server on 127.0.0.1."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest
from conftest_servers import db_url, free_port, postgres_server, postgres_url  # noqa: F401

STEP = 300_000
T0 = 1_652_169_600_000


def make_frame(hosts=("h1", "h2"), n=120, seed=0, t0=T0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    t = np.arange(n)
    for i, h in enumerate(hosts):
        parts.append(pd.DataFrame({
            "host": h,
            "timestamp": t0 + t.astype("int64") * STEP,
            "gled_value": 100 + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, n) + i,
            "alice_value": 5 + rng.normal(0, 0.5, n),
        }))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture(scope="session")
def s3_server():
    """moto in server mode on 127.0.0.1 (a real HTTP S3 endpoint), for the whole session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_store_url(s3_server, monkeypatch):
    """A fresh bucket; returns (url, storage_options) for ModelStore."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"models-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/store", {"endpoint_url": s3_server, "key": "testing", "secret": "testing"}


@pytest.fixture(scope="session")
def lake(tmp_path_factory):
    """A small synthetic lake (3 hosts, 2 days) written once by the data layer's generator."""
    from admon.data.generate import generate_lake

    root = tmp_path_factory.mktemp("models-lake")
    generate_lake(root, hosts=3, days=2, start="2022-05-10", seed=1, step_seconds=60)
    return str(root)


@pytest.fixture
def xrootd_config():
    from admon import InputDataConfig, SourceConfig

    def sc(topic: str, name: str) -> SourceConfig:
        return SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value", "host"],
                            filter_expression=f"topic=='{topic}'", rename={"value": name})

    return InputDataConfig(source_configs=[sc("xrootd_raw_gled", "gled_value"), sc("xrootd_raw_alice", "alice_value")],
                           agg_interval_seconds=300, agg_method="avg", group_by=["host"])
