//! One handler module per command family. Each takes the engine's
//! [`Engine`](super::session::Engine) session and returns the command's result table.

pub mod continuous;
pub mod export;
pub mod ingest;
pub mod maintenance;
pub mod tables;
