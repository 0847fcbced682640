"""``Project`` and ``DetectionEntity``: the registry as the user's code sees it.

No session is passed around: each call opens one on the database of
``ADMON_DATABASE_URL`` (default ``sqlite:///.admon/admon.db``, created by
``admon db init`` and migrated on first use) and returns plain objects that stay
usable after it closed. ``database_url=`` selects another database for one call.

>>> import os, tempfile
>>> from admon import SourceConfig, InputDataConfig
>>> from admon.registry.db import init_database
>>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "api.db")
>>> _ = init_database(url)  # what `admon db init` does
>>> project = Project.create(title="XRootD", project_url="https://example.org/x",
...                          description="demo", is_private=False, egroup="admon-dev",
...                          database_url=url)
>>> sc = SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value", "host"])
>>> idc = InputDataConfig(source_configs=[sc], agg_interval_seconds=300, group_by=["host"])
>>> de = DetectionEntity.create(project=project, title="1h", interval_minutes=60,
...                             sliding_interval_minutes=15, input_data_config=idc,
...                             inference_model="m", inference_namespace="ns",
...                             monit_producer="admon", monit_label={"admon_entity": "x"})
>>> de.input_data_config == idc, de.project.title
(True, 'XRootD')
>>> DetectionEntity.create(project=project, title="bad", interval_minutes=60,
...                        sliding_interval_minutes=90, input_data_config=idc,
...                        inference_model="m", inference_namespace="ns")
Traceback (most recent call last):
...
admon.errors.ConfigError: invalid EntityCreate: sliding_interval_minutes 90 is larger than interval_minutes 60; windows would leave gaps: make the slide at most the window length
"""

from __future__ import annotations

import dataclasses
from typing import Any

from admon.alerts.rules import AlertRule, AlertRuleCreate
from admon.config import InputDataConfig, source_label
from admon.errors import ConfigError, NotFoundError
from admon.notebook import html_table, time_text, ui_link
from admon.registry import alert_rules as registry_alert_rules
from admon.registry import repository as repo
from admon.registry.db import session_scope
from admon.registry.models import EntityRow, ProjectRow
from admon.registry.schemas import (
    EntityCreate,
    EntityRecord,
    EntityUpdate,
    ProjectCreate,
    ProjectUpdate,
)
from admon.timeutil import now_ms

__all__ = ["DetectionEntity", "Project", "add_alert_rule", "record_model"]


@dataclasses.dataclass
class Project:
    """A project: a title, a link, a description, and the e-group that owns it."""

    id: int
    title: str
    project_url: str | None
    description: str
    is_private: bool
    egroup: str | None
    created_ms: int
    updated_ms: int
    database_url: str | None = dataclasses.field(default=None, repr=False, compare=False)

    @classmethod
    def _from_row(cls, row: ProjectRow, database_url: str | None) -> Project:
        return cls(
            id=row.id,
            title=row.title,
            project_url=row.project_url,
            description=row.description,
            is_private=row.is_private,
            egroup=row.egroup,
            created_ms=row.created_ms,
            updated_ms=row.updated_ms,
            database_url=database_url,
        )

    @classmethod
    def create(
        cls,
        title: str,
        project_url: str | None = None,
        description: str = "",
        is_private: bool = False,
        egroup: str | None = None,
        *,
        database_url: str | None = None,
    ) -> Project:
        """Register a project (a taken title is a :class:`~admon.errors.ConflictError`)."""
        data = ProjectCreate.parse(
            title=title,
            project_url=project_url,
            description=description,
            is_private=is_private,
            egroup=egroup,
        )
        with session_scope(database_url) as s:
            return cls._from_row(repo.create_project(s, data), database_url)

    @classmethod
    def get(cls, ref: int | str, *, database_url: str | None = None) -> Project:
        """A project by id or title."""
        with session_scope(database_url) as s:
            return cls._from_row(repo.get_project(s, ref), database_url)

    @classmethod
    def list(cls, *, database_url: str | None = None) -> list[Project]:
        with session_scope(database_url) as s:
            return [cls._from_row(r, database_url) for r in repo.list_projects(s)]

    def update(self, **changes: Any) -> Project:
        """Change fields (title, project_url, description, is_private, egroup); returns self."""
        data = ProjectUpdate.parse(**changes)
        with session_scope(self.database_url) as s:
            fresh = self._from_row(repo.update_project(s, self.id, data), self.database_url)
        self.__dict__.update(dataclasses.asdict(fresh) | {"database_url": self.database_url})
        return self

    def delete(self, *, cascade: bool = False) -> None:
        """Delete the project (and, with ``cascade=True``, its entities and their runs)."""
        with session_scope(self.database_url) as s:
            repo.delete_project(s, self.id, cascade=cascade)

    def entities(self) -> list[DetectionEntity]:
        with session_scope(self.database_url) as s:
            rows = repo.list_entities(s, self.id)
            return [DetectionEntity._from_row(r, self.database_url) for r in rows]

    def _repr_html_(self) -> str:
        """The project in a notebook: its fields, and its UI page when ADMON_PUBLIC_URL is set."""
        return html_table(f"Project {self.id}: {self.title}", [
            ("title", self.title), ("egroup", self.egroup), ("private", self.is_private),
            ("url", self.project_url), ("description", self.description or None),
            ("created", time_text(self.created_ms)), ("updated", time_text(self.updated_ms)),
        ], ui_link(f"/projects/{self.id}"))


@dataclasses.dataclass
class DetectionEntity(EntityRecord):
    """What to read, how often, which model scores it, and where its results go.

    The scheduler runs it on the windows ``[t - interval_minutes, t)``, ``t`` aligned to
    ``sliding_interval_minutes``. ``inference_model``/``inference_namespace`` name a model in
    the model store; while none is stored there, runs use the documented fallback of
    :mod:`admon.runs.inference` (a robust z-score fitted on each window, model id
    ``builtin:robust_zscore``).

    ``model_version``/``model_sha256`` record which stored content the entity runs: set when
    a model is trained and promoted, promoted or rolled back for it (:func:`record_model`,
    :meth:`record_model`), or by its first run if none was recorded. Runs refuse a model
    whose content hash differs (:class:`~admon.errors.IntegrityError`).

    Its fields are those of :class:`~admon.registry.schemas.EntityRecord`.
    """

    database_url: str | None = dataclasses.field(default=None, repr=False, compare=False)

    @classmethod
    def _from_row(cls, row: EntityRow, database_url: str | None) -> DetectionEntity:
        return cls(**EntityRecord.values_of(row), database_url=database_url)

    @classmethod
    def create(
        cls,
        project: Project | int | str,
        title: str,
        interval_minutes: int,
        sliding_interval_minutes: int,
        input_data_config: InputDataConfig,
        inference_model: str,
        inference_namespace: str,
        monit_producer: str = "admon",
        monit_label: dict[str, str] | None = None,
        *,
        enabled: bool = True,
        schedule_from_ms: int | None = None,
        kind: str = "detect",
        job_config: Any = None,
        query_delay_seconds: int | None = None,
        rescore_horizon_minutes: int = 0,
        database_url: str | None = None,
    ) -> DetectionEntity:
        """Register a detection entity in ``project`` (a Project, its id or its title).

        ``kind`` is its job kind (``detect``, ``forecast`` or a plugin's) and ``job_config``
        that kind's config (a dict or the kind's config object, validated by the kind).
        ``query_delay_seconds`` (None: ``ADMON_LATE_DATA_DELAY_SECONDS``) delays each window's
        run; ``rescore_horizon_minutes`` (0: off) is how far back the scheduler re-checks
        finished windows for late data (:mod:`admon.runs.late`).
        """
        if database_url is None and isinstance(project, Project):
            database_url = project.database_url
        with session_scope(database_url) as s:
            project_id = project.id if isinstance(project, Project) else repo.get_project(s, project).id
            data = EntityCreate.parse(
                project_id=project_id,
                title=title,
                interval_minutes=interval_minutes,
                sliding_interval_minutes=sliding_interval_minutes,
                input_data_config=input_data_config,
                inference_model=inference_model,
                inference_namespace=inference_namespace,
                monit_producer=monit_producer,
                monit_label=monit_label if monit_label is not None else {},
                enabled=enabled,
                schedule_from_ms=schedule_from_ms,
                kind=kind,
                job_config=job_config,
                query_delay_seconds=query_delay_seconds,
                rescore_horizon_minutes=rescore_horizon_minutes,
            )
            return cls._from_row(repo.create_entity(s, data), database_url)

    @classmethod
    def get(
        cls, ref: int | str, *, project: int | str | None = None, database_url: str | None = None
    ) -> DetectionEntity:
        """An entity by id or title (``project`` disambiguates equal titles)."""
        with session_scope(database_url) as s:
            return cls._from_row(repo.get_entity(s, ref, project), database_url)

    @classmethod
    def list(
        cls,
        project: Project | int | str | None = None,
        *,
        enabled: bool | None = None,
        database_url: str | None = None,
    ) -> list[DetectionEntity]:
        ref = project.id if isinstance(project, Project) else project
        with session_scope(database_url) as s:
            rows = repo.list_entities(s, ref, enabled=enabled)
            return [cls._from_row(r, database_url) for r in rows]

    @property
    def project(self) -> Project:
        return Project.get(self.project_id, database_url=self.database_url)

    def update(self, **changes: Any) -> DetectionEntity:
        """Change fields (same names as :meth:`create`); the result is validated as a whole."""
        data = EntityUpdate.parse(**changes)
        with session_scope(self.database_url) as s:
            fresh = self._from_row(repo.update_entity(s, self.id, data), self.database_url)
        self._refresh(fresh)
        return self

    def record_model(self, version: str | int | None = None, *, store: Any = None) -> DetectionEntity:
        """Record ``version`` (default: production) of this entity's model, as it is in the store now.

        The artifacts are checked against their manifest first. ``store``: a
        :class:`~admon.models.store.ModelStore`, a root URL or None (``ADMON_MODEL_STORE``).
        """
        manifest = _verified_manifest(self.inference_namespace, self.inference_model, version, store)
        with session_scope(self.database_url) as s:
            row = repo.record_entity_model(s, self.id, manifest.version, manifest.content_sha256)
            fresh = self._from_row(row, self.database_url)
        self._refresh(fresh)
        return self

    def alert_rules(self) -> list[AlertRule]:
        """This entity's alert rules, in the order incidents are matched (none: every incident alerts)."""
        with session_scope(self.database_url) as s:
            return registry_alert_rules.list_rules(s, self.id)

    def add_alert_rule(self, name: str, **fields: Any) -> AlertRule:
        """Add an alert rule (:class:`~admon.alerts.AlertRuleCreate`: ``min_score``,
        ``min_duration_minutes``, ``groups``, ``labels``, ``annotations``); a rule that does not
        fit the entity is a :class:`~admon.errors.ConfigError` and nothing is stored."""
        return add_alert_rule(self.id, name=name, database_url=self.database_url, **fields)

    def delete_alert_rule(self, rule_id: int) -> None:
        with session_scope(self.database_url) as s:
            registry_alert_rules.delete_rule(s, self.id, rule_id)

    def enable(self) -> DetectionEntity:
        return self._set_enabled(True)

    def disable(self) -> DetectionEntity:
        """Stop scheduling this entity (its runs stay recorded)."""
        return self._set_enabled(False)

    def delete(self) -> None:
        """Delete the entity with its runs and results."""
        with session_scope(self.database_url) as s:
            repo.delete_entity(s, self.id)

    def _set_enabled(self, enabled: bool) -> DetectionEntity:
        with session_scope(self.database_url) as s:
            fresh = self._from_row(repo.set_entity_enabled(s, self.id, enabled), self.database_url)
        self._refresh(fresh)
        return self

    def _refresh(self, fresh: DetectionEntity) -> None:
        for field in dataclasses.fields(self):
            if field.name != "database_url":
                setattr(self, field.name, getattr(fresh, field.name))

    def _repr_html_(self) -> str:
        """The entity in a notebook: what it reads, how often, which model; its UI page when
        ADMON_PUBLIC_URL is set."""
        idc = self.input_data_config
        sources = [f"{source_label(s)} → {', '.join(idc.source_value_columns(s))}" for s in idc.source_configs]
        return html_table(f"DetectionEntity {self.id}: {self.title}", [
            ("title", self.title), ("project id", self.project_id), ("kind", self.kind),
            ("enabled", self.enabled),
            ("window", f"{self.interval_minutes} min, every {self.sliding_interval_minutes} min"),
            ("sources", "; ".join(sources)),
            ("aggregation", f"{idc.agg_method} per {idc.agg_interval_seconds} s"
                            + (f" by {', '.join(idc.group_by)}" if idc.group_by else "")),
            ("model", f"{self.inference_namespace}/{self.inference_model}"
                      + (f" version {self.model_version}" if self.model_version else "")),
            ("monit", f"{self.monit_producer} {dict(self.monit_label)}"),
            ("created", time_text(self.created_ms)),
        ], ui_link(f"/entities/{self.id}"))


def add_alert_rule(entity: int | str, *, database_url: str | None = None, **fields: Any) -> AlertRule:
    """Add an alert rule to ``entity`` (id or title): see :meth:`DetectionEntity.add_alert_rule`.
    An unknown entity, like a rule that does not fit, is a :class:`~admon.errors.ConfigError`."""
    rule = AlertRuleCreate.parse(**fields)
    with session_scope(database_url) as s:
        try:
            row = repo.get_entity(s, entity)
        except NotFoundError as exc:
            raise ConfigError(f"entity: {exc}") from None
        return registry_alert_rules.create_rule(s, row, rule, now_ms())


def record_model(namespace: str, model: str, version: str | int | None = None, *, store: Any = None,
                 database_url: str | None = None) -> list[DetectionEntity]:
    """Record ``version`` (default: production) of ``namespace/model`` on every entity that runs it.

    What training with promotion, ``admon model promote`` and ``admon model rollback`` call:
    from then on those entities' runs load only this content. The artifacts are checked
    against their manifest before the hash is recorded. Returns the updated entities.

    >>> import os, tempfile, numpy as np, pandas as pd
    >>> from admon.detectors import create
    >>> from admon.models.store import ModelStore
    >>> store = ModelStore(tempfile.mkdtemp())
    >>> frame = pd.DataFrame({"host": "h", "timestamp": np.arange(50, dtype="int64") * 300_000,
    ...                       "v": np.sin(np.arange(50.0))})
    >>> m = store.put("ns", "m", create("robust_zscore").fit(frame))
    >>> from admon.registry.db import init_database
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "rec.db")
    >>> _ = init_database(url)
    >>> record_model("ns", "m", store=store, database_url=url)  # no entity runs it yet
    []
    """
    manifest = _verified_manifest(namespace, model, version, store)
    with session_scope(database_url) as s:
        rows = repo.record_model(s, namespace, model, manifest.version, manifest.content_sha256)
        return [DetectionEntity._from_row(r, database_url) for r in rows]


def _verified_manifest(namespace: str, model: str, version: str | int | None, store: Any):
    from admon.models.store import ModelStore

    store = store if isinstance(store, ModelStore) else ModelStore(store)
    return store.verify(namespace, model, version)
