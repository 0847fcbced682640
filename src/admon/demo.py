"""``admon demo``: the design's user code on a generated lake, end to end, on a laptop."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

DEMO_DAY = "2022-05-10"
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


def plot_host(frame, host: str, labels: dict[str, list], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import pandas as pd

    part = frame[frame["host"] == host]
    when = pd.to_datetime(part["timestamp"], unit="ms", utc=True)
    fig, axes = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    for ax, column, topic, colour in ((axes[0], "gled_value", GLED, "tab:blue"),
                                      (axes[1], "alice_value", ALICE, "tab:green")):
        ax.plot(when, part[column], color=colour, lw=1, label=f"{column} (5-min avg)")
        for i, (start, end) in enumerate(labels.get(f"{host}/{topic}", [])):
            ax.axvspan(pd.to_datetime(start, unit="ms", utc=True), pd.to_datetime(end, unit="ms", utc=True),
                       color="tab:red", alpha=0.25, label="injected anomaly" if i == 0 else None)
        ax.set_ylabel(column)
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
    axes[1].xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    axes[1].set_xlabel(f"{DEMO_DAY} (UTC)")
    fig.suptitle(f"XRootD traffic of {host}: gled and alice joined per 5-minute bucket")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run_demo(out: Path, *, hosts: int = 8, console: Console | None = None) -> dict:
    """Generate a lake under ``out``, read one host-day with the design's config, plot it."""
    from admon import DataSource
    from admon.cli.data import frame_table, print_report
    from admon.data.generate import generate_lake, host_names

    console = console or Console()
    out = Path(out)
    lake = out / "lake"
    console.rule("[bold]1. a synthetic MONIT lake")
    summary = generate_lake(lake, hosts=hosts, days=1, start=DEMO_DAY, seed=7, step_seconds=10)
    console.print(f"{summary.documents:,} documents, {summary.anomalies} labelled anomalies → {lake}")
    labels = json.loads(Path(summary.labels_path).read_text())

    console.rule("[bold]2. the design's two-source config, one day")
    idc = design_config()
    source = DataSource(None, idc, lake_root=str(lake))
    frame = source.read(DEMO_DAY, "2022-05-11")
    print_report(source.last_report)
    host = pick_host(labels, host_names(hosts))
    docs = [d for d in source.documents(DEMO_DAY, "2022-05-11") if d["metadata"]["host"] == host]
    console.print(frame_table(frame[frame["host"] == host].head(5), title=f"{host}: first buckets"))
    console.print("[bold]result document[/] (first 3 of %d buckets):" % len(docs[0]["data"]))
    console.print_json(json.dumps({"metadata": docs[0]["metadata"], "data": docs[0]["data"][:3]}))

    console.rule("[bold]3. the joined series of one host")
    png = plot_host(frame, host, labels, out / f"xrootd_{host}.png")
    console.print(f"plot with the injected anomaly windows shaded: [bold]{png}[/]")
    return {"lake": str(lake), "frame": frame, "host": host, "plot": str(png), "labels": labels}
