from __future__ import annotations

import duckdb
import pytest

from recdb.errors import InputError
from recdb.ingest import ColumnMap, IngestOptions, ingest_files, ingest_query


def rows(con, sql: str, params=None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def interactions(con) -> list[tuple]:
    return rows(
        con,
        "SELECT user_id, item_id, weight, event_type, CAST(occurred_at AS VARCHAR) FROM v_interactions "
        "ORDER BY user_id, item_id, weight",
    )


def snapshot(con) -> dict[str, list[tuple]]:
    return {t: rows(con, f"SELECT * FROM {t} ORDER BY ALL") for t in
            ("users", "items", "interactions", "ingest_batches", "ingest_rejects")}


def test_csv_with_weights_events_and_timestamps(con, write):
    path = write(
        "events.csv",
        "customer,sku,qty,kind,at\n"
        "c1,s1,2,view,2024-01-01 10:00:00\n"
        "c1,s2,1,purchase,2024-01-02T10:00:00+02:00\n"
        "c2,s1,3,view,\n",
    )
    [report] = ingest_files(con, [str(path)], IngestOptions(
        columns=ColumnMap(user="customer", item="sku", weight="qty", event="kind", timestamp="at"),
        event_weights={"view": 1, "purchase": 5},
    ))
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (3, 3, 0)
    assert interactions(con) == [
        ("c1", "s1", 2.0, "view", "2024-01-01 10:00:00"),
        ("c1", "s2", 5.0, "purchase", "2024-01-02 08:00:00"),  # offset honoured, stored as UTC
        ("c2", "s1", 3.0, "view", None),
    ]
    assert rows(con, "SELECT status, rows_loaded, content_sha256 IS NOT NULL FROM ingest_batches") == [
        ("succeeded", 3, True)
    ]


def test_without_weight_column_every_interaction_weighs_one(con, write):
    ingest_files(con, [str(write("a.csv", "user_id,item_id\nu1,i1\nu1,i1\nu2,i3\n"))], IngestOptions())
    assert [r[:3] for r in interactions(con)] == [("u1", "i1", 1.0), ("u1", "i1", 1.0), ("u2", "i3", 1.0)]


def test_tsv_and_custom_delimiter_and_no_header(con, write):
    ingest_files(con, [str(write("a.tsv", "user_id\titem_id\nu1\ti1\n"))], IngestOptions())
    ingest_files(con, [str(write("b.txt", "u2;i2;4\n"))], IngestOptions(
        file_format="csv", delimiter=";", header=False,
        columns=ColumnMap(user="column0", item="column1", weight="column2"),
    ))
    assert [r[:3] for r in interactions(con)] == [("u1", "i1", 1.0), ("u2", "i2", 4.0)]


def test_epoch_second_timestamps_are_detected(con, write):
    ingest_files(con, [str(write("a.csv", "user_id,item_id,ts\nu1,i1,1700000000\nu2,i1,0\n"))],
                 IngestOptions(columns=ColumnMap(timestamp="ts")))
    assert [r[4] for r in interactions(con)] == ["2023-11-14 22:13:20", "1970-01-01 00:00:00"]


def test_parquet_and_sql_query_sources(con, write, tmp_path):
    parquet = tmp_path / "a.parquet"
    duckdb.execute(
        "COPY (SELECT * FROM (VALUES (1, 10, 2.5, TIMESTAMP '2024-05-01 12:00:00'), (2, 10, NULL, NULL)) "
        "t(user_id, item_id, w, ts)) TO ? (FORMAT parquet)", [str(parquet)]
    )
    [report] = ingest_files(con, [str(parquet)], IngestOptions(columns=ColumnMap(weight="w", timestamp="ts")))
    assert (report.rows_loaded, report.rows_rejected) == (1, 1)
    assert rows(con, "SELECT row_number, reason, raw FROM ingest_rejects") == [
        (2, "missing weight", '{"user_id":2,"item_id":10,"w":null,"ts":null}')
    ]
    report = ingest_query(con, "SELECT 'q' || i AS user_id, '10' AS item_id FROM range(3) t(i)", IngestOptions())
    assert report.rows_loaded == 3 and report.new_items == 0  # item '10' came from the Parquet file (int -> text)
    assert [r[:2] for r in interactions(con)] == [("1", "10"), ("q0", "10"), ("q1", "10"), ("q2", "10")]


def test_every_reject_reason_with_its_line_number(con, write):
    path = write(
        "bad.csv",
        b"user_id,item_id,w,ts,event\n"           # line 1: header
        b"u1,i1,5,2024-01-01,view\n"              # 2: good
        b"u2,i2\n"                                # 3: missing columns
        b"u3,i3,4,2024-01-01,view,extra\n"        # 4: too many columns
        b"u4,i\xff4,3,,view\n"                    # 5: invalid UTF-8
        b"u6,i6,abc,,view\n"                      # 6: non-numeric weight
        b",i7,1,,view\n"                          # 7: empty user id
        b"u8,,1,,view\n"                          # 8: empty item id
        b"u9,i9,-1,,view\n"                       # 9: negative weight
        b"u10,i10,nan,,view\n"                    # 10: NaN
        b"u11,i11,inf,,view\n"                    # 11: infinite
        b"u12,i12,1,yesterday,view\n"             # 12: unparsable timestamp
        b"u13,i13,1,,click\n"                     # 13: unknown event type
        b"u14,i14,,,view\n"                       # 14: missing weight
        b'"u15","i,15",2,2024-01-02,purchase\n',  # 15: good, quoted
    )
    [report] = ingest_files(con, [str(path)], IngestOptions(
        columns=ColumnMap(weight="w", timestamp="ts", event="event"), event_weights={"view": 1, "purchase": 5},
    ))
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (14, 2, 12)
    got = rows(con, "SELECT row_number, reason, raw FROM ingest_rejects ORDER BY row_number")
    assert [(line, reason.split(" (")[0]) for line, reason, _ in got] == [
        (3, "malformed line: missing columns"),
        (4, "malformed line: too many columns"),
        (5, "malformed line: invalid encoding"),
        (6, "weight is not a number: abc"),
        (7, "missing user id"),
        (8, "missing item id"),
        (9, "negative weight: -1.0"),
        (10, "weight is NaN"),
        (11, "weight is infinite"),
        (12, "unparsable timestamp: yesterday"),
        (13, "unknown event type with no --event-weight: click"),
        (14, "missing weight"),
    ]
    assert got[0][2] == "u2,i2" and got[4][2] == ",i7,1.0,,view"
    assert interactions(con) == [
        ("u1", "i1", 5.0, "view", "2024-01-01 00:00:00"),
        ("u15", "i,15", 10.0, "purchase", "2024-01-02 00:00:00"),
    ]


def test_line_numbers_stay_exact_in_a_large_file(con, tmp_path):
    """Parallel reading must not shuffle row numbers: bad rows scattered over many row groups, behind malformed ones."""
    n = 400_000
    bad_value = {7: "x", 150_001: "-2", 399_998: "nan"}  # 1-based data row -> bad weight
    malformed = {100, 250_000}  # data rows that lose a column
    with (tmp_path / "big.csv").open("w") as f:
        f.write("user_id,item_id,w\n")
        for i in range(1, n + 1):
            if i in malformed:
                f.write(f"u{i % 997}\n")
            else:
                f.write(f"u{i % 997},i{i % 101},{bad_value.get(i, '1')}\n")
    [report] = ingest_files(con, [str(tmp_path / "big.csv")], IngestOptions(columns=ColumnMap(weight="w")))
    assert report.rows_loaded == n - 5
    got = rows(con, "SELECT row_number, raw FROM ingest_rejects ORDER BY row_number")
    # line = data row + 1 for the header
    assert [line for line, _ in got] == [8, 101, 150_002, 250_001, 399_999]
    assert got[2][1] == f"u{150_001 % 997},i{150_001 % 101},-2.0"


def test_strict_mode_rejects_the_whole_batch(con, write):
    path = write("a.csv", "user_id,item_id,w\nu1,i1,1\nu2,i2,-1\n")
    before = snapshot(con)
    with pytest.raises(InputError, match=r"1 of 2 rows rejected, nothing loaded \(--strict\); first: row 3: negative"):
        ingest_files(con, [str(path)], IngestOptions(columns=ColumnMap(weight="w"), strict=True))
    assert snapshot(con) == before


def test_same_content_is_refused_unless_forced(con, write):
    a = write("a.csv", "user_id,item_id\nu1,i1\n")
    b = write("copy-of-a.csv", "user_id,item_id\nu1,i1\n")
    ingest_files(con, [str(a)], IngestOptions())
    before = snapshot(con)
    with pytest.raises(InputError, match="already ingested as batch 1; pass --force"):
        ingest_files(con, [str(b)], IngestOptions())
    assert snapshot(con) == before
    ingest_files(con, [str(b)], IngestOptions(force=True))
    assert rows(con, "SELECT count(*) FROM interactions") == [(2,)]


def test_indices_are_dense_and_stable_across_ingests(con, write):
    ingest_files(con, [str(write("a.csv", "user_id,item_id\nb,x\na,y\nb,y\n"))], IngestOptions())
    first_users = rows(con, "SELECT user_idx, user_id FROM users ORDER BY user_idx")
    assert first_users == [(0, "a"), (1, "b")]
    ingest_files(con, [str(write("b.csv", "user_id,item_id\nc,z\na,x\n0,z\n"))], IngestOptions())
    assert rows(con, "SELECT user_idx, user_id FROM users ORDER BY user_idx") == first_users + [(2, "0"), (3, "c")]
    assert rows(con, "SELECT item_idx, item_id FROM items ORDER BY item_idx") == [(0, "x"), (1, "y"), (2, "z")]
    assert rows(con, "SELECT count(*) FROM interactions i JOIN users u USING (user_idx) WHERE u.user_id = 'a'") == [(2,)]


def test_a_failing_file_loads_nothing_of_the_command(con, write):
    good = write("a.csv", "user_id,item_id\nu1,i1\n")
    no_item = write("b.csv", "user_id,product\nu2,p\n")
    before = snapshot(con)
    with pytest.raises(InputError, match="no item_id column; name it with --item-col"):
        ingest_files(con, [str(good), str(no_item)], IngestOptions())
    assert snapshot(con) == before


@pytest.mark.parametrize(
    ("name", "content", "options", "message"),
    [
        ("empty.csv", "", IngestOptions(), "file is empty"),
        ("header.csv", "user_id,item_id\n", IngestOptions(), "no data rows"),
        ("a.csv", "user_id,item_id\nu,i\n", IngestOptions(columns=ColumnMap(weight="rating")),
         "no column 'rating' for --weight-col"),
        ("a.parquet", "user_id,item_id\nu,i\n", IngestOptions(), "cannot read as Parquet"),
        ("a.json", "{}", IngestOptions(), "cannot tell the format"),
        ("a.csv", "user_id,item_id\nu,i\n", IngestOptions(event_weights={"view": 1}), "needs --event-col"),
    ],
)
def test_unusable_input_is_refused_and_changes_nothing(con, write, name, content, options, message):
    path = write(name, content)
    before = snapshot(con)
    with pytest.raises(InputError, match=message):
        ingest_files(con, [str(path)], options)
    assert snapshot(con) == before


def test_globs_expand_and_missing_files_are_named(con, write, tmp_path):
    write("p1.csv", "user_id,item_id\nu1,i1\n")
    write("p2.csv", "user_id,item_id\nu2,i2\n")
    reports = ingest_files(con, [str(tmp_path / "p*.csv")], IngestOptions())
    assert [r.source.rsplit("/", 1)[1] for r in reports] == ["p1.csv", "p2.csv"]
    with pytest.raises(InputError, match="no file matches"):
        ingest_files(con, [str(tmp_path / "q*.csv")], IngestOptions())
    with pytest.raises(InputError, match="file not found"):
        ingest_files(con, [str(tmp_path / "missing.csv")], IngestOptions())


def test_iso_timestamps_of_every_shape_are_stored_as_utc(con, write):
    shapes = {
        "a": ("2024-03-01", "2024-03-01 00:00:00"),
        "b": ("2024-03-01 10:00:00", "2024-03-01 10:00:00"),
        "c": ("2024-03-01T10:00:00Z", "2024-03-01 10:00:00"),
        "d": ("2024-03-01 10:00:00+02", "2024-03-01 08:00:00"),
        "e": ("2024-03-01T10:00+02:00", "2024-03-01 08:00:00"),
        "f": ("2024-03-01 10:00:00.250-01:00", "2024-03-01 11:00:00.25"),
        "g": ("2024-03-01 10:00:00 Europe/Paris", "2024-03-01 09:00:00"),
    }
    lines = "".join(f"{user},i,{text}\n" for user, (text, _) in shapes.items())
    ingest_files(con, [str(write("t.csv", "user_id,item_id,ts\n" + lines))],
                 IngestOptions(columns=ColumnMap(timestamp="ts")))
    got = dict(rows(con, "SELECT user_id, CAST(occurred_at AS VARCHAR) FROM v_interactions"))
    assert got == {user: utc for user, (_, utc) in shapes.items()}


def test_synthetic_generator_is_deterministic_in_csv_and_parquet(con, tmp_path):
    from recdb.synthetic import EVENTS, Shape, write_interactions

    shape = Shape.from_size("2k")
    assert (shape.n_interactions, shape.n_users, shape.n_items) == (2000, 40, 10)
    csv_path = write_interactions(tmp_path / "a.csv", shape, seed=3)
    parquet_path = write_interactions(tmp_path / "a.parquet", shape, seed=3)
    again = write_interactions(tmp_path / "b.csv", shape, seed=3)
    assert csv_path.read_bytes() == again.read_bytes()
    options = IngestOptions(columns=ColumnMap(timestamp="occurred_at", event="event_type"), event_weights=EVENTS)
    first, second = ingest_files(con, [str(csv_path), str(parquet_path)], options)
    assert first.rows_loaded == second.rows_loaded == 2000
    assert rows(con, "SELECT count(*) FROM (SELECT user_idx, item_idx, weight, event_type, occurred_at, count(*) AS n "
                     "FROM interactions GROUP BY ALL HAVING n % 2 = 1)") == [(0,)]  # both files hold the same rows
