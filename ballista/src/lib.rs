//! Runs datafusion-export's `.export`, `.export to table` and continuous-export runs
//! on an [Apache DataFusion Ballista](https://datafusion.apache.org/ballista/) cluster.
//!
//! The client plans as it always does (cursor scopes, external tables' file lists,
//! the export attempt), then submits the physical plan to the cluster's scheduler.
//! Executors run the query and the writers, each writing its artifacts straight to
//! the object store; the client gathers the artifact list, removes what retried
//! tasks left behind, and makes the one commit, exactly as without a cluster.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use datafusion_export::Engine;
//! use datafusion_export_ballista::BallistaRunner;
//!
//! let engine = Engine::open("s3://bucket/db").await?;
//! let runner = BallistaRunner::connect("df://scheduler:50050").await?;
//! let engine = engine.with_export_runner(Arc::new(runner));
//! engine.execute(".export to parquet ('s3://lake/out') <| T").await?;
//! # Ok(()) }
//! ```
//!
//! The cluster's processes are `dfexport-scheduler` and `dfexport-executor` (this
//! crate's binaries): Ballista's, with our plan codec ([`codec`]), functions and
//! store bindings ([`env`]) installed. `dfexport-cluster` is the `dfexport` command
//! line with `--cluster`.

pub mod codec;
pub mod env;
pub mod error;
pub mod header;
pub mod local_cluster;
pub mod processes;
pub mod runner;
pub mod wire;

pub use codec::DfxPhysicalCodec;
pub use error::{ClusterError, Result};
pub use local_cluster::{LocalCluster, LocalClusterOptions};
pub use runner::BallistaRunner;
