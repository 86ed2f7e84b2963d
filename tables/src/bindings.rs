//! What a session-private object-store URL (`dfexport://db-…` of a database,
//! `dfexport-ext://…` of an external table's read-back) stands for: the location and
//! options it was opened from, so that another process (a cluster's executor) can
//! open the same store when it runs a plan that reads through the URL.

use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

/// The location behind a session-private store URL.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreBinding {
    /// The root URL or local path, as given (it may hold secrets).
    pub location: String,
    /// The object-store options it was opened with (values may be secrets).
    pub storage_options: Vec<(String, String)>,
}

impl std::fmt::Debug for StoreBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreBinding")
            .field("location", &crate::redact::scrub_secrets(&self.location))
            .field(
                "storage_options",
                &crate::StorageOptions(self.storage_options.clone()),
            )
            .finish()
    }
}

static BINDINGS: LazyLock<RwLock<HashMap<String, StoreBinding>>> = LazyLock::new(Default::default);

/// `scheme://host` of `url`, the key stores are registered under.
fn key(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split('/').next().unwrap_or_default();
            format!("{}://{}", scheme.to_ascii_lowercase(), host)
        }
        None => url.to_string(),
    }
}

/// Records that `url` (a store URL minted by this process) stands for `location`.
pub fn record(url: &str, location: &str, storage_options: &[(String, String)]) {
    let binding = StoreBinding {
        location: location.to_string(),
        storage_options: storage_options.to_vec(),
    };
    BINDINGS
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key(url), binding);
}

/// What `url` stands for, when this process minted it.
pub fn lookup(url: &str) -> Option<StoreBinding> {
    BINDINGS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key(url))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_url_is_found_by_scheme_and_host() {
        record(
            "dfexport://db-test1/",
            "s3://bucket/db",
            &[("aws_region".into(), "x".into())],
        );
        let found = lookup("dfexport://db-test1/some/file.parquet").unwrap();
        assert_eq!(found.location, "s3://bucket/db");
        assert!(lookup("dfexport://db-other/").is_none());
    }

    #[test]
    fn debug_hides_secrets() {
        let b = StoreBinding {
            location: "s3://b/db".into(),
            storage_options: vec![("aws_secret_access_key".into(), "TOPSECRET".into())],
        };
        assert!(!format!("{b:?}").contains("TOPSECRET"));
    }
}
