"""The CLI tests run on the service tests' small world (users with tokens, a public and a private
project, one entity each with two runs), plus a trained model in the store."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.service.conftest import lake_root, world, world_env, world_template  # noqa: F401 - fixtures


@pytest.fixture
def run_cli():
    """``run_cli(*args, columns=None)`` -> (exit code, stdout, stderr) of ``admon …`` in-process;
    ``columns`` is the terminal width the CLI sees (COLUMNS)."""
    from admon.cli import app, build_app

    if not app.registered_groups:
        build_app()

    def invoke(*args: str, columns: int | None = None):
        env = {"COLUMNS": str(columns)} if columns else {}
        result = CliRunner().invoke(app, list(args), env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            return 2, result.stdout, f"{type(result.exception).__name__}: {result.exception}"
        return result.exit_code, result.stdout, result.stderr

    return invoke


@pytest.fixture
def trained_world(world_env):  # noqa: F811 - the imported fixture
    """The world with a model trained for its public entity (``admon-dev/public-model``)."""
    from admon.models.training import train
    from tests.service.conftest import design_idc

    train(design_idc(), "2022-05-10T00:00:00Z", "2022-05-10T12:00:00Z", "robust_zscore", {},
          namespace="admon-dev", model="public-model", store=None, lake_root=world_env.settings.lake_root,
          progress=False)
    return world_env
