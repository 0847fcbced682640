"""The registry API: the design's code, validation, CRUD, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from admon import DetectionEntity, InputDataConfig, Project, SourceConfig
from admon.errors import ConfigError, ConflictError, NotFoundError
from admon.registry import db


def design_idc() -> InputDataConfig:
    sc_gled = SourceConfig("collectd", "raw", "monitoring",
                           select=["timestamp", "value", "host"],
                           filter_expression="topic=='xrootd_raw_gled'",
                           rename={"value": "gled_value"})
    sc_alice = SourceConfig("collectd", "raw", "monitoring",
                            select=["timestamp", "value", "host"],
                            filter_expression="topic=='xrootd_raw_alice'",
                            rename={"value": "alice_value"})
    return InputDataConfig(source_configs=[sc_gled, sc_alice],
                           agg_interval_seconds=300, agg_method="avg", group_by=["host"])


def design_entities():
    idc = design_idc()
    project = Project.create(title="XRootD Anomaly Detection",
                             project_url="https://example.org/xrootd",
                             description="Anomaly detection on XRootD data based on correlation.",
                             is_private=False, egroup="admon-dev")
    de = DetectionEntity.create(project=project,
                                title="XRootD Anomaly Detection for 1 hour intervals",
                                interval_minutes=60, sliding_interval_minutes=15,
                                input_data_config=idc,
                                inference_model="xrootd-model", inference_namespace="admon-dev",
                                monit_producer="admon",
                                monit_label={"admon_entity": "xrootd_with_join"})
    return project, de


def entity_kwargs(project, **overrides):
    kwargs = dict(project=project, title="e", interval_minutes=60, sliding_interval_minutes=15,
                  input_data_config=design_idc(), inference_model="m", inference_namespace="ns",
                  monit_producer="admon", monit_label={"k": "v"})
    kwargs.update(overrides)
    return kwargs


def test_design_code_runs_unchanged_and_round_trips(db_url):
    project, de = design_entities()
    again = DetectionEntity.get(de.id)
    assert again.input_data_config == design_idc()
    assert again.input_data_config.content_hash() == de.config_hash
    assert again.monit_label == {"admon_entity": "xrootd_with_join"}
    assert (again.interval_minutes, again.sliding_interval_minutes) == (60, 15)
    assert again.project.title == "XRootD Anomaly Detection"
    assert again.project.egroup == "admon-dev" and again.project.is_private is False
    assert again.enabled is True
    assert [e.id for e in project.entities()] == [de.id]
    assert DetectionEntity.get("XRootD Anomaly Detection for 1 hour intervals").id == de.id
    assert Project.get("XRootD Anomaly Detection").id == project.id


def test_default_database_is_a_sqlite_file_under_dot_admon_made_by_init(tmp_path, monkeypatch):
    monkeypatch.delenv("ADMON_DATABASE_URL")
    monkeypatch.chdir(tmp_path)
    try:
        with pytest.raises(ConfigError, match=r"\.admon/admon\.db does not exist.*`admon db init`"):
            Project.create(title="p")
        assert not (tmp_path / ".admon").exists()  # nothing was created on the side
        db.init_database()
        assert (tmp_path / ".admon" / "admon.db").is_file()
        Project.create(title="p")
        assert [p.title for p in Project.list()] == ["p"]
    finally:
        db.dispose_all()


def test_import_creates_no_engine():
    import subprocess
    import sys

    code = ("import admon, admon.registry.api, admon.registry.db as d; "
            "assert not d._engines, d._engines; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"interval_minutes": 0}, "interval_minutes 0 must be > 0"),
        ({"interval_minutes": -5}, "interval_minutes -5 must be > 0"),
        ({"sliding_interval_minutes": 0}, "sliding_interval_minutes 0 must be > 0"),
        ({"sliding_interval_minutes": 61}, "sliding_interval_minutes 61 is larger than interval_minutes 60"),
        ({"monit_label": {"k": 3}}, "monit_label['k'] = 3 is a int"),
        ({"monit_label": {1: "v"}}, "monit_label key 1 is not a non-empty string"),
        ({"monit_label": ["k", "v"]}, "monit_label must be a mapping"),
        ({"interval_minutes": "60"}, "'60' is not a whole number of minutes"),
        ({"title": "  "}, "title"),
        ({"input_data_config": {"nope": 1}}, "invalid InputDataConfig"),
    ],
)
def test_entity_validation_names_the_bad_value(db_url, overrides, fragment):
    project = Project.create(title="p")
    with pytest.raises(ConfigError) as err:
        DetectionEntity.create(**entity_kwargs(project, **overrides))
    assert fragment in str(err.value)
    assert DetectionEntity.list() == []


def test_titles_unique_per_project(db_url):
    p1, p2 = Project.create(title="p1"), Project.create(title="p2")
    DetectionEntity.create(**entity_kwargs(p1, title="same"))
    with pytest.raises(ConflictError, match="already has a detection entity titled 'same'"):
        DetectionEntity.create(**entity_kwargs(p1, title="same"))
    other = DetectionEntity.create(**entity_kwargs(p2, title="same"))
    assert other.project_id == p2.id
    with pytest.raises(ConflictError, match="use the id"):
        DetectionEntity.get("same")
    assert DetectionEntity.get("same", project="p2").id == other.id
    with pytest.raises(ConflictError, match="project titled 'p1' exists already"):
        Project.create(title="p1")


def test_crud_enable_disable(db_url):
    project = Project.create(title="p", description="d")
    de = DetectionEntity.create(**entity_kwargs(project))
    de.update(sliding_interval_minutes=30, monit_label={"a": "b"}, title="renamed")
    fresh = DetectionEntity.get(de.id)
    assert (fresh.sliding_interval_minutes, fresh.monit_label, fresh.title) == (30, {"a": "b"}, "renamed")
    with pytest.raises(ConfigError, match="larger than interval_minutes 60"):
        de.update(sliding_interval_minutes=90)
    with pytest.raises(ConfigError, match="monit_label"):
        de.update(monit_label={"a": 1})
    assert DetectionEntity.get(de.id).sliding_interval_minutes == 30

    de.disable()
    assert DetectionEntity.get(de.id).enabled is False
    assert DetectionEntity.list(enabled=True) == []
    de.enable()
    assert [e.id for e in DetectionEntity.list(enabled=True)] == [de.id]

    project.update(description="new", is_private=True)
    assert Project.get(project.id).description == "new" and project.is_private is True
    with pytest.raises(ConflictError, match="still has 1 detection entities"):
        project.delete()
    de.delete()
    with pytest.raises(NotFoundError, match="no detection entity"):
        DetectionEntity.get(de.id)
    project.delete()
    with pytest.raises(NotFoundError, match="no project 'p'"):
        Project.get("p")


def test_project_cascade_delete(db_url):
    project = Project.create(title="p")
    DetectionEntity.create(**entity_kwargs(project, title="a"))
    DetectionEntity.create(**entity_kwargs(project, title="b"))
    project.delete(cascade=True)
    assert DetectionEntity.list() == [] and Project.list() == []


def test_migrations_create_every_table_at_head(db_url):
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    engine = db.get_engine(db_url)
    tables = set(inspect(engine).get_table_names())
    assert {"projects", "detection_entities", "runs", "results", "outbox", "users", "groups",
            "memberships", "api_tokens", "annotations", "alembic_version"} <= tables
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    assert current == ScriptDirectory.from_config(cfg).get_current_head()
    db.upgrade(engine)  # idempotent


def test_people_tokens_annotations(db_url):
    from admon.registry import repository as repo

    with db.session_scope() as s:
        repo.create_user(s, "alice", email="a@example.org")
        repo.add_member(s, "alice", "admon-dev")
        _, secret = repo.create_api_token(s, "alice", "laptop")
    with db.session_scope() as s:
        assert repo.user_groups(s, "alice") == ["admon-dev"]
        user = repo.authenticate_token(s, secret)
        assert user is not None and user.username == "alice" and user.groups == {"admon-dev"}
        assert repo.authenticate_token(s, secret + "x") is None
        token = s.scalars(db.text("select id from api_tokens")).first()
        repo.revoke_api_token(s, token)
    with db.session_scope() as s:
        assert repo.authenticate_token(s, secret) is None
        rows = s.execute(db.text("select token_hash from api_tokens")).scalars().all()
        assert secret not in rows and repo.hash_token(secret) in rows
        with pytest.raises(ConflictError):
            repo.create_user(s, "alice")


def test_private_projects_hidden_from_other_groups(db_url):
    from admon.registry import repository as repo

    Project.create(title="open")
    Project.create(title="secret", is_private=True, egroup="ops")
    with db.session_scope() as s:
        assert [p.title for p in repo.list_projects(s, repo.Audience(["dev"]))] == ["open"]
        assert [p.title for p in repo.list_projects(s, repo.Audience(["ops"]))] == ["open", "secret"]


def test_models_match_the_migrated_schema(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from admon.registry.models import Base

    with db.get_engine(db_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], "models and migrations differ: add a migration"


def test_named_lease_has_one_holder_until_it_expires(db_url):
    from admon.registry import repository as repo

    factory = db.session_factory(db_url)
    with factory() as s:
        assert repo.acquire_lease(s, "deliver:x", "a", ttl_ms=60_000, now=1_000)
        assert not repo.acquire_lease(s, "deliver:x", "b", ttl_ms=60_000, now=2_000)
        assert repo.acquire_lease(s, "deliver:x", "a", ttl_ms=60_000, now=3_000)  # renewal
        assert repo.acquire_lease(s, "deliver:x", "b", ttl_ms=60_000, now=70_000)  # expired
        repo.release_lease(s, "deliver:x", "a")  # not the holder any more: no effect
        assert not repo.acquire_lease(s, "deliver:x", "a", ttl_ms=60_000, now=71_000)
        repo.release_lease(s, "deliver:x", "b")
        assert repo.acquire_lease(s, "deliver:x", "a", ttl_ms=60_000, now=72_000)


def test_upgrade_from_the_first_migration_keeps_data(empty_db_url):
    db_url = empty_db_url
    """A database created at revision 0001 is brought to head on first use, rows intact."""
    from alembic import command
    from alembic.config import Config

    from admon.registry.db import _create_engine, head_revisions

    engine = _create_engine(db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with engine.begin() as conn:
        conn.execute(db.text("INSERT INTO projects (title, description, is_private, created_ms, "
                             "updated_ms) VALUES ('old', '', false, 1, 1)"))
    engine.dispose()
    assert Project.get("old").created_ms == 1  # get_engine migrates to head first
    with db.get_engine(db_url).connect() as conn:
        version = conn.execute(db.text("SELECT version_num FROM alembic_version")).scalar()
    assert {version} == head_revisions() == {"0011"}
    indexes = {ix["name"] for ix in inspect(db.get_engine(db_url)).get_indexes("results")}
    assert "ix_results_entity_timestamp" in indexes


def test_an_unsupported_database_url_is_a_clear_error():
    from admon.errors import ConfigError
    from admon.registry.db import get_engine

    with pytest.raises(ConfigError, match="'nonsense', which admon does not support"):
        get_engine("nonsense://somewhere/db")


def test_entity_fields_are_defined_once_in_entity_create():
    """EntityUpdate, the service's bodies and the stored record all follow EntityCreate's fields."""
    import dataclasses

    from admon.registry.schemas import EntityCreate, EntityRecord, EntityUpdate
    from admon.service.schemas import EntityCreateBody, EntityPublic, EntityUpdateBody

    settable = set(EntityCreate.model_fields)
    assert set(EntityUpdate.model_fields) == settable - {"project_id"}
    assert set(EntityCreateBody.model_fields) == settable
    assert set(EntityUpdateBody.model_fields) == settable - {"project_id", "schedule_from_ms"}
    assert settable <= {f.name for f in dataclasses.fields(EntityRecord)}
    assert set(EntityPublic.model_fields) == settable | {"id", "config_hash", "created_ms", "updated_ms"}
    # the same limits everywhere: the title's length, the model's name
    for model in (EntityUpdate, EntityCreateBody, EntityUpdateBody):
        assert model.model_fields["title"].metadata == EntityCreate.model_fields["title"].metadata
    assert all(f.default is None for f in EntityUpdate.model_fields.values())


def test_entity_update_applies_the_create_rules_to_what_it_changes(db_url):
    _, de = design_entities()
    with pytest.raises(ConfigError, match=r"monit_label\['k'\] = 1 is a int"):
        de.update(monit_label={"k": 1})
    with pytest.raises(ConfigError, match="True is not a whole number of minutes"):
        de.update(interval_minutes=True)
    with pytest.raises(ConfigError, match="title: String should have at least 1 character"):
        de.update(title="")
    assert de.update(monit_label={"k": "v"}, title="renamed").monit_label == {"k": "v"}
    assert DetectionEntity.get(de.id).title == "renamed"
