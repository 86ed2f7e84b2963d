//! Plans checked by running them over small in-memory tables.

use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::query::plan_query;

const HOUR: i64 = 3_600_000_000_000;
/// 2024-01-03T00:00:00Z, a Wednesday.
const WEDNESDAY: i64 = 1_704_240_000_000_000_000;

fn context() -> SessionContext {
    let ctx = SessionContext::new();
    let ts_type = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
        Field::new("ts", ts_type, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![
                Some("a"),
                Some("b"),
                Some("a"),
                None,
            ])),
            Arc::new(Int64Array::from(vec![Some(1), Some(2), Some(3), None])),
            Arc::new(
                TimestampNanosecondArray::from(vec![
                    WEDNESDAY,
                    WEDNESDAY + HOUR / 2,
                    WEDNESDAY + 2 * HOUR,
                    WEDNESDAY + 3 * HOUR,
                ])
                .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(vec![
                Some("Hello World"),
                Some("hello-world!"),
                Some("helloworld"),
                None,
            ])),
        ],
    )
    .unwrap();
    ctx.register_table(
        datafusion::common::TableReference::bare("T"),
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()),
    )
    .unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["a", "b", "c"])),
            Arc::new(StringArray::from(vec!["Alice", "Bob", "Carol"])),
        ],
    )
    .unwrap();
    ctx.register_table(
        datafusion::common::TableReference::bare("U"),
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()),
    )
    .unwrap();
    ctx
}

async fn run(ctx: &SessionContext, text: &str) -> String {
    let plan = plan_query(&ctx.state(), text)
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    let batches = ctx
        .execute_logical_plan(plan)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    pretty_format_batches(&batches).unwrap().to_string()
}

async fn error(ctx: &SessionContext, text: &str) -> String {
    match plan_query(&ctx.state(), text).await {
        Ok(plan) => match ctx.execute_logical_plan(plan).await {
            Ok(df) => match df.collect().await {
                Ok(_) => panic!("{text}: no error"),
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    }
}

fn lines(table: &str) -> Vec<&str> {
    table.lines().collect()
}

#[tokio::test]
async fn summarize_by_bin_keeps_the_column_name() {
    let ctx = context();
    let out = run(
        &ctx,
        "T | summarize count() by bin(ts, 1h) | sort by ts asc",
    )
    .await;
    assert_eq!(
        lines(&out),
        vec![
            "+----------------------+--------+",
            "| ts                   | count_ |",
            "+----------------------+--------+",
            "| 2024-01-03T00:00:00Z | 2      |",
            "| 2024-01-03T02:00:00Z | 1      |",
            "| 2024-01-03T03:00:00Z | 1      |",
            "+----------------------+--------+",
        ]
    );
    let out = run(
        &ctx,
        "T | summarize sum(n), avg(n), min(n), max(n), dcount(id), countif(n > 1), sumif(n, n > 1), \
         make_set(id), any(id), max(n) * 2 by id | where id == 'a' | project-away set_id, any_id",
    )
    .await;
    assert!(
        out.contains(
            "| id | sum_n | avg_n | min_n | max_n | dcount_id | countif_ | sumif_n | Column1 |"
        ),
        "{out}"
    );
    let out = run(&ctx, "T | summarize r = 100.0 * countif(n > 1) / count()").await;
    assert!(out.contains("| 50.0 |"), "{out}");
}

#[tokio::test]
async fn arg_max_returns_the_row() {
    let ctx = context();
    let out = run(
        &ctx,
        "T | where isnotnull(id) | summarize arg_max(n, *) by id | sort by id asc",
    )
    .await;
    assert!(
        lines(&out)[1].starts_with("| id | n | ts                   | s "),
        "{out}"
    );
    assert!(
        lines(&out)[3].starts_with("| a  | 3 | 2024-01-03T02:00:00Z | helloworld "),
        "{out}"
    );
    let out = run(
        &ctx,
        "T | where isnotnull(id) | summarize arg_min(n, s) by id | sort by id asc",
    )
    .await;
    assert!(
        lines(&out)[3].starts_with("| a  | 1 | Hello World "),
        "{out}"
    );
}

#[tokio::test]
async fn join_keeps_both_sides_with_suffix() {
    let ctx = context();
    let out = run(
        &ctx,
        "T | join kind=inner (U) on id | project id, id1, name, n | sort by n asc",
    )
    .await;
    assert_eq!(lines(&out)[1], "| id | id1 | name  | n |");
    assert_eq!(lines(&out)[3], "| a  | a   | Alice | 1 |");
    assert_eq!(lines(&out).len(), 7, "{out}");
    // innerunique (the default): one left row per key.
    let out = run(&ctx, "T | join (U) on $left.id == $right.id | count").await;
    assert!(out.contains("| 2     |"), "{out}");
    let out = run(&ctx, "U | join kind=leftanti (T) on id").await;
    assert_eq!(lines(&out)[1], "| id | name  |");
    assert_eq!(lines(&out)[3], "| c  | Carol |");
    let out = run(&ctx, "T | join kind=rightsemi (U) on id | sort by id asc").await;
    assert_eq!(lines(&out)[1], "| id | name  |");
    let out = run(
        &ctx,
        "U | join kind=leftouter (T | where n == 2) on id | sort by id asc | project id, n",
    )
    .await;
    assert_eq!(lines(&out)[3], "| a  |   |");
}

#[tokio::test]
async fn scalar_semantics() {
    let ctx = context();
    let out = run(&ctx, "T | extend d = startofweek(ts) | project d | take 1").await;
    // 2023-12-31 is a Sunday.
    assert!(out.contains("2023-12-31T00:00:00Z"), "{out}");
    // `bin` counts steps from 0001-01-01 (a Monday), as Kusto does, not from 1970.
    let out = run(
        &ctx,
        "T | take 1 | project w = bin(datetime(2026-12-03 10:00), 7d), h = bin(datetime(2026-12-03 10:00), 5h)",
    )
    .await;
    assert!(out.contains("2026-11-30T00:00:00Z"), "{out}");
    // 739,587 days from year one to 2026-12-03 are 3,549,657.6 five-hour steps.
    assert!(out.contains("2026-12-03T07:00:00Z"), "{out}");
    let out = run(
        &ctx,
        "T | where n == 1 | project a = substring(s, 0, 5), b = substring(s, 6), c = strlen(s)",
    )
    .await;
    assert!(out.contains("| Hello | World | 11 |"), "{out}");
    let out = run(&ctx, "T | where s =~ 'HELLO WORLD' | count").await;
    assert!(out.contains("| 1     |"), "{out}");
    // `has`: a whole term, case-insensitive.
    let out = run(&ctx, "T | where s has 'WORLD' | project n").await;
    assert_eq!(lines(&out).len(), 6, "{out}");
    let out = run(&ctx, "T | where s has 'wor' | count").await;
    assert!(out.contains("| 0     |"), "{out}");
    let out = run(&ctx, "T | where s contains 'WOR' | count").await;
    assert!(out.contains("| 3     |"), "{out}");
    let out = run(&ctx, "T | where s !contains 'wor' | count").await;
    assert!(out.contains("| 1     |"), "{out}");
    let out = run(
        &ctx,
        "T | where id in ('a') and n between (2 .. 3) | project n",
    )
    .await;
    assert!(out.contains("| 3 |"), "{out}");
    let out = run(
        &ctx,
        "T | where n == 1 | project x = iff(n > 0, 'pos', 'neg'), y = case(n > 5, 'big', n > 0, 'small', 'none'), \
         z = tostring(n), w = toint('x'), v = isempty(id), u = strcat(id, '-', n), h = hash('a', 16)",
    )
    .await;
    assert!(
        out.contains("| pos | small | 1 |   | false | a-1 |"),
        "{out}"
    );
    let out = run(
        &ctx,
        "T | where ts > datetime(2024-01-03 01:00) and ts < ago(1d) | count",
    )
    .await;
    assert!(out.contains("| 2     |"), "{out}");
}

#[tokio::test]
async fn tabular_operators() {
    let ctx = context();
    let out = run(&ctx, "T | sort by n | project n").await;
    assert_eq!(lines(&out)[3..7], ["| 3 |", "| 2 |", "| 1 |", "|   |"]);
    let out = run(&ctx, "T | sort by n asc | project n").await;
    assert_eq!(lines(&out)[3..7], ["|   |", "| 1 |", "| 2 |", "| 3 |"]);
    let out = run(&ctx, "T | top 1 by n | project n").await;
    assert_eq!(lines(&out)[3], "| 3 |");
    let out = run(&ctx, "T | distinct id | count").await;
    assert!(out.contains("| 3     |"), "{out}");
    let out = run(
        &ctx,
        "T | extend n = n * 10, m = 1 | project-rename num = n | take 1",
    )
    .await;
    assert_eq!(
        lines(&out)[1],
        "| id | num | ts                   | s           | m |"
    );
    let out = run(&ctx, "union T, U | count").await;
    assert!(out.contains("| 7     |"), "{out}");
    let out = run(
        &ctx,
        "T | union (U | where id == 'c') | where isnull(n) | project id, name",
    )
    .await;
    assert!(out.contains("| c  | Carol |"), "{out}");
    let out = run(&ctx, "let k = 2; let big = T | where n >= k; big | count").await;
    assert!(out.contains("| 2     |"), "{out}");
    let out = run(
        &ctx,
        "datatable (a:long, b:string) [1, 'x', 2, 'y'] | where a > 1",
    )
    .await;
    assert!(out.contains("| 2 | y |"), "{out}");
    let out = run(&ctx, "EXPLAIN T | where n > 1").await;
    assert!(out.contains("Filter"), "{out}");
}

#[tokio::test]
async fn errors_point_at_the_text() {
    let ctx = context();
    let e = error(&ctx, "T\n| where nope > 1").await;
    assert!(e.contains("unknown column or scalar 'let' 'nope'"), "{e}");
    assert!(e.contains("line 2, column 9"), "{e}");
    assert!(e.contains("id, n, ts, s"), "{e}");
    let e = error(&ctx, "Nope | count").await;
    assert!(
        e.contains("unknown table") && e.contains("line 1, column 1"),
        "{e}"
    );
    let e = error(&ctx, "T | where sum(n) > 1").await;
    assert!(e.contains("aggregation"), "{e}");
    let e = error(&ctx, "T | take -1").await;
    assert!(e.contains("non-negative"), "{e}");
    // SQL is still SQL.
    let out = run(&ctx, "select count(*) as c from \"T\"").await;
    assert!(out.contains("| 4 |"), "{out}");
}

#[tokio::test]
async fn bodies_after_the_arrow() {
    let ctx = context();
    let plan = crate::query::plan_query_body(
        &ctx.state(),
        "datatable (id:string, n:long) ['moshe', 1, 'dana', 2]",
    )
    .await
    .unwrap();
    let out = ctx
        .execute_logical_plan(plan)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(out.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
}
