"""A small world for the service tests: a lake, users in groups, a public and a private project.

- ``alice`` is in ``ops`` (owns both projects), ``bob`` in ``other``, ``root`` is an admin.
- ``Public`` (egroup ops, public) and ``Secret`` (egroup ops, private), one entity each, with
  two runs and scored results (one detected anomaly per host) over 2022-05-10.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path

import pytest

from admon.config import InputDataConfig, SourceConfig
from admon.registry import repository as registry
from admon.registry.db import init_database, session_scope
from admon.registry.models import ResultRow, RunRow
from admon.registry.schemas import EntityCreate, ProjectCreate
from admon.settings import Settings, load_settings

DAY0 = 1652140800000  # 2022-05-10T00:00:00Z
STEP = 300_000
HOSTS = ["monit-xrootd-000", "monit-xrootd-001"]  # admon.data.generate.host_names(2)


def design_idc() -> InputDataConfig:
    gled = SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value", "host"],
                        filter_expression="topic=='xrootd_raw_gled'", rename={"value": "gled_value"})
    alice = SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value", "host"],
                         filter_expression="topic=='xrootd_raw_alice'", rename={"value": "alice_value"})
    return InputDataConfig(source_configs=[gled, alice], agg_interval_seconds=300, agg_method="avg",
                           group_by=["host"])


@pytest.fixture(scope="session")
def lake_root(tmp_path_factory) -> str:
    from admon.data.generate import generate_lake

    root = tmp_path_factory.mktemp("service-lake")
    generate_lake(root, hosts=2, days=1, start="2022-05-10", seed=7, step_seconds=300,
                  topics=["xrootd_raw_gled", "xrootd_raw_alice"])
    return str(root)


@dataclasses.dataclass
class World:
    settings: Settings
    tokens: dict[str, str]
    public_project: int
    private_project: int
    public_entity: int
    private_entity: int
    anomaly_ids: dict[int, list[str]]  # entity id -> ids of detected anomalies

    def auth(self, user: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}


def seed_results(s, entity_id: int, *, windows: int = 2, anomaly_at: int = 100) -> list[str]:
    """Two succeeded one-hour... windows of scored buckets for both hosts; one anomaly per host."""
    anomalies = []
    per_window = 144  # 12 hours of 5-minute buckets per window
    for w in range(windows):
        start = DAY0 + w * per_window * STEP
        end = start + per_window * STEP
        run = RunRow(entity_id=entity_id, window_start_ms=start, window_end_ms=end, status="succeeded",
                     attempts=1, next_attempt_ms=0, trigger="scheduler", rows=per_window * 2, groups=2,
                     anomalies=2 if w == 0 else 0,
                     timings={"read": 0.8, "transform": 0.1, "model": 0.4, "export": 0.2},
                     created_ms=end, started_ms=end + 1000, finished_ms=end + 2500)
        s.add(run)
        s.flush()
        for host in HOSTS:
            for i in range(per_window):
                ts = start + i * STEP
                is_anomaly = w == 0 and i == anomaly_at
                score = 9.0 if is_anomaly else 1.0 + (i % 7) / 10
                doc_id = hashlib.sha256(f"{entity_id}/{end}/{host}/{ts}".encode()).hexdigest()[:40]
                s.add(ResultRow(id=doc_id, run_id=run.id, entity_id=entity_id, window_end_ms=end,
                                group_key={"host": host}, timestamp_ms=ts, anomaly_score=score,
                                is_anomaly=is_anomaly, threshold=5.0, document={"timestamp": ts}))
                if is_anomaly:
                    anomalies.append(doc_id)
    s.flush()
    return anomalies


def build_world(settings: Settings) -> World:
    tokens = {}
    init_database(settings.database_url)
    with session_scope(settings.database_url) as s:
        for name, groups, admin in [("alice", ["ops"], False), ("bob", ["other"], False),
                                    ("root", [], True)]:
            user = registry.create_user(s, name, is_admin=admin)
            for g in groups:
                registry.add_member(s, user.id, g)
            tokens[name] = registry.create_api_token(s, user.id, "test")[1]
        pub = registry.create_project(s, ProjectCreate(title="Public", egroup="ops", is_private=False))
        sec = registry.create_project(s, ProjectCreate(title="Secret", egroup="ops", is_private=True))
        entities, anomalies = [], {}
        for project in (pub, sec):
            e = registry.create_entity(s, EntityCreate(
                project_id=project.id, title=f"{project.title} xrootd", interval_minutes=720,
                sliding_interval_minutes=720, input_data_config=design_idc(),
                inference_model=f"{project.title.lower()}-model", inference_namespace="admon-dev",
                monit_label={"admon_entity": project.title.lower()}))
            entities.append(e.id)
            anomalies[e.id] = seed_results(s, e.id)
        ids = (pub.id, sec.id, *entities)
    return World(settings, tokens, ids[0], ids[1], ids[2], ids[3], anomalies)


@pytest.fixture(scope="session")
def world_template(tmp_path_factory, lake_root: str) -> tuple[Path, World]:
    """The world built once; each test gets a copy of its database file."""
    folder = tmp_path_factory.mktemp("service-world")
    settings = load_settings(database_url=f"sqlite:///{folder / 'svc.db'}", lake_root=lake_root,
                             model_store=str(folder / "models"))
    world = build_world(settings)
    from admon.registry.db import get_engine

    get_engine(settings.database_url).dispose()  # flush the WAL into the file before copying
    return folder / "svc.db", world


@pytest.fixture
def world(tmp_path: Path, world_template) -> World:
    db, template = world_template
    shutil.copy(db, tmp_path / "svc.db")
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'svc.db'}",
                             lake_root=template.settings.lake_root, model_store=str(tmp_path / "models"))
    return dataclasses.replace(template, settings=settings)


@pytest.fixture
def client(world: World):
    from fastapi.testclient import TestClient

    from admon.service.app import create_app

    with TestClient(create_app(world.settings)) as c:
        yield c


@pytest.fixture(scope="session")
def cli():
    """Invoke ``admon …`` in-process; returns (exit code, stdout+stderr)."""
    from typer.testing import CliRunner

    from admon.cli import app, build_app

    if not app.registered_groups:
        build_app()
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(app, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    return invoke


@pytest.fixture
def world_env(world, monkeypatch) -> World:
    """The world's settings as ADMON_* variables (what the CLI reads)."""
    monkeypatch.setenv("ADMON_DATABASE_URL", world.settings.database_url)
    monkeypatch.setenv("ADMON_LAKE_ROOT", world.settings.lake_root)
    return world
