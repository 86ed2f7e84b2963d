//! Committing data files to a Delta table as one commit, guarded by the run's application
//! transaction (txn), and reading a transaction's files back from the log (recovery of a
//! commit that landed although its response was lost).

use std::collections::{HashMap, HashSet};

use datafusion_export_tables::TablesError;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, Transaction};
use deltalake::protocol::{DeltaOperation, OutputMode, SaveMode};
use object_store::path::Path;

use crate::command::scrub_secrets;
use crate::error::{ExportError, Result};

use super::{CommittedFile, DeltaFile, DeltaTableHandle, DeltaTarget, DeltaTxn};

/// Commits [`DeltaTarget::transaction_files`] reads back at most.
pub const MAX_COMMITS_SEARCHED: u64 = 1000;

impl DeltaTarget {
    /// Commits `files` as ONE Delta commit and returns the new table version.
    ///
    /// Each file becomes an `add` action (partition values, size, modification time = now,
    /// `dataChange = true`, stats `{"numRecords": n}`). With a [`DeltaTxn`] the commit also
    /// carries that application transaction (operation `STREAMING UPDATE`, as Spark
    /// streaming writes) and is refused if the table already records, for the same app
    /// id, a version after the run's start cursor: some run starting there (perhaps
    /// another runner's, with another end cursor) is already in the table. Two writers
    /// racing with the same app id cannot both commit (delta-rs's conflict checker fails
    /// the loser with a concurrent-transaction conflict). A commit that fails but in
    /// fact landed (a lost response, then a retry that conflicts with itself) is found
    /// by its transaction and these very files, and is success. Without `txn` the
    /// operation is a blind `WRITE` append. `operation_note` goes to the commit's
    /// `userMetadata`.
    ///
    /// The handle is refreshed to the latest version first and left at the new version.
    /// Nothing to commit (no files and no `txn`) returns the current version unchanged.
    pub async fn commit_files(
        &self,
        handle: &mut DeltaTableHandle,
        files: &[DeltaFile],
        txn: Option<DeltaTxn>,
        operation_note: &str,
    ) -> Result<i64> {
        self.refresh(handle).await?;
        let adds = self.add_actions(handle, files)?;
        let log_store = handle.table.log_store();
        if let Some(txn) = &txn {
            if txn.app_id.is_empty() {
                return Err(ExportError::Invalid(
                    "the application transaction id of a Delta commit is empty".into(),
                ));
            }
            let state = handle
                .table
                .snapshot()
                .map_err(|e| self.error("cannot read the table state", e))?;
            let recorded = state
                .transaction_version(log_store.as_ref(), &txn.app_id)
                .await
                .map_err(|e| self.error("cannot read application transactions", e))?;
            if let Some(recorded) = recorded.filter(|recorded| *recorded > txn.after) {
                if recorded == txn.version && self.landed(txn, files).await? {
                    return Ok(handle.version());
                }
                return Err(ExportError::Tables(TablesError::Conflict(scrub_secrets(
                    &format!(
                        "Delta table '{}' already records application transaction version \
                     {recorded} for '{}' (at table version {}): the commits after cursor {} \
                     were already exported by another run; refusing to commit version {} \
                     again",
                        self.shown,
                        txn.app_id,
                        handle.version(),
                        txn.after,
                        txn.version
                    ),
                ))));
            }
        } else if adds.is_empty() {
            return Ok(handle.version());
        }

        let now = chrono::Utc::now().timestamp_millis();
        let mut properties = CommitProperties::default().with_metadata([(
            "userMetadata".to_string(),
            serde_json::Value::String(operation_note.to_string()),
        )]);
        let operation = match &txn {
            Some(txn) => {
                properties = properties.with_application_transaction(
                    Transaction::new_with_last_update(&txn.app_id, txn.version, Some(now)),
                );
                DeltaOperation::StreamingUpdate {
                    output_mode: OutputMode::Append,
                    query_id: txn.app_id.clone(),
                    epoch_id: txn.version,
                }
            }
            None => DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: (!handle.partition_columns.is_empty())
                    .then(|| handle.partition_columns.clone()),
                predicate: None,
            },
        };
        let actions = adds.into_iter().map(Action::Add).collect();
        let finalized = {
            let state = handle
                .table
                .snapshot()
                .map_err(|e| self.error("cannot read the table state", e))?;
            CommitBuilder::from(properties)
                .with_actions(actions)
                .build(Some(state), log_store, operation)
                .await
        };
        let finalized = match (finalized, &txn) {
            (Ok(finalized), _) => finalized,
            (Err(e), Some(txn)) => {
                // Did it land after all (a lost response, then a retry that lost to
                // itself)? Then it is this commit, not a second one.
                if self.landed(txn, files).await.unwrap_or(false) {
                    self.refresh(handle).await?;
                    return Ok(handle.version());
                }
                return Err(self.error("commit failed", e));
            }
            (Err(e), None) => return Err(self.error("commit failed", e)),
        };
        let version = finalized.version();
        handle.table.state = Some(finalized.snapshot());
        to_i64_version(version)
    }

    /// Whether the table holds the commit of `txn` and it added exactly `files`.
    async fn landed(&self, txn: &DeltaTxn, files: &[DeltaFile]) -> Result<bool> {
        let Some(committed) = self.transaction_files(&txn.app_id, txn.version).await? else {
            return Ok(false);
        };
        let ours: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let theirs: HashSet<&str> = committed.iter().map(|f| f.path.as_str()).collect();
        Ok(ours == theirs)
    }

    /// The application transaction version recorded for `app_id` in the latest table
    /// state, if any (`None` as well when the table does not exist yet).
    pub async fn app_transaction_version(&self, app_id: &str) -> Result<Option<i64>> {
        let Some(table) = self.load_if_exists().await? else {
            return Ok(None);
        };
        let state = table
            .snapshot()
            .map_err(|e| self.error("cannot read the table state", e))?;
        state
            .transaction_version(self.log_store.as_ref(), app_id)
            .await
            .map_err(|e| self.error("cannot read application transactions", e))
    }

    /// The files added by the commit that recorded application transaction
    /// `(app_id, txn_version)`, looking back from the latest table version over at most
    /// [`MAX_COMMITS_SEARCHED`] commits. `None` when that commit is not found (older,
    /// or its log entry was cleaned up).
    pub async fn transaction_files(
        &self,
        app_id: &str,
        txn_version: i64,
    ) -> Result<Option<Vec<CommittedFile>>> {
        let Some(table) = self.load_if_exists().await? else {
            return Ok(None);
        };
        let Some(latest) = table.version() else {
            return Ok(None);
        };
        let oldest = latest.saturating_sub(MAX_COMMITS_SEARCHED);
        for version in (oldest..=latest).rev() {
            let Some(entry) = self
                .log_store
                .read_commit_entry(version)
                .await
                .map_err(|e| self.error("cannot read the table log", e))?
            else {
                continue;
            };
            if let Some(files) = files_of_transaction(&entry, app_id, txn_version)
                .map_err(|e| self.invalid(format!("commit {version}: {e}")))?
            {
                return Ok(Some(files));
            }
        }
        Ok(None)
    }

    fn add_actions(&self, handle: &DeltaTableHandle, files: &[DeltaFile]) -> Result<Vec<Add>> {
        let now = chrono::Utc::now().timestamp_millis();
        let expected: HashSet<&str> = handle
            .partition_columns
            .iter()
            .map(|s| s.as_str())
            .collect();
        let mut paths = HashSet::new();
        let mut adds = Vec::with_capacity(files.len());
        for file in files {
            let bad = |reason: String| {
                ExportError::Invalid(scrub_secrets(&format!(
                    "cannot add file '{}' to Delta table '{}': {reason}",
                    file.path, self.shown
                )))
            };
            check_relative_path(&file.path).map_err(bad)?;
            if !paths.insert(file.path.as_str()) {
                return Err(bad("the file is listed twice".into()));
            }
            let mut partition_values = HashMap::with_capacity(file.partition_values.len());
            for (column, value) in &file.partition_values {
                if !expected.contains(column.as_str()) {
                    return Err(bad(format!(
                        "'{column}' is not a partition column of the table (partition columns: \
                         [{}])",
                        handle.partition_columns.join(", ")
                    )));
                }
                if partition_values
                    .insert(column.clone(), value.clone())
                    .is_some()
                {
                    return Err(bad(format!("partition column '{column}' is given twice")));
                }
            }
            if let Some(missing) = handle
                .partition_columns
                .iter()
                .find(|c| !partition_values.contains_key(*c))
            {
                return Err(bad(format!("no value for partition column '{missing}'")));
            }
            let size = i64::try_from(file.size).map_err(|_| bad("size is too large".into()))?;
            let stats = serde_json::json!({ "numRecords": file.num_records }).to_string();
            adds.push(Add {
                path: file.path.clone(),
                partition_values,
                size,
                modification_time: now,
                data_change: true,
                stats: Some(stats),
                tags: None,
                deletion_vector: None,
                base_row_id: None,
                default_row_commit_version: None,
                clustering_provider: None,
            });
        }
        Ok(adds)
    }
}

/// The files added by one commit's JSON lines if the commit carries application
/// transaction `(app_id, version)`.
fn files_of_transaction(
    entry: &[u8],
    app_id: &str,
    version: i64,
) -> std::result::Result<Option<Vec<CommittedFile>>, String> {
    let mut ours = false;
    let mut files = Vec::new();
    for line in entry.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let action: serde_json::Value =
            serde_json::from_slice(line).map_err(|e| format!("not a Delta action: {e}"))?;
        if let Some(txn) = action.get("txn") {
            ours |= txn.get("appId").and_then(|v| v.as_str()) == Some(app_id)
                && txn.get("version").and_then(|v| v.as_i64()) == Some(version);
        }
        if let Some(add) = action.get("add") {
            let path = add
                .get("path")
                .and_then(|v| v.as_str())
                .ok_or("an add action without a path")?;
            let num_records = add
                .get("stats")
                .and_then(|v| v.as_str())
                .and_then(|stats| serde_json::from_str::<serde_json::Value>(stats).ok())
                .and_then(|stats| stats.get("numRecords").and_then(|n| n.as_u64()))
                .unwrap_or(0);
            files.push(CommittedFile {
                path: path.to_string(),
                size: add.get("size").and_then(|v| v.as_u64()).unwrap_or(0),
                num_records,
            });
        }
    }
    Ok(ours.then_some(files))
}

fn check_relative_path(path: &str) -> std::result::Result<(), String> {
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if path.starts_with('/') || path.contains("://") {
        return Err("the path must be relative to the table root".into());
    }
    if path.split('/').any(|segment| segment == "..") {
        return Err("the path must not contain '..'".into());
    }
    if path == "_delta_log" || path.starts_with("_delta_log/") {
        return Err("data files cannot live under _delta_log".into());
    }
    Path::parse(path).map_err(|e| e.to_string())?;
    Ok(())
}

fn to_i64_version(version: u64) -> Result<i64> {
    i64::try_from(version)
        .map_err(|_| ExportError::Invalid(format!("Delta table version {version} is too large")))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType as ArrowType, Field, Schema};
    use datafusion::parquet::arrow::ArrowWriter;
    use object_store::ObjectStoreExt;
    use url::Url;

    use super::super::test_fixtures::{batch, export_schema, pretty, query, write_file};
    use super::*;

    #[test]
    fn the_files_of_an_application_transaction_are_read_from_its_commit() {
        let entry = br#"{"commitInfo":{"operation":"STREAMING UPDATE"}}
{"txn":{"appId":"e1","version":42,"lastUpdated":1}}
{"add":{"path":"a.parquet","size":100,"stats":"{\"numRecords\":3}","partitionValues":{},"modificationTime":1,"dataChange":true}}
{"add":{"path":"b.parquet","size":50,"partitionValues":{},"modificationTime":1,"dataChange":true}}
"#;
        let files = files_of_transaction(entry, "e1", 42).unwrap().unwrap();
        assert_eq!(
            files,
            vec![
                CommittedFile {
                    path: "a.parquet".into(),
                    size: 100,
                    num_records: 3
                },
                CommittedFile {
                    path: "b.parquet".into(),
                    size: 50,
                    num_records: 0
                },
            ]
        );
        assert_eq!(files_of_transaction(entry, "e1", 41).unwrap(), None);
        assert_eq!(files_of_transaction(entry, "e2", 42).unwrap(), None);
        assert!(files_of_transaction(b"{not json", "e1", 42).is_err());
    }

    #[tokio::test]
    async fn create_commit_read_back_with_app_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("target table");
        let target = DeltaTarget::new(root.to_str().unwrap(), HashMap::new()).unwrap();
        assert!(!target.exists().await.unwrap());
        assert_eq!(target.app_transaction_version("app").await.unwrap(), None);

        let mut handle = target
            .ensure_table(&export_schema(), &["Region".to_string()])
            .await
            .unwrap();
        assert_eq!(handle.version(), 0);
        assert_eq!(handle.partition_columns(), ["Region".to_string()]);
        assert_eq!(
            handle
                .data_file_schema()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>(),
            ["a", "s", "ts", "d"]
        );
        assert_eq!(
            handle.schema().field_with_name("d").unwrap().data_type(),
            &ArrowType::Int64
        );

        // One file per partition value; the second value needs percent-encoding.
        let eu = write_file(&target, &handle, &batch("EU", &[1, 2, 3])).await;
        let us = write_file(&target, &handle, &batch("US West: 1", &[10, 20])).await;
        assert!(
            us.path.starts_with("Region=US%20West%3A%201/"),
            "{}",
            us.path
        );
        let version = target
            .commit_files(
                &mut handle,
                &[eu.clone(), us.clone()],
                Some(DeltaTxn::new("app", 0, 1)),
                "run 1",
            )
            .await
            .unwrap();
        assert_eq!(version, 1);
        assert_eq!(handle.version(), 1);
        assert_eq!(
            target.app_transaction_version("app").await.unwrap(),
            Some(1)
        );
        assert_eq!(target.app_transaction_version("other").await.unwrap(), None);

        let provider = target.table_provider().await.unwrap();
        let rows = query(
            provider,
            "SELECT \"Region\", count(*) AS n, sum(a) AS total, min(s) AS s, \
             min(ts) AS ts, max(d) AS d FROM t GROUP BY \"Region\" ORDER BY \"Region\"",
        )
        .await;
        let expected = [
            "+------------+---+-------+-----+-----------------------------+-------------+",
            "| Region     | n | total | s   | ts                          | d           |",
            "+------------+---+-------+-----+-----------------------------+-------------+",
            "| EU         | 3 | 6     | s1  | 2023-11-14T22:13:20.000001Z | 3000000000  |",
            "| US West: 1 | 2 | 30    | s10 | 2023-11-14T22:13:20.000010Z | 20000000000 |",
            "+------------+---+-------+-----+-----------------------------+-------------+",
        ]
        .join("\n");
        assert_eq!(pretty(&rows), expected);

        // A retry of run 1 is refused; run 2 goes through.
        let again = target
            .commit_files(
                &mut handle,
                std::slice::from_ref(&eu),
                Some(DeltaTxn::new("app", 0, 1)),
                "run 1",
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(
            again.contains("already records application transaction version 1"),
            "{again}"
        );
        let eu2 = write_file(&target, &handle, &batch("EU", &[4])).await;
        let version = target
            .commit_files(
                &mut handle,
                &[eu2],
                Some(DeltaTxn::new("app", 1, 2)),
                "run 2",
            )
            .await
            .unwrap();
        assert_eq!(version, 2);
        assert_eq!(
            target.app_transaction_version("app").await.unwrap(),
            Some(2)
        );

        let rows = query(
            target.table_provider().await.unwrap(),
            "SELECT count(*) AS n, sum(a) AS total FROM t WHERE \"Region\" = 'EU'",
        )
        .await;
        assert_eq!(
            pretty(&rows),
            [
                "+---+-------+",
                "| n | total |",
                "+---+-------+",
                "| 4 | 10    |",
                "+---+-------+",
            ]
            .join("\n")
        );

        // deltalake's own reader agrees.
        let url = Url::from_directory_path(root.canonicalize().unwrap()).unwrap();
        let table = deltalake::open_table(url).await.unwrap();
        assert_eq!(table.version(), Some(2));
        let state = table.snapshot().unwrap();
        assert_eq!(
            state
                .transaction_version(table.log_store().as_ref(), "app")
                .await
                .unwrap(),
            Some(2)
        );
        assert_eq!(table.get_file_uris().unwrap().count(), 3);

        // The log holds what the protocol asks for.
        let log =
            std::fs::read_to_string(root.join("_delta_log/00000000000000000001.json")).unwrap();
        assert!(log.contains(r#""txn":{"appId":"app","version":1"#), "{log}");
        assert!(log.contains(r#"\"numRecords\":3"#), "{log}");
        assert!(log.contains(r#""dataChange":true"#), "{log}");
        assert!(log.contains(r#""userMetadata":"run 1""#), "{log}");
        assert!(log.contains("Region=US%2520West%253A%25201/"), "{log}");

        // Reopening with the same schema (and with no partition list) works.
        let reopened = target.ensure_table(&export_schema(), &[]).await.unwrap();
        assert_eq!(reopened.version(), 2);
        assert_eq!(reopened.partition_columns(), ["Region".to_string()]);
    }

    #[tokio::test]
    async fn bad_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target =
            DeltaTarget::new(&format!("file://{}", dir.path().display()), HashMap::new()).unwrap();
        let schema = export_schema();
        let message = target
            .ensure_table(&schema, &["nope".to_string()])
            .await
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("partition column 'nope' is not a column"),
            "{message}"
        );
        assert!(!target.exists().await.unwrap());
        let message = target.table_provider().await.unwrap_err().to_string();
        assert!(message.contains("does not exist"), "{message}");

        let mut handle = target
            .ensure_table(&schema, &["Region".into()])
            .await
            .unwrap();
        let file = |path: &str, partition: Vec<(String, Option<String>)>| DeltaFile {
            path: path.into(),
            size: 10,
            num_records: 1,
            partition_values: partition,
        };
        let region = || vec![("Region".to_string(), Some("EU".to_string()))];
        for (bad, expected) in [
            (
                file("/abs/x.parquet", region()),
                "relative to the table root",
            ),
            (file("../x.parquet", region()), "must not contain '..'"),
            (file("_delta_log/x.parquet", region()), "under _delta_log"),
            (
                file("x.parquet", vec![]),
                "no value for partition column 'Region'",
            ),
            (
                file("x.parquet", vec![("Other".into(), None)]),
                "'Other' is not a partition column",
            ),
        ] {
            let message = target
                .commit_files(&mut handle, &[bad], None, "bad")
                .await
                .unwrap_err()
                .to_string();
            assert!(message.contains(expected), "{message}");
        }
        // Nothing was committed; a no-op commit keeps the version.
        assert_eq!(
            target
                .commit_files(&mut handle, &[], None, "x")
                .await
                .unwrap(),
            0
        );
        // A txn-only commit (a run without rows) records the run.
        let version = target
            .commit_files(
                &mut handle,
                &[],
                Some(DeltaTxn::new("job", 0, 7)),
                "empty run",
            )
            .await
            .unwrap();
        assert_eq!(version, 1);
        assert_eq!(
            target.app_transaction_version("job").await.unwrap(),
            Some(7)
        );

        for url in ["", "ftp://host/x", "http://example.com/table"] {
            let message = DeltaTarget::new(url, HashMap::new())
                .unwrap_err()
                .to_string();
            assert!(
                message.contains("invalid Delta table URL"),
                "{url}: {message}"
            );
        }
    }

    #[tokio::test]
    async fn memory_tables_live_as_long_as_their_target() {
        let target = DeltaTarget::new("memory:///exports/t", HashMap::new()).unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("a", ArrowType::Int64, true)]));
        let mut handle = target.ensure_table(&schema, &[]).await.unwrap();
        let data =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![5, 6]))])
                .unwrap();
        let data = handle.to_data_file_batch(&data).unwrap();
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, data.schema(), None).unwrap();
        writer.write(&data).unwrap();
        writer.close().unwrap();
        let file = DeltaFile {
            path: "part-0.parquet".into(),
            size: bytes.len() as u64,
            num_records: 2,
            partition_values: vec![],
        };
        target
            .object_store(&handle)
            .put(&Path::from("part-0.parquet"), bytes.into())
            .await
            .unwrap();
        let version = target
            .commit_files(&mut handle, &[file], None, "append")
            .await
            .unwrap();
        assert_eq!(version, 1);
        let rows = query(
            target.table_provider().await.unwrap(),
            "SELECT sum(a) AS s FROM t",
        )
        .await;
        assert_eq!(
            pretty(&rows),
            ["+----+", "| s  |", "+----+", "| 11 |", "+----+"].join("\n")
        );
    }
}
