//! Export destinations: URLs (with their secrets) resolved to object stores.

use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;
use url::Url;

use crate::command::{scrub_secrets, SecretString};
use crate::error::{ExportError, Result};

/// One URL artifacts are written under.
#[derive(Debug, Clone)]
pub struct StorageTarget {
    /// The store, rooted at the URL.
    pub store: Arc<dyn ObjectStore>,
    /// The URL as users may see it (secrets removed, no trailing `/`).
    pub display: String,
    /// What the target was resolved from, so that another process (a cluster's
    /// executor) can open it again; `None` for a store handed in directly.
    pub source: Option<TargetSource>,
}

/// The URL and options a [`StorageTarget`] was resolved from.
#[derive(Debug, Clone)]
pub struct TargetSource {
    /// The URL as given, with its secrets.
    pub url: SecretString,
    /// The object-store options it was resolved with.
    pub storage_options: Vec<(String, String)>,
}

impl StorageTarget {
    /// The user-visible location of `relative` under this target.
    pub fn display_path(&self, relative: &str) -> String {
        format!("{}/{}", self.display, relative)
    }
}

/// Resolves a destination URL: a local path (created if missing), `file://`,
/// `memory://`, or a cloud URL. Kusto's `https://account.blob.core.windows.net/container;KEY`
/// carries an account key after `;`, and a SAS token may follow `?`.
///
/// An object store registered in the session for the URL's scheme and host
/// (`SessionContext::register_object_store`, the DataFusion way) takes precedence.
/// Otherwise cloud credentials come from the environment (`AWS_*`, `AZURE_*`,
/// `GOOGLE_*`), then `storage_options`, then the URL's own key or SAS token.
pub fn resolve_target(
    url: &SecretString,
    runtime: Option<&RuntimeEnv>,
    storage_options: &[(String, String)],
) -> Result<StorageTarget> {
    if url.is_sealed() {
        // Never reached through `external_table::load`, which decrypts or fails.
        return Err(ExportError::Invalid(format!(
            "'{}' holds a secret encrypted with secret key {} that was not decrypted ({})",
            url.redacted(),
            url.sealed_key_id().unwrap_or("?"),
            datafusion_export_tables::secrets::SECRET_KEY_HOWTO
        )));
    }
    let text = url.expose().trim();
    let shown = url.redacted();
    if text.is_empty() {
        return Err(ExportError::Invalid("an export URL is empty".into()));
    }
    if let (Some(runtime), Ok(parsed)) = (runtime, Url::parse(text)) {
        if parsed.scheme().len() > 1 && parsed.scheme() != "file" && parsed.has_host() {
            let registered = datafusion::execution::object_store::ObjectStoreUrl::parse(format!(
                "{}://{}",
                parsed.scheme(),
                parsed.authority()
            ))
            .ok()
            .and_then(|u| runtime.object_store(&u).ok());
            if let Some(store) = registered {
                let prefix = Path::from_url_path(parsed.path())
                    .map_err(|e| ExportError::Invalid(format!("export URL '{shown}': {e}")))?;
                let store: Arc<dyn ObjectStore> = if prefix.as_ref().is_empty() {
                    store
                } else {
                    Arc::new(PrefixStore::new(store, prefix))
                };
                return Ok(StorageTarget {
                    store,
                    display: shown.trim_end_matches('/').to_string(),
                    source: Some(source(url, storage_options)),
                });
            }
        }
    }
    let (location, key) = match text.split_once(';') {
        Some((location, key)) => (location, Some(key)),
        None => (text, None),
    };
    let mut options: Vec<(String, String)> = storage_options.to_vec();
    let mut location = location.to_string();
    if let Ok(parsed) = Url::parse(&location) {
        let is_azure = parsed.host_str().is_some_and(|h| {
            h.ends_with(".blob.core.windows.net") || h.ends_with(".dfs.core.windows.net")
        });
        if is_azure {
            if let Some(key) = key {
                options.push(("azure_storage_account_key".into(), key.to_string()));
            }
            if let Some(query) = parsed.query() {
                options.push(("azure_storage_sas_key".into(), query.to_string()));
                let mut bare = parsed.clone();
                bare.set_query(None);
                location = bare.to_string();
            }
        } else if key.is_some() {
            return Err(ExportError::Invalid(format!(
                "export URL '{shown}': a ';key' suffix is only understood for Azure blob URLs"
            )));
        }
    }
    let (store, root) = datafusion_export_tables::open_root(&location, &options).map_err(|e| {
        let message = scrub_secrets(&e.to_string());
        let message = match key {
            Some(k) if !k.is_empty() => message.replace(k, "*****"),
            _ => message,
        };
        ExportError::Invalid(format!("export URL '{shown}': {message}"))
    })?;
    let display = scrub_secrets(&root).trim_end_matches('/').to_string();
    Ok(StorageTarget {
        store,
        display,
        source: Some(source(url, storage_options)),
    })
}

fn source(url: &SecretString, storage_options: &[(String, String)]) -> TargetSource {
    TargetSource {
        url: url.clone(),
        storage_options: storage_options.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_local_folders_and_hides_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let t =
            resolve_target(&SecretString::new(path.to_str().unwrap(), false), None, &[]).unwrap();
        assert!(path.is_dir());
        assert_eq!(t.display_path("a.csv"), format!("{}/a.csv", path.display()));

        let err =
            resolve_target(&SecretString::new("ftp://host/x;SECRET", true), None, &[]).unwrap_err();
        assert!(!err.to_string().contains("SECRET"), "{err}");
        let err = resolve_target(&SecretString::new("", false), None, &[]).unwrap_err();
        assert!(err.to_string().contains("empty"));
    }
}
