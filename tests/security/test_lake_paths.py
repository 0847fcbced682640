"""Issue 12, item 2: lake paths never leave the lake root, and only regular files are read.

The hostile tester's probes, as regressions:
- producer/type_prefix/type are validated names (config time, and 422 through the API);
- a symlinked file or day folder that resolves outside the lake is skipped and counted
  (``outside_lake``), never opened; strict mode names it;
- a file whose name holds glob characters is read exactly once, on every engine;
- a FIFO named ``pipe.json`` (or a directory named ``*.json``) is skipped and counted
  (``not_regular_file``) without blocking the read;
- a lake whose every entry points outside yields 0 rows.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from admon import DataSource, InputDataConfig, SourceConfig
from admon.data.lake import list_files
from admon.errors import ConfigError, DataError
from tests.data.conftest import ENGINES, spark  # noqa: F401 - the session's SparkSession fixture
from tests.data.lakes import DAY0, MIN, monit, one_source, write_docs
from tests.service.conftest import client, lake_root, world, world_template  # noqa: F401 - service fixtures

WINDOW = (DAY0, DAY0 + 3600_000)
DAY = "collectd/raw/monitoring/2022/05/10"
LAKE_DOCS = [monit("h1", "cpu", DAY0 + i * MIN, float(i)) for i in range(10)]
OUTSIDE_DOCS = [monit("outside", "cpu", DAY0 + i * MIN, 1000.0 + i) for i in range(10)]
READ_TIMEOUT_S = 120  # generous: the point is "does not block forever", not speed


@pytest.fixture(params=ENGINES)
def engine(request):
    return None if request.param == "duckdb" else request.getfixturevalue("spark")


def read(root: Path, *, engine=None, strict: bool = False, config: InputDataConfig | None = None):
    source = DataSource(engine, config or one_source("avg"), lake_root=str(root), strict=strict)
    frame = source.read_pandas(*WINDOW)
    return frame, source.last_report


def read_with_timeout(root: Path, **kw):
    """``read`` in a thread: a read that blocks (e.g. on a FIFO) fails the test instead of hanging it."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = read(root, **kw)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(READ_TIMEOUT_S)
    assert not thread.is_alive(), f"the read blocked for more than {READ_TIMEOUT_S} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


@pytest.fixture
def fifo(tmp_path):
    """Make FIFOs; on teardown, open each for writing once, so that a reader stuck on it gets EOF."""
    made: list[Path] = []

    def make(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
        made.append(path)
        return path

    yield make
    for path in made:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass  # no reader: nothing is stuck


@pytest.fixture
def lake_and_outside(tmp_path):
    """A lake with one good file, and a folder next to it holding data that must never be read."""
    lake, outside = tmp_path / "lake", tmp_path / "outside"
    write_docs(lake, LAKE_DOCS)
    write_docs(outside, OUTSIDE_DOCS, source="x", day="", name="secret.json")
    return lake, outside


# --- names ----------------------------------------------------------------------------------
BAD_NAMES = ["..", ".", "", "a/b", "/etc", "..\\x", "a\\b", "a\x00b", "col*", "c?d", "[x]", "{a,b}",
             "a b", "~root", "a:b", "x" * 256, "é"]


@pytest.mark.parametrize("field", ["producer", "type_prefix", "type"])
@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_lake_name_is_refused_at_config_time(field, name):
    names = {"producer": "collectd", "type_prefix": "raw", "type": "monitoring", field: name}
    with pytest.raises(ConfigError) as err:
        SourceConfig(**names, select=["timestamp", "value"])
    message = str(err.value)
    assert field in message
    if name:  # the empty name is refused by its length
        assert repr(name) in message and "A-Z a-z 0-9 _ . -" in message


@pytest.mark.parametrize("name", ["collectd", "raw", "monitoring", "realAdExchange", "fts", "cms-kafka",
                                  "condor_raw", "v1.2", "eos.ops", "_internal", "X"])
def test_realistic_monit_names_are_accepted(name):
    sc = SourceConfig(name, name, name, select=["timestamp", "value"])
    assert sc.lake_path() == f"{name}/{name}/{name}"


def test_a_stored_config_with_a_bad_name_is_refused_when_loaded():
    text = json.dumps({"source_configs": [{"producer": "..", "type_prefix": "outside2", "type": "X",
                                           "select": ["timestamp", "value"]}], "agg_interval_seconds": 300})
    with pytest.raises(ConfigError, match="producer"):
        InputDataConfig.from_json(text)


def test_the_lake_listing_refuses_a_source_path_that_leaves_the_root(tmp_path):
    # defence in depth: a caller that builds a path itself, without SourceConfig
    (tmp_path / "outside2/X/2022/05/10").mkdir(parents=True)
    with pytest.raises(ConfigError, match="'..'"):
        list_files(str(tmp_path / "lake"), "../outside2/X", *WINDOW)


@pytest.mark.parametrize("producer", ["..", "a\u0000b", "coll*", "/etc"])
def test_post_entity_with_a_bad_producer_is_422(world, client, producer):  # noqa: F811 - fixtures
    body = {"project_id": world.public_project, "title": "escape", "interval_minutes": 60,
            "sliding_interval_minutes": 15, "inference_model": "m", "inference_namespace": "ns",
            "input_data_config": {"source_configs": [{"producer": producer, "type_prefix": "outside2",
                                                      "type": "X", "select": ["timestamp", "value", "host"]}],
                                  "agg_interval_seconds": 300, "group_by": ["host"]}}
    r = client.post("/api/entities", json=body, headers=world.auth("alice"))
    assert r.status_code == 422, r.text
    assert "producer" in r.json()["detail"]


# --- symlinks -------------------------------------------------------------------------------
def test_a_symlinked_file_to_outside_is_skipped_counted_and_strict_names_it(lake_and_outside):
    lake, outside = lake_and_outside
    link = lake / DAY / "evil.json"
    link.symlink_to(outside / "x/secret.json")
    (lake / DAY / "passwd.json").symlink_to("/etc/passwd")
    frame, report = read(lake)
    assert frame["host"].unique().tolist() == ["h1"]
    assert report.rows_used == len(LAKE_DOCS)
    assert report.skipped["outside_lake"] == 2
    assert report.files_opened == [str(lake / DAY / "part-0.json")]
    with pytest.raises(DataError) as err:
        read(lake, strict=True)
    assert "evil.json" in str(err.value) and "outside_lake" in str(err.value)


def test_a_symlinked_day_folder_to_outside_is_skipped_and_counted(lake_and_outside):
    lake, outside = lake_and_outside
    day11 = lake / "collectd/raw/monitoring/2022/05/11"
    day11.symlink_to(outside / "x", target_is_directory=True)
    source = DataSource(None, one_source("avg"), lake_root=str(lake))
    frame = source.read_pandas(DAY0, DAY0 + 2 * 86400_000)
    assert frame["host"].unique().tolist() == ["h1"]
    assert source.last_report.skipped["outside_lake"] == 1
    with pytest.raises(DataError, match="secret.json"):
        DataSource(None, one_source("avg"), lake_root=str(lake), strict=True).read_pandas(DAY0, DAY0 + 2 * 86400_000)


def test_a_symlink_that_stays_inside_the_lake_is_read(tmp_path):
    lake = tmp_path / "lake"
    write_docs(lake, LAKE_DOCS[:5], day="2022/05/09")
    write_docs(lake, LAKE_DOCS[5:])
    (lake / DAY / "part-1.json").symlink_to(lake / "collectd/raw/monitoring/2022/05/09/part-0.json")
    frame, report = read(lake, config=one_source("count"))
    assert report.rows_used == len(LAKE_DOCS) and not report.skipped


# --- names with glob characters ------------------------------------------------------------
GLOB_NAMES = ["part-0.json", "part-?.json", "part-*.json", "part-[0].json", "part-{0,1}.json", "part-**.json",
              "part-x.json"]


@pytest.mark.parametrize("root", ["lake", "lake[1]*"])
def test_glob_characters_in_file_names_are_read_exactly_once(engine, tmp_path, root):
    lake = tmp_path / root
    # a decoy that the root, read as a pattern, would match: none of its rows may be read
    write_docs(tmp_path / "lake1-decoy", OUTSIDE_DOCS, name="part-0.json")
    for i, name in enumerate(GLOB_NAMES):
        write_docs(lake, [monit("h1", "cpu", DAY0 + i * MIN, float(i))], name=name)
    write_docs(lake, [monit("h1", "cpu", DAY0 + 20 * MIN, 20.0)], name="part-?.parquet")
    write_docs(lake, [monit("h1", "cpu", DAY0 + 21 * MIN, 21.0)], name="part-0.parquet")
    frame, report = read(lake, engine=engine, config=one_source("count"))
    assert report.rows_used == len(GLOB_NAMES) + 2, dict(report.skipped)
    assert not report.skipped  # no phantom duplicates
    assert frame["value"].sum() == len(GLOB_NAMES) + 2
    read(lake, engine=engine, strict=True)  # a clean lake passes strict mode


@pytest.mark.parametrize("name", ["a:b.json", "a\\b.json", "line\nbreak.json"])
def test_a_file_name_no_engine_can_take_literally_is_skipped_and_counted(tmp_path, name):
    lake = tmp_path / "lake"
    write_docs(lake, LAKE_DOCS)
    write_docs(lake, OUTSIDE_DOCS, name=name)
    frame, report = read(lake)
    assert frame["host"].unique().tolist() == ["h1"] and report.skipped["unsafe_file_name"] == 1
    with pytest.raises(DataError, match="unsafe_file_name"):
        read(lake, strict=True)


# --- what is not a regular file ----------------------------------------------------------------
def test_a_fifo_named_pipe_json_is_skipped_and_counted_without_blocking(tmp_path, fifo):
    lake = tmp_path / "lake"
    write_docs(lake, LAKE_DOCS)
    fifo(lake / DAY / "pipe.json")
    (lake / DAY / "folder.json").mkdir()
    frame, report = read_with_timeout(lake)
    assert report.rows_used == len(LAKE_DOCS)
    assert report.skipped["not_regular_file"] == 2
    with pytest.raises(DataError) as err:
        read_with_timeout(lake, strict=True)
    assert "pipe.json" in str(err.value) and "not_regular_file" in str(err.value)


def test_a_lake_of_hostile_entries_reads_nothing_from_outside(engine, tmp_path, fifo):
    lake, outside = tmp_path / "lake", tmp_path / "outside"
    write_docs(outside, OUTSIDE_DOCS, source="x", day="", name="secret.json")
    outside_fifo = fifo(outside / "x/blocking.json")  # opening it would block the read
    day = lake / DAY
    day.mkdir(parents=True)
    (day / "a.json").symlink_to(outside / "x/secret.json")
    (day / "b.json").symlink_to(outside_fifo)
    (day / "c.json").symlink_to("/etc/passwd")
    (day / "d.json").symlink_to(outside / "missing.json")  # dangling
    (day / "e.json").symlink_to(outside / "x")  # a directory
    (day / "f.json").mkdir()
    fifo(day / "g.json")
    (lake / "collectd/raw/monitoring/2022/05/09").symlink_to(outside / "x", target_is_directory=True)
    source_window = (DAY0 - 86400_000, DAY0 + 3600_000)
    config = one_source("count", group_by=())
    outcome: dict = {}

    def run() -> None:
        source = DataSource(engine, config, lake_root=str(lake))
        outcome["frame"] = source.read_pandas(*source_window)
        outcome["report"] = source.last_report

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(READ_TIMEOUT_S)
    assert not thread.is_alive(), "the read blocked on an entry outside the lake"
    frame, report = outcome["frame"], outcome["report"]
    assert len(frame) == 0 and report.rows_used == 0 and report.files_opened == []
    assert dict(report.skipped) == {"outside_lake": 7, "not_regular_file": 2}


# --- fsspec roots -------------------------------------------------------------------------------
def test_an_fsspec_root_lists_only_files(tmp_path):
    import fsspec

    fs = fsspec.filesystem("memory")
    root = f"memory://admon-lake-{tmp_path.name}"
    fs.pipe(f"{root}/{DAY}/part-0.json", b"{}\n")
    fs.pipe(f"{root}/{DAY}/folder.json/inner", b"{}\n")
    fs.pipe(f"{root}/{DAY}/odd:name.json", b"{}\n")
    try:
        listing = list_files(root, "collectd/raw/monitoring", *WINDOW)
    finally:
        fs.rm(root, recursive=True)
    assert [f.path.rsplit("/", 1)[1] for f in listing.files] == ["part-0.json"]
    assert sorted(reason for reason, _ in listing.skipped) == ["not_regular_file", "unsafe_file_name"]
