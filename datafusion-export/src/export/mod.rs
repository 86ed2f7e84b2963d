//! `.export`: the physical export sink, artifact writers per format, partitioned
//! paths, external tables and the Delta target.
pub mod attempts;
pub mod delta;
pub mod external_table;
pub mod node;
pub mod operations;
pub mod options;
pub mod partition;
pub mod path_format;
pub mod planner;
pub mod progress;
pub mod runner;
pub mod sink_exec;
pub mod target;
pub mod to_table;
pub mod writer;
