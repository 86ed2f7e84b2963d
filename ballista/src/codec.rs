//! Plan codecs that carry our nodes across a Ballista cluster, wrapping Ballista's
//! own: a node of ours is written as `DFX1`, a kind byte and JSON; anything else is
//! left to Ballista's codec byte for byte, so its shuffle nodes still decode.
//! (Protobuf, which Ballista's codec writes, cannot start with `D`: that would be
//! field 8 with wire type 4, which does not exist.)
//!
//! Only physical nodes cross: the client plans (cursor scopes, external tables' file
//! lists and export attempts are resolved there), and the scheduler and executors
//! run what it planned. Logical plans keep Ballista's own codec.

use std::sync::Arc;

use ballista_core::serde::BallistaPhysicalExtensionCodec;
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::ScalarUDF;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion_export::export::partition::PartitionHashUdf;
use datafusion_export::export::sink_exec::ExportExec;
use datafusion_export::query::kql::functions::KqlHashUdf;
use datafusion_export_tables::ExtentScanExec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use crate::wire::{ExportWire, ExtentScanWire};

const MAGIC: &[u8; 4] = b"DFX1";
const EXPORT: u8 = 1;
const EXTENT_SCAN: u8 = 2;

fn codec_error(message: impl Into<String>) -> DataFusionError {
    DataFusionError::Internal(format!("datafusion-export codec: {}", message.into()))
}

/// The physical codec of clients, schedulers and executors running our plans.
#[derive(Debug, Default)]
pub struct DfxPhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
    local_options: Vec<(String, String)>,
}

impl DfxPhysicalCodec {
    /// A codec that opens export targets with `local_options` (this process's
    /// object-store settings and credentials) added to the options that travel.
    pub fn new(local_options: Vec<(String, String)>) -> Self {
        Self {
            inner: BallistaPhysicalExtensionCodec::default(),
            local_options,
        }
    }

    fn encode_ours(kind: u8, json: Vec<u8>, buf: &mut Vec<u8>) {
        buf.extend_from_slice(MAGIC);
        buf.push(kind);
        buf.extend_from_slice(&json);
    }
}

impl PhysicalExtensionCodec for DfxPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let Some(rest) = buf.strip_prefix(MAGIC.as_slice()) else {
            return self.inner.try_decode(buf, inputs, ctx, proto_converter);
        };
        let [input] = inputs else {
            return Err(codec_error(format!(
                "our nodes take one input, got {}",
                inputs.len()
            )));
        };
        match rest.split_first() {
            Some((&EXPORT, json)) => {
                let wire: ExportWire = serde_json::from_slice(json)
                    .map_err(|e| codec_error(format!("ExportExec: {e}")))?;
                let schema: SchemaRef = input.schema();
                let spec = wire.into_spec(&schema, ctx.runtime_env().as_ref(), &self.local_options)?;
                Ok(Arc::new(ExportExec::new(Arc::clone(input), Arc::new(spec))))
            }
            Some((&EXTENT_SCAN, json)) => {
                let wire: ExtentScanWire = serde_json::from_slice(json)
                    .map_err(|e| codec_error(format!("ExtentScanExec: {e}")))?;
                Ok(Arc::new(ExtentScanExec::new(
                    Arc::clone(input),
                    wire.into_scope()?,
                )))
            }
            _ => Err(codec_error(
                "unknown node kind (is the executor older than the client?)",
            )),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        if let Some(export) = node.downcast_ref::<ExportExec>() {
            let wire = ExportWire::from_spec(export.spec())?;
            let json = serde_json::to_vec(&wire).map_err(|e| codec_error(e.to_string()))?;
            Self::encode_ours(EXPORT, json, buf);
            return Ok(());
        }
        if let Some(scan) = node.downcast_ref::<ExtentScanExec>() {
            let wire = ExtentScanWire::from(scan.scope());
            let json = serde_json::to_vec(&wire).map_err(|e| codec_error(e.to_string()))?;
            Self::encode_ours(EXTENT_SCAN, json, buf);
            return Ok(());
        }
        self.inner.try_encode(node, buf, proto_converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<ScalarUDF>> {
        match name {
            "kql_hash" => Ok(Arc::new(ScalarUDF::new_from_impl(KqlHashUdf::default()))),
            "partition_hash" => Ok(Arc::new(ScalarUDF::new_from_impl(
                PartitionHashUdf::default(),
            ))),
            _ => self.inner.try_decode_udf(name, buf),
        }
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        match node.name() {
            // Stateless: the name is all they need.
            "kql_hash" | "partition_hash" => Ok(()),
            _ => self.inner.try_encode_udf(node, buf),
        }
    }
}
