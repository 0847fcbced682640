"""The storage layer's one entry point: every read and write of registry rows, given a session.

Every SQL statement of admon lives in :mod:`admon.registry`, split by aggregate:

- :mod:`~admon.registry.entities`: projects, detection entities, and who sees them
  (:func:`~admon.registry.entities.visible_to`, the one visibility filter);
- :mod:`~admon.registry.runs`: runs and their leases, named leases;
- :mod:`~admon.registry.outbox`: documents owed to durable sinks;
- :mod:`~admon.registry.auth`: users, groups, API tokens and the one token check;
- :mod:`~admon.registry.annotations`, :mod:`~admon.registry.results`;
- :mod:`~admon.registry.dialect`: where SQLite and PostgreSQL differ (row locks, ...).

This module re-exports their public names, so callers write ``repo.get_entity(s, ...)``.
Each function takes an open session and leaves committing to the caller
(``with session_scope() as s: ...``), except the lease functions, which commit.

>>> import os, tempfile
>>> from admon.registry.db import init_database, session_scope
>>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "r.db")
>>> _ = init_database(url)
>>> with session_scope(url) as s:
...     p = create_project(s, ProjectCreate(title="demo", egroup="admon-dev"))
...     [row.title for row in list_projects(s)]
['demo']
"""

from __future__ import annotations

# Tests query rows directly through this module (repo.select(repo.ResultRow.id)).
from sqlalchemy import func, select

from admon.registry.annotations import (
    add_annotation,
    delete_annotation,
    get_annotation,
    list_annotations,
    update_annotation,
)
from admon.registry.auth import (
    DEFAULT_TOKEN_DAYS,
    MAX_TOKEN_DAYS,
    TOKEN_TOUCH_MS,
    TokenUser,
    add_member,
    authenticate_token,
    create_api_token,
    create_user,
    get_or_create_group,
    get_user,
    hash_token,
    list_api_tokens,
    list_users,
    remove_member,
    revoke_api_token,
    set_admin,
    token_expiry_ms,
    user_groups,
)
from admon.registry.entities import (
    EVERYTHING,
    PUBLIC,
    Audience,
    create_entity,
    create_project,
    delete_entity,
    delete_project,
    entity_visible,
    find_entity,
    find_project,
    get_entity,
    get_project,
    list_entities,
    list_projects,
    model_users,
    public_entity_ids,
    record_entity_model,
    record_model,
    record_model_if_unset,
    set_entity_enabled,
    update_entity,
    update_project,
    visible_to,
)
from admon.registry.models import (
    AnnotationRow,
    ApiTokenRow,
    EntityRow,
    GroupRow,
    LeaseRow,
    MembershipRow,
    OutboxRow,
    ProjectRow,
    ResultRow,
    RunRow,
    UserRow,
)
from admon.registry.outbox import (
    acknowledge,
    count_pending_outbox,
    deliverable,
    outbox_rows,
    postpone,
)
from admon.registry.results import (
    RESULT_COLUMNS,
    ResultView,
    entity_results,
    get_result,
    latest_result_ms,
    list_results,
    results_version,
)
from admon.registry.runs import (
    ClaimedRun,
    acquire_lease,
    claim_run,
    count_open_runs,
    finish_run,
    finish_run_no_data,
    get_run,
    insert_runs,
    last_window_ends,
    list_runs,
    record_run_failure,
    release_lease,
    renew_run_lease,
    rerun_windows,
    run_status,
    set_run_values,
)
from admon.registry.schemas import EntityCreate, EntityUpdate, ProjectCreate, ProjectUpdate

__all__ = [
    "AnnotationRow",
    "ApiTokenRow",
    "Audience",
    "ClaimedRun",
    "DEFAULT_TOKEN_DAYS",
    "EVERYTHING",
    "EntityCreate",
    "EntityRow",
    "EntityUpdate",
    "GroupRow",
    "LeaseRow",
    "MAX_TOKEN_DAYS",
    "MembershipRow",
    "OutboxRow",
    "PUBLIC",
    "ProjectCreate",
    "ProjectRow",
    "ProjectUpdate",
    "RESULT_COLUMNS",
    "ResultRow",
    "ResultView",
    "RunRow",
    "TOKEN_TOUCH_MS",
    "TokenUser",
    "UserRow",
    "acknowledge",
    "acquire_lease",
    "add_annotation",
    "add_member",
    "authenticate_token",
    "claim_run",
    "count_open_runs",
    "count_pending_outbox",
    "create_api_token",
    "create_entity",
    "create_project",
    "create_user",
    "delete_annotation",
    "delete_entity",
    "delete_project",
    "deliverable",
    "entity_results",
    "entity_visible",
    "find_entity",
    "find_project",
    "finish_run",
    "finish_run_no_data",
    "func",
    "get_annotation",
    "get_entity",
    "get_or_create_group",
    "get_project",
    "get_result",
    "get_run",
    "get_user",
    "hash_token",
    "insert_runs",
    "last_window_ends",
    "latest_result_ms",
    "list_annotations",
    "list_api_tokens",
    "list_entities",
    "list_projects",
    "list_results",
    "list_runs",
    "list_users",
    "model_users",
    "outbox_rows",
    "postpone",
    "public_entity_ids",
    "record_entity_model",
    "record_model",
    "record_model_if_unset",
    "record_run_failure",
    "release_lease",
    "remove_member",
    "renew_run_lease",
    "rerun_windows",
    "results_version",
    "revoke_api_token",
    "run_status",
    "select",
    "set_admin",
    "set_entity_enabled",
    "set_run_values",
    "token_expiry_ms",
    "update_annotation",
    "update_entity",
    "update_project",
    "user_groups",
    "visible_to",
]
