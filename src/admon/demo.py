"""``admon demo``: the design's user code on a generated lake, end to end, on a laptop."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

TRAIN_DAY, DEMO_DAY, END_DAY = "2022-05-10", "2022-05-11", "2022-05-12"
PROJECT_TITLE = "XRootD Anomaly Detection"
ENTITY_TITLE = "XRootD Anomaly Detection for 1 hour intervals"
# PCA reconstruction error on (gled, alice) jointly: it flags traffic that breaks the usual
# relation between the two topics, the correlation-based detection of the design's entity.
DETECTOR = "pca"
GLED, ALICE = "xrootd_raw_gled", "xrootd_raw_alice"


def design_config():
    """The two-source config of DESIGN.md ("The user's code")."""
    from admon import InputDataConfig, SourceConfig

    sc_gled = SourceConfig("collectd", "raw", "monitoring",
                           select=["timestamp", "value", "host"],
                           filter_expression=f"topic=='{GLED}'",
                           rename={"value": "gled_value"})
    sc_alice = SourceConfig("collectd", "raw", "monitoring",
                            select=["timestamp", "value", "host"],
                            filter_expression=f"topic=='{ALICE}'",
                            rename={"value": "alice_value"})
    return InputDataConfig(source_configs=[sc_gled, sc_alice],
                           agg_interval_seconds=300, agg_method="avg", group_by=["host"])


def pick_host(labels: dict[str, list], hosts: list[str]) -> str:
    """The first host with an injected anomaly in gled or alice traffic (else the first host)."""
    for host in hosts:
        if f"{host}/{GLED}" in labels or f"{host}/{ALICE}" in labels:
            return host
    return hosts[0]


def plot_host(frame, host: str, labels: dict[str, list], path: Path, results=None) -> Path:
    """The host's joined series with injected anomalies shaded, and its anomaly scores if given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import pandas as pd

    def when(ms):
        return pd.to_datetime(ms, unit="ms", utc=True)

    part = frame[frame["host"] == host]
    panels = 3 if results is not None and len(results) else 2
    fig, axes = plt.subplots(panels, 1, figsize=(11, 2.6 * panels + 0.8), sharex=True)
    for ax, column, topic, colour in ((axes[0], "gled_value", GLED, "tab:blue"),
                                      (axes[1], "alice_value", ALICE, "tab:green")):
        ax.plot(when(part["timestamp"]), part[column], color=colour, lw=1, label=f"{column} (5-min avg)")
        for i, (start, end) in enumerate(labels.get(f"{host}/{topic}", [])):
            ax.axvspan(when(start), when(end), color="tab:red", alpha=0.25,
                       label="injected anomaly" if i == 0 else None)
        ax.set_ylabel(column)
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
    if panels == 3:
        mine = results[results["host"] == host].sort_values("timestamp")
        ax = axes[2]
        ax.plot(when(mine["timestamp"]), mine["score"], color="black", lw=1, label="anomaly score")
        hits = mine[mine["is_anomaly"]]
        ax.scatter(when(hits["timestamp"]), hits["score"], color="tab:red", zorder=3, s=18, label="detected")
        if mine["threshold"].notna().any():
            ax.axhline(mine["threshold"].dropna().iloc[-1], color="tab:red", ls="--", lw=0.8, label="threshold")
        ax.set_ylabel("score")
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1].xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    axes[-1].set_xlabel(f"{pd.Timestamp(part['timestamp'].min(), unit='ms'):%Y-%m-%d} (UTC)" if len(part) else "UTC")
    fig.suptitle(f"XRootD traffic of {host}: gled and alice joined per 5-minute bucket")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _project_and_entity(idc):
    """The design's Project and DetectionEntity, created once (a second demo reuses them)."""
    from admon import DetectionEntity, Project
    from admon.errors import NotFoundError

    try:
        project = Project.get(PROJECT_TITLE)
    except NotFoundError:
        project = Project.create(title=PROJECT_TITLE,
                                 project_url="https://example.org/xrootd",
                                 description="Anomaly detection on XRootD data based on correlation.",
                                 is_private=False, egroup="admon-dev")
    try:
        entity = DetectionEntity.get(ENTITY_TITLE, project=project.id)
    except NotFoundError:
        entity = DetectionEntity.create(project=project,
                                        title=ENTITY_TITLE,
                                        interval_minutes=60, sliding_interval_minutes=15,
                                        input_data_config=idc,
                                        inference_model="xrootd-model", inference_namespace="admon-dev",
                                        monit_producer="admon",
                                        monit_label={"admon_entity": "xrootd_with_join"})
    return project, entity


def _entity_results(entity_id: int):
    """Per-(window, host) results of the entity as a frame: host, timestamp, score, anomaly."""
    import pandas as pd

    from admon.registry import repository as repo
    from admon.registry.db import session_scope

    with session_scope() as s:
        rows = [(r.group_key, r.timestamp_ms, r.anomaly_score, r.is_anomaly, r.threshold)
                for r in repo.entity_results(s, entity_id, latest_only=False)]
    return pd.DataFrame([{"host": g.get("host"), "timestamp": t, "score": sc, "is_anomaly": a, "threshold": th}
                         for g, t, sc, a, th in rows])


def _entity_incidents(entity_id: int):
    """The entity's incidents, oldest first."""
    from admon.registry.db import session_scope
    from admon.registry.incidents import list_incidents

    with session_scope() as s:
        return list(reversed(list_incidents(s, [entity_id])))


def run_demo(out: Path, *, hosts: int = 8, console: Console | None = None, alert: bool = False) -> dict:
    """The whole loop on a laptop: lake → data → entity → training → scheduled runs → results.

    The lake, registry and model store are the settings' (``ADMON_LAKE_ROOT``,
    ``ADMON_DATABASE_URL``, ``ADMON_MODEL_STORE``), so that ``admon serve`` shows the entity
    afterwards; plots go to ``out``. ``alert``: the backfill's incidents alert (to
    ``ADMON_ALERTMANAGER_URL`` or ``ADMON_ALERT_WEBHOOK_URL``), although they are history.
    """
    from rich.progress import Progress

    from admon import DataSource
    from admon.cli.tables import frame_table, print_report
    from admon.data.generate import generate_lake, host_names
    from admon.models.training import train
    from admon.registry.db import init_database
    from admon.runs.backfill import backfill
    from admon.settings import load_settings

    console = console or Console()
    settings = load_settings()
    init_database(settings.database_url)  # the demo may create the registry, like `admon db init`
    out = Path(out)
    lake = settings.lake_root
    console.rule("[bold]1. a synthetic MONIT lake")
    summary = generate_lake(lake, hosts=hosts, days=2, start=TRAIN_DAY, seed=7, step_seconds=10)
    console.print(f"{summary.documents:,} documents over 2 days, {summary.anomalies} labelled anomalies → {lake}")
    labels = json.loads(Path(summary.labels_path).read_text())

    console.rule("[bold]2. the design's two-source config, one day")
    idc = design_config()
    source = DataSource(None, idc, lake_root=lake)
    frame = source.read(DEMO_DAY, END_DAY)
    print_report(source.last_report)
    host = pick_host(labels, host_names(hosts))
    docs = [d for d in source.documents(DEMO_DAY, END_DAY) if d["metadata"]["host"] == host]
    console.print(frame_table(frame[frame["host"] == host].head(5), title=f"{host}: first buckets"))
    console.print(f"[bold]result document[/] (first 3 of {len(docs[0]['data'])} buckets):")
    console.print_json(json.dumps({"metadata": docs[0]["metadata"], "data": docs[0]["data"][:3]}))

    console.rule("[bold]3. a project, a detection entity, a model trained on the day before")
    project, entity = _project_and_entity(idc)
    console.print(f"project #{project.id} {project.title!r}, entity #{entity.id} {entity.title!r} "
                  f"in {settings.database_url}")
    trained = train(idc, TRAIN_DAY, DEMO_DAY, DETECTOR, namespace=entity.inference_namespace,
                    model=entity.inference_model, lake_root=lake)
    console.print(f"trained {DETECTOR!r} → {entity.inference_namespace}/{entity.inference_model} "
                  f"version {trained.manifest.version} ({trained.metrics.get('rows')} rows, "
                  f"{trained.metrics.get('groups')} hosts)")

    console.rule("[bold]4. detection runs every 15 minutes over the day (a backfill)")
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("windows", total=None)
        report = backfill(entity.id, DEMO_DAY, END_DAY, alert=alert,
                          progress=lambda done, total, _o: progress.update(task, completed=done, total=total))
    console.print(f"{report.windows} windows: {report.succeeded} run now, {report.already_done} already done, "
                  f"{report.failed} failed; {report.documents} result documents")
    results = _entity_results(entity.id)
    flagged = results[results["is_anomaly"]] if len(results) else results
    console.print(f"{len(flagged)} of {len(results)} (window, host) results are anomalies")
    incidents = _entity_incidents(entity.id)
    console.print(f"{len(incidents)} incidents (anomalous windows of one host merged; "
                  f"`admon incidents list {entity.id}`):")
    for incident in incidents:
        console.print(f"  {incident.group.get('host')}: peak {incident.peak_score:.1f}, "
                      f"features {', '.join(incident.features) or '(none named)'}")
    if alert:
        where = settings.alertmanager_url or settings.alert_webhook_url
        console.print(f"alerts: one per incident (labels alertname, entity, incident_id, host), each opened, "
                      f"refreshed and resolved, delivered to {where}" if where else
                      "alerts: none sent; set ADMON_ALERTMANAGER_URL (or ADMON_ALERT_WEBHOOK_URL) to send them")

    console.rule("[bold]5. the joined series, the scores and the detections of one host")
    png = plot_host(frame, host, labels, out / f"xrootd_{host}.png", results=results)
    console.print(f"plot (injected anomalies shaded red, detections marked): [bold]{png}[/]")
    console.print("See it in the browser: [bold].venv/bin/admon serve[/] then open "
                  f"http://127.0.0.1:8000/entities/{entity.id}?group=host={host}"
                  f"&start={DEMO_DAY}T00:00:00Z&end={END_DAY}T00:00:00Z")
    return {"lake": lake, "frame": frame, "host": host, "plot": str(png), "labels": labels,
            "entity": entity, "results": results, "backfill": report}
