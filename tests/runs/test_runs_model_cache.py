"""The runner keeps at most ADMON_MODEL_CACHE_ENTRIES models loaded (least recently used out)."""

from __future__ import annotations

from runs_helpers import make_entity, xrootd_idc

from admon import DataSource
from admon.models.training import train
from admon.runs.runner import Runner, entity_spec
from admon.settings import load_settings


def _entity_with_own_model(lake, title: str):
    entity = make_entity(title=title)
    entity.update(inference_model=f"model-{title}")
    frame = DataSource(None, xrootd_idc(60), lake_root=str(lake)).read_pandas("2022-05-10T00:00:00Z",
                                                                            "2022-05-10T02:00:00Z")
    train(None, "2022-05-10T00:00:00Z", "2022-05-10T02:00:00Z", "robust_zscore", namespace="admon-dev",
          model=f"model-{title}", frame=frame)
    from admon import DetectionEntity

    return DetectionEntity.get(entity.id)


def _spec(entity):
    from admon.registry import repository as repo
    from admon.registry.db import session_scope

    with session_scope() as s:
        return entity_spec(repo.get_entity(s, entity.id))


def test_the_least_recently_used_model_leaves_a_full_cache(lake, monkeypatch):
    a, b = (_spec(_entity_with_own_model(lake, title)) for title in ("a", "b"))
    monkeypatch.setenv("ADMON_MODEL_CACHE_ENTRIES", "2")
    roomy = Runner(load_settings())
    first = roomy.model_for(a)
    roomy.model_for(b)
    assert roomy.model_for(a) is first  # both fit
    monkeypatch.setenv("ADMON_MODEL_CACHE_ENTRIES", "1")
    tight = Runner(load_settings())
    first = tight.model_for(a)
    assert tight.model_for(a) is first
    tight.model_for(b)  # a leaves
    again = tight.model_for(a)
    assert again is not first and again.content_hash == first.content_hash
