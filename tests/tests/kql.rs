//! The KQL oracle corpus: every case is a KQL query, its SQL equivalent and the
//! rows both must return, run on one fixture database.
//!
//! The corpus is the `*.test` files of `tests/kql/`, run in file-name order on one
//! engine (so `00_fixture.test` builds the database the others read). A file is a
//! sequence of blocks separated by blank lines; a line starting with `#` between
//! blocks is a comment. The blocks, in the style of sqllogictest:
//!
//! ```text
//! # the database's clock (a `ManualClock`): ingestion_time() of later commits
//! clock 2026-11-25T00:00:00Z
//!
//! # a command or SQL statement that must succeed; an async one (its result has an
//! # OperationId) must also complete
//! statement ok
//! .create table Events (Id:long, Region:string)
//!
//! # a statement that must fail with an error containing the text after `error`
//! statement error no table
//! .show table Missing
//!
//! # a query: KQL, then `----` and its SQL equivalent, then `====` and the rows.
//! # `rowsort`: the rows' order is not defined, both sides are sorted as text.
//! # `columns`: the KQL side's column names (Kusto's naming), checked as given.
//! query rowsort
//! columns Region, count_
//! Events
//! | summarize count() by Region
//! ----
//! SELECT Region, count(*) FROM Events GROUP BY Region
//! ====
//! EU | 3
//! US | 2
//! ```
//!
//! A query without `----` has no SQL equivalent (say, `.show … | project …`): only its
//! KQL side runs. A block whose first line ends with `needs-kql` (`statement ok
//! needs-kql`, `query rowsort needs-kql`) depends on KQL run before it and only runs
//! in the KQL pass. Rows print each cell with arrow's display; `NULL` is a null,
//! `(empty)` an empty string, cells are separated by ` | `. `${TMP}` in any text is a
//! folder of a temporary directory (local export targets in place of storage URLs).
//!
//! Two passes, two tests: `sql_side_of_the_kql_corpus` runs the statements and the SQL
//! of every case (it must pass whatever the state of KQL); `kql_corpus` runs
//! everything and checks both sides. Each reports all failures at once, with
//! file:line, the text and a diff. `kql_corpus_has_enough_cases` holds the corpus to
//! at least 150 cases with both sides.
//!
//! Environment: `KQL_CORPUS_FILTER=<text>` runs only the files whose name contains it
//! (and the `00_` fixture files); `KQL_CORPUS_DIR=<folder>` reads the corpus from
//! another folder; `KQL_CORPUS_BLESS=1` with the SQL pass rewrites each expected block
//! from the SQL result (check them by hand before committing: the SQL is what must
//! match Kusto).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, RecordBatch, StringArray};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion_export::tables::{Database, DatabaseOptions, ManualClock};
use datafusion_export::Engine;

/// The fewest cases with both a KQL and a SQL side the corpus may hold.
const MIN_CASES: usize = 150;

/// `tests/kql`, or the folder `KQL_CORPUS_DIR` names (a scratch corpus).
fn corpus_dir() -> PathBuf {
    match std::env::var_os("KQL_CORPUS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("kql"),
    }
}

/// What a statement must do.
#[derive(Debug, Clone)]
enum Expect {
    Ok,
    Error(String),
}

#[derive(Debug, Clone)]
enum Block {
    Clock(DateTime<Utc>),
    Statement {
        expect: Expect,
        text: String,
    },
    Query {
        rowsort: bool,
        columns: Option<Vec<String>>,
        kql: String,
        sql: Option<String>,
        expected: Vec<String>,
        /// Line range (0-based, end exclusive) of the expected rows in the file.
        expected_lines: (usize, usize),
    },
}

#[derive(Debug, Clone)]
struct Case {
    file: String,
    /// 1-based line of the block's first line.
    line: usize,
    needs_kql: bool,
    block: Block,
}

/// One corpus file, parsed.
struct CorpusFile {
    path: PathBuf,
    name: String,
    lines: Vec<String>,
    cases: Vec<Case>,
}

fn parse_file(path: &Path) -> Result<CorpusFile, String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut cases = Vec::new();
    let mut i = 0;
    let at = |i: usize| format!("{name}:{}", i + 1);
    while i < lines.len() {
        let line = lines[i].trim_end();
        if line.trim().is_empty() || line.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i;
        let mut words: Vec<&str> = line.split_whitespace().collect();
        let needs_kql = words.last() == Some(&"needs-kql");
        if needs_kql {
            words.pop();
        }
        let block = match words.first().copied() {
            Some("clock") => {
                let value = words
                    .get(1)
                    .ok_or_else(|| format!("{}: clock needs a time", at(i)))?;
                let t = DateTime::parse_from_rfc3339(value)
                    .map_err(|e| format!("{}: bad clock time {value}: {e}", at(i)))?;
                i += 1;
                Block::Clock(t.with_timezone(&Utc))
            }
            Some("statement") => {
                let expect = match words.get(1).copied() {
                    Some("ok") if words.len() == 2 => Expect::Ok,
                    Some("error") => {
                        let rest = line.trim_start()["statement".len()..].trim_start();
                        let rest = rest["error".len()..].trim();
                        let rest = rest.strip_suffix("needs-kql").unwrap_or(rest).trim();
                        Expect::Error(rest.to_string())
                    }
                    _ => {
                        return Err(format!(
                            "{}: expected `statement ok` or `statement error <text>`",
                            at(i)
                        ))
                    }
                };
                i += 1;
                let mut body = Vec::new();
                while i < lines.len() && !lines[i].trim().is_empty() {
                    body.push(lines[i].clone());
                    i += 1;
                }
                if body.is_empty() {
                    return Err(format!("{}: statement without text", at(start)));
                }
                Block::Statement {
                    expect,
                    text: body.join("\n"),
                }
            }
            Some("query") => {
                let rowsort = match words.get(1).copied() {
                    None => false,
                    Some("rowsort") if words.len() == 2 => true,
                    _ => return Err(format!("{}: expected `query [rowsort]`", at(i))),
                };
                i += 1;
                let mut columns = None;
                if let Some(rest) = lines.get(i).and_then(|l| l.strip_prefix("columns ")) {
                    columns = Some(rest.split(',').map(|c| c.trim().to_string()).collect());
                    i += 1;
                }
                let mut kql = Vec::new();
                let mut sql = Vec::new();
                let mut section = 0; // 0 KQL, 1 SQL
                loop {
                    let Some(l) = lines.get(i) else {
                        return Err(format!("{}: query without `====`", at(start)));
                    };
                    if l.trim().is_empty() {
                        return Err(format!(
                            "{}: blank line inside a query before `====`",
                            at(i)
                        ));
                    }
                    i += 1;
                    match l.trim_end() {
                        "----" if section == 0 => section = 1,
                        "====" => break,
                        _ if section == 0 => kql.push(l.clone()),
                        _ => sql.push(l.clone()),
                    }
                }
                if kql.is_empty() || (section == 1 && sql.is_empty()) {
                    return Err(format!("{}: empty KQL or SQL text", at(start)));
                }
                let first = i;
                let mut expected = Vec::new();
                while i < lines.len() && !lines[i].trim().is_empty() {
                    expected.push(lines[i].trim_end().to_string());
                    i += 1;
                }
                Block::Query {
                    rowsort,
                    columns,
                    kql: kql.join("\n"),
                    sql: (section == 1).then(|| sql.join("\n")),
                    expected,
                    expected_lines: (first, i),
                }
            }
            _ => return Err(format!("{}: unknown block `{line}`", at(i))),
        };
        cases.push(Case {
            file: name.clone(),
            line: start + 1,
            needs_kql,
            block,
        });
    }
    Ok(CorpusFile {
        path: path.to_path_buf(),
        name,
        lines,
        cases,
    })
}

/// The corpus files in name order, filtered by `KQL_CORPUS_FILTER` (fixture files,
/// `00_*`, always stay).
fn corpus(filter: Option<&str>) -> Vec<CorpusFile> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/kql exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    paths.sort();
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(f) = filter {
            if !name.starts_with("00_") && !name.contains(f) {
                continue;
            }
        }
        match parse_file(&path) {
            Ok(file) => files.push(file),
            Err(e) => errors.push(e),
        }
    }
    assert!(
        errors.is_empty(),
        "corpus syntax errors:\n{}",
        errors.join("\n")
    );
    files
}

/// Each row of `batches` as its cells' display joined by ` | `.
fn format_rows(batches: &[RecordBatch]) -> Result<Vec<String>, String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("cannot format the result: {e}"))?;
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .map(|f| {
                    let cell = f.value(row).to_string();
                    if cell.is_empty() {
                        "(empty)".to_string()
                    } else {
                        cell
                    }
                })
                .collect();
            rows.push(cells.join(" | "));
        }
    }
    Ok(rows)
}

fn column_names(batches: &[RecordBatch]) -> Vec<String> {
    batches
        .first()
        .map(|b| {
            b.schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        })
        .unwrap_or_default()
}

fn diff(expected: &[String], actual: &[String]) -> String {
    let mut out = String::new();
    let n = expected.len().max(actual.len());
    for k in 0..n {
        match (expected.get(k), actual.get(k)) {
            (Some(e), Some(a)) if e == a => {
                let _ = writeln!(out, "    {e}");
            }
            (e, a) => {
                if let Some(e) = e {
                    let _ = writeln!(out, "  - {e}");
                }
                if let Some(a) = a {
                    let _ = writeln!(out, "  + {a}");
                }
            }
        }
    }
    if n == 0 {
        out.push_str("    (no rows on either side)\n");
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// Which sides a pass checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// The statements and the SQL side of every case not marked `needs-kql`.
    Sql,
    /// Everything, both sides.
    Kql,
}

struct Runner {
    engine: Engine,
    clock: Arc<ManualClock>,
    tmp: String,
    failures: Vec<String>,
    /// For blessing: (file index, expected line range, new rows).
    blessed: Vec<(usize, (usize, usize), Vec<String>)>,
}

impl Runner {
    async fn new(dir: &Path) -> Runner {
        let clock = Arc::new(ManualClock::new(
            DateTime::parse_from_rfc3339("2026-11-25T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        ));
        let root = dir.join("db");
        std::fs::create_dir_all(&root).unwrap();
        let files = dir.join("files");
        std::fs::create_dir_all(&files).unwrap();
        let db = Database::open_with(
            root.to_str().unwrap(),
            DatabaseOptions::default().with_clock(clock.clone()),
        )
        .await
        .unwrap();
        Runner {
            engine: Engine::new(db),
            clock,
            tmp: files.to_str().unwrap().to_string(),
            failures: Vec::new(),
            blessed: Vec::new(),
        }
    }

    fn text(&self, t: &str) -> String {
        t.replace("${TMP}", &self.tmp)
    }

    /// Runs `text`; for an async command, waits for its operation to end.
    async fn run(&self, text: &str) -> Result<Vec<RecordBatch>, String> {
        let batches = self
            .engine
            .execute_collect(text)
            .await
            .map_err(|e| e.to_string())?;
        if text.trim_start().starts_with('.') {
            if let Some(id) = operation_id(&batches) {
                self.wait_for(&id).await?;
            }
        }
        Ok(batches)
    }

    async fn wait_for(&self, id: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let shown = self
                .engine
                .execute_collect(&format!(".show operation {id}"))
                .await
                .map_err(|e| format!("cannot follow operation {id}: {e}"))?;
            let rows = format_rows(&shown)?;
            let names = column_names(&shown);
            let cell = |name: &str| {
                let k = names.iter().position(|n| n == name)?;
                rows.first()
                    .and_then(|r| r.split(" | ").nth(k).map(str::to_string))
            };
            match cell("State").as_deref() {
                Some("InProgress") if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Some("Completed") => return Ok(()),
                state => {
                    return Err(format!(
                        "operation {id} ended in state {state:?}: {}",
                        cell("Status").unwrap_or_default()
                    ))
                }
            }
        }
    }

    fn fail(&mut self, case: &Case, what: &str, text: &str, detail: &str) {
        self.failures.push(format!(
            "{}:{}: {what}\n{}{detail}",
            case.file,
            case.line,
            indent(text)
        ));
    }

    async fn check_side(
        &mut self,
        case: &Case,
        side: &str,
        text: &str,
        rowsort: bool,
        columns: Option<&Vec<String>>,
        expected: &[String],
    ) -> Option<Vec<String>> {
        let text = self.text(text);
        let batches = match self.run(&text).await {
            Ok(b) => b,
            Err(e) => {
                self.fail(
                    case,
                    &format!("{side} failed"),
                    &text,
                    &format!("  error: {e}\n"),
                );
                return None;
            }
        };
        let mut rows = match format_rows(&batches) {
            Ok(r) => r,
            Err(e) => {
                self.fail(case, &format!("{side} failed"), &text, &format!("  {e}\n"));
                return None;
            }
        };
        let mut expected = expected.to_vec();
        if rowsort {
            rows.sort();
            expected.sort();
        }
        if let Some(columns) = columns {
            let names = column_names(&batches);
            // An empty result may come back without batches, hence without names.
            if !batches.is_empty() && &names != columns {
                self.fail(
                    case,
                    &format!("{side} column names differ"),
                    &text,
                    &format!(
                        "  expected: {}\n  actual:   {}\n",
                        columns.join(", "),
                        names.join(", ")
                    ),
                );
            }
        }
        if rows != expected {
            self.fail(
                case,
                &format!("{side} rows differ (- expected, + actual)"),
                &text,
                &diff(&expected, &rows),
            );
        }
        Some(rows)
    }

    async fn run_case(&mut self, file_index: usize, case: &Case, pass: Pass) {
        if case.needs_kql && pass == Pass::Sql {
            return;
        }
        match &case.block {
            Block::Clock(t) => self.clock.set(*t),
            Block::Statement { expect, text } => {
                let text = self.text(text);
                let result = self.run(&text).await;
                match (expect, result) {
                    (Expect::Ok, Ok(_)) => {}
                    (Expect::Ok, Err(e)) => {
                        self.fail(case, "statement failed", &text, &format!("  error: {e}\n"))
                    }
                    (Expect::Error(want), Ok(_)) => self.fail(
                        case,
                        "statement succeeded, expected an error",
                        &text,
                        &format!("  expected an error containing: {want}\n"),
                    ),
                    (Expect::Error(want), Err(e)) => {
                        if !e.contains(want.as_str()) {
                            self.fail(
                                case,
                                "statement failed with another error",
                                &text,
                                &format!("  expected an error containing: {want}\n  error: {e}\n"),
                            )
                        }
                    }
                }
            }
            Block::Query {
                rowsort,
                columns,
                kql,
                sql,
                expected,
                expected_lines,
            } => {
                if let Some(sql) = sql {
                    let rows = self
                        .check_side(case, "SQL", sql, *rowsort, None, expected)
                        .await;
                    if let (Some(mut rows), true) = (rows, bless()) {
                        if *rowsort {
                            rows.sort();
                        }
                        self.blessed.push((file_index, *expected_lines, rows));
                    }
                }
                if pass == Pass::Kql {
                    self.check_side(case, "KQL", kql, *rowsort, columns.as_ref(), expected)
                        .await;
                }
            }
        }
    }
}

fn operation_id(batches: &[RecordBatch]) -> Option<String> {
    let batch = batches.first()?;
    let column = batch.column_by_name("OperationId")?;
    let ids = column.as_any().downcast_ref::<StringArray>()?;
    (batch.num_rows() == 1 && ids.is_valid(0)).then(|| ids.value(0).to_string())
}

fn bless() -> bool {
    std::env::var("KQL_CORPUS_BLESS").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn filter() -> Option<String> {
    std::env::var("KQL_CORPUS_FILTER")
        .ok()
        .filter(|f| !f.is_empty())
}

/// Rewrites the expected blocks recorded in `blessed`.
fn write_blessed(files: &[CorpusFile], mut blessed: Vec<(usize, (usize, usize), Vec<String>)>) {
    blessed.sort_by_key(|(f, (start, _), _)| (*f, std::cmp::Reverse(*start)));
    for (index, file) in files.iter().enumerate() {
        let mut lines = file.lines.clone();
        let mut changed = false;
        for (_, (start, end), rows) in blessed.iter().filter(|(f, _, _)| *f == index) {
            if lines[*start..*end] != rows[..] {
                lines.splice(*start..*end, rows.iter().cloned());
                changed = true;
            }
        }
        if changed {
            let mut text = lines.join("\n");
            text.push('\n');
            std::fs::write(&file.path, text).unwrap();
            eprintln!("blessed {}", file.name);
        }
    }
}

async fn run_corpus(pass: Pass) {
    let filter = filter();
    let files = corpus(filter.as_deref());
    let dir = tempfile::tempdir().unwrap();
    let mut runner = Runner::new(dir.path()).await;
    let mut cases = 0;
    for (index, file) in files.iter().enumerate() {
        for case in &file.cases {
            if matches!(case.block, Block::Query { .. }) {
                cases += 1;
            }
            runner.run_case(index, case, pass).await;
        }
    }
    if bless() && pass == Pass::Sql {
        write_blessed(&files, std::mem::take(&mut runner.blessed));
    }
    let failures = &runner.failures;
    assert!(
        failures.is_empty(),
        "{} of the corpus's checks failed ({cases} queries in {} files, {pass:?} pass):\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn kql_corpus_has_enough_cases() {
    let files = corpus(None);
    let both = files
        .iter()
        .flat_map(|f| &f.cases)
        .filter(|c| matches!(&c.block, Block::Query { sql: Some(_), .. }))
        .count();
    assert!(
        both >= MIN_CASES,
        "the KQL corpus holds {both} cases with a KQL and a SQL side; at least {MIN_CASES} wanted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_side_of_the_kql_corpus() {
    run_corpus(Pass::Sql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kql_corpus() {
    run_corpus(Pass::Kql).await;
}
