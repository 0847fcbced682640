"""``admon incidents list ENTITY [--open] [--json]``: an entity's incidents, newest first."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from admon.cli.tables import cli_console
from admon.incidents import Incident
from admon.incidents.links import CrossGroupIncident
from admon.registry import incidents as registry_incidents
from admon.registry import repository as repo
from admon.registry.db import session_scope
from admon.timeutil import format_ms

console = cli_console()
incidents_app = typer.Typer(help="Incidents: anomalous windows of an entity and group, merged.",
                            no_args_is_help=True)


def incident_json(incident: Incident, link: CrossGroupIncident | None = None) -> dict:
    """The JSON of an incident, with the fields of ``GET /api/entities/{id}/incidents``."""
    return {"id": incident.id, "entity_id": incident.entity_id, "group": incident.group,
            "start": incident.start_ms, "end": incident.end_ms, "peak_score": incident.peak_score,
            "peak_timestamp": incident.peak_timestamp_ms, "features": incident.features,
            "status": incident.status, "revision": incident.revision, "run_ids": incident.run_ids,
            "cross_group_id": link.id if link else None, "cross_group_groups": link.groups if link else None}


@incidents_app.command("list")
def incidents_list(
    entity: Annotated[str, typer.Argument(help="Entity id or title.")],
    open_only: Annotated[bool, typer.Option("--open", help="Only incidents not resolved yet.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array instead of a table.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="Newest N incidents.")] = 100,
) -> None:
    """The entity's incidents, newest start first (times in UTC; ``end`` empty while open)."""
    with session_scope() as s:
        row = repo.get_entity(s, entity)
        found = registry_incidents.list_incidents(s, [row.id], open_only=open_only, limit=limit)
        links = registry_incidents.links_of(s, found)
    if as_json:
        typer.echo(json.dumps([incident_json(i, links.get(i.id)) for i in found]))
        return
    table = Table("start", "end", "group", "status", "peak score", "peak at", "features", "windows",
                  "with groups", title=f"incidents of entity {row.id}")
    for i in found:
        link = links.get(i.id)
        others = [g for g in link.groups if g != i.group] if link else []
        table.add_row(format_ms(i.start_ms), format_ms(i.end_ms) if i.end_ms is not None else "(open)",
                      _group_text(i.group), i.status, f"{i.peak_score:.3f}",
                      format_ms(i.peak_timestamp_ms) if i.peak_timestamp_ms is not None else "",
                      ", ".join(i.features), str(len(i.run_ids)), "; ".join(_group_text(g) for g in others))
    console.print(table)


def _group_text(group: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in group.items())


def register(app: typer.Typer) -> None:
    app.add_typer(incidents_app, name="incidents")
