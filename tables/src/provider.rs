//! `IngestionTable`: the `TableProvider` of an ingestion-tracked table.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{not_impl_err, project_schema, Result, ScalarValue};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_export_udfs::{
    ingestion_time_type, CursorRange, CursorScopedTable, INGESTION_TIME_COLUMN,
};
use uuid::Uuid;

use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, Column, Literal};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::union::UnionExec;

use crate::database::Database;
use crate::insert_sink::IngestSink;
use crate::log::state::Extent;
use crate::merge::{merged_schema, CURSOR_COLUMN};
use crate::scan_exec::{ExtentScanExec, ScanScope};

/// An ingestion-tracked table, possibly scoped to a cursor range.
///
/// Scans list only the extents whose cursor is in the scope (pruning by metadata),
/// and, when asked, add the [`INGESTION_TIME_COLUMN`] as a per-extent constant.
#[derive(Debug, Clone)]
pub struct IngestionTable {
    db: Database,
    id: Uuid,
    name: String,
    columns: SchemaRef,
    scope: CursorRange,
    with_ingestion_time: bool,
    schema: SchemaRef,
}

impl IngestionTable {
    /// The table `name` of `db`, unscoped.
    pub fn new(db: Database, id: Uuid, name: &str, columns: SchemaRef) -> Self {
        Self {
            db,
            id,
            name: name.to_string(),
            schema: Arc::clone(&columns),
            columns,
            scope: CursorRange::ALL,
            with_ingestion_time: false,
        }
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The table's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The database the table belongs to.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// This table scoped to `range` (replacing the current scope); the
    /// continuous-export engine scopes fact tables with it.
    pub fn scoped(&self, range: CursorRange) -> Self {
        let mut t = self.clone();
        t.scope = range;
        t
    }

    /// Recognises ingestion tables for the [`datafusion_export_udfs::CursorScopeRule`].
    pub fn resolve(provider: &dyn TableProvider) -> Option<&dyn CursorScopedTable> {
        provider
            .downcast_ref::<IngestionTable>()
            .map(|t| t as &dyn CursorScopedTable)
    }

    fn ingestion_time_field() -> Field {
        Field::new(INGESTION_TIME_COLUMN, ingestion_time_type(), false)
    }

    fn file_groups(extents: &[Extent], partitions: usize, with_time: bool) -> Vec<FileGroup> {
        let groups = partitions.max(1).min(extents.len().max(1));
        let mut buckets: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); groups];
        // Largest first into the lightest bucket: balanced partitions.
        let mut order: Vec<&Extent> = extents.iter().collect();
        order.sort_by(|a, b| b.file.size.cmp(&a.file.size).then(a.cursor.cmp(&b.cursor)));
        for extent in order {
            let mut file = PartitionedFile::new(extent.file.path.clone(), extent.file.size);
            if with_time {
                let nanos = extent.ingestion_time.timestamp_nanos_opt();
                file.partition_values =
                    vec![ScalarValue::TimestampNanosecond(nanos, Some("UTC".into()))];
            }
            if let Some(bucket) = buckets.iter_mut().min_by_key(|(bytes, _)| *bytes) {
                bucket.0 += extent.file.size;
                bucket.1.push(file);
            }
        }
        buckets
            .into_iter()
            .filter(|(_, files)| !files.is_empty())
            .map(|(_, files)| FileGroup::new(files))
            .collect()
    }
}

impl CursorScopedTable for IngestionTable {
    fn cursor_scope(&self) -> CursorRange {
        self.scope
    }

    fn includes_ingestion_time(&self) -> bool {
        self.with_ingestion_time
    }

    fn with_cursor_scope(&self, range: CursorRange, include: bool) -> Arc<dyn TableProvider> {
        let mut t = self.scoped(range);
        t.with_ingestion_time = include;
        t.schema = if include {
            let mut fields: Vec<Field> = self
                .columns
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields.push(Self::ingestion_time_field());
            Arc::new(Schema::new(fields))
        } else {
            Arc::clone(&self.columns)
        };
        Arc::new(t)
    }
}

impl IngestionTable {
    /// Extents of one commit each: the ingestion time is a per-file constant.
    async fn scan_plain(
        &self,
        state: &dyn Session,
        extents: &[Extent],
        projection: Option<&Vec<usize>>,
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        let partition_cols = if self.with_ingestion_time {
            vec![Arc::new(Self::ingestion_time_field())]
        } else {
            vec![]
        };
        let table_schema = TableSchema::builder(Arc::clone(&self.columns))
            .with_table_partition_cols(partition_cols)
            .build();
        let groups = Self::file_groups(
            extents,
            state.config().target_partitions(),
            self.with_ingestion_time,
        );
        let config = FileScanConfigBuilder::new(
            self.db.object_store_url().clone(),
            format.file_source(table_schema),
        )
        .with_file_groups(groups)
        .with_projection_indices(projection.cloned())?
        .with_limit(limit)
        .build();
        format.create_physical_plan(state, config).await
    }

    /// Merged extents: each row's cursor and ingestion time are in hidden columns.
    /// Rows outside `range` (of an extent the range covers only partly) are filtered
    /// out by cursor, the filter also pruning row groups and pages by statistics.
    async fn scan_merged(
        &self,
        state: &dyn Session,
        extents: &[Extent],
        range: &CursorRange,
        projection: Option<&Vec<usize>>,
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let columns = self.columns.fields().len();
        let file_schema = merged_schema(&self.columns);
        let (cursor, time) = (columns, columns + 1);
        let wanted: Vec<usize> = projection
            .cloned()
            .unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        let to_file = |i: usize| if i < columns { i } else { time };
        let filtered = !extents.iter().all(|e| e.within(range));
        let mut read: Vec<usize> = wanted.iter().map(|i| to_file(*i)).collect();
        if filtered {
            read.push(cursor);
        }
        read.sort_unstable();
        read.dedup();
        // The cursor filter below is pushed into this source by the optimizer, where
        // row-group statistics and the page index skip what it excludes. Without a
        // filter the page index would only be read for nothing.
        let mut options = state.table_options().parquet.clone();
        options.global.enable_page_index = filtered;
        // Planned by the format, as plain extents are: that is what gives the scan the
        // session's footer cache and metadata size hint. Without them every query
        // fetched the footer again (on S3, one or two more GETs per merged extent).
        let format = ParquetFormat::default().with_options(options);
        let config = FileScanConfigBuilder::new(
            self.db.object_store_url().clone(),
            format.file_source(TableSchema::builder(Arc::clone(&file_schema)).build()),
        )
        .with_file_groups(Self::file_groups(
            extents,
            state.config().target_partitions(),
            false,
        ))
        .with_projection_indices(Some(read))?
        .with_limit(if filtered { None } else { limit })
        .build();
        let mut plan: Arc<dyn ExecutionPlan> = format.create_physical_plan(state, config).await?;
        if filtered {
            let predicate = cursor_predicate(&plan.schema(), range)?;
            plan = Arc::new(FilterExec::try_new(predicate, plan)?);
        }
        let out = plan.schema();
        let exprs = wanted
            .iter()
            .map(|i| {
                let stored = file_schema.field(to_file(*i)).name();
                let column: Arc<dyn PhysicalExpr> =
                    Arc::new(Column::new(stored, out.index_of(stored)?));
                Ok((column, self.schema.field(*i).name().clone()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(ProjectionExec::try_new(exprs, plan)?))
    }
}

/// `__dfx_cursor > after AND __dfx_cursor <= at_or_before`, over `schema`.
fn cursor_predicate(schema: &Schema, range: &CursorRange) -> Result<Arc<dyn PhysicalExpr>> {
    let column: Arc<dyn PhysicalExpr> =
        Arc::new(Column::new(CURSOR_COLUMN, schema.index_of(CURSOR_COLUMN)?));
    let bound =
        |v: u64| -> Arc<dyn PhysicalExpr> { Arc::new(Literal::new(ScalarValue::UInt64(Some(v)))) };
    let mut predicate: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(
        Arc::clone(&column),
        Operator::Gt,
        bound(range.after.sequence()),
    ));
    if let Some(hi) = range.at_or_before {
        let upper = Arc::new(BinaryExpr::new(
            column,
            Operator::LtEq,
            bound(hi.sequence()),
        ));
        predicate = Arc::new(BinaryExpr::new(predicate, Operator::And, upper));
    }
    Ok(predicate)
}

#[async_trait]
impl TableProvider for IngestionTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (extents, total, resolved) = self
            .db
            .scope_extents(self.id, &self.name, &self.scope)
            .await?;
        let scope = ScanScope {
            table: self.name.clone(),
            range: resolved,
            extents_scanned: extents.len(),
            extents_total: total,
            bytes_scanned: extents.iter().map(|e| e.file.size).sum(),
        };
        if extents.is_empty() {
            let schema = project_schema(&self.schema, projection)?;
            return Ok(Arc::new(ExtentScanExec::new(
                Arc::new(EmptyExec::new(schema)),
                scope,
            )));
        }

        let runtime = state.runtime_env();
        if runtime.object_store(self.db.object_store_url()).is_err() {
            runtime
                .register_object_store(self.db.object_store_url().as_ref(), self.db.object_store());
        }
        let (plain, merged): (Vec<Extent>, Vec<Extent>) =
            extents.into_iter().partition(|e| e.merged.is_none());
        let mut plans = Vec::with_capacity(2);
        if !plain.is_empty() {
            plans.push(self.scan_plain(state, &plain, projection, limit).await?);
        }
        if !merged.is_empty() {
            plans.push(
                self.scan_merged(state, &merged, &resolved, projection, limit)
                    .await?,
            );
        }
        let plan = UnionExec::try_new(plans)?;
        Ok(Arc::new(ExtentScanExec::new(plan, scope)))
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if insert_op != InsertOp::Append {
            return not_impl_err!(
                "{insert_op} is not supported for ingestion-tracked tables: records are only ever appended (use INSERT INTO)"
            );
        }
        let sink = IngestSink::new(self.db.clone(), &self.name, Arc::clone(&self.columns));
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}
