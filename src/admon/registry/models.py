"""The registry schema: one SQLAlchemy 2 declarative model per table.

The schema is created and evolved only by the Alembic migrations shipped in
``admon/registry/migrations`` (see :func:`admon.registry.db.get_engine`); these
classes describe it for queries. Times are epoch milliseconds (``BigInteger``)
so that SQLite and PostgreSQL store and compare them identically.

Tables:

- ``projects``, ``detection_entities``: what the service manager registers.
- ``runs``: one row per ``(entity, window_end)``; also the lease of the run.
- ``results``: one row per exported document (primary key = deterministic id).
- ``outbox``: one row per (sink, document) until the sink acknowledged it.
- ``leases``: named leases, e.g. the right to deliver to one sink.
- ``action_episodes``: the open episodes of entities' action rules (forecast notices).
- ``incidents``: anomalous windows of one entity and group merged into one incident.
- ``alert_rules``: which incidents of an entity alert, and their labels (:mod:`admon.alerts`).
- ``users``, ``groups``, ``memberships``, ``api_tokens``, ``annotations``: for the service.
- ``entity_thresholds``, ``suppressions``: thresholds learnt from verdicts, suppression windows.
- ``challengers``, ``shadow_results``, ``promotions``, ``promotion_rules``: champion and challenger models.
- ``detector_states``: a detector's per-group state after an entity's newest run (:mod:`admon.runs.state`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so migrations can refer to them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# Run statuses. A run is `pending` until a scheduler leases it (`running`); a failed attempt
# makes it `retrying` (with `next_attempt_ms`) until `run_max_attempts`, then `failed`. A window
# whose read found no input at all is `no_data` (finished, nothing exported). The column is a
# plain string (no CHECK constraint), so a new status needs no migration.
PENDING, RUNNING, RETRYING, SUCCEEDED, FAILED = "pending", "running", "retrying", "succeeded", "failed"
NO_DATA = "no_data"
RUN_STATUSES = (PENDING, RUNNING, RETRYING, SUCCEEDED, FAILED, NO_DATA)
#: Statuses of a run that is not finished yet (it will run, or is running).
UNFINISHED_STATUSES = (PENDING, RUNNING, RETRYING)


class ProjectRow(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200), unique=True)
    project_url: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    egroup: Mapped[str | None] = mapped_column(String(200))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)

    entities: Mapped[list[EntityRow]] = relationship(back_populates="project")


class EntityRow(Base):
    __tablename__ = "detection_entities"
    __table_args__ = (UniqueConstraint("project_id", "title", name="uq_detection_entities_project_title"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    interval_minutes: Mapped[int] = mapped_column(Integer)
    sliding_interval_minutes: Mapped[int] = mapped_column(Integer)
    input_data_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    config_hash: Mapped[str] = mapped_column(String(64))
    inference_model: Mapped[str] = mapped_column(String(200))
    inference_namespace: Mapped[str] = mapped_column(String(200))
    monit_producer: Mapped[str] = mapped_column(String(200))
    monit_label: Mapped[dict[str, str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # First window end the scheduler runs (default: creation time). Earlier windows: `admon run`.
    schedule_from_ms: Mapped[int | None] = mapped_column(BigInteger)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    # The model store version and content sha256 recorded when a model was trained, promoted or
    # rolled back for this entity; runs refuse a model whose content differs. NULL: not recorded
    # yet (the first run records what it loads).
    model_version: Mapped[str | None] = mapped_column(String(32))
    model_sha256: Mapped[str | None] = mapped_column(String(64))
    # The job kind that runs the entity's windows (admon.runs.kinds: detect, forecast, plugins)
    # and its kind-specific config, validated by the kind (NULL: the kind takes none).
    kind: Mapped[str] = mapped_column(String(64), server_default="detect")  # the database fills it in
    job_config: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # Late data (admon.runs.late): a window ending at t runs at t + delay (NULL: the setting
    # ADMON_LATE_DATA_DELAY_SECONDS); each tick re-checks the windows of the last horizon (0: off).
    query_delay_seconds: Mapped[int | None] = mapped_column(Integer)
    rescore_horizon_minutes: Mapped[int] = mapped_column(Integer, server_default="0")

    project: Mapped[ProjectRow] = relationship(back_populates="entities")


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("entity_id", "window_end_ms", name="uq_runs_entity_window_end"),
        Index("ix_runs_status_next", "status", "next_attempt_ms"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("detection_entities.id"), index=True)
    window_start_ms: Mapped[int] = mapped_column(BigInteger)
    window_end_ms: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # starts, crashed ones included
    failures: Mapped[int] = mapped_column(Integer, default=0)  # attempts that raised an error
    next_attempt_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_ms: Mapped[int | None] = mapped_column(BigInteger)
    trigger: Mapped[str] = mapped_column(String(16), default="scheduler")
    rows: Mapped[int | None] = mapped_column(Integer)
    groups: Mapped[int | None] = mapped_column(Integer)
    anomalies: Mapped[int | None] = mapped_column(Integer)
    timings: Mapped[dict[str, float] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    scores_hash: Mapped[str | None] = mapped_column(String(64))
    model_sha256: Mapped[str | None] = mapped_column(String(64))  # content hash of the model that scored it
    created_ms: Mapped[int] = mapped_column(BigInteger)
    started_ms: Mapped[int | None] = mapped_column(BigInteger)
    finished_ms: Mapped[int | None] = mapped_column(BigInteger)
    # 1, plus one per re-run for late data; its result documents carry it (same ids, new revision)
    revision: Mapped[int] = mapped_column(Integer, server_default="1")
    # what the window read, summarised (admon.data.fingerprint), and the late data found
    input_fingerprint: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    late_data: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


class ResultRow(Base):
    __tablename__ = "results"
    __table_args__ = (Index("ix_results_entity_timestamp", "entity_id", "timestamp_ms"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # deterministic document id
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    entity_id: Mapped[int] = mapped_column(Integer, index=True)
    window_end_ms: Mapped[int] = mapped_column(BigInteger)
    group_key: Mapped[dict[str, Any]] = mapped_column(JSON)
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    anomaly_score: Mapped[float | None] = mapped_column(Float)
    is_anomaly: Mapped[bool] = mapped_column(Boolean)
    threshold: Mapped[float | None] = mapped_column(Float)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)


class OutboxRow(Base):
    """A document waiting for one durable sink; deleted once the sink acknowledged it.

    (``delivered``/``delivered_ms`` stay for tools that mark instead of delete; admon's own
    delivery deletes, so every row here is still owed.)
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("sink", "doc_id", name="uq_outbox_sink_doc"),
        Index("ix_outbox_sink_pending", "sink", "delivered", "window_end_ms"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sink: Mapped[str] = mapped_column(String(500))
    doc_id: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    window_end_ms: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    delivered_ms: Mapped[int | None] = mapped_column(BigInteger)


class EpisodeRow(Base):
    """An open episode of an entity's action rule (e.g. a link's predicted saturation).

    Opened (with the notice announcing it) and closed only in the commit of the run that
    saw it start or clear, under that run's lease: a run that lost its lease changes nothing.
    ``key`` names the group (link) within the entity.
    """

    __tablename__ = "action_episodes"

    # deleted with its entity (by the database: entity deletion needs to know nothing of it)
    entity_id: Mapped[int] = mapped_column(ForeignKey("detection_entities.id", ondelete="CASCADE"),
                                           primary_key=True)
    key: Mapped[str] = mapped_column(String(500), primary_key=True)
    episode_id: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(Integer)
    opened_ms: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class IncidentRow(Base):
    """An incident: anomalous windows of one entity and group merged (:mod:`admon.incidents`).

    Written only in the commit of the run whose window changed it, compare-and-set on
    ``revision``; ``end_ms`` is NULL until it is resolved.
    """

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_entity_status", "entity_id", "status"),
        # one open incident per entity and group, also between two concurrent runs' commits
        Index("uq_incidents_open_group", "entity_id", "group_id", unique=True,
              sqlite_where=text("status != 'resolved'"), postgresql_where=text("status != 'resolved'")),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # deterministic incident id
    entity_id: Mapped[int] = mapped_column(ForeignKey("detection_entities.id", ondelete="CASCADE"))
    group_key: Mapped[dict[str, Any]] = mapped_column(JSON)
    group_id: Mapped[str] = mapped_column(String(500))  # canonical text of group_key
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_window_end_ms: Mapped[int] = mapped_column(BigInteger)
    peak_score: Mapped[float] = mapped_column(Float)
    peak_timestamp_ms: Mapped[int | None] = mapped_column(BigInteger)
    features: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    run_ids: Mapped[list[int]] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer)
    quiet_windows: Mapped[int] = mapped_column(Integer, default=0)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class AlertRuleRow(Base):
    """An alert rule of one entity (:mod:`admon.alerts.rules`): which of its incidents alert, with
    which labels and annotations (templates). Goes with its entity."""

    __tablename__ = "alert_rules"
    __table_args__ = (UniqueConstraint("entity_id", "name", name="uq_alert_rules_entity_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("detection_entities.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    min_score: Mapped[float] = mapped_column(Float, default=0.0)
    min_duration_minutes: Mapped[float] = mapped_column(Float, default=0.0)
    groups: Mapped[dict[str, Any]] = mapped_column(JSON)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON)
    annotations: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class LeaseRow(Base):
    """A named lease (e.g. ``deliver:<sink>``): one holder at a time, taken over once expired."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(600), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    expires_ms: Mapped[int] = mapped_column(BigInteger)


# --- people, for the service ------------------------------------------------------------------


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str | None] = mapped_column(String(300))
    full_name: Mapped[str | None] = mapped_column(String(300))
    password_hash: Mapped[str | None] = mapped_column(String(300))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class GroupRow(Base):
    """An e-group: its members own the projects whose ``egroup`` is its name."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_ms: Mapped[int] = mapped_column(BigInteger)


class MembershipRow(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "group_id", name="uq_memberships_user_group"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    role: Mapped[str] = mapped_column(String(32), default="member")


class ApiTokenRow(Base):
    """An API token; only its sha256 is stored, the secret is shown once at creation."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16), default="")
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_used_ms: Mapped[int | None] = mapped_column(BigInteger)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class AnnotationRow(Base):
    """An expert's label on a time range of one entity's group (the annotation loop).

    Either a range label drawn on the plot or a verdict on one detected anomaly
    (``detection_id``: a result id); ``series`` is the value column it was drawn on,
    ``kind`` a free classification (``spike``, ``drop``, ...). ``author``/``updated_by``
    are user names, kept as text so that a label outlives its author's account.
    """

    __tablename__ = "annotations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("detection_entities.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    group_key: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    series: Mapped[str | None] = mapped_column(String(200))
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    label: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64), default="", server_default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    dataset: Mapped[str | None] = mapped_column(String(200))
    detection_id: Mapped[str | None] = mapped_column(String(64), index=True)
    author: Mapped[str | None] = mapped_column(String(200))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_ms: Mapped[int | None] = mapped_column(BigInteger)


# --- thresholds learnt from verdicts (admon.registry.thresholds) -------------------------------


class EntityThresholdRow(Base):
    """One change of an entity's alert threshold; the newest row of an entity is its override
    (``threshold`` NULL: the model's own). Goes with its entity."""

    __tablename__ = "entity_thresholds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("detection_entities.id", ondelete="CASCADE"), index=True)
    threshold: Mapped[float | None] = mapped_column(Float)
    previous: Mapped[float | None] = mapped_column(Float)
    changed_by: Mapped[str] = mapped_column(String(200))  # "verdicts" or a user name
    changed_ms: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text, server_default="")
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    reverted_from: Mapped[int | None] = mapped_column(Integer)  # the change this one reverted


class SuppressionRow(Base):
    """A window in which an entity's results (of ``group_key``; empty: every group) are not
    anomalous: an expected event (maintenance...), with its reason. Goes with its entity."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("detection_entities.id", ondelete="CASCADE"), index=True)
    group_key: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_ms: Mapped[int] = mapped_column(BigInteger)


# --- champion and challenger models (admon.registry.challengers) --------------------------------


class ChallengerRow(Base):
    """A model an entity runs in shadow beside its champion: scored and stored, never exported
    nor alerted. ``status``: ``active``, ``champion`` (promoted), ``retired``. Goes with its entity."""

    __tablename__ = "challengers"
    __table_args__ = (UniqueConstraint("entity_id", "name", name="uq_challengers_entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("detection_entities.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    detector: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_namespace: Mapped[str] = mapped_column(String(200))
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(32))
    model_sha256: Mapped[str] = mapped_column(String(64))
    training_window: Mapped[list[int] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(200))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    runs_scored: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    runs_skipped: Mapped[int] = mapped_column(Integer, server_default="0", default=0)  # over the time budget
    seconds_total: Mapped[float] = mapped_column(Float, server_default="0", default=0.0)


class ShadowResultRow(Base):
    """A challenger's score of one group of one run's window (never exported nor alerted)."""

    __tablename__ = "shadow_results"
    __table_args__ = (Index("ix_shadow_results_challenger_run", "challenger_id", "run_id"),
                      Index("ix_shadow_results_entity_timestamp", "entity_id", "timestamp_ms"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    challenger_id: Mapped[int] = mapped_column(ForeignKey("challengers.id", ondelete="CASCADE"))
    entity_id: Mapped[int] = mapped_column(ForeignKey("detection_entities.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(Integer)
    window_end_ms: Mapped[int] = mapped_column(BigInteger)
    group_key: Mapped[dict[str, Any]] = mapped_column(JSON)
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)  # the window's peak (else its end), as results'
    anomaly_score: Mapped[float | None] = mapped_column(Float)
    is_anomaly: Mapped[bool] = mapped_column(Boolean)
    threshold: Mapped[float | None] = mapped_column(Float)


class PromotionRow(Base):
    """One change of an entity's champion: a challenger promoted (by a user or a rule), or the
    rollback of a promotion (``rolled_back``: the promotion it undid). Goes with its entity."""

    __tablename__ = "promotions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("detection_entities.id", ondelete="CASCADE"), index=True)
    challenger_id: Mapped[int | None] = mapped_column(Integer)
    from_model: Mapped[dict[str, Any]] = mapped_column(JSON)  # namespace, model, version, sha256
    to_model: Mapped[dict[str, Any]] = mapped_column(JSON)
    decided_by: Mapped[str] = mapped_column(String(200))  # a user name, or "rule"
    decided_ms: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text, server_default="")
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    rolled_back: Mapped[int | None] = mapped_column(Integer)


class PromotionRuleRow(Base):
    """An entity's automatic promotion rule (:class:`admon.challengers.PromotionRule`);
    ``judged_label_ms``: the newest label (created or changed) it judged; checked again on a newer one."""

    __tablename__ = "promotion_rules"

    entity_id: Mapped[int] = mapped_column(ForeignKey("detection_entities.id", ondelete="CASCADE"), primary_key=True)
    min_f1_gain: Mapped[float] = mapped_column(Float)
    min_incidents: Mapped[int] = mapped_column(Integer)
    set_by: Mapped[str] = mapped_column(String(200))
    set_ms: Mapped[int] = mapped_column(BigInteger)
    judged_label_ms: Mapped[int | None] = mapped_column(BigInteger)


class DetectorStateRow(Base):
    """The state of an entity's detector for one group after its newest run: compressed numpy
    arrays (``payload``), valid for the model ``model_sha256``, the stream started at
    ``anchor_ms`` and the window end ``end_ms``. Goes with its entity."""

    __tablename__ = "detector_states"

    entity_id: Mapped[int] = mapped_column(ForeignKey("detection_entities.id", ondelete="CASCADE"), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(1000), primary_key=True)
    model_sha256: Mapped[str] = mapped_column(String(64))
    anchor_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    bytes: Mapped[int] = mapped_column(Integer)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
