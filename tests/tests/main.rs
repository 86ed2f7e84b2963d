//! End-to-end tests: one test binary, one module per area.

mod bad_input;
mod chaos;
mod checkpoint;
mod cli;
mod concurrency;
mod conformance;
mod continuous;
mod cursors;
mod explain;
mod export;
mod faults;
mod fuzz;
mod history;
mod ingestion;
mod kql;
mod kql_commands;
mod merging;
mod operations;
mod orphans;
mod overlap;
mod persistence;
mod pushdown;
mod scheduler;
mod secrets;
mod vacuum;
