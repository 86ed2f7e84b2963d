//! Where a Delta target's table lives: its URL (local paths, `file://`, `memory://`, cloud
//! object stores), parsed and normalized, and the object-store and put-if-absent log-store
//! factories registered for the cloud schemes.

use std::collections::HashMap;
use std::sync::{Arc, Once};

use deltalake::logstore::{
    default_logstore, logstore_factories, object_store_factories, LogStore, LogStoreFactory,
    ObjectStoreFactory, ObjectStoreRef, StorageConfig,
};
use deltalake::{DeltaResult, DeltaTableBuilder, DeltaTableError};
use object_store::path::Path;
use object_store::ObjectStoreScheme;
use url::Url;

use crate::command::scrub_secrets;
use crate::error::{ExportError, Result};

use super::DeltaTarget;

impl DeltaTarget {
    /// A Delta table at `url`: a local path, a `file://` URL, `memory://` (private to this
    /// target), or an object store URL (`s3://`, `gs://`, `az://`, `abfss://`, Azure/S3
    /// `https://`) of the table root. `storage_options` are `object_store` configuration
    /// keys (`aws_access_key_id`, `azure_storage_account_key`, ...); cloud credentials are
    /// also read from the environment. Nothing is read or written yet.
    pub fn new(url: &str, storage_options: HashMap<String, String>) -> Result<Self> {
        Self::new_in(url, storage_options, None)
    }

    /// [`DeltaTarget::new`] in a session: an object store registered in `runtime` for
    /// the URL's scheme and host (`SessionContext::register_object_store`) holds the
    /// table, as it does for the storage targets of the same session.
    pub fn new_in(
        url: &str,
        storage_options: HashMap<String, String>,
        runtime: Option<&datafusion::execution::runtime_env::RuntimeEnv>,
    ) -> Result<Self> {
        let shown = scrub_secrets(url.trim());
        let invalid = |reason: String| {
            ExportError::Invalid(scrub_secrets(&format!(
                "invalid Delta table URL '{shown}': {reason}"
            )))
        };
        let url = parse_table_url(url.trim()).map_err(invalid)?;
        if !matches!(url.scheme(), "file" | "memory") {
            register_cloud_handlers();
        }
        let registered = runtime.filter(|_| url.has_host()).and_then(|runtime| {
            let base = format!("{}://{}", url.scheme(), url.authority());
            let base = datafusion::execution::object_store::ObjectStoreUrl::parse(base).ok()?;
            runtime.object_store(&base).ok()
        });
        let log_store = DeltaTableBuilder::from_url(url.clone())
            .and_then(|builder| {
                let builder = builder.with_storage_options(storage_options.clone());
                match registered {
                    Some(store) => builder.with_storage_backend(store, url.clone()),
                    None => builder,
                }
                .build_storage()
            })
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            url,
            shown,
            storage_options,
            log_store,
        })
    }
}

/// Parses the table root given to [`DeltaTarget::new`] into a normalized URL.
fn parse_table_url(url: &str) -> std::result::Result<Url, String> {
    if url.is_empty() {
        return Err("the URL is empty".into());
    }
    let parsed = match Url::parse(url) {
        // A one-letter scheme is a Windows drive letter: a local path.
        Ok(parsed) if parsed.scheme().len() > 1 => parsed,
        _ => return local_url(std::path::Path::new(url)),
    };
    match parsed.scheme() {
        "file" => {
            let path = parsed
                .to_file_path()
                .map_err(|_| "not a valid local file URL".to_string())?;
            local_url(&path)
        }
        "memory" => Ok(deltalake::table::normalize_table_url(&parsed)),
        "s3" | "s3a" | "gs" | "az" | "adl" | "azure" | "abfs" | "abfss" | "https" => {
            match ObjectStoreScheme::parse(&parsed) {
                Ok((ObjectStoreScheme::Http, _)) | Err(_) => Err(
                    "plain HTTP(S) servers cannot hold a Delta table; use an s3://, gs://, az:// \
                     or abfss:// URL, or an Azure/S3 https:// URL"
                        .into(),
                ),
                Ok(_) => Ok(deltalake::table::normalize_table_url(&parsed)),
            }
        }
        other => Err(format!(
            "unsupported scheme '{other}' (supported: local paths, file://, memory://, s3://, \
             s3a://, gs://, az://, abfs://, abfss://, adl://, azure://, Azure/S3 https://)"
        )),
    }
}

fn local_url(path: &std::path::Path) -> std::result::Result<Url, String> {
    let absolute = std::path::absolute(path).map_err(|e| format!("bad local path: {e}"))?;
    let url = Url::from_directory_path(&absolute)
        .map_err(|_| format!("cannot make a URL of the local path {}", absolute.display()))?;
    // Re-parse so `..` segments are resolved, as deltalake expects.
    let url = Url::parse(url.as_str()).map_err(|e| e.to_string())?;
    Ok(deltalake::table::normalize_table_url(&url))
}

/// Registers, once, object-store and log-store factories for the cloud schemes deltalake
/// knows nothing about without its storage features. Schemes already registered (by a
/// deltalake storage crate) are left alone.
fn register_cloud_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let stores = object_store_factories();
        let logs = logstore_factories();
        for scheme in [
            "s3", "s3a", "gs", "az", "adl", "azure", "abfs", "abfss", "https",
        ] {
            let Ok(key) = Url::parse(&format!("{scheme}://")) else {
                continue;
            };
            if !stores.contains_key(&key) && !logs.contains_key(&key) {
                stores.insert(key.clone(), Arc::new(CloudObjectStoreFactory));
                logs.insert(key, Arc::new(PutIfAbsentLogStoreFactory));
            }
        }
    });
}

/// Builds S3/GCS/Azure stores with `object_store`'s builders: environment first, then the
/// storage options.
struct CloudObjectStoreFactory;

impl ObjectStoreFactory for CloudObjectStoreFactory {
    fn parse_url_opts(
        &self,
        url: &Url,
        config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, Path)> {
        let (scheme, _) = ObjectStoreScheme::parse(url)
            .map_err(|e| DeltaTableError::InvalidTableLocation(scrub_secrets(&e.to_string())))?;
        if !matches!(
            scheme,
            ObjectStoreScheme::AmazonS3
                | ObjectStoreScheme::GoogleCloudStorage
                | ObjectStoreScheme::MicrosoftAzure
        ) {
            return Err(DeltaTableError::InvalidTableLocation(format!(
                "no object store for {}",
                scrub_secrets(url.as_str())
            )));
        }
        // Built as every other URL of the session is; deltalake's own keys are left out.
        let options: Vec<(String, String)> = config
            .raw
            .iter()
            .filter(|(key, _)| datafusion_export_tables::is_storage_option(key))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        Ok(datafusion_export_tables::cloud_store(url, &options)?)
    }
}

/// deltalake's default log store: commits are put-if-absent objects, which S3, GCS and
/// Azure all support natively.
struct PutIfAbsentLogStoreFactory;

impl LogStoreFactory for PutIfAbsentLogStoreFactory {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_urls_keep_secrets_out_of_messages() {
        let mut options = HashMap::new();
        options.insert(
            "azure_storage_account_key".to_string(),
            // A well-formed (base64) key: "SECRETSECRET".
            "U0VDUkVUU0VDUkVU".to_string(),
        );
        options.insert("azure_storage_account_name".to_string(), "acct".to_string());
        let target = DeltaTarget::new("abfss://c@acct.dfs.core.windows.net/t", options).unwrap();
        let shown = format!("{target:?}");
        assert!(!shown.contains("U0VDUkVU"), "{shown}");
        assert!(shown.contains("azure_storage_account_key"), "{shown}");
        // A malformed key fails without echoing it.
        let mut options = HashMap::new();
        options.insert(
            "azure_storage_account_key".to_string(),
            "SECRET".to_string(),
        );
        let message = DeltaTarget::new("az://c/t", options)
            .unwrap_err()
            .to_string();
        assert!(!message.contains("SECRET"), "{message}");
        let message = DeltaTarget::new("ftp://user:SECRET@host/x", HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(!message.contains("SECRET"), "{message}");
    }
}
