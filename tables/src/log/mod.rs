//! The commit log: the protocol ([`action`], [`state`]) kept apart from its I/O
//! ([`store`]), as delta-rs does.

pub mod action;
pub mod state;
pub mod store;
