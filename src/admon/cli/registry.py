"""``admon db …``, ``admon project …`` and ``admon entity …``: the registry from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from admon.cli.tables import cli_console, print_json, print_table
from admon.errors import ConfigError

console = cli_console()
project_app = typer.Typer(help="Register and list projects.", no_args_is_help=True)
entity_app = typer.Typer(help="Register, list and show detection entities.", no_args_is_help=True)
db_app = typer.Typer(help="The registry database itself.", no_args_is_help=True)

DbUrl = Annotated[str | None, typer.Option("--db", help="Registry URL (default: ADMON_DATABASE_URL).")]
AsJson = Annotated[bool, typer.Option("--json", help="One JSON array (the fields of the REST API).")]


@db_app.command("init")
def db_init(db: DbUrl = None) -> None:
    """Create the registry database (SQLite: the file and its folder) or bring it to the newest
    schema. Only this command (and the first `admon serve` or `admon demo`) creates a database."""
    from admon.registry.db import database_url, init_database, schema_revision, shown_url

    url = database_url(db)
    init_database(url)
    console.print(f"registry database ready: {shown_url(url)} (schema revision {schema_revision(url)})",
                  highlight=False)


@project_app.command("create")
def project_create(
    title: Annotated[str, typer.Option(help="Unique project title.")],
    project_url: Annotated[str | None, typer.Option("--url", help="Project web page.")] = None,
    description: Annotated[str, typer.Option(help="What the project detects.")] = "",
    private: Annotated[bool, typer.Option("--private/--public", help="Hide from other groups.")] = False,
    egroup: Annotated[str | None, typer.Option(help="E-group owning the project.")] = None,
    db: DbUrl = None,
) -> None:
    """Register a project."""
    from admon.registry.api import Project

    project = Project.create(title=title, project_url=project_url, description=description,
                             is_private=private, egroup=egroup, database_url=db)
    console.print(f"created project [bold]{project.title}[/] (id {project.id})")


@project_app.command("list")
def project_list(db: DbUrl = None, as_json: AsJson = False) -> None:
    """List projects."""
    from admon.registry.api import DetectionEntity, Project

    entities = DetectionEntity.list(database_url=db)
    projects = Project.list(database_url=db)
    counts = {p.id: sum(1 for e in entities if e.project_id == p.id) for p in projects}
    if as_json:
        print_json({**_public(p, ("id", "title", "project_url", "description", "is_private", "egroup",
                                  "created_ms", "updated_ms")), "entities": counts[p.id]} for p in projects)
        return
    table = Table("id", "title", "egroup", "private", "entities", "url")
    for p in projects:
        table.add_row(str(p.id), p.title, p.egroup or "", "yes" if p.is_private else "no", str(counts[p.id]),
                      p.project_url or "")
    print_table(table, console)


def _public(record: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The named fields of a registry record, as JSON values."""
    return {f: json.loads(v.to_json()) if hasattr(v := getattr(record, f), "to_json") else v for f in fields}


def load_entity_file(path: Path) -> dict[str, Any]:
    """The fields of a detection entity from a YAML (or JSON) file; ``project`` = title or id."""
    import yaml

    if not path.is_file():
        raise ConfigError(f"entity file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of entity fields, got {type(data).__name__}")
    if "project" not in data:
        raise ConfigError(f"{path} names no project; add `project: <title or id>`")
    return data


@entity_app.command("create")
def entity_create(
    from_yaml: Annotated[Path, typer.Option("--from-yaml", help="YAML file with the entity's fields.")],
    db: DbUrl = None,
) -> None:
    """Register a detection entity described in a YAML file.

    Keys: project, title, interval_minutes, sliding_interval_minutes, input_data_config
    (as `InputDataConfig.to_yaml()` writes it), inference_model, inference_namespace,
    monit_producer, monit_label, and optionally enabled, kind (detect, forecast, ...) and
    job_config (the kind's config, e.g. what `admon forecast job-config` writes).
    """
    from admon.registry.api import DetectionEntity

    data = load_entity_file(from_yaml)
    project = data.pop("project")
    valid = ["title", "interval_minutes", "sliding_interval_minutes", "input_data_config",
             "inference_model", "inference_namespace", "monit_producer", "monit_label", "enabled", "kind",
             "job_config"]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ConfigError(f"{from_yaml}: unknown keys {unknown}; valid keys: project, {', '.join(valid)}")
    entity = DetectionEntity.create(project=project, database_url=db, **data)
    console.print(f"created detection entity [bold]{entity.title}[/] (id {entity.id}) in project "
                  f"{entity.project.title!r}")


@entity_app.command("list")
def entity_list(
    project: Annotated[str | None, typer.Option(help="Only this project (title or id).")] = None,
    db: DbUrl = None,
    as_json: AsJson = False,
) -> None:
    """List detection entities."""
    from admon.registry.api import DetectionEntity, Project

    projects = {p.id: p.title for p in Project.list(database_url=db)}
    entities = DetectionEntity.list(project, database_url=db)
    if as_json:
        print_json(_public(e, ENTITY_JSON_FIELDS) for e in entities)
        return
    table = Table("id", "project", "title", "window", "slide", "model", "enabled")
    for e in entities:
        table.add_row(str(e.id), projects.get(e.project_id, "?"), e.title, f"{e.interval_minutes} min",
                      f"{e.sliding_interval_minutes} min",
                      f"{e.inference_namespace}/{e.inference_model}", "yes" if e.enabled else "no")
    print_table(table, console)


#: What `entity list --json` gives of an entity.
ENTITY_JSON_FIELDS = ("id", "project_id", "title", "kind", "enabled", "interval_minutes",
                      "sliding_interval_minutes", "input_data_config", "inference_model",
                      "inference_namespace", "monit_producer", "monit_label", "job_config",
                      "config_hash", "created_ms", "updated_ms")


@entity_app.command("show")
def entity_show(entity: Annotated[str, typer.Argument(help="Entity id or title.")], db: DbUrl = None) -> None:
    """Show one detection entity, with its input data config."""
    from admon.registry.api import DetectionEntity

    e = DetectionEntity.get(entity, database_url=db)
    table = Table(show_header=False)
    for key, value in [
        ("id", e.id), ("project", e.project.title), ("title", e.title),
        ("kind", e.kind), ("job_config", json.dumps(e.job_config) if e.job_config is not None else "-"),
        ("interval_minutes", e.interval_minutes), ("sliding_interval_minutes", e.sliding_interval_minutes),
        ("inference", f"{e.inference_namespace}/{e.inference_model}"), ("monit_producer", e.monit_producer),
        ("monit_label", json.dumps(e.monit_label)), ("enabled", e.enabled), ("config_hash", e.config_hash),
    ]:
        table.add_row(key, str(value))
    console.print(table)
    console.print(e.input_data_config.to_yaml(), highlight=False)


@entity_app.command("enable")
def entity_enable(entity: Annotated[str, typer.Argument(help="Entity id or title.")], db: DbUrl = None) -> None:
    """Let the scheduler run this entity again."""
    from admon.registry.api import DetectionEntity

    DetectionEntity.get(entity, database_url=db).enable()
    console.print(f"enabled {entity}")


@entity_app.command("disable")
def entity_disable(entity: Annotated[str, typer.Argument(help="Entity id or title.")], db: DbUrl = None) -> None:
    """Stop scheduling this entity (its runs stay recorded)."""
    from admon.registry.api import DetectionEntity

    DetectionEntity.get(entity, database_url=db).disable()
    console.print(f"disabled {entity}")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(project_app, name="project")
    app.add_typer(entity_app, name="entity")
