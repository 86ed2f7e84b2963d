use super::*;

#[test]
fn sql_or_kql_at_the_edges() {
    for sql in [
        "select 1",
        "Select * from t",
        "  WITH x AS (select 1) select * from x",
        "values (1)",
        "( select 1 )",
        "(select 1) union (select 2)",
        "-- c\nselect 1",
        "// c\n/* d */ select 1",
    ] {
        assert!(is_sql(sql), "{sql}");
        assert!(is_sql_statement(sql), "{sql}");
    }
    for kql in [
        "selectx",
        "T | take 1",
        "select_t | count",
        "// select\nT",
        "let x = 1; T",
        "explain select 1",
        "insert into t values (1)",
        "",
    ] {
        assert!(!is_sql(kql), "{kql}");
    }
    for statement in [
        "EXPLAIN select 1",
        "insert into t values (1)",
        "create table t (a int)",
        "drop table t",
        "SHOW TABLES",
        "set x = 1",
        "describe t",
        "copy t to 'x'",
        "update t set a = 1",
        "delete from t",
    ] {
        assert!(is_sql_statement(statement), "{statement}");
    }
    assert!(!is_sql_statement("T | where a > 1"));
    assert!(!is_sql_statement("showx"));
}

fn query(text: &str) -> Query {
    parse_query(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn every_operator_parses() {
    let q = query(
        "T | where a == 1 and b != 'x' or not(c) | filter d =~ \"X\" \
         | project a, b2 = b * 2 | project-away c | project-rename z = a \
         | extend e = strcat(b, '!') \
         | summarize count(), s = sum(x), arg_max(ts, *) by bin(ts, 1h), k \
         | join kind=leftouter (U | where x > 0) on id, $left.a == $right.b \
         | union U, (V | take 1) | take 10 | limit 5 | top 3 by a asc \
         | sort by a desc nulls first, b asc | order by c | distinct a, b | distinct * \
         | count | as R",
    );
    assert_eq!(q.body.pipeline.operators.len(), 18);
    assert!(matches!(q.body.source, Source::Table(ref t) if t.name == "T"));
    let OperatorKind::Join { kind, on, .. } = &q.body.pipeline.operators[7].kind else {
        panic!("join");
    };
    assert_eq!(*kind, JoinKind::LeftOuter);
    assert_eq!(on[1].left.name, "a");
    assert_eq!(on[1].right.name, "b");
    let OperatorKind::Join { kind, .. } = query("T | join U on id").body.pipeline.operators[0].kind
    else {
        panic!("join");
    };
    assert_eq!(kind, JoinKind::InnerUnique);
}

#[test]
fn sources_and_lets() {
    let q =
        query("let x = 5; let since = ago(1d);\nlet t = T | where a > x;\nt | where ts > since");
    assert_eq!(q.lets.len(), 3);
    assert!(matches!(q.lets[0].value, LetValue::Scalar(_)));
    assert!(matches!(q.lets[2].value, LetValue::Tabular(_)));
    let q = query("let y = x; let u = T; u");
    assert!(matches!(q.lets[0].value, LetValue::Tabular(_)));
    assert!(
        matches!(query("union T, U | count").body.source, Source::Union(ref v) if v.len() == 2)
    );
    assert!(matches!(
        query("external_table('X') | take 1").body.source,
        Source::ExternalTable { ref name, .. } if name == "X"
    ));
    assert!(matches!(
        query("(T | take 1) | count").body.source,
        Source::Nested(_)
    ));
    assert!(matches!(
        query("datatable (a:long, b:string) [1, 'x', 2, 'y']").body.source,
        Source::Datatable { ref values, .. } if values.len() == 4
    ));
    assert!(
        matches!(query("['my table']").body.source, Source::Table(ref t) if t.name == "my table")
    );
}

#[test]
fn every_function_and_scalar_operator_parses() {
    let q = query(
        "T | where a has 'x' and a !has 'y' and a contains 'z' and a !contains_cs 'w' \
         and a startswith 'p' and a endswith_cs 's' and a in ('a', 'b') and a !in (dynamic(['c'])) \
         and a in~ ('A') and n between (1 .. 10) and n !between (2 .. 3) and a =~ 'q' and a !~ 'r' \
         and ts > ago(1h) and ts < now() and ts >= datetime(2024-01-01) \
         and ts <= datetime('2024-01-01T10:00:00Z') and d < 2d + 30m - 10s + 100ms + 5tick \
         and d == timespan(01:00:00) and d == time(1h) and isnull(x) and isnotnull(x) \
         and isempty(s) and isnotempty(s) and cursor_after('5') and cursor_before_or_at(cursor_current()) \
         | extend b = bin(ts, 1d), f = floor(n, 10), w = startofweek(ts), sd = startofday(ts), \
           sm = startofmonth(ts), sy = startofyear(ts), s1 = tostring(n), i = toint('1'), \
           l = tolong(s), r = todouble(s), r2 = toreal(s), t = todatetime(s), \
           c = strcat(a, '-', b), len = strlen(a), sub = substring(a, 1, 2), lo = tolower(a), \
           up = toupper(a), x = iff(n > 1, 'a', 'b'), y = iif(true, 1, 2), \
           z = case(n > 1, 'big', n > 0, 'small', 'none'), co = coalesce(a, 'd'), \
           h = hash(a), it = ingestion_time(), nn = long(null), ab = abs(-n), ro = round(1.5), \
           hs = h'secret', vb = @'c:\\x', neg = -n, m = n % 3, q = n / 2 * 3 \
         | summarize count(), countif(n > 1), sum(n), sumif(n, n > 1), avg(n), min(n), max(n), \
           dcount(a), make_list(a), make_set(a), arg_max(ts, *), arg_min(ts, a, b), any(a), \
           take_any(a) by bin(ts, 1h)",
    );
    assert_eq!(q.body.pipeline.operators.len(), 3);
}

#[test]
fn unknown_operator_and_function_are_named_with_position_and_the_supported_list() {
    let e = parse_query("T\n| wherex a == 1").unwrap_err();
    assert_eq!((e.line, e.column), (2, 3));
    assert!(e.message.contains("'wherex'"), "{e}");
    assert!(e.message.contains("project-away"), "{e}");
    let e = parse_query("T | where frob(a) > 1").unwrap_err();
    assert_eq!((e.line, e.column), (1, 11));
    assert!(e.message.contains("'frob'"), "{e}");
    assert!(
        e.message.contains("startofweek") && e.message.contains("arg_max"),
        "{e}"
    );
    let e = parse_query("T | join kind=sideways (U) on a").unwrap_err();
    assert!(
        e.message.contains("sideways") && e.message.contains("leftsemi"),
        "{e}"
    );
    let e = parse_query("T | where a == ").unwrap_err();
    assert!(e.message.contains("end of input"), "{e}");
    let e = parse_query("T | where ts > datetime(2024-13-45)").unwrap_err();
    assert!(e.message.contains("invalid datetime"), "{e}");
    let e = parse_query("T | take 1 T").unwrap_err();
    assert!(e.message.contains("expected '|'"), "{e}");
    let e = parse_query("T | where x == h'top secret' | frob").unwrap_err();
    assert!(!e.message.contains("top secret"));
    // Kusto's other query starts are refused by name, not read as a table.
    let e = parse_query("\nprint x = 1").unwrap_err();
    assert_eq!((e.line, e.column), (2, 1));
    assert!(e.message.contains("'print' is not supported"), "{e}");
    assert!(e.message.contains("external_table"), "{e}");
    // A table that happens to be called `range` still reads.
    assert!(parse_query("range | take 1").is_ok());
}

#[test]
fn pipelines() {
    let p = parse_pipeline("| project StartCursor | where a == 1").unwrap();
    assert_eq!(p.operators.len(), 2);
    let p = parse_pipeline("count").unwrap();
    assert_eq!(p.operators[0].kind, OperatorKind::Count);
    assert!(parse_pipeline("").is_err());
    assert!(parse_pipeline("| ").is_err());
}

#[test]
fn hostile_input_never_panics() {
    let deep = format!("T | where {}1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse_query(&deep).is_err());
    let deep_neg = format!("T | where {}1", "-".repeat(10_000));
    assert!(parse_query(&deep_neg).is_err());
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    let pieces = [
        "T",
        " ",
        "|",
        "where",
        "project",
        "-",
        "away",
        "(",
        ")",
        "[",
        "]",
        "'",
        "\"",
        "h",
        "@",
        "==",
        "=~",
        "!",
        "in",
        "~",
        "..",
        "1",
        "1h",
        "x",
        "=",
        ",",
        ";",
        "let",
        "$left",
        ".",
        "datetime(",
        "dynamic",
        "é",
        "join",
        "on",
        "by",
        "summarize",
        "count",
        "\n",
        "//",
    ];
    for _ in 0..20_000 {
        let n = next() % 20;
        let text: String = (0..n).map(|_| pieces[next() % pieces.len()]).collect();
        let _ = parse_query(&text);
        let _ = parse_pipeline(&text);
    }
}

#[test]
fn management_commands_take_a_pipeline() {
    use crate::command::{parse_command, Command};
    let piped = |text: &str| match parse_command(text) {
        Ok(Command::Piped { command, pipeline }) => (*command, pipeline),
        other => panic!("{text}: {other:?}"),
    };
    let (command, pipeline) = piped(".show continuous-export MyExport | project StartCursor");
    assert!(matches!(command, Command::ShowContinuousExport { ref name } if name == "MyExport"));
    assert_eq!(pipeline, "project StartCursor");
    let (command, pipeline) = piped(".show operations | where State == \"Failed\";");
    assert_eq!(command, Command::ShowOperations);
    assert_eq!(pipeline, "where State == \"Failed\"");
    let (_, pipeline) = piped(".show table T extents | count");
    assert_eq!(pipeline, "count");
    // `exported-artifacts | take N` keeps its own paging; more operators pipe.
    assert!(matches!(
        parse_command(".show continuous-export E exported-artifacts | take 5"),
        Ok(Command::ShowExportedArtifacts { take: Some(5), .. })
    ));
    let (command, pipeline) = piped(".show continuous-export E exported-artifacts | count");
    assert!(matches!(
        command,
        Command::ShowExportedArtifacts { take: None, .. }
    ));
    assert_eq!(pipeline, "count");
    // A `|` after `<|` belongs to the query.
    assert!(matches!(
        parse_command(".export to csv ('/o') <| T | where a == 1 | take 3"),
        Ok(Command::Export(ref e)) if e.query == "T | where a == 1 | take 3"
    ));
    // Errors in the pipeline point into the whole text.
    let e = parse_command(".show tables\n| frob").unwrap_err();
    assert_eq!((e.line, e.column), (2, 3));
    assert!(e.message.contains("'frob'"), "{e}");
    // Errors in the command are the command's.
    let e = parse_command(".show tablez | count").unwrap_err();
    assert!(e.message.contains("tablez"), "{e}");
}
