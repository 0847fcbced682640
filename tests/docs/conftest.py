"""Docs tests: the Grafana dashboard against admon's real exposition (and a real Prometheus),
the example notebook executed by a real Jupyter kernel."""

from __future__ import annotations

from conftest_servers import prometheus_server  # noqa: F401 - fixture

from tests.service.conftest import lake_root, world, world_env, world_template  # noqa: F401 - fixtures
