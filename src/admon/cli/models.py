"""``admon train …``, ``admon model list|show|promote|rollback|verify``, the champion and its
challengers (``admon model challenge|challengers|promote-challenger|retire-challenger``) and
``admon detectors``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from admon.cli.tables import cli_console, print_json, print_table
from admon.errors import AdmonError, ConfigError, IntegrityError

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


# --- champion and challengers (admon.registry.challengers) ----------------------------------------


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment (e.g. a container's uid)
        return "cli"


@model_app.command("challenge")
def model_challenge(
    entity: Annotated[str, typer.Argument(help="Detection entity id or title.")],
    detector: Annotated[str, typer.Option("--detector", help="Detector name (see `admon detectors`).")],
    param: Annotated[list[str] | None, typer.Option("--param", help="Detector parameter KEY=VALUE (repeatable).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Challenger name (default: the detector's).")] = None,
    start: Annotated[str | None, typer.Option("--from", help="Training start (default: the champion's window).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Training end, exclusive.")] = None,
    threshold: Annotated[float, typer.Option(help="Threshold on the 0-100 calibrated score.")] = 75.0,
    store: StoreOpt = None,
    lake_root: Annotated[str | None, typer.Option("--lake-root", help="Lake root (default: ADMON_LAKE_ROOT).")] = None,
) -> None:
    """Train a challenger on the champion's training data (or [--from, --to)) and run it in
    shadow beside the champion: scored and stored on every window, never exported nor alerted."""
    from admon.challengers import challenger_model_name, check_name
    from admon.cli.data import existing_lake_root
    from admon.config import InputDataConfig
    from admon.models.training import train
    from admon.registry import challengers as registry_challengers
    from admon.registry import repository as repo
    from admon.registry.db import session_scope

    label = check_name(name or detector.replace("_", "-").lower())
    with session_scope() as s:
        row = repo.get_entity(s, entity)
        entity_id, idc = row.id, row.input_data_config
        namespace, champion_model, champion_version = row.inference_namespace, row.inference_model, row.model_version
        taken = [c.name for c in registry_challengers.list_challengers(s, entity_id)]
    if label in taken:
        raise ConfigError(f"entity {entity_id} already has a challenger {label!r}; give another --name")
    if (start is None) != (end is None):
        raise ConfigError("give both --from and --to, or neither (the champion's training window)")
    st = _store(store)
    if start is None:
        try:
            window = st.manifest(namespace, champion_model, champion_version).training_window
        except AdmonError as exc:
            raise ConfigError(f"the champion {namespace}/{champion_model} has no stored training window ({exc}); "
                              "give --from and --to") from None
        if not window:
            raise ConfigError(f"the champion {namespace}/{champion_model} records no training window; "
                              "give --from and --to")
        start_at, end_at = window
    else:
        start_at, end_at = start, end
    config = InputDataConfig._validated(idc)
    lake_root = existing_lake_root(lake_root, "--lake-root", config)
    params = parse_params(param, None)
    result = train(config, start_at, end_at, detector, params, namespace=namespace,
                   model=challenger_model_name(champion_model, label), store=st, threshold=threshold,
                   lake_root=lake_root, promote=True, record=False)
    m = result.manifest
    with session_scope() as s:
        added = registry_challengers.add_challenger(
            s, entity_id, name=label, detector=detector, params=params, model_namespace=m.namespace,
            model_name=m.model, model_version=m.version, model_sha256=m.content_sha256,
            training_window=m.training_window, created_by=_user())
        added_id = added.id
    console.print(f"challenger {label!r} (#{added_id}) of entity #{entity_id}: {m.namespace}/{m.model} version "
                  f"{m.version} ({detector}), trained on the same data as the champion"
                  + ("" if start is None else " over the given range") + "; it scores in shadow from the next run")


@model_app.command("challengers")
def model_challengers(
    entity: Annotated[str, typer.Argument(help="Detection entity id or title.")],
    rule: Annotated[str | None, typer.Option("--rule", help="Also say what a promotion rule says, "
                                                           "e.g. 'gain=0.1,incidents=5'.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead of a table.")] = False,
) -> None:
    """The entity's champion and challengers on its labelled windows: event F1, NAB score,
    alarms per day, scoring seconds per run; and its promotions."""
    from admon.registry import challengers as registry_challengers
    from admon.registry import repository as repo
    from admon.registry.db import session_scope

    with session_scope() as s:
        entity_id = repo.get_entity(s, entity).id
        board = registry_challengers.leaderboard(s, entity_id, None if rule is None
                                                 else registry_challengers.check_rule_text(rule))
    if as_json:
        typer.echo(json.dumps(board, default=str))
        return
    table = Table(title=f"entity #{entity_id}: champion and challengers on {board['labelled']} labelled windows")
    for col in ("name", "role", "model", "event F1", "NAB", "alarms/day", "s/run", "runs", "skipped", "rule"):
        table.add_column(col)
    for m in board["models"]:
        table.add_row(m["name"], m["role"], m["model"], f"{m['f1']:g} ({m['labelled_scored']} scored)",
                      "-" if m["nab"] is None else f"{m['nab']:g}",
                      "-" if m["alarms_per_day"] is None else f"{m['alarms_per_day']:g}",
                      "-" if m["seconds_per_run"] is None else f"{m['seconds_per_run']:.4f}",
                      str(m["runs_scored"]), str(m["runs_skipped"]),
                      m["rule"]["reason"] if "rule" in m else "")
    print_table(table, console)
    for p in board["promotions"]:
        console.print(f"promotion {p['id']}: {p['from']['model']} -> {p['to']['model']} by {p['decided_by']}: "
                      f"{p['reason']}")


@model_app.command("promote-challenger")
def model_promote_challenger(
    entity: Annotated[str, typer.Argument(help="Detection entity id or title.")],
    name: Annotated[str | None, typer.Argument(help="The challenger to promote (leave out with --auto/--rollback).")] = None,
    auto: Annotated[bool, typer.Option("--auto", help="Promote the challenger the --rule favours, if any.")] = False,
    rule: Annotated[str | None, typer.Option("--rule", help="Promotion rule, e.g. 'gain=0.1,incidents=5' "
                                                           "(F1 gain over the champion on at least N labelled "
                                                           "events); default: the entity's rule, else "
                                                           "gain=0.1,incidents=5.")] = None,
    rollback: Annotated[bool, typer.Option("--rollback", help="Undo the entity's last promotion.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead of text.")] = False,
) -> None:
    """Make a challenger the entity's champion (by hand, or by a rule with --auto), or roll the
    last promotion back. Recorded in the registry; runs name the champion that scored them."""
    from admon.registry import challengers as registry_challengers
    from admon.registry import repository as repo
    from admon.registry.db import session_scope
    from admon.registry.models import PromotionRow

    if sum((name is not None, auto, rollback)) != 1:
        raise ConfigError("give a challenger NAME, or --auto (a rule decides), or --rollback; exactly one")
    said: list[dict[str, Any]] = []
    row: PromotionRow | None
    with session_scope() as s:
        entity_id = repo.get_entity(s, entity).id
        if rollback:
            row = registry_challengers.rollback(s, entity_id, decided_by=_user())
        elif auto:
            chosen = (registry_challengers.check_rule_text(rule) if rule is not None
                      else registry_challengers.entity_rule(s, entity_id) or registry_challengers.check_rule_text(None))
            row, said = registry_challengers.apply_rule(s, entity_id, chosen)
        else:
            row = registry_challengers.promote(s, entity_id, str(name), decided_by=_user(),
                                               reason=f"challenger {name!r} promoted by hand ({_user()})")
        out = None if row is None else registry_challengers.promotion_json(row)
    if as_json:
        typer.echo(json.dumps({"promotion": out, "judged": said}, default=str))
        return
    for j in said:
        console.print(f"{j['name']}: {'promote' if j['promote'] else 'keep in shadow'} ({j['reason']})")
    if out is None:
        console.print(f"entity #{entity_id}: no challenger meets the rule; the champion stays")
    else:
        console.print(f"entity #{entity_id}: promotion {out['id']}: champion is now "
                      f"{out['to']['namespace']}/{out['to']['model']} version {out['to']['version']} "
                      f"(was {out['from']['model']} version {out['from']['version']}): {out['reason']}")


@model_app.command("promotion-rule")
def model_promotion_rule(
    entity: Annotated[str, typer.Argument(help="Detection entity id or title.")],
    rule: Annotated[str | None, typer.Argument(help="e.g. 'gain=0.1,incidents=5'; leave out to show the rule.")] = None,
    off: Annotated[bool, typer.Option("--off", help="Remove the rule: promotion by hand only.")] = False,
) -> None:
    """The entity's automatic promotion rule: after each run that scored challengers, on new
    labels, the challenger whose event F1 beats the champion's by the gain on at least that many
    labelled events is promoted (recorded as decided by the rule)."""
    from admon.registry import challengers as registry_challengers
    from admon.registry import repository as repo
    from admon.registry.db import session_scope

    if off and rule is not None:
        raise ConfigError("give a RULE or --off, not both")
    with session_scope() as s:
        entity_id = repo.get_entity(s, entity).id
        if off or rule is not None:
            registry_challengers.set_rule(s, entity_id, None if off else registry_challengers.check_rule_text(rule),
                                          set_by=_user())
        current = registry_challengers.entity_rule(s, entity_id)
    if current is None:
        console.print(f"entity #{entity_id}: no automatic promotion rule (promote by hand)")
    else:
        console.print(f"entity #{entity_id}: promote automatically when a challenger's event F1 beats the "
                      f"champion's by {current.min_f1_gain:g} on at least {current.min_incidents} labelled events")


@model_app.command("retire-challenger")
def model_retire_challenger(
    entity: Annotated[str, typer.Argument(help="Detection entity id or title.")],
    name: Annotated[str, typer.Argument(help="The challenger to stop scoring in shadow.")],
) -> None:
    """Stop scoring a challenger in shadow (its shadow results and model stay)."""
    from admon.registry import challengers as registry_challengers
    from admon.registry import repository as repo
    from admon.registry.db import session_scope

    with session_scope() as s:
        entity_id = repo.get_entity(s, entity).id
        registry_challengers.retire_challenger(s, entity_id, name)
    console.print(f"entity #{entity_id}: challenger {name!r} retired")


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
    app.command("detectors")(detectors_cmd)
    app.add_typer(model_app, name="model")
