"""``admon train …``, ``admon model list|show|promote|rollback|verify`` and ``admon detectors``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from admon.cli.tables import cli_console, print_json, print_table
from admon.errors import ConfigError, IntegrityError

console = cli_console()
model_app = typer.Typer(help="List, inspect, promote and roll back stored models.", no_args_is_help=True)

StoreOpt = Annotated[str | None, typer.Option("--store", help="Model store root (default: ADMON_MODEL_STORE).")]


def _store(root: str | None):
    from admon.models.store import ModelStore

    return ModelStore(root)


def parse_params(pairs: list[str] | None, params_json: str | None) -> dict[str, Any]:
    """``["window=12", "aggregate=max"]`` and/or a JSON object -> a dict (values parsed as JSON when they are).

    >>> parse_params(["window=12", "aggregate=max"], '{"seed": 3}')
    {'seed': 3, 'window': 12, 'aggregate': 'max'}
    """
    out: dict[str, Any] = {}
    if params_json:
        try:
            loaded = json.loads(params_json)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--params-json is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError("--params-json must be a JSON object, e.g. '{\"window\": 12}'")
        out.update(loaded)
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(f"--param {pair!r} is not KEY=VALUE, e.g. --param window=12")
        key, value = pair.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _entity(ref: str):
    """The registered entity ``ref`` (id or title), through the registry API."""
    try:
        from admon.registry.api import DetectionEntity
    except ImportError as exc:  # the registry is another area; fail clearly if absent
        raise ConfigError(
            f"the registry is not available ({exc}); give --input-config, --namespace and --model instead"
        ) from None
    return DetectionEntity.get(int(ref) if ref.isdigit() else ref)


def train_cmd(
    entity: Annotated[str | None, typer.Argument(help="Detection entity id or title.")] = None,
    start: Annotated[str, typer.Option("--from", help="Training window start (epoch ms or ISO).")] = ...,
    end: Annotated[str, typer.Option("--to", help="Training window end, exclusive.")] = ...,
    detector: Annotated[str, typer.Option(help="Detector name (see `admon detectors`).")] = "robust_zscore",
    param: Annotated[list[str] | None, typer.Option("--param", help="Detector parameter KEY=VALUE (repeatable).")] = None,
    params_json: Annotated[str | None, typer.Option("--params-json", help="Detector parameters as a JSON object.")] = None,
    transforms_json: Annotated[str | None, typer.Option("--transforms-json", help="Transforms, a JSON list of {name, ...}.")] = None,
    input_config: Annotated[Path | None, typer.Option("--input-config", help="InputDataConfig YAML/JSON (without an entity).")] = None,
    namespace: Annotated[str | None, typer.Option(help="Model namespace (default: the entity's).")] = None,
    model: Annotated[str | None, typer.Option(help="Model name (default: the entity's).")] = None,
    threshold: Annotated[float, typer.Option(help="Threshold on the 0-100 calibrated score.")] = 75.0,
    store: StoreOpt = None,
    lake_root: Annotated[str | None, typer.Option("--lake-root", help="Lake root (default: ADMON_LAKE_ROOT).")] = None,
    promote: Annotated[bool, typer.Option("--promote/--no-promote", help="Make the new version production.")] = True,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar for deep models.")] = True,
) -> None:
    """Train a detector on an entity's data over [--from, --to) and store it as a new model version."""
    from admon.cli.data import existing_lake_root
    from admon.config import InputDataConfig
    from admon.models.training import train

    if entity is not None:
        ent = _entity(entity)
        idc = ent.input_data_config
        namespace = namespace or ent.inference_namespace
        model = model or ent.inference_model
    elif input_config is not None:
        text = input_config.read_text()
        idc = InputDataConfig.from_json(text) if text.lstrip().startswith("{") else InputDataConfig.from_yaml(text)
    else:
        raise ConfigError("give an ENTITY (id or title), or --input-config with --namespace and --model")
    if not namespace or not model:
        raise ConfigError("--namespace and --model are needed without an entity")
    lake_root = existing_lake_root(lake_root, "--lake-root", idc)
    transforms = json.loads(transforms_json) if transforms_json else []
    result = train(idc, start, end, detector, parse_params(param, params_json), namespace=namespace, model=model,
                   store=store, transforms=transforms, threshold=threshold, lake_root=lake_root,
                   promote=promote, progress=progress)
    m = result.manifest
    table = Table(title=f"trained {m.namespace}/{m.model} version {m.version} ({m.detector})")
    for col in ("stage", "status", "seconds", "detail"):
        table.add_column(col)
    for rec in result.stages:
        detail = {k: _shown_time(k, v) for k, v in rec.items() if k not in ("stage", "status", "seconds")}
        table.add_row(rec["stage"], rec["status"], f"{rec['seconds']:.3f}", json.dumps(detail, default=str))
    print_table(table, console)
    console.print(f"content sha256 {m.content_sha256}" + (" (promoted)" if promote else ""))
    if result.recorded_entities:
        console.print(f"recorded in the registry for entities {_ids(result.recorded_entities)}")


@model_app.command("list")
def model_list(
    namespace: Annotated[str | None, typer.Argument(help="Only this namespace.")] = None,
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per version instead of a table.")] = False,
) -> None:
    """Every stored model version; '*' marks the production version."""
    st = _store(store)
    if as_json:
        for ns, name in st.models(namespace):
            prod = st.production(ns, name)
            for m in st.versions(ns, name):
                typer.echo(json.dumps({"namespace": ns, "model": name, "version": m.version,
                                       "production": m.version == prod, "detector": m.detector,
                                       "content_sha256": m.content_sha256}))
        return
    table = Table(title=f"models in {st.url}")
    for col in ("namespace", "model", "version", "production", "detector", "features", "trained window", "sha256"):
        table.add_column(col)
    from admon.timeutil import format_ms

    for ns, name in st.models(namespace):
        prod = st.production(ns, name)
        for m in st.versions(ns, name):
            window = f"{format_ms(m.training_window[0])} .. {format_ms(m.training_window[1])}" if m.training_window else ""
            table.add_row(ns, name, m.version, "*" if m.version == prod else "", m.detector,
                          ", ".join(m.feature_columns), window, m.content_sha256[:12])
    print_table(table, console, key_columns=3)


@model_app.command("show")
def model_show(namespace: str, model: str, version: Annotated[str | None, typer.Argument()] = None,
               store: StoreOpt = None) -> None:
    """The manifest of a version (default: production) as JSON."""
    typer.echo(json.dumps(_store(store).manifest(namespace, model, version).model_dump(mode="json"), indent=2))


@model_app.command("promote")
def model_promote(namespace: str, model: str, version: str, store: StoreOpt = None) -> None:
    """Make VERSION the production version and record its content hash for the entities running it."""
    st = _store(store)
    st.verify(namespace, model, version)  # never promote (and record) a corrupt version
    v = st.promote(namespace, model, version)
    console.print(f"{namespace}/{model}: production is now version {v}")
    _record(st, namespace, model, v)


@model_app.command("rollback")
def model_rollback(namespace: str, model: str, store: StoreOpt = None) -> None:
    """Return production to the previously promoted version and record its content hash."""
    st = _store(store)
    v = st.rollback(namespace, model)
    console.print(f"{namespace}/{model}: rolled back, production is now version {v}")
    _record(st, namespace, model, v)


def _record(st, namespace: str, model: str, version: str) -> None:
    """Record ``version``'s content hash on the registry entities that run ``namespace/model``."""
    from admon.models.store import is_runs_store
    from admon.registry.api import record_model

    if not is_runs_store(st):
        console.print(f"[yellow]registry not updated: {st.url} is not the store runs load from "
                      "(ADMON_MODEL_STORE)[/]")
        return
    entities = record_model(namespace, model, version, store=st)
    sha = st.manifest(namespace, model, version).content_sha256
    if entities:
        console.print(f"recorded version {version} (sha256 {sha}) for entities {_ids([e.id for e in entities])}")
    else:
        console.print(f"no registry entity runs {namespace}/{model}; nothing recorded")


def _shown_time(key: str, value: Any) -> Any:
    """A stage detail's epoch-ms time (``split_timestamp``, ``*_ms``) as UTC ISO text.

    >>> _shown_time("split_timestamp", 1652175300000), _shown_time("rows", 345)
    ('2022-05-10T09:35:00Z', 345)
    """
    from admon.timeutil import format_ms

    is_time = key.endswith(("timestamp", "_ms")) and isinstance(value, int) and not isinstance(value, bool)
    return format_ms(value) if is_time else value


def _ids(ids: list[int]) -> str:
    return ", ".join(f"#{i}" for i in ids)


@model_app.command("verify", no_args_is_help=True)
def model_verify(namespace: str, model: str, version: Annotated[str | None, typer.Argument()] = None,
                 sha256: Annotated[str | None, typer.Option(help="Content hash to expect, besides the registry's.")] = None,
                 store: StoreOpt = None) -> None:
    """Check every artifact hash against the manifest, and the content hash against the one the
    registry recorded for the entities running the model, as scheduled runs do (exit code 2 if
    either differs). Content without a recorded hash is reported as such, not as verified."""
    from admon.models.store import is_runs_store, recorded_sha256, unrecorded_note

    st = _store(store)
    concrete = st.resolve(namespace, model, version)
    records, entity_ids = [], []
    if is_runs_store(st):  # the registry's records are of the store runs load from, not of copies elsewhere
        records, entity_ids = _registry_records(namespace, model)
    recorded = recorded_sha256(namespace, model, concrete, records, production=version in (None, "production"))
    if sha256 is not None and recorded is not None and sha256 != recorded:
        raise IntegrityError(
            f"--sha256 {sha256} is not the content hash {recorded} the registry recorded for "
            f"{namespace}/{model}; check which one you meant"
        )
    m = st.verify(namespace, model, concrete, expected_sha256=recorded or sha256)
    checked = f"{namespace}/{model} version {m.version}: {len(m.files)} files match the manifest"
    if recorded is not None:
        typer.echo(f"{checked}; content sha256 {m.content_sha256} matches the hash the registry recorded "
                   f"for entities {_ids(entity_ids)}: verified")
    elif sha256 is not None:
        typer.echo(f"{checked}; content sha256 {m.content_sha256} matches the given --sha256 "
                   "(the registry recorded none)")
    else:
        why = "" if is_runs_store(st) else f"{st.url} is not the store runs load from (ADMON_MODEL_STORE)"
        typer.echo(f"{unrecorded_note(namespace, model, m.version, why)} "
                   f"({len(m.files)} files, content sha256 {m.content_sha256})")


def _registry_records(namespace: str, model: str) -> tuple[list[tuple[str | None, str | None]], list[int]]:
    """The ``(model_version, model_sha256)`` recorded on the entities running ``namespace/model``
    that have one, and those entities' ids."""
    from admon.registry import repository
    from admon.registry.db import session_scope

    with session_scope() as s:
        recorded = [(e.model_version, e.model_sha256, e.id)
                    for e, _ in repository.model_users(s, namespace, model) if e.model_sha256]
    return [(v, sha) for v, sha, _ in recorded], [i for _, _, i in recorded]


def detectors_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array of {name, parameters}.")] = False,
) -> None:
    """The registered detectors and their parameters."""
    import admon.detectors as detectors

    found = {name: {k: v.default for k, v in detectors.get_class(name).Config.model_fields.items()}
             for name in detectors.available()}
    if as_json:
        print_json({"name": name, "parameters": params} for name, params in found.items())
        return
    table = Table(title="detectors")
    table.add_column("name")
    table.add_column("parameters")
    for name, params in found.items():
        table.add_row(name, ", ".join(f"{k}={v!r}" for k, v in params.items()))
    print_table(table, console)


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
    app.command("detectors")(detectors_cmd)
    app.add_typer(model_app, name="model")
