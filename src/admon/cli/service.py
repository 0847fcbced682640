"""``admon serve``, ``admon user``, ``admon token`` and ``admon labels``: the service from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from admon.cli.tables import cli_console, print_json, print_table

console = cli_console()
err_console = cli_console(stderr=True)
user_app = typer.Typer(help="Users and their groups (a project's egroup owns it).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for 'Authorization: Bearer …'.", no_args_is_help=True)
labels_app = typer.Typer(help="Expert labels made in the web UI.", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    no_scheduler: Annotated[bool, typer.Option("--no-scheduler", help="Do not run the embedded scheduler.")] = False,
    workers: Annotated[int, typer.Option(min=1, help="Server processes (each with its scheduler; leases keep them apart).")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    results_cache: Annotated[int, typer.Option(help="Results responses kept in memory (0: none).")] = 512,
) -> None:
    """Run the web service (REST API under /api, web UI at /, OpenAPI at /docs)."""
    import json
    import os

    from admon.registry.db import init_database
    from admon.service.app import SERVE_OPTIONS_ENV
    from admon.service.server import serve as run_server
    from admon.settings import load_settings

    settings = load_settings()  # fail fast, before any worker starts
    if not no_scheduler:
        from admon.runs.runner import check_lake_root

        check_lake_root(settings)  # the embedded scheduler would find every window empty
    init_database(settings.database_url)  # the first serve creates the registry, like `admon db init`
    # Worker processes build their app from the environment (uvicorn's factory mode).
    os.environ[SERVE_OPTIONS_ENV] = json.dumps({"scheduler": not no_scheduler, "results_cache": results_cache})

    def listening(host: str, port: int) -> None:  # called once the port is bound, not before
        console.print(f"admon serving on http://{host}:{port} (API docs: http://{host}:{port}/docs)",
                      highlight=False)

    run_server(host=host, port=port, workers=workers, log_level=log_level, on_listening=listening)


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name.")],
    group: Annotated[list[str] | None, typer.Option("--group", "-g", help="Group to join (repeatable).")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="May see and change every project.")] = False,
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
) -> None:
    """Create a user (if new) and add them to groups."""
    from admon.errors import NotFoundError
    from admon.registry import repository as repo
    from admon.registry.db import session_scope

    with session_scope() as s:
        try:
            user = repo.get_user(s, name)
            created = False
        except NotFoundError:
            user = repo.create_user(s, name, email=email, is_admin=admin)
            created = True
        if admin and not user.is_admin:
            repo.set_admin(s, user.id)
        for g in group or []:
            repo.add_member(s, user.id, g)
        groups = repo.user_groups(s, user.id)
    verb = "created" if created else "updated"
    console.print(f"user {name} {verb}; groups: {', '.join(groups) or '(none)'}")


@user_app.command("list")
def user_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array of {username, groups, is_admin, is_active}.")] = False,
) -> None:
    """Users and their groups."""
    from admon.registry import repository as repo
    from admon.registry.db import session_scope

    with session_scope() as s:
        users = [(u.username, repo.user_groups(s, u.id), u.is_admin, u.is_active) for u in repo.list_users(s)]
    if as_json:
        print_json({"username": name, "groups": groups, "is_admin": admin, "is_active": active}
                   for name, groups, admin, active in users)
        return
    for name, groups, admin, _ in users:
        flag = " (admin)" if admin else ""
        console.print(f"{name}{flag}: {', '.join(groups) or '-'}", highlight=False)


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option("--user", "-u", help="User the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "",
    days: Annotated[int | None, typer.Option(
        help="Expire after this many days (1 or more; default: 90).")] = None,
    no_expiry: Annotated[bool, typer.Option(
        "--no-expiry", help="A token that never expires (e.g. a service account); listed as 'never'.")] = False,
) -> None:
    """Create an API token and print it (it is shown only once; only its hash is stored)."""
    from admon.registry import repository as repo
    from admon.registry.db import session_scope
    from admon.timeutil import format_ms

    expires = repo.token_expiry_ms(days, no_expiry=no_expiry)
    with session_scope() as s:
        row, secret = repo.create_api_token(s, user, name, expires_ms=expires)
        token_id = row.id
    # stdout carries the secret alone, so that `TOKEN=$(admon token create …)` works
    when = "never expires" if expires is None else f"expires {format_ms(expires)}"
    err_console.print(f"token {token_id} for {user} {when}; it is shown once:", highlight=False)
    print(secret)


@token_app.command("list")
def token_list(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's tokens.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array (the fields of GET /api/tokens).")] = False,
) -> None:
    """Tokens with their owner, creation, expiry ('never' for a token without one), last use and
    state; never the secret."""
    from rich.table import Table

    from admon.registry import repository as repo
    from admon.registry.auth import token_state
    from admon.registry.db import session_scope
    from admon.timeutil import now_ms

    now = now_ms()
    table = Table("id", "user", "name", "prefix", "created", "expires", "last used", "state")
    found = []
    with session_scope() as s:
        for row, username in repo.list_api_tokens(s, user):
            found.append({"id": row.id, "name": row.name or "", "owner": username, "prefix": row.prefix,
                          "created_ms": row.created_ms, "expires_ms": row.expires_ms,
                          "last_used_ms": row.last_used_ms, "state": token_state(row, now=now)})
    if as_json:
        print_json(found)
        return
    for t in found:
        table.add_row(str(t["id"]), t["owner"], t["name"] or "-", t["prefix"], _seconds(t["created_ms"]),
                      "never" if t["expires_ms"] is None else _seconds(t["expires_ms"]),
                      "never used" if t["last_used_ms"] is None else _seconds(t["last_used_ms"]), t["state"])
    print_table(table, console)


def _seconds(ms: int) -> str:
    from admon.timeutil import format_ms

    return format_ms(ms - ms % 1000)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(min=1, max=2**63 - 1, help="Token id (see `admon token list`).")]) -> None:
    """Revoke a token: requests with it are refused from now on."""
    from admon.registry import repository as repo
    from admon.registry.db import session_scope

    with session_scope() as s:
        repo.revoke_api_token(s, token_id)
    console.print(f"token {token_id} revoked")


@labels_app.command("export")
def labels_export(
    entity: Annotated[str, typer.Argument(help="Detection entity id or title.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the NAB-format dataset to.")],
    start: Annotated[str | None, typer.Option(help="Start of the data (default: whole days around labels and results).")] = None,
    end: Annotated[str | None, typer.Option(help="End of the data.")] = None,
    series: Annotated[str | None, typer.Option(help="Export this value column only (default: every one, a file per group and column).")] = None,
    as_user: Annotated[str | None, typer.Option("--as-user", help="Export only what this user may see.")] = None,
) -> None:
    """Write the entity's labels as a NAB dataset (data/<entity>/<group>__<series>.csv, labels/combined_windows.json)."""
    from admon.registry import repository as registry
    from admon.registry.db import session_scope
    from admon.service import repo
    from admon.service.access import Viewer
    from admon.service.labels import export_labels
    from admon.settings import load_settings

    settings = load_settings()
    with session_scope(settings.database_url) as s:
        viewer = (repo.viewer_for_user(s, registry.get_user(s, as_user)) if as_user
                  else Viewer(0, "admon-cli", frozenset(), is_admin=True))  # the operator sees all
        entity_id = registry.get_entity(s, entity).id
        summary = export_labels(s, viewer, settings, entity_id, out, start=start, end=end, series=series)
    windows = sum(len(w) for w in summary.windows.values())
    console.print(
        f"wrote {len(summary.files)} series ({sum(summary.files.values())} rows) and {windows} windows "
        f"from {summary.annotations} annotations to {summary.out}"
    )
    console.print(f"dataset version (sha256 of its files, in dataset.json): {summary.sha256}; "
                  f"`admon benchmark {summary.out} --deployed` scores the entity's champion and challengers on it")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
    app.add_typer(labels_app, name="labels")
