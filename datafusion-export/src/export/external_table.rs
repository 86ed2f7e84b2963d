//! External tables: named export targets (`kind=storage` or `kind=delta`), stored in
//! the database catalog, and read back with `SELECT * FROM external_table('X')`.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::IntervalMonthDayNano;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{plan_err, Result as DfResult, ScalarValue};
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::provider_as_source;
use datafusion::datasource::view::ViewTable;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::{cast, ident, lit, Expr, LogicalPlanBuilder, TableType};
use datafusion::physical_expr::expressions::{CastExpr, Column as PhysicalColumn};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_export_tables::{Database, SecretError, SecretKeys, StorageOptions};
use serde::{Deserialize, Serialize};

use crate::catalog_objects;
use crate::command::{
    BinStep, CreateMode, DataFormat, ExternalTableDef, ExternalTableKind, PartitionExpr, Property,
    PropertyValue, StartOfUnit,
};
use crate::error::{ExportError, Result};
use crate::export::attempts::{self, ExportAttempt};
use crate::export::delta::DeltaTarget;
use crate::export::options::{Compression, Distribution, ExportOptions, IncludeHeaders};
use crate::export::partition::PartitionHashUdf;
use crate::export::target::resolve_target;
use crate::kusto_types::arrow_type;

/// The catalog kind external tables are stored under.
pub const KIND: &str = "external_table";

/// A stored external table: its definition and resolved schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalTable {
    /// As created.
    pub def: ExternalTableDef,
    /// The columns (for Delta tables without a column list, read from the table).
    pub schema: Schema,
}

impl ExternalTable {
    /// The columns.
    pub fn schema_ref(&self) -> SchemaRef {
        Arc::new(self.schema.clone())
    }

    /// Whether the `compressed` property is set.
    pub fn compressed(&self) -> Result<bool> {
        match self.property("compressed") {
            None => Ok(false),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| ExportError::property("compressed", "expected true or false")),
        }
    }

    fn property(&self, name: &str) -> Option<&PropertyValue> {
        crate::command::find_property(&self.def.properties, name)
    }

    /// The table's own properties merged with an export's (the export's win), minus
    /// `compressed`, which is a flag of its own.
    pub fn merged_properties(&self, command: &[Property]) -> Vec<Property> {
        let mut merged: Vec<Property> = self
            .def
            .properties
            .iter()
            .filter(|p| !p.name.eq_ignore_ascii_case("compressed"))
            .filter(|p| !command.iter().any(|c| c.name.eq_ignore_ascii_case(&p.name)))
            .cloned()
            .collect();
        merged.extend(command.iter().cloned());
        merged
    }

    /// The export options an `.export to table` uses.
    pub fn export_options(&self, command: &[Property]) -> Result<ExportOptions> {
        let format = match self.def.kind {
            ExternalTableKind::Delta => DataFormat::Parquet,
            ExternalTableKind::Storage => self.def.data_format.unwrap_or(DataFormat::Parquet),
        };
        ExportOptions::parse(
            &self.merged_properties(command),
            Some(format),
            self.compressed()?,
            Distribution::PerNode,
        )
    }

    /// A copy to store: every secret in its URLs and properties encrypted under the
    /// first of `keys` (see [`crate::command::SecretString::seal`]); refused when it
    /// holds a secret and no key is configured.
    pub fn sealed(&self, keys: Option<&SecretKeys>) -> Result<Self> {
        self.map_secrets(|s| s.seal(keys))
    }

    /// A usable copy of a stored definition: every sealed secret decrypted.
    pub fn unsealed(&self, keys: Option<&SecretKeys>) -> Result<Self> {
        self.map_secrets(|s| s.unseal(keys))
    }

    /// Whether any URL or property holds a secret.
    pub fn has_secrets(&self) -> bool {
        self.def.urls.iter().any(|u| u.has_secret())
            || self.def.properties.iter().any(|p| match &p.value {
                PropertyValue::String(s) => s.has_secret(),
                _ => false,
            })
    }

    fn map_secrets(
        &self,
        f: impl Fn(
            &crate::command::SecretString,
        ) -> std::result::Result<crate::command::SecretString, SecretError>,
    ) -> Result<Self> {
        let name = &self.def.name;
        let err = |e: SecretError| ExportError::Invalid(format!("external table '{name}': {e}"));
        let mut out = self.clone();
        for url in &mut out.def.urls {
            *url = f(url).map_err(err)?;
        }
        for p in &mut out.def.properties {
            if let PropertyValue::String(s) = &mut p.value {
                *s = f(s).map_err(err)?;
            }
        }
        Ok(out)
    }

    /// The format of the artifacts.
    pub fn data_format(&self) -> DataFormat {
        match self.def.kind {
            ExternalTableKind::Delta => DataFormat::Parquet,
            ExternalTableKind::Storage => self.def.data_format.unwrap_or(DataFormat::Parquet),
        }
    }
}

/// Loads external table `name` from the catalog, its secrets decrypted with the
/// database's secret keys (an error says which key is missing).
pub async fn load(db: &Database, name: &str) -> Result<ExternalTable> {
    let table: ExternalTable = catalog_objects::load(db, KIND, "external table", name).await?;
    table.unsealed(db.options().secret_keys.as_ref())
}

/// Every external table, as stored: secrets stay sealed (they show redacted), so
/// this needs no key.
pub async fn list(db: &Database) -> Result<Vec<ExternalTable>> {
    catalog_objects::list(db, KIND, "external table").await
}

/// Validates a definition and resolves its schema (reading a Delta table's if
/// no columns are given, creating the Delta table if it does not exist).
pub async fn resolve(
    def: ExternalTableDef,
    runtime: &RuntimeEnv,
    storage_options: &[(String, String)],
) -> Result<ExternalTable> {
    datafusion_export_tables::validate_table_name(&def.name)?;
    if def.urls.is_empty() {
        return Err(ExportError::Invalid(format!(
            "external table '{}' needs at least one URL",
            def.name
        )));
    }
    let declared = Schema::new(
        def.columns
            .iter()
            .map(|c| Field::new(&c.name, arrow_type(c.kusto_type), true))
            .collect::<Vec<_>>(),
    );
    let schema = match def.kind {
        ExternalTableKind::Storage => {
            if def.columns.is_empty() {
                return Err(ExportError::Invalid(format!(
                    "external table '{}': a storage external table needs a column list",
                    def.name
                )));
            }
            if def.data_format.is_none() {
                return Err(ExportError::Invalid(format!(
                    "external table '{}': dataformat is required for kind=storage",
                    def.name
                )));
            }
            for url in &def.urls {
                resolve_target(url, Some(runtime), storage_options)?;
            }
            let table = ExternalTable {
                def: def.clone(),
                schema: declared.clone(),
            };
            // Properties and partitions must be usable by an export.
            table.export_options(&[])?;
            crate::export::partition::Partitioner::try_new(&def.partitions, &table.schema_ref())?;
            declared
        }
        ExternalTableKind::Delta => {
            if def.urls.len() != 1 {
                return Err(ExportError::Invalid(format!(
                    "external table '{}': a Delta table has exactly one URL",
                    def.name
                )));
            }
            let target = DeltaTarget::new_in(
                def.urls[0].expose(),
                storage_map(storage_options),
                Some(runtime),
            )?;
            let partition_columns: Vec<String> =
                def.partitions.iter().map(|p| p.name.clone()).collect();
            if def.columns.is_empty() {
                let provider = target.table_provider().await.map_err(|e| {
                    ExportError::Invalid(format!(
                        "external table '{}': no column list was given and the Delta table cannot be read ({e})",
                        def.name
                    ))
                })?;
                if !partition_columns.is_empty() {
                    let actual = target.open().await?.partition_columns().to_vec();
                    if actual != partition_columns {
                        return Err(ExportError::Invalid(format!(
                            "external table '{}': the Delta table is partitioned by [{}], not [{}]",
                            def.name,
                            actual.join(", "),
                            partition_columns.join(", ")
                        )));
                    }
                }
                provider.schema().as_ref().clone()
            } else {
                for p in &def.partitions {
                    let declared_type = def
                        .columns
                        .iter()
                        .find(|c| c.name == p.name)
                        .map(|c| c.kusto_type);
                    if declared_type != Some(p.kusto_type) {
                        return Err(ExportError::Invalid(format!(
                            "external table '{}': partition '{}:{}' must be one of the table's \
                             columns, with its type",
                            def.name, p.name, p.kusto_type
                        )));
                    }
                }
                // The Delta table's own types (timestamps in microseconds, for one)
                // are what exports must write and what reads return. A new table is
                // created with the declared partitioning; an existing one must have it.
                let handle = target
                    .ensure_table(&Arc::new(declared.clone()), &partition_columns)
                    .await?;
                handle.schema().as_ref().clone()
            }
        }
    };
    Ok(ExternalTable { def, schema })
}

/// Stores a resolved definition, honouring `.create` / `.alter` / `.create-or-alter`.
///
/// Secrets are encrypted first (nothing is committed when that is refused): the
/// plaintext never reaches the log.
pub async fn store(db: &Database, table: &ExternalTable) -> Result<()> {
    let sealed = table.sealed(db.options().secret_keys.as_ref())?;
    let body = serde_json::to_value(&sealed).map_err(|e| ExportError::Invalid(e.to_string()))?;
    let name = table.def.name.clone();
    let mode = table.def.mode;
    db.commit(|state| {
        let exists = state.object(KIND, &name).is_some();
        match (mode, exists) {
            (CreateMode::Create, true) => Err(datafusion_export_tables::TablesError::InvalidName {
                name: name.clone(),
                reason: "an external table of that name already exists (use .create-or-alter)"
                    .into(),
            }),
            (CreateMode::Alter, false) => {
                Err(datafusion_export_tables::TablesError::ObjectNotFound {
                    kind: "external table".into(),
                    name: name.clone(),
                })
            }
            _ => Ok(vec![
                datafusion_export_tables::log::action::Action::PutObject {
                    kind: KIND.into(),
                    name: name.clone(),
                    body: body.clone(),
                },
            ]),
        }
    })
    .await?;
    Ok(())
}

/// `.alter database secret key`: re-encrypts every external table's secrets under
/// the first configured key, in one commit, and returns (name, key id) of each table
/// re-encrypted. Every key a secret is sealed with must be configured (rotation: put
/// the new key first and keep the old one until this has run). Older commits keep
/// the old ciphertext: log files are immutable.
pub async fn reseal_all(db: &Database) -> Result<Vec<(String, String)>> {
    let keys = db.options().secret_keys.clone().ok_or_else(|| {
        ExportError::Invalid(format!(
            "no secret key is configured ({})",
            datafusion_export_tables::secrets::SECRET_KEY_HOWTO
        ))
    })?;
    let primary = keys.primary().id().to_string();
    db.refresh().await?;
    let mut resealed = Vec::new();
    let mut actions = Vec::new();
    for stored in catalog_objects::all::<ExternalTable>(&db.state(), KIND, "external table", "")? {
        if !stored.has_secrets() {
            continue;
        }
        let body = serde_json::to_value(stored.unsealed(Some(&keys))?.sealed(Some(&keys))?)
            .map_err(|e| ExportError::Invalid(e.to_string()))?;
        resealed.push((stored.def.name.clone(), primary.clone()));
        actions.push(datafusion_export_tables::log::action::Action::PutObject {
            kind: KIND.into(),
            name: stored.def.name.clone(),
            body,
        });
    }
    if !actions.is_empty() {
        db.commit(|_| Ok(actions.clone())).await?;
    }
    Ok(resealed)
}

/// Drops an external table (its files stay where they are).
pub async fn drop(db: &Database, name: &str, if_exists: bool) -> Result<bool> {
    db.refresh().await?;
    if db.state().object(KIND, name).is_none() {
        return if if_exists {
            Ok(false)
        } else {
            Err(ExportError::Invalid(format!(
                "external table '{name}' does not exist"
            )))
        };
    }
    db.commit(|_| {
        Ok(vec![
            datafusion_export_tables::log::action::Action::DropObject {
                kind: KIND.into(),
                name: name.to_string(),
            },
        ])
    })
    .await?;
    Ok(true)
}

/// `external_table('X')`: reads an external table back, partition columns included.
#[derive(Debug)]
pub struct ExternalTableFunction {
    db: Database,
}

impl ExternalTableFunction {
    /// The function over `db`'s external tables.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

impl TableFunctionImpl for ExternalTableFunction {
    fn call(&self, _exprs: &[Expr]) -> DfResult<Arc<dyn TableProvider>> {
        plan_err!("external_table() needs a session")
    }

    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let name = match args.exprs() {
            [Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)), _)] => s.clone(),
            _ => return plan_err!("external_table() takes the external table's name as a string, e.g. external_table('X')"),
        };
        let (table, uncommitted) = {
            let state = self.db.state();
            let stored: ExternalTable =
                catalog_objects::get(&state, KIND, "external table", &name)?;
            (
                stored.unsealed(self.db.options().secret_keys.as_ref())?,
                attempts::writing_to(&state, &name),
            )
        };
        match table.def.kind {
            ExternalTableKind::Delta => Ok(Arc::new(DeltaReadBack {
                table,
                storage_options: StorageOptions(self.db.options().storage_options.clone()),
            })),
            ExternalTableKind::Storage => {
                storage_read_back(&table, args.session(), uncommitted).map_err(Into::into)
            }
        }
    }
}

/// The files under a storage external table's URLs, as one table. Files of
/// `uncommitted` attempts (in flight, or killed and not cleaned yet) are left out.
fn storage_read_back(
    table: &ExternalTable,
    session: &dyn Session,
    uncommitted: Vec<uuid::Uuid>,
) -> Result<Arc<dyn TableProvider>> {
    let hidden: Option<datafusion_export_tables::Hidden> = (!uncommitted.is_empty()).then(|| {
        Arc::new(move |path: &object_store::path::Path| {
            uncommitted.iter().any(|a| ExportAttempt::wrote(*a, path))
        }) as datafusion_export_tables::Hidden
    });
    let options = table.export_options(&[])?;
    let format = table.data_format();
    if matches!(format, DataFormat::Csv | DataFormat::Tsv)
        && options.include_headers == IncludeHeaders::FirstFile
    {
        return Err(ExportError::Invalid(format!(
            "external table '{}' has includeHeaders=firstFile: only one of its files has a header, so it cannot be read back as a table",
            table.def.name
        )));
    }
    let compression = match options.compression {
        Compression::Gzip if format != DataFormat::Parquet => FileCompressionType::GZIP,
        Compression::Zstd if format != DataFormat::Parquet => FileCompressionType::ZSTD,
        _ => FileCompressionType::UNCOMPRESSED,
    };
    let file_format: Arc<dyn FileFormat> = match format {
        DataFormat::Csv | DataFormat::Tsv => Arc::new(
            CsvFormat::default()
                .with_has_header(options.include_headers == IncludeHeaders::All)
                .with_delimiter(if format == DataFormat::Tsv {
                    b'\t'
                } else {
                    b','
                })
                .with_newlines_in_values(true)
                .with_file_compression_type(compression),
        ),
        DataFormat::Json => Arc::new(JsonFormat::default().with_file_compression_type(compression)),
        DataFormat::Parquet => Arc::new(ParquetFormat::default()),
    };
    let mut urls = Vec::new();
    for url in &table.def.urls {
        let target = resolve_target(
            url,
            Some(session.runtime_env()),
            &StorageOptions::of(session.config()),
        )?;
        // One registry entry per URL, however often the table is read.
        let key = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            url.expose().hash(&mut h);
            h.finish()
        };
        let base = url::Url::parse(&format!("dfexport-ext://t{key:016x}"))
            .map_err(|e| ExportError::Invalid(e.to_string()))?;
        let store: Arc<dyn object_store::ObjectStore> = match &hidden {
            Some(hidden) => Arc::new(datafusion_export_tables::ListingFilter::hiding(
                Arc::clone(&target.store),
                Arc::clone(hidden),
            )),
            None => Arc::clone(&target.store),
        };
        session.runtime_env().register_object_store(&base, store);
        datafusion_export_tables::bindings::record(
            base.as_str(),
            url.expose(),
            &StorageOptions::of(session.config()),
        );
        // DataFusion caches listings by (table, path); each URL gets its own key, and
        // the entry is dropped so every read sees the artifacts exported since.
        let table_ref =
            datafusion::common::TableReference::bare(format!("dfexport-ext-{key:016x}"));
        let listing_url =
            ListingTableUrl::parse(format!("{base}/"))?.with_table_ref(table_ref.clone());
        if let Some(cache) = session.runtime_env().cache_manager.get_list_files_cache() {
            let _ = cache.remove(&datafusion::execution::cache::TableScopedPath {
                table: Some(table_ref),
                path: listing_url.prefix().clone(),
            });
        }
        urls.push(listing_url);
    }
    let listing_options =
        ListingOptions::new(file_format).with_file_extension(options.file_extension(format));
    // One listing per URL, unioned: a `ListingTable` lists every one of its paths in
    // the object store of its first path, so a table over several URLs (each its own
    // store here) would read only the first URL's files.
    let mut scans = Vec::with_capacity(urls.len());
    for url in urls {
        let config = ListingTableConfig::new(url)
            .with_listing_options(listing_options.clone())
            .with_schema(table.schema_ref());
        scans.push(
            LogicalPlanBuilder::scan(
                datafusion::common::TableReference::bare(table.def.name.as_str()),
                provider_as_source(Arc::new(ListingTable::try_new(config)?)),
                None,
            )?
            .build()?,
        );
    }
    let mut scans = scans.into_iter();
    let mut builder = LogicalPlanBuilder::from(scans.next().ok_or_else(|| {
        ExportError::Invalid(format!("external table '{}' has no URL", table.def.name))
    })?);
    for scan in scans {
        builder = builder.union(scan)?;
    }
    let mut exprs: Vec<Expr> = table
        .schema
        .fields()
        .iter()
        .map(|f| ident(f.name()))
        .collect();
    for p in &table.def.partitions {
        exprs.push(partition_expr(&p.expr, arrow_type(p.kusto_type))?.alias(&p.name));
    }
    let plan = builder.project(exprs)?.build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

/// A partition's value computed from the data columns: the same function that
/// placed each record in its folder, so reading back is exact for any path layout.
fn partition_expr(expr: &PartitionExpr, declared: DataType) -> Result<Expr> {
    use datafusion::functions::expr_fn::{date_bin, date_trunc, floor};
    let utc = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
    let e = match expr {
        PartitionExpr::Column(c) => ident(c.as_str()),
        PartitionExpr::Bin {
            column,
            step: BinStep::Timespan(step),
        } => {
            let nanos = i64::try_from(step.as_nanos()).unwrap_or(i64::MAX);
            date_bin(
                lit(ScalarValue::IntervalMonthDayNano(Some(
                    IntervalMonthDayNano::new(0, 0, nanos),
                ))),
                cast(ident(column.as_str()), utc.clone()),
                lit(ScalarValue::TimestampNanosecond(
                    Some(0),
                    Some("UTC".into()),
                )),
            )
        }
        PartitionExpr::Bin {
            column,
            step: BinStep::Number(step),
        } => {
            floor(cast(ident(column.as_str()), DataType::Float64) / lit(*step as f64))
                * lit(*step as f64)
        }
        PartitionExpr::StartOf { column, unit } => {
            let ts = cast(ident(column.as_str()), utc.clone());
            match unit {
                StartOfUnit::Day => date_trunc(lit("day"), ts),
                StartOfUnit::Month => date_trunc(lit("month"), ts),
                StartOfUnit::Year => date_trunc(lit("year"), ts),
                StartOfUnit::Week => {
                    let day = lit(ScalarValue::IntervalMonthDayNano(Some(
                        IntervalMonthDayNano::new(0, 1, 0),
                    )));
                    date_trunc(lit("week"), ts + day.clone()) - day
                }
            }
        }
        PartitionExpr::Hash { column, modulo } => {
            datafusion::logical_expr::ScalarUDF::new_from_impl(PartitionHashUdf::default())
                .call(vec![ident(column.as_str()), lit(i64::from(*modulo))])
        }
    };
    Ok(cast(e, declared))
}

/// A Delta external table read back through deltalake's provider, opened at scan time.
#[derive(Debug)]
struct DeltaReadBack {
    table: ExternalTable,
    storage_options: StorageOptions,
}

#[async_trait]
impl TableProvider for DeltaReadBack {
    fn schema(&self) -> SchemaRef {
        self.table.schema_ref()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let url = self.table.def.urls.first().ok_or_else(|| {
            datafusion::error::DataFusionError::Plan("the Delta external table has no URL".into())
        })?;
        let target = DeltaTarget::new_in(
            url.expose(),
            storage_map(&self.storage_options.0),
            Some(state.runtime_env()),
        )?;
        let provider = target.table_provider().await?;
        if provider.schema().fields().len() != self.table.schema.fields().len() {
            return plan_err!(
                "the Delta table of external table '{}' no longer has the columns it was created with",
                self.table.def.name
            );
        }
        // deltalake's provider puts partition columns last, dictionary-encoded: scan
        // the columns by name, then give them the declared order and types.
        let declared = &self.table.schema;
        let provider_schema = provider.schema();
        let wanted: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..declared.fields().len()).collect(),
        };
        let inner = wanted
            .iter()
            .map(|&i| provider_schema.index_of(declared.field(i).name()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let plan = provider.scan(state, Some(&inner), filters, limit).await?;
        let scanned = plan.schema();
        let exprs = wanted
            .iter()
            .map(|&i| {
                let field = declared.field(i);
                let index = scanned.index_of(field.name())?;
                let column: Arc<dyn PhysicalExpr> =
                    Arc::new(PhysicalColumn::new(field.name(), index));
                let expr: Arc<dyn PhysicalExpr> =
                    if scanned.field(index).data_type() == field.data_type() {
                        column
                    } else {
                        Arc::new(CastExpr::new(column, field.data_type().clone(), None))
                    };
                Ok((expr, field.name().clone()))
            })
            .collect::<DfResult<Vec<_>>>()?;
        Ok(Arc::new(ProjectionExec::try_new(exprs, plan)?))
    }
}

/// Storage options as deltalake takes them.
pub fn storage_map(options: &[(String, String)]) -> HashMap<String, String> {
    options.iter().cloned().collect()
}
