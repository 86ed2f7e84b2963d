"""The Flight SQL service as pipelines reach it: through ADBC's Flight SQL driver
(`adbc-driver-flightsql`, the DBAPI of `adbc-driver-manager`), the client Python
tools, Airflow's ADBC hook and pandas use.

`server/tests/flight.rs` (`python_adbc_clients`) starts the server on 127.0.0.1 over a
seeded database and runs this file with pytest, passing in the environment:

- DFEXPORT_FLIGHT_URI: grpc://127.0.0.1:PORT
- DFEXPORT_BIN, DFEXPORT_DB: the `dfexport` binary and the database root, so that a
  result can be compared with the same query through the command line
- DFEXPORT_OUT: a folder for exports
- DFEXPORT_API_TOKEN: a viewer's API token
- DFEXPORT_EXPIRED_TOKEN: a session token whose time ran out

Users (from the Rust fixture): alice (admin), ivan (ingestor), victor (viewer); each
password is the name followed by "-pw".
"""

import json
import os
import subprocess
import threading

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pytest

URI = os.environ["DFEXPORT_FLIGHT_URI"]
BIN = os.environ["DFEXPORT_BIN"]
DB = os.environ["DFEXPORT_DB"]
OUT = os.environ["DFEXPORT_OUT"]

AUTHORIZATION = adbc_driver_flightsql.DatabaseOptions.AUTHORIZATION_HEADER.value


def connect(user=None, password=None, **db_kwargs):
    if user is not None:
        db_kwargs.update(username=user, password=password)
    return flight_sql.connect(URI, db_kwargs=db_kwargs, autocommit=True)


def as_user(name):
    return connect(name, f"{name}-pw")


def query(conn, text):
    with conn.cursor() as cur:
        cur.execute(text)
        return cur.fetch_arrow_table()


def cli_rows(text):
    """`text` through the command line, as JSON lines."""
    done = subprocess.run(
        [BIN, "--db", DB, "--format", "json", "-c", text],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def refused(run):
    """The message of the error `run` raises."""
    with pytest.raises(adbc_driver_manager.Error) as caught:
        run()
    return str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "SELECT a, s FROM T ORDER BY a",
        "T | where a > 1 | project a, s | order by a asc",
        "SELECT count(*) AS n, max(a) AS m FROM T",
        ".show tables | project TableName, RowCount",
    ],
)
def test_a_query_equals_the_same_query_through_the_cli(text):
    with as_user("victor") as conn:
        table = query(conn, text)
    expected = cli_rows(text)
    # The JSON lines leave out nulls.
    got = [{k: v for k, v in row.items() if v is not None} for row in table.to_pylist()]
    assert got == expected
    assert len(got) > 0


def test_catalog_metadata_lists_the_tables_with_their_schemas():
    with as_user("victor") as conn:
        objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
        tables = {
            table["table_name"]: table
            for catalog in objects
            for schema in catalog["catalog_db_schemas"]
            for table in schema["db_schema_tables"]
        }
        assert tables["T"]["table_type"] == "TABLE"
        assert [c["column_name"] for c in tables["T"]["table_columns"]] == ["a", "s"]
        schema = conn.adbc_get_table_schema("T")
        assert schema.names == ["a", "s"]
        assert schema.field("a").type == pa.int64()
        assert "TABLE" in conn.adbc_get_table_types()
        assert conn.adbc_get_info()["vendor_name"] == "datafusion-export"


def test_an_export_writes_its_files_once():
    target = os.path.join(OUT, "adbc-export")
    with as_user("alice") as conn:
        table = query(conn, f".export to csv ('{target}') <| SELECT * FROM T")
    written = sorted(os.listdir(target))
    assert len(written) >= 1
    # One row per artifact, and fetching the result did not run the export again.
    assert table.num_rows == len(written)
    assert os.path.basename(table.column("Path")[0].as_py()) in written


def test_a_viewer_is_denied_continuous_export_and_an_admin_is_allowed():
    lake = os.path.join(OUT, "adbc-lake")
    create_table = ".create table Clicks (a:long, s:string)"
    create_external = (
        f".create external table AdbcLake (a:long, s:string) kind=storage "
        f"dataformat=parquet ('{lake}')"
    )
    create_export = (
        ".create-or-alter continuous-export AdbcE over (Clicks) to table AdbcLake <| Clicks"
    )
    with as_user("victor") as viewer:
        message = refused(lambda: query(viewer, create_table))
        assert "needs the 'admin' role" in message, message
    with as_user("alice") as admin:
        with admin.cursor() as cur:
            cur.executescript(create_table)
    with as_user("ivan") as ingestor:
        message = refused(lambda: query(ingestor, create_external))
        assert "needs the 'admin' role" in message, message
    with as_user("victor") as viewer:
        message = refused(lambda: query(viewer, create_export))
        assert "needs the 'admin' role" in message, message
    with as_user("alice") as admin:
        with admin.cursor() as cur:
            cur.executescript(create_external)
            cur.executescript(create_export)
    # Records that land after the export was created are what it exports.
    with as_user("ivan") as ingestor:
        with ingestor.cursor() as cur:
            cur.execute("INSERT INTO Clicks VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        message = refused(lambda: query(ingestor, ".run continuous-export AdbcE"))
        assert "needs the 'admin' role" in message, message
    with as_user("alice") as admin:
        run = query(admin, ".run continuous-export AdbcE")
        assert run.column("Result")[0].as_py() == "Completed", run
        artifacts = query(admin, ".show continuous-export AdbcE exported-artifacts")
        exported = query(admin, "external_table('AdbcLake') | count")
        # A second run finds nothing new: exactly once.
        again = query(admin, ".run continuous-export AdbcE")
        assert again.column("Result")[0].as_py() == "NoNewData", again
    assert artifacts.num_rows == run.column("NumArtifacts")[0].as_py() >= 1
    assert sum(artifacts.column("NumRecords").to_pylist()) == 3
    assert exported.column(0)[0].as_py() == 3
    assert len(os.listdir(lake)) == artifacts.num_rows


def test_an_ingestor_may_insert_and_a_viewer_may_not():
    with as_user("alice") as admin:
        with admin.cursor() as cur:
            cur.executescript(".create table Landed (a:long, s:string)")
    with as_user("victor") as viewer:
        message = refused(lambda: query(viewer, "INSERT INTO Landed VALUES (1, 'v')"))
        assert "needs the 'ingestor' role" in message, message
    with as_user("ivan") as ingestor:
        with ingestor.cursor() as cur:
            cur.execute("INSERT INTO Landed VALUES (1, 'i'), (2, 'i')")
        assert query(ingestor, "Landed | count").column(0)[0].as_py() == 2
    assert cli_rows("Landed | summarize n = count() by s") == [{"s": "i", "n": 2}]


def test_wrong_credentials_and_tokens_are_refused_alike():
    wrong = refused(lambda: query(connect("alice", "not-her-password"), "SELECT 1"))
    unknown = refused(lambda: query(connect("mallory", "whatever"), "SELECT 1"))
    assert "UNAUTHENTICATED" in wrong.upper(), wrong
    assert "mallory" not in unknown and "not-her-password" not in wrong
    missing = refused(lambda: query(connect(), "SELECT 1"))
    assert "authentication failed" in missing, missing
    expired_token = os.environ["DFEXPORT_EXPIRED_TOKEN"]
    expired = refused(
        lambda: query(connect(**{AUTHORIZATION: f"Bearer {expired_token}"}), "SELECT 1")
    )
    assert "authentication failed" in expired, expired
    assert expired_token not in expired
    forged = refused(
        lambda: query(connect(**{AUTHORIZATION: "Bearer not-a-token"}), "SELECT 1")
    )
    assert "authentication failed" in forged, forged


def test_an_api_token_is_a_bearer_token():
    token = os.environ["DFEXPORT_API_TOKEN"]
    with connect(**{AUTHORIZATION: f"Bearer {token}"}) as bot:
        assert query(bot, "SELECT 41 + 1 AS x").column(0)[0].as_py() == 42


def test_bad_input_gets_a_clear_error_and_the_server_keeps_serving():
    with as_user("alice") as conn:
        assert "empty" in refused(lambda: query(conn, "   "))
        assert "unknown command" in refused(lambda: query(conn, ".frobnicate T")).lower()
        assert refused(lambda: query(conn, "SELECT nope FROM T"))
        assert query(conn, "SELECT 1 AS one").column(0)[0].as_py() == 1


def test_concurrent_clients_all_succeed():
    expected = cli_rows("T | count")[0]["Count"]
    failures = []
    # All connected before any queries; a client that cannot connect breaks the
    # barrier for all rather than leaving them waiting.
    barrier = threading.Barrier(16, timeout=120)

    def client(i):
        try:
            with as_user("victor" if i % 2 else "ivan") as conn:
                barrier.wait()
                for j in range(50):
                    text = "SELECT * FROM T" if j % 2 else "T | take 100"
                    assert query(conn, text).num_rows == expected
        except Exception as e:  # noqa: BLE001 - reported below
            barrier.abort()
            failures.append(f"client {i}: {e!r}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
