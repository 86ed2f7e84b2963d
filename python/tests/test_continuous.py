"""A continuous export over several runs exports each ingested record exactly once."""

import datetime

import pyarrow as pa
import pytest
import pyarrow.parquet as pq

from conftest import local_path


def ids_table(ids, tag):
    return pa.table({"id": pa.array(ids, pa.int64()), "s": [tag] * len(ids)})


def test_continuous_export_several_runs(tmp_path, db):
    db.execute(".create table T (id:long, s:string)")
    # Ingested before the export exists: not exported by it.
    db.ingest("T", ids_table([-1, -2], "before"))

    target = tmp_path / "x"
    db.execute(
        f".create external table X (id:long, s:string) kind=storage dataformat=parquet ('{target}')"
    )
    db.execute(
        ".create-or-alter continuous-export E over (T) to table X "
        "with (intervalBetweenRuns=1s) <| SELECT id, s FROM T"
    )
    shown = db.continuous_exports()
    assert shown["Name"].to_pylist() == ["E"]
    assert shown["ExternalTableName"].to_pylist() == ["X"]

    ingested = []
    for run in range(3):
        for part in range(2):  # two commits per run
            ids = [run * 100 + part * 10 + k for k in range(3)]
            db.ingest("T", ids_table(ids, f"run{run}"))
            ingested += ids
        last_ingested = db.cursor()
        outcome = db.run_continuous_export("E")
        assert outcome["Name"] == "E"
        assert outcome["Result"] == "Completed"
        assert outcome["NumRecords"] == 6
        assert outcome["NumArtifacts"] >= 1
        # The run covers every commit so far (its own record is a later commit).
        assert outcome["ToCursor"] == last_ingested

    # Nothing new: nothing exported.
    idle = db.run_continuous_export("E")
    assert idle["NumRecords"] == 0
    assert idle["NumArtifacts"] == 0

    artifacts = db.exported_artifacts("E")
    paths = artifacts["Path"].to_pylist()
    assert len(paths) == len(set(paths)), "an artifact is reported twice"
    assert set(artifacts["ExternalTableName"].to_pylist()) == {"X"}

    exported = []
    for path in paths:
        exported += pq.read_table(local_path(path))["id"].to_pylist()
    assert len(exported) == len(set(exported)), "a record was exported twice"
    assert sorted(exported) == sorted(ingested)
    assert sum(artifacts["NumRecords"].to_pylist()) == len(ingested)

    newest = db.exported_artifacts("E", take=1)
    assert newest["Path"].to_pylist() == paths[-1:]
    assert db.exported_artifacts("E", since="1h")["Path"].to_pylist() == paths
    assert db.exported_artifacts("E", since="2999-01-01")["Path"].to_pylist() == []

    # Everything is younger than the vacuum's window: nothing goes.
    cleaned = db.clean()
    assert cleaned.column_names == ["Path", "SizeInBytes", "What"]
    assert cleaned.num_rows == 0
    with pytest.raises(Exception, match="at least 1h"):
        db.clean(older_than="10m")

    state = db.continuous_export("E")
    assert state["ExportCursor"] == idle["ToCursor"]
    assert isinstance(state["LastRunTime"], datetime.datetime)
    assert db.continuous_export_failures("E").num_rows == 0

    back = db.execute("SELECT id FROM external_table('X')")
    assert sorted(back["id"].to_pylist()) == sorted(ingested)
