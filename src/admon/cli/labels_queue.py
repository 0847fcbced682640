"""``admon labels queue ENTITY``: the windows to label first (issue 20, part 2)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from admon.cli.service import labels_app
from admon.cli.tables import cli_console, print_table
from admon.registry import challengers as registry_challengers
from admon.registry import repository as repo
from admon.registry.db import session_scope
from admon.timeutil import format_ms

console = cli_console()


def labels_queue(
    entity: Annotated[str, typer.Argument(help="Entity id or title.")],
    limit: Annotated[int, typer.Option("--limit", help="Most items to list.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead of a table.")] = False,
) -> None:
    """The entity's unlabelled windows a label would teach most: where its champion and
    challengers disagree first, then scores just around a threshold."""
    with session_scope() as s:
        entity_id = repo.get_entity(s, entity).id
        queue = registry_challengers.labelling_queue(s, entity_id, limit=limit)
    if as_json:
        typer.echo(json.dumps(queue, default=str))
        return
    table = Table(title=f"entity #{entity_id}: {queue['queued']} windows to label ({queue['considered']} considered, "
                        f"{queue['labelled']} already labelled); first {len(queue['items'])}")
    for col in ("#", "group", "window end", "incident", *queue["models"], "why"):
        table.add_column(col)
    for n, item in enumerate(queue["items"], 1):
        scores = [("-" if item["scores"].get(m) is None else
                   f"{item['scores'][m]:.1f}{'*' if item['flags'].get(m) else ''}") for m in queue["models"]]
        table.add_row(str(n), ",".join(f"{k}={v}" for k, v in item["group"].items()), format_ms(item["window_end"]),
                      (item["incident_id"] or "")[:12], *scores, item["why"])
    print_table(table, console)


def register(app: typer.Typer) -> None:
    # `admon labels` is admon.cli.service's group: this command joins it
    labels_app.command("queue")(labels_queue)
