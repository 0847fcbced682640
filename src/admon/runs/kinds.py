"""Job kinds: what an entity does with its window (``detect``, ``forecast``, plugins).

The :class:`~admon.runs.runner.Runner` owns everything a run has in common: the lease,
reading the window, ``no_data``, the one commit (results, outbox rows, status, the
kind's state changes), publishing, metrics and failures. A job kind only says what
it needs and what it makes of the frame:

- :meth:`JobKind.validate_config`: the entity's ``job_config`` checked (at creation
  and update, by the registry's schemas), returned as stored JSON;
- :meth:`JobKind.load`: what a run of the entity needs (a model, a job config, its
  open episodes) and how much history before the window it reads;
- :meth:`JobKind.run`: the documents, provenance, scores digest, row and group counts
  of one window (pure: nothing is sent or written here; the runner commits it);
- :meth:`JobKind.reproduce`: a recorded run recomputed and compared (``admon reproduce``);
- :meth:`JobKind.sinks`: the action sinks (e.g. a webhook) its notices go to.

Kinds are registered in :data:`JOB_KINDS` (entry-point group ``admon.job_kinds``), the
same shape as every plugin point (:mod:`admon.plugins`)::

    # a plugin package's pyproject.toml
    [project.entry-points."admon.job_kinds"]
    my_kind = "my_package.kinds:MyKind"

>>> sorted(JOB_KINDS.names())
['detect', 'forecast']
>>> JOB_KINDS.get("detect").validate_config(None) is None
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import pandas as pd

from admon.config import InputDataConfig
from admon.errors import ConfigError
from admon.models.scoring import Scorer
from admon.plugins import Registry
from admon.sinks.base import Sink

#: The kind of an entity created without one.
DEFAULT_KIND = "detect"


@dataclasses.dataclass
class EntitySpec:
    """What a run needs of its entity, read once (plain values, no session attached).

    The registry's :class:`~admon.registry.schemas.EntityRecord` in a run's units (windows
    in ms, ``idc``); :func:`admon.runs.runner.entity_spec` builds it from a stored row.
    """

    id: int
    project_id: int
    title: str
    interval_ms: int
    slide_ms: int
    idc: InputDataConfig
    config_hash: str
    inference_model: str
    inference_namespace: str
    monit_producer: str
    monit_label: dict[str, str]
    enabled: bool
    schedule_from_ms: int | None
    created_ms: int
    updated_ms: int
    #: The model version and content hash the registry recorded (None: not yet, see Runner.model_for).
    model_version: str | None = None
    model_sha256: str | None = None
    #: The entity's job kind (a name in :data:`JOB_KINDS`) and its kind-specific config.
    kind: str = DEFAULT_KIND
    job_config: dict[str, Any] | None = None
    #: Late data (:mod:`admon.runs.late`): the entity's own delay (None: the setting) and how far
    #: back each tick re-checks finished windows (0: off).
    query_delay_seconds: int | None = None
    rescore_horizon_minutes: int = 0

    @classmethod
    def from_record(cls, values: dict[str, Any]) -> EntitySpec:
        """From :meth:`EntityRecord.values_of <admon.registry.schemas.EntityRecord.values_of>`."""
        values = dict(values)
        values = {
            "interval_ms": values.pop("interval_minutes") * 60_000,
            "slide_ms": values.pop("sliding_interval_minutes") * 60_000,
            "idc": values.pop("input_data_config"),
        } | values
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class Window:
    """The window a run computes: ``[start_ms, end_ms)`` of one entity, run ``run_id``."""

    run_id: int
    entity_id: int
    start_ms: int
    end_ms: int


@dataclasses.dataclass(frozen=True)
class EpisodeChange:
    """A change of one open episode (an action's state), compare-and-set in the run's commit.

    ``expected`` is the episode id the run read as open (None: none was), ``new`` the one
    it opens (None: it closes). If the stored episode is no longer ``expected`` (a
    concurrent run of another window changed it), the commit fails and the run is retried.
    """

    key: str
    expected: str | None
    new: str | None
    payload: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class Notice:
    """A document for one action sink (a webhook): queued in the run's commit, sent after it."""

    sink: Sink
    document: dict[str, Any]


@dataclasses.dataclass
class JobOutput:
    """What a kind made of one window; the runner commits it as one transaction."""

    documents: list[dict[str, Any]]
    provenance: dict[str, Any]
    digest: str
    rows: int
    groups: int
    anomalies: int = 0
    notices: list[Notice] = dataclasses.field(default_factory=list)
    episodes: list[EpisodeChange] = dataclasses.field(default_factory=list)
    #: The content hash of the model that computed it (the run's ``model_sha256``), if any.
    model_sha256: str | None = None


@dataclasses.dataclass
class Loaded:
    """What :meth:`JobKind.load` read for a run: history to read before the window, and the rest."""

    history_ms: int = 0
    value: Any = None


@dataclasses.dataclass
class RecordedRun:
    """A finished run as recorded, for :meth:`JobKind.reproduce`."""

    run_id: int
    window: Window
    provenance: dict[str, Any]
    scores_hash: str | None
    rows: int | None
    groups: int | None
    model_sha256: str | None
    documents: list[dict[str, Any]]


@dataclasses.dataclass
class ReproduceReport:
    """Did recomputing a run from its provenance give the recorded result?"""

    run_id: int
    identical: bool
    recorded_hash: str | None
    recomputed_hash: str
    rows_recorded: int | None
    rows_now: int
    model_id: str
    model_hash_matches: bool
    config_hash_matches: bool
    max_abs_score_diff: float | None
    notes: list[str]
    #: Content sha256 of the model that computed it now, and of the one the run recorded.
    model_hash: str = ""
    recorded_model_hash: str | None = None
    kind: str = DEFAULT_KIND

    def summary(self) -> str:
        verdict = "IDENTICAL" if self.identical else "DIFFERENT"
        what = "scores" if self.kind == DEFAULT_KIND else f"{self.kind} result"
        return (f"run {self.run_id}: {what} {verdict} (rows recorded {self.rows_recorded}, now "
                f"{self.rows_now}; model {self.model_id} sha256 {self.model_hash[:12] or '-'}; hash "
                f"{self.recomputed_hash[:12]} vs {(self.recorded_hash or '-')[:12]})"
                + "".join(f"\n  - {n}" for n in self.notes))


Reader = Callable[[EntitySpec, int, int], "tuple[pd.DataFrame, dict]"]


@dataclasses.dataclass
class JobContext:
    """What the runner offers a kind: settings, the registry, the reader and the model loader."""

    settings: Any
    factory: Any  # sessionmaker of the registry: kinds read and write it only through admon.registry
    read: Reader
    load_model: Callable[[EntitySpec], Scorer]


class JobKind:
    """The protocol of a job kind (see the module docstring); subclass it and register it."""

    name: ClassVar[str] = ""

    @classmethod
    def validate_config(cls, job_config: Any) -> dict[str, Any] | None:
        """``job_config`` checked and as stored (JSON), or a ConfigError naming the problem."""
        if job_config not in (None, {}):
            raise ConfigError(f"job kind {cls.name!r} takes no job_config, got {job_config!r}; leave it out")
        return None

    def load(self, ctx: JobContext, entity: EntitySpec) -> Loaded:
        """What a run of ``entity`` needs, read before the window is."""
        return Loaded()

    def run(self, ctx: JobContext, entity: EntitySpec, window: Window, loaded: Loaded,
            frame: pd.DataFrame, report: dict[str, Any]) -> JobOutput:
        """The window's output from ``frame`` (the window plus ``loaded.history_ms`` before it)."""
        raise NotImplementedError

    def reproduce(self, ctx: JobContext, entity: EntitySpec, run: RecordedRun) -> ReproduceReport:
        """Recompute ``run`` from its provenance and compare."""
        raise NotImplementedError

    def sinks(self, entity: EntitySpec) -> list[Sink]:
        """The action sinks the entity's notices are delivered to (beyond ``ADMON_SINKS``)."""
        return []

    def clear_caches(self) -> None:
        """Forget what was cached for one scheduler tick."""


#: Job kinds by name; ``detect`` and ``forecast`` are built in.
JOB_KINDS: Registry[type[JobKind]] = Registry(
    "job kind", "admon.job_kinds", base=JobKind,
    builtin_modules=("admon.runs.detect", "admon.forecast.scheduling"),
)
register_job_kind = JOB_KINDS.register


def check_job(kind: str | None, job_config: Any) -> tuple[str, dict[str, Any] | None]:
    """``(kind, job_config)`` of an entity validated by the kind: what the registry stores.

    >>> check_job(None, None)
    ('detect', None)
    >>> check_job("nope", None)
    Traceback (most recent call last):
    ...
    admon.errors.ConfigError: unknown job kind 'nope'; available job kinds: detect, forecast
    """
    kind = kind or DEFAULT_KIND
    return kind, JOB_KINDS.get(kind).validate_config(job_config)

