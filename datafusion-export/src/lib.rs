
pub mod command;
