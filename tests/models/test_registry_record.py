"""Training, promotion and rollback record the model's content hash on the entities that run it
(registry on SQLite and PostgreSQL)."""

from __future__ import annotations

from typer.testing import CliRunner

from admon import DetectionEntity, Project
from admon.cli import build_app
from admon.errors import NotFoundError
from admon.models.store import ModelStore
from admon.models.training import train

START = "2022-05-10T00:00:00Z"
END = "2022-05-11T00:00:00Z"


def _run(*args: str):
    return CliRunner().invoke(build_app(), list(args), catch_exceptions=False)


def _entity(xrootd_config, title="xrootd 1h", model="xrootd-model") -> DetectionEntity:
    try:
        project = Project.get("XRootD")
    except NotFoundError:
        project = Project.create(title="XRootD", egroup="admon-dev")
    return DetectionEntity.create(project=project, title=title, interval_minutes=60, sliding_interval_minutes=15,
                                  input_data_config=xrootd_config, inference_model=model,
                                  inference_namespace="admon-dev")


def _recorded(entity: DetectionEntity) -> tuple[str | None, str | None]:
    fresh = DetectionEntity.get(entity.id)
    return fresh.model_version, fresh.model_sha256


def test_cli_train_promote_and_rollback_record_the_hash(db_url, lake, xrootd_config):
    de = _entity(xrootd_config)
    other = _entity(xrootd_config, title="other model", model="something-else")
    assert _recorded(de) == (None, None)
    res = _run("train", "xrootd 1h", "--from", START, "--to", END, "--lake-root", lake, "--no-progress")
    assert res.exit_code == 0, res.output
    store = ModelStore()  # ADMON_MODEL_STORE: the store runs load from
    v1 = store.manifest("admon-dev", "xrootd-model", 1).content_sha256
    assert _recorded(de) == ("1", v1) and f"#{de.id}" in res.output
    res = _run("train", "xrootd 1h", "--from", START, "--to", END, "--lake-root", lake, "--detector", "pca",
               "--no-progress")
    v2 = store.manifest("admon-dev", "xrootd-model", 2).content_sha256
    assert v1 != v2 and _recorded(de) == ("2", v2)
    # a version trained without promotion is not what runs load: nothing recorded
    res = _run("train", "xrootd 1h", "--from", START, "--to", END, "--lake-root", lake, "--no-promote",
               "--no-progress")
    assert res.exit_code == 0 and _recorded(de) == ("2", v2)

    res = _run("model", "rollback", "admon-dev", "xrootd-model")
    assert res.exit_code == 0 and store.production("admon-dev", "xrootd-model") == "1"
    assert _recorded(de) == ("1", v1), "rollback records the old version's hash"
    assert v1 in res.output
    res = _run("model", "promote", "admon-dev", "xrootd-model", "3")
    assert res.exit_code == 0
    assert _recorded(de) == ("3", store.manifest("admon-dev", "xrootd-model", 3).content_sha256)
    assert _recorded(other) == (None, None)  # another model: untouched


def test_train_records_on_every_entity_of_the_model_only_for_the_runs_store(db_url, tmp_path, xrootd_config,
                                                                            frame):
    a = _entity(xrootd_config, title="a")
    b = _entity(xrootd_config, title="b")
    res = train(None, START, "2022-05-11T00:00:00Z", "robust_zscore", namespace="admon-dev", model="xrootd-model",
                frame=frame)
    assert sorted(res.recorded_entities) == [a.id, b.id]
    assert _recorded(a) == _recorded(b) == ("1", res.manifest.content_sha256)
    # another store is not the one runs load from: its hash would make every run fail
    elsewhere = train(None, START, END, "robust_zscore", namespace="admon-dev", model="xrootd-model",
                      frame=frame.assign(gled_value=frame.gled_value * 3), store=str(tmp_path / "elsewhere"))
    assert elsewhere.recorded_entities == [] and _recorded(a) == ("1", res.manifest.content_sha256)
    # record=False: never
    again = train(None, START, END, "robust_zscore", namespace="admon-dev", model="xrootd-model",
                  frame=frame.assign(gled_value=frame.gled_value * 4), record=False)
    assert again.recorded_entities == [] and _recorded(a) == ("1", res.manifest.content_sha256)
    # the API records a chosen version for one entity
    a.record_model(2)
    assert (a.model_version, a.model_sha256) == ("2", again.manifest.content_sha256)
    assert _recorded(b) == ("1", res.manifest.content_sha256)


def test_changing_the_entity_model_forgets_the_recorded_hash(db_url, xrootd_config, frame):
    de = _entity(xrootd_config)
    train(None, START, END, "robust_zscore", namespace="admon-dev", model="xrootd-model", frame=frame)
    assert _recorded(de)[0] == "1"
    de.update(inference_model="another-model")
    assert _recorded(de) == (None, None)
