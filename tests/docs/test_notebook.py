"""Notebooks: ``_repr_html_`` of a project, an entity, a read report, a run and an incident is a
small escaped table with a UI link only where ADMON_PUBLIC_URL is set; docs/notebooks/quickstart.ipynb
runs start to end in a real Jupyter kernel (nbclient + ipykernel)."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from admon import DataSource, DetectionEntity, Project
from admon.incidents import Incident
from admon.runs.runner import RunOutcome
from tests.service.conftest import design_idc

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebooks" / "quickstart.ipynb"
UI = "http://admon.example.org:8000"


@pytest.fixture
def with_ui(monkeypatch):
    monkeypatch.setenv("ADMON_PUBLIC_URL", UI + "/")
    return UI


def _incident(group: dict) -> Incident:
    return Incident(id="ab" * 20, entity_id=4, group=group, start_ms=1652140800000, end_ms=None,
                    last_window_end_ms=1652144400000, peak_score=91.5, peak_timestamp_ms=1652142000000,
                    features=["gled_value"], status="open", run_ids=[7, 8], revision=2)


def test_project_and_entity_render_as_escaped_tables_without_a_link_by_default(world_env):
    db = world_env.settings.database_url
    project = Project.create(title="<script>alert(1)</script>", egroup="ops", database_url=db)
    page = project._repr_html_()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert page.startswith('<table class="admon">') and "<a " not in page  # no ADMON_PUBLIC_URL: no link
    entity = DetectionEntity.get(world_env.public_entity, database_url=db)
    page = entity._repr_html_()
    assert "Public xrootd" in page and "admon-dev/public-model" in page
    assert "collectd/raw/monitoring → gled_value; collectd/raw/monitoring → alice_value" in page
    assert "avg per 300 s by host" in page and "<a " not in page


def test_objects_link_to_their_ui_page_when_a_public_url_is_set(world_env, with_ui):
    db = world_env.settings.database_url
    project = Project.get(world_env.public_project, database_url=db)
    assert f'<a href="{UI}/projects/{project.id}" target="_blank">' in project._repr_html_()
    entity = DetectionEntity.get(world_env.public_entity, database_url=db)
    assert f'href="{UI}/entities/{entity.id}"' in entity._repr_html_()
    run = RunOutcome(run_id=3, entity_id=entity.id, window_end_ms=1652144400000, status="succeeded", rows=24)
    page = run._repr_html_()
    assert "2022-05-10T01:00:00Z" in page and "succeeded" in page
    assert f'href="{UI}/entities/{entity.id}?end=2022-05-10T01%3A00%3A00Z"' in page


def test_an_incident_renders_its_span_and_links_to_its_group(with_ui):
    page = _incident({"host": "<h1>"})._repr_html_()
    assert "host=&lt;h1&gt;" in page and "<h1>" not in page
    assert "2022-05-10T00:00:00Z" in page and "(open)" in page and "91.5" in page
    assert (f'href="{UI}/entities/4?group=host%3D%3Ch1%3E&amp;start=2022-05-10T00%3A00%3A00Z'
            '&amp;end=2022-05-10T01%3A00%3A00Z"') in page


def test_the_read_report_renders_its_window_and_sources(world_env):
    source = DataSource(None, design_idc(), lake_root=world_env.settings.lake_root)
    source.read("2022-05-10T00:00:00Z", "2022-05-10T06:00:00Z")
    page = source.last_report._repr_html_()
    assert "2022-05-10T00:00:00Z .. 2022-05-10T06:00:00Z" in page
    assert "collectd/raw/monitoring #1" in page and "collectd/raw/monitoring #2" in page
    assert "<a " not in page


def test_the_quickstart_notebook_runs_in_a_jupyter_kernel(tmp_path):
    notebook = tmp_path / NOTEBOOK.name
    shutil.copy(NOTEBOOK, notebook)
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(nb, timeout=60, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # a failing cell raises
    html = [out["data"]["text/html"] for cell in nb.cells if cell.cell_type == "code"
            for out in cell.outputs if "text/html" in out.get("data", {})]
    captions = " ".join(html)
    for shown in ("read report", "Project 1: XRootD Anomaly Detection",
                  "DetectionEntity 1: XRootD Anomaly Detection for 1 hour intervals", "Run 6 of entity 1",
                  "Incident "):
        assert shown in captions, shown
    assert 'href="http://127.0.0.1:8000/entities/1' in captions
