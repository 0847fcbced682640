"""``admon entity threshold ENTITY [--history] [--learn] [--revert N] [--json]`` and
``admon entity suppress ENTITY --from T --to T --reason TEXT [--group k=v]``: an entity's alert
threshold learnt from verdicts (:mod:`admon.registry.thresholds`), its audited changes, and the
windows of expected events its runs ignore."""

from __future__ import annotations

import getpass
import json
from typing import Annotated, Any

import typer
from rich.table import Table

from admon.cli.registry import entity_app
from admon.cli.tables import cli_console
from admon.errors import ConfigError
from admon.registry import repository as repo
from admon.registry import thresholds as registry_thresholds
from admon.registry.db import session_scope
from admon.timeutil import format_ms, to_epoch_ms

console = cli_console()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment (e.g. a container's uid)
        return "cli"


def _value(threshold: float | None) -> str:
    return "model" if threshold is None else f"{threshold:g}"


def entity_threshold(
    entity: Annotated[str, typer.Argument(help="Entity id or title.")],
    show_history: Annotated[bool, typer.Option("--history", help="Every change, with who, when and why.")] = False,
    learn: Annotated[bool, typer.Option("--learn", help="Recompute the threshold from the verdicts now.")] = False,
    revert: Annotated[int | None, typer.Option("--revert", help="Undo change N (its id in --history).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead of text.")] = False,
) -> None:
    """The entity's alert threshold: its value, where it comes from and why (verdicts: the event
    F1 on its labelled history, once it has enough labels)."""
    if learn and revert is not None:
        raise ConfigError("give either --learn or --revert N, not both")
    note = None
    with session_scope() as s:
        row = repo.get_entity(s, entity)
        if revert is not None:
            change = registry_thresholds.revert(s, row.id, revert, changed_by=_user())
            note = f"change {change.id}: {change.reason}"
        elif learn:
            decision, learnt = registry_thresholds.learn(s, row.id, requested_by=_user())
            note = (f"change {learnt.id}: " if learnt is not None else "unchanged: ") + decision.reason
        state = registry_thresholds.describe(s, row.id)
    if as_json:
        typer.echo(json.dumps(state if note is None else {"note": note, **state}))
        return
    if note:
        console.print(note, highlight=False)
    console.print(f"entity {state['entity_id']}: threshold {state['threshold']:g} ({state['source']}): "
                  f"{state['reason']}", highlight=False)
    if show_history:
        _print_history(state)


def _print_history(state: dict[str, Any]) -> None:
    table = Table("change", "when", "by", "before", "after", "reverts", "why", title="threshold changes")
    for change in state["history"]:
        table.add_row(str(change["id"]), format_ms(change["changed_ms"]), change["changed_by"],
                      _value(change["previous"]), _value(change["threshold"]),
                      str(change["reverted_from"] or ""), change["reason"])
    console.print(table)
    if state["suppressions"]:
        rules = Table("id", "from", "to", "group", "reason", "by", title="suppression windows")
        for rule in state["suppressions"]:
            rules.add_row(str(rule["id"]), format_ms(rule["start_ms"]), format_ms(rule["end_ms"]),
                          ",".join(f"{k}={v}" for k, v in rule["group"].items()) or "(every group)",
                          rule["reason"], rule["created_by"])
        console.print(rules)


def entity_suppress(
    entity: Annotated[str, typer.Argument(help="Entity id or title.")],
    start: Annotated[str, typer.Option("--from", help="Start (UTC): ISO text or epoch ms.")],
    end: Annotated[str, typer.Option("--to", help="End, excluded (UTC): ISO text or epoch ms.")],
    reason: Annotated[str, typer.Option(help="Why, e.g. 'planned maintenance'.")],
    group: Annotated[str | None, typer.Option(help="Only this group: key=value[,key=value].")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The new window as JSON.")] = False,
) -> None:
    """Ignore an expected event: results peaking in [--from, --to) are not anomalous (they keep
    their score), and labelled events inside it do not count for the threshold."""
    selector: dict[str, str] = {}
    for part in (group or "").split(","):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"group {group!r} is not of the form key=value[,key=value]; e.g. host=h1")
        selector[key.strip()] = value.strip()
    with session_scope() as s:
        row = repo.get_entity(s, entity)
        rule = registry_thresholds.add_suppression(s, row.id, start_ms=to_epoch_ms(start), end_ms=to_epoch_ms(end),
                                                   reason=reason, created_by=_user(), group_key=selector)
        out, entity_id = registry_thresholds.suppression_json(rule), row.id
    if as_json:
        typer.echo(json.dumps(out))
    else:
        console.print(f"suppression {out['id']} on entity {entity_id}: {format_ms(out['start_ms'])} .. "
                      f"{format_ms(out['end_ms'])}: {out['reason']}", highlight=False)


def register(app: typer.Typer) -> None:
    # `admon entity` is admon.cli.registry's group: these commands join it
    entity_app.command("threshold")(entity_threshold)
    entity_app.command("suppress")(entity_suppress)
