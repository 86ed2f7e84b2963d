//! The Flight SQL service: [`FlightSqlService`] over an [`Engine`].
//!
//! - A query (SQL or KQL that only reads) is planned in `GetFlightInfo`, which
//!   announces its schema; it runs and streams at `DoGet`.
//! - Anything else (management commands, SQL that changes something) runs exactly
//!   once: in `GetFlightInfo`, whose ticket then holds its result for one `DoGet`
//!   ([`crate::tickets`]), or in `DoPut` statement update, which returns a count. A
//!   `DoGet` never runs a statement again.
//! - Every call but the handshake needs a bearer token ([`crate::auth`]); each
//!   statement is checked against the caller's role ([`crate::roles`]) before
//!   anything runs.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_flight::encode::{DictionaryHandling, FlightDataEncoderBuilder};
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandPreparedStatementUpdate, CommandStatementQuery, CommandStatementUpdate,
    DoPutPreparedStatementResult, ProstMessageExt, SqlInfo, SqlSupportedTransaction,
    TicketStatementQuery,
};
use arrow_flight::{
    FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage,
    SchemaAsIpc, Ticket,
};
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion_export::command::Command;
use datafusion_export::continuous::definition::{self, RunPage};
use datafusion_export::continuous::run::RunOutcome;
use datafusion_export::Engine;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::{Authenticator, Principal};
use crate::error::{Result, ServerError};
use crate::metadata;
use crate::metrics::Metrics;
use crate::statements::{self, Statement};
use crate::tickets::{Held, Payload, PreparedStore, TicketStore};

type DoGetStream = <FlightSqlServiceImpl as FlightService>::DoGetStream;

/// The Flight SQL service. Built by [`crate::FlightServer::bind`].
pub struct FlightSqlServiceImpl {
    engine: Arc<Engine>,
    auth: Arc<Authenticator>,
    tickets: TicketStore,
    prepared: PreparedStore,
    slots: Arc<Semaphore>,
    queue_timeout: Duration,
    max_statement_bytes: usize,
    metrics: Metrics,
    sql_info: SqlInfoData,
}

/// What [`FlightSqlServiceImpl::new`] needs besides the engine.
pub(crate) struct ServiceParts {
    pub(crate) auth: Arc<Authenticator>,
    pub(crate) tickets: TicketStore,
    pub(crate) prepared: PreparedStore,
    pub(crate) max_concurrent_statements: usize,
    pub(crate) queue_timeout: Duration,
    pub(crate) max_statement_bytes: usize,
    pub(crate) metrics: Metrics,
}

impl FlightSqlServiceImpl {
    pub(crate) fn new(engine: Arc<Engine>, parts: ServiceParts) -> Result<Self> {
        Ok(Self {
            engine,
            auth: parts.auth,
            tickets: parts.tickets,
            prepared: parts.prepared,
            slots: Arc::new(Semaphore::new(parts.max_concurrent_statements.max(1))),
            queue_timeout: parts.queue_timeout,
            max_statement_bytes: parts.max_statement_bytes,
            metrics: parts.metrics,
            sql_info: sql_info()?,
        })
    }

    /// Runs `work` as request `method`: counts it and turns its error into a status.
    async fn observed<T>(
        &self,
        method: &'static str,
        work: impl Future<Output = Result<T>>,
    ) -> std::result::Result<T, Status> {
        let began = Instant::now();
        let result = work.await;
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(e) => e.code(),
        };
        self.metrics.observe_request(method, code, began.elapsed());
        result.map_err(|e| {
            if code == tonic::Code::Internal {
                tracing::warn!(method, "request failed: {e}");
            }
            Status::from(e)
        })
    }

    fn principal<T>(&self, request: &Request<T>) -> Result<Principal> {
        self.auth.authenticate(request.metadata())
    }

    /// A statement slot; waits up to the queue timeout.
    async fn slot(&self) -> Result<OwnedSemaphorePermit> {
        match tokio::time::timeout(self.queue_timeout, Arc::clone(&self.slots).acquire_owned())
            .await
        {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ServerError::ResourceExhausted(
                "the server is busy: every statement slot stayed taken; try again later".into(),
            )),
        }
    }

    /// `GetFlightInfo` for statement `text`: plans a query, or runs anything else once
    /// and holds its result.
    async fn flight_info(
        &self,
        principal: &Principal,
        text: &str,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo> {
        let _slot = self.slot().await?;
        let statement =
            statements::classify(&self.engine, principal, text, self.max_statement_bytes).await?;
        let (held, rows) = match statement {
            Statement::Query(frame) => {
                let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
                (
                    Held {
                        schema,
                        payload: Payload::Query(frame),
                    },
                    None,
                )
            }
            Statement::Run { text, command } => {
                let (schema, batches) = self.run_once(&text, &command).await?;
                let rows = batches.iter().map(|b| b.num_rows() as i64).sum();
                (
                    Held {
                        schema,
                        payload: Payload::Result(batches),
                    },
                    Some(rows),
                )
            }
        };
        let schema = Arc::clone(&held.schema);
        let handle = self.tickets.put(&principal.name, held)?;
        let ticket = TicketStatementQuery {
            statement_handle: handle.into(),
        };
        let info = FlightInfo::new()
            .try_with_schema(&schema)?
            .with_endpoint(
                FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec())),
            )
            .with_descriptor(descriptor);
        Ok(match rows {
            Some(rows) => info.with_total_records(rows),
            None => info,
        })
    }

    /// Runs a non-query statement once; a `.run continuous-export` is counted in the
    /// metrics as the scheduler's runs are.
    async fn run_once(
        &self,
        text: &str,
        command: &Command,
    ) -> Result<(SchemaRef, Vec<datafusion::arrow::array::RecordBatch>)> {
        let began = Instant::now();
        let result = statements::run(&self.engine, text).await;
        if let Command::RunContinuousExport { name } = command {
            self.observe_run(name, &result, began.elapsed()).await;
        }
        result
    }

    async fn observe_run(
        &self,
        name: &str,
        result: &Result<(SchemaRef, Vec<datafusion::arrow::array::RecordBatch>)>,
        took: Duration,
    ) {
        let db = self.engine.database();
        // A run of an export that does not exist is no run: no series for it.
        let Ok(export) = definition::load(db, name).await else {
            return;
        };
        let outcome = match result {
            Err(e) => Err(e.to_string()),
            Ok((_, batches)) => {
                let run = batches.first().and_then(|b| {
                    b.column_by_name("Run")?
                        .as_any()
                        .downcast_ref::<datafusion::arrow::array::Int64Array>()
                        .filter(|a| a.len() == 1 && a.is_valid(0))
                        .map(|a| a.value(0) as u64)
                });
                let mut outcome = RunOutcome {
                    name: name.to_string(),
                    run,
                    from_cursor: export.export_cursor,
                    to_cursor: export.export_cursor,
                    artifacts: Vec::new(),
                };
                if let Some(run) = run {
                    // The run's record holds its artifacts (sizes included); it is the
                    // newest unless another process committed since.
                    let page = RunPage {
                        since: None,
                        newest: Some(4),
                    };
                    if let Ok(records) = definition::runs(db, &export, page).await {
                        if let Some(record) = records.into_iter().find(|r| r.run == run) {
                            outcome.from_cursor = record.from_cursor;
                            outcome.to_cursor = record.to_cursor;
                            outcome.artifacts = record.artifacts;
                        }
                    }
                }
                Ok(outcome)
            }
        };
        self.metrics.observe_run(name, &outcome, took);
    }

    /// Streams what a ticket holds, under the schema `FlightInfo` announced.
    async fn stream(&self, held: Held, slot: OwnedSemaphorePermit) -> Result<DoGetStream> {
        let schema = held.schema;
        let batches: Pin<Box<dyn Stream<Item = std::result::Result<_, FlightError>> + Send>> =
            match held.payload {
                Payload::Result(batches) => {
                    drop(slot);
                    Box::pin(futures::stream::iter(batches.into_iter().map(Ok)))
                }
                Payload::Query(frame) => {
                    let conform_to = Arc::clone(&schema);
                    let stream = frame
                        .execute_stream()
                        .await
                        .map_err(datafusion_export::ExportError::from)?;
                    Box::pin(stream.map(move |batch| {
                        // The slot is held while the query streams.
                        let _slot = &slot;
                        batch
                            .map_err(|e| ServerError::Engine(e.into()))
                            .and_then(|b| statements::conform(b, &conform_to))
                            .map_err(|e| FlightError::Tonic(Box::new(Status::from(e))))
                    }))
                }
            };
        let encoded = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            // Dictionaries are sent as such: the schema stays exactly the one
            // `FlightInfo` announced.
            .with_dictionary_handling(DictionaryHandling::Resend)
            .build(batches)
            .map_err(Status::from);
        Ok(Box::pin(encoded))
    }

    /// `GetFlightInfo` of a metadata request (catalogs, schemas, tables, types), for
    /// any signed-in caller.
    async fn metadata_info(
        &self,
        command: &impl ProstMessageExt,
        schema: SchemaRef,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        self.observed("GetFlightInfo", async {
            self.principal(&request)?;
            metadata_info(command, &schema, request.into_inner())
        })
        .await
        .map(Response::new)
    }

    /// `DoGet` of a metadata request: `answer` under `schema`, for any signed-in
    /// caller.
    async fn metadata_stream(
        &self,
        request: Request<Ticket>,
        schema: SchemaRef,
        answer: impl Future<Output = Result<RecordBatch>>,
    ) -> std::result::Result<Response<DoGetStream>, Status> {
        self.observed("DoGet", async {
            self.principal(&request)?;
            Ok(one_batch(schema, answer.await?))
        })
        .await
        .map(Response::new)
    }

    /// `DoPut` statement update: runs `text` once and returns its count.
    async fn update(&self, principal: &Principal, text: &str) -> Result<i64> {
        let _slot = self.slot().await?;
        match statements::classify(&self.engine, principal, text, self.max_statement_bytes).await? {
            Statement::Query(frame) => {
                let mut rows = 0i64;
                let mut stream = frame
                    .execute_stream()
                    .await
                    .map_err(datafusion_export::ExportError::from)?;
                while let Some(batch) = stream.next().await {
                    rows += batch
                        .map_err(datafusion_export::ExportError::from)?
                        .num_rows() as i64;
                }
                Ok(rows)
            }
            Statement::Run { text, command } => {
                let (_, batches) = self.run_once(&text, &command).await?;
                Ok(statements::affected_rows(&batches))
            }
        }
    }
}

/// The `FlightInfo` of a metadata request: its ticket is the request itself, answered
/// (again, harmlessly: it only reads) at `DoGet`.
fn metadata_info(
    command: &impl ProstMessageExt,
    schema: &SchemaRef,
    descriptor: FlightDescriptor,
) -> Result<FlightInfo> {
    let ticket = Ticket::new(command.as_any().encode_to_vec());
    Ok(FlightInfo::new()
        .try_with_schema(schema)?
        .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
        .with_descriptor(descriptor))
}

/// A `DoGet` stream of one batch under `schema`.
fn one_batch(schema: SchemaRef, batch: RecordBatch) -> DoGetStream {
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(futures::stream::once(async { Ok(batch) }))
        .map_err(Status::from);
    Box::pin(stream)
}

fn sql_info() -> Result<SqlInfoData> {
    let mut builder = SqlInfoDataBuilder::new();
    builder.append(SqlInfo::FlightSqlServerName, "datafusion-export");
    builder.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    // The Arrow IPC format version (Schema.fbs MetadataVersion V5).
    builder.append(SqlInfo::FlightSqlServerArrowVersion, "1.5");
    builder.append(SqlInfo::FlightSqlServerReadOnly, false);
    builder.append(SqlInfo::FlightSqlServerSql, true);
    builder.append(SqlInfo::FlightSqlServerSubstrait, false);
    builder.append(
        SqlInfo::FlightSqlServerTransaction,
        SqlSupportedTransaction::None as i32,
    );
    builder.append(SqlInfo::FlightSqlServerCancel, false);
    builder.append(SqlInfo::FlightSqlServerBulkIngestion, false);
    builder.append(SqlInfo::FlightSqlServerStatementTimeout, 0i32);
    builder.append(SqlInfo::FlightSqlServerTransactionTimeout, 0i32);
    builder.append(SqlInfo::SqlDdlCatalog, false);
    builder.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    builder.append(SqlInfo::SqlAllTablesAreSelectable, true);
    builder
        .build()
        .map_err(|e| ServerError::Config(format!("SqlInfo: {e}")))
}

fn schema_ipc(schema: &SchemaRef) -> Result<bytes::Bytes> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default()).try_into()?;
    Ok(bytes)
}

#[tonic::async_trait]
impl FlightSqlService for FlightSqlServiceImpl {
    type FlightService = FlightSqlServiceImpl;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> std::result::Result<
        Response<
            Pin<Box<dyn Stream<Item = std::result::Result<HandshakeResponse, Status>> + Send>>,
        >,
        Status,
    > {
        let (_, token) = self
            .observed("Handshake", self.auth.handshake(request.metadata()))
            .await?;
        let header = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| Status::internal("cannot encode the token"))?;
        let reply = HandshakeResponse {
            protocol_version: 0,
            payload: token.into_bytes().into(),
        };
        let mut response: Response<Pin<Box<dyn Stream<Item = _> + Send>>> =
            Response::new(Box::pin(futures::stream::iter([Ok(reply)])));
        // ADBC and the Arrow clients read the token from this header.
        response.metadata_mut().insert("authorization", header);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        self.observed("GetFlightInfo", async {
            let principal = self.principal(&request)?;
            self.flight_info(&principal, &query.query, request.into_inner())
                .await
        })
        .await
        .map(Response::new)
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        self.observed("GetFlightInfo", async {
            let principal = self.principal(&request)?;
            let text = self
                .prepared
                .get(&query.prepared_statement_handle, &principal.name)?;
            self.flight_info(&principal, &text, request.into_inner())
                .await
        })
        .await
        .map(Response::new)
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        self.observed("GetFlightInfo", async {
            self.principal(&request)?;
            let schema = query.clone().into_builder(&self.sql_info).schema();
            metadata_info(&query, &schema, request.into_inner())
        })
        .await
        .map(Response::new)
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<DoGetStream>, Status> {
        self.observed("DoGet", async {
            let principal = self.principal(&request)?;
            let held = self
                .tickets
                .take(&ticket.statement_handle, &principal.name)?;
            let slot = self.slot().await?;
            self.stream(held, slot).await
        })
        .await
        .map(Response::new)
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<DoGetStream>, Status> {
        self.observed("DoGet", async {
            self.principal(&request)?;
            let builder = query.into_builder(&self.sql_info);
            let schema = builder.schema();
            Ok(one_batch(schema, builder.build()?))
        })
        .await
        .map(Response::new)
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let schema = metadata::catalogs_schema(&query);
        self.metadata_info(&query, schema, request).await
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<DoGetStream>, Status> {
        let schema = metadata::catalogs_schema(&query);
        self.metadata_stream(request, schema, async {
            metadata::catalogs(self.engine.context(), query)
        })
        .await
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let schema = metadata::schemas_schema(&query);
        self.metadata_info(&query, schema, request).await
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<DoGetStream>, Status> {
        let schema = metadata::schemas_schema(&query);
        self.metadata_stream(request, schema, async {
            metadata::schemas(self.engine.context(), query)
        })
        .await
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let schema = metadata::tables_schema(&query);
        self.metadata_info(&query, schema, request).await
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<DoGetStream>, Status> {
        let schema = metadata::tables_schema(&query);
        self.metadata_stream(
            request,
            schema,
            metadata::tables(self.engine.context(), query),
        )
        .await
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        let schema = metadata::table_types_schema(&query);
        self.metadata_info(&query, schema, request).await
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<DoGetStream>, Status> {
        let schema = metadata::table_types_schema(&query);
        self.metadata_stream(request, schema, async { metadata::table_types(query) })
            .await
    }

    async fn do_put_statement_update(
        &self,
        command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> std::result::Result<i64, Status> {
        self.observed("DoPut", async {
            let principal = self.principal(&request)?;
            self.update(&principal, &command.query).await
        })
        .await
    }

    async fn do_put_prepared_statement_update(
        &self,
        command: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> std::result::Result<i64, Status> {
        self.observed("DoPut", async {
            let principal = self.principal(&request)?;
            let text = self
                .prepared
                .get(&command.prepared_statement_handle, &principal.name)?;
            self.update(&principal, &text).await
        })
        .await
    }

    async fn do_put_prepared_statement_query(
        &self,
        _query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> std::result::Result<DoPutPreparedStatementResult, Status> {
        self.observed("DoPut", async {
            self.principal(&request)?;
            Err::<DoPutPreparedStatementResult, _>(ServerError::InvalidArgument(
                "prepared statements take no parameters here: write the values into the \
                 statement"
                    .into(),
            ))
        })
        .await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> std::result::Result<ActionCreatePreparedStatementResult, Status> {
        self.observed("CreatePreparedStatement", async {
            let principal = self.principal(&request)?;
            let _slot = self.slot().await?;
            // Checked (role, size, plan) now, so that a bad statement fails here; run
            // (and planned again, against the catalog of then) when executed.
            let statement = statements::classify(
                &self.engine,
                &principal,
                &query.query,
                self.max_statement_bytes,
            )
            .await?;
            let dataset_schema = match statement {
                Statement::Query(frame) => {
                    schema_ipc(&Arc::new(frame.schema().as_arrow().clone()))?
                }
                // Its schema is known only once it ran.
                Statement::Run { .. } => bytes::Bytes::new(),
            };
            let handle = self.prepared.create(&principal.name, query.query)?;
            Ok(ActionCreatePreparedStatementResult {
                prepared_statement_handle: handle.into(),
                dataset_schema,
                parameter_schema: bytes::Bytes::new(),
            })
        })
        .await
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> std::result::Result<(), Status> {
        self.observed("ClosePreparedStatement", async {
            let principal = self.principal(&request)?;
            self.prepared
                .close(&query.prepared_statement_handle, &principal.name)
        })
        .await
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
