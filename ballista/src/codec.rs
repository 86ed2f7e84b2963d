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
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::ScalarUDF;
use datafusion::physical_plan::ExecutionPlan;
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
                let spec =
                    wire.into_spec(&schema, ctx.runtime_env().as_ref(), &self.local_options)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::displayable;
    use datafusion::physical_plan::empty::EmptyExec;
    use datafusion::prelude::SessionContext;
    use datafusion_export::command::KustoType;
    use datafusion_export::command::{DataFormat, PartitionDef, PartitionExpr, SecretString};
    use datafusion_export::export::options::{Distribution, ExportOptions, IncludeHeaders};
    use datafusion_export::export::partition::Partitioner;
    use datafusion_export::export::path_format::PathLayout;
    use datafusion_export::export::sink_exec::ExportSpec;
    use datafusion_export::export::target::{resolve_target, StorageTarget};
    use datafusion_export_tables::ScanScope;
    use datafusion_export_udfs::CursorRange;
    use datafusion_proto::physical_plan::AsExecutionPlan;
    use datafusion_proto::protobuf::PhysicalPlanNode;

    fn round_trip(plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
        let codec = DfxPhysicalCodec::default();
        let proto = PhysicalPlanNode::try_from_physical_plan(Arc::clone(&plan), &codec).unwrap();
        let ctx = SessionContext::new();
        proto
            .try_into_physical_plan(&ctx.task_ctx(), &codec)
            .unwrap()
    }

    fn shown(plan: &Arc<dyn ExecutionPlan>) -> String {
        displayable(plan.as_ref()).indent(true).to_string()
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("region", DataType::Utf8, true),
        ]))
    }

    /// A spec of `format` to `target` with the defaults.
    fn spec_to(target: StorageTarget, format: DataFormat) -> ExportSpec {
        ExportSpec {
            targets: vec![target],
            format,
            options: ExportOptions::defaults(Some(format), false, Distribution::PerShard),
            partitioning: None,
            data_columns: None,
            max_open_writers: 1,
            progress: Arc::default(),
            attempt: uuid::Uuid::new_v4(),
            written: Arc::default(),
            distributed: false,
        }
    }

    #[test]
    fn export_exec_round_trips_with_partitions_and_options() {
        let dir = tempfile::tempdir().unwrap();
        let url = SecretString::new(dir.path().display().to_string(), false);
        let target = resolve_target(&url, None, &[("aws_region".into(), "x".into())]).unwrap();
        let mut options =
            ExportOptions::defaults(Some(DataFormat::Csv), true, Distribution::PerShard);
        options.include_headers = IncludeHeaders::FirstFile;
        options.name_prefix = Some("part".into());
        options.size_limit = 2 << 20;
        let defs = vec![PartitionDef {
            name: "Region".into(),
            kusto_type: KustoType::String,
            expr: PartitionExpr::Column("region".into()),
        }];
        let spec = ExportSpec {
            options,
            partitioning: Some((
                Partitioner::try_new(&defs, &schema()).unwrap(),
                PathLayout::try_new(&["Region".into()], &[]).unwrap(),
            )),
            data_columns: Some(vec![0]),
            max_open_writers: 7,
            ..spec_to(target, DataFormat::Csv)
        };
        let plan: Arc<dyn ExecutionPlan> = Arc::new(ExportExec::new(
            Arc::new(EmptyExec::new(schema())),
            Arc::new(spec.clone()),
        ));
        let back = round_trip(Arc::clone(&plan));
        assert_eq!(shown(&back), shown(&plan));
        let decoded = back.downcast_ref::<ExportExec>().unwrap().spec();
        assert_eq!(decoded.options, spec.options);
        assert_eq!(decoded.attempt, spec.attempt);
        assert_eq!(decoded.data_columns, spec.data_columns);
        assert_eq!(decoded.max_open_writers, 7);
        assert_eq!(
            decoded.partitioning.as_ref().unwrap().1,
            spec.partitioning.as_ref().unwrap().1
        );
        assert_eq!(
            decoded.partitioning.as_ref().unwrap().0.defs(),
            defs.as_slice()
        );
        // Decoded in another process: its writers cannot share a header flag.
        assert!(decoded.distributed);
        assert_eq!(
            decoded.targets[0].source.as_ref().unwrap().storage_options,
            vec![("aws_region".to_string(), "x".to_string())]
        );
    }

    #[test]
    fn extent_scan_exec_round_trips_with_its_scope() {
        let scope = ScanScope {
            table: "T".into(),
            range: CursorRange {
                after: "5".parse().unwrap(),
                at_or_before: Some("9".parse().unwrap()),
            },
            extents_scanned: 4,
            extents_total: 1000,
            bytes_scanned: 12345,
        };
        let plan: Arc<dyn ExecutionPlan> = Arc::new(ExtentScanExec::new(
            Arc::new(EmptyExec::new(schema())),
            scope,
        ));
        let back = round_trip(Arc::clone(&plan));
        assert_eq!(shown(&back), shown(&plan));
        assert!(shown(&back).contains("4 of 1000"), "{}", shown(&back));
        let unbounded = ScanScope {
            table: "T".into(),
            range: CursorRange::default(),
            extents_scanned: 0,
            extents_total: 0,
            bytes_scanned: 0,
        };
        let plan: Arc<dyn ExecutionPlan> = Arc::new(ExtentScanExec::new(
            Arc::new(EmptyExec::new(schema())),
            unbounded,
        ));
        assert_eq!(shown(&round_trip(Arc::clone(&plan))), shown(&plan));
    }

    #[test]
    fn other_nodes_are_ballistas_byte_for_byte() {
        let plan: Arc<dyn ExecutionPlan> = Arc::new(EmptyExec::new(schema()));
        let ours = PhysicalPlanNode::try_from_physical_plan(
            Arc::clone(&plan),
            &DfxPhysicalCodec::default(),
        )
        .unwrap();
        let theirs = PhysicalPlanNode::try_from_physical_plan(
            plan,
            &BallistaPhysicalExtensionCodec::default(),
        )
        .unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn an_in_memory_target_is_refused_with_the_reason() {
        let url = SecretString::new("memory://", false);
        let target = resolve_target(&url, None, &[]).unwrap();
        let spec = spec_to(target, DataFormat::Parquet);
        let plan: Arc<dyn ExecutionPlan> = Arc::new(ExportExec::new(
            Arc::new(EmptyExec::new(schema())),
            Arc::new(spec),
        ));
        let e = PhysicalPlanNode::try_from_physical_plan(plan, &DfxPhysicalCodec::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("in memory"), "{e}");
    }

    #[test]
    fn our_functions_travel_by_name() {
        let codec = DfxPhysicalCodec::default();
        for udf in crate::env::scalar_functions() {
            let mut buf = Vec::new();
            codec.try_encode_udf(&udf, &mut buf).unwrap();
            assert_eq!(
                codec.try_decode_udf(udf.name(), &buf).unwrap().name(),
                udf.name()
            );
        }
    }
}
