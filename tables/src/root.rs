//! Opening the object store under a database root URL.

use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;
use url::Url;

use crate::error::{Result, TablesError};
use crate::listing::ListingFilter;
use crate::redact::scrub_secrets;

/// The storage options of a session (keys as `object_store` names them, e.g.
/// `aws_endpoint`), for every URL it opens: the database root, export URLs, external
/// tables and Delta targets. [`crate::Database::install`] puts the database's options
/// into the session config, where export code finds them with [`StorageOptions::of`].
#[derive(Clone, Default)]
pub struct StorageOptions(pub Vec<(String, String)>);

impl std::fmt::Debug for StorageOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values are often secrets: show the keys only.
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| format!("{k}=*****")))
            .finish()
    }
}

impl StorageOptions {
    /// The options installed in `config`, or none.
    pub fn of(config: &datafusion::execution::context::SessionConfig) -> Vec<(String, String)> {
        config
            .get_extension::<StorageOptions>()
            .map(|o| o.0.clone())
            .unwrap_or_default()
    }
}

/// Resolves a database root — a local folder, `file://`, `memory://`, `s3://`,
/// `az://`/`abfss://`, `gs://` or `http(s)://` URL — to an object store whose paths are
/// relative to that root.
///
/// Credentials for cloud stores come from the environment (as `object_store`'s
/// builders read them) and from `options`.
pub fn open_root(
    root: &str,
    options: &[(String, String)],
) -> Result<(Arc<dyn ObjectStore>, String)> {
    let invalid = |reason: String| TablesError::InvalidRoot {
        url: scrub_secrets(root),
        reason,
    };
    if root.trim().is_empty() {
        return Err(invalid("the root URL is empty".into()));
    }
    let url = match Url::parse(root) {
        Ok(url) if url.scheme().len() > 1 => url,
        // No scheme (or a Windows drive letter): a local path.
        _ => return open_local(std::path::Path::new(root)),
    };
    match url.scheme() {
        "file" => {
            let path = url
                .to_file_path()
                .map_err(|_| invalid("not a valid local file URL".into()))?;
            open_local(&path)
        }
        "memory" => Ok((Arc::new(InMemory::new()), scrub_secrets(root))),
        _ => {
            let (store, prefix) =
                cloud_store(&url, options).map_err(|e| invalid(scrub_secrets(&e.to_string())))?;
            Ok((with_prefix(store, prefix), scrub_secrets(root)))
        }
    }
}

/// Whether `key` names an option of some cloud's `object_store` builder (any case).
pub fn is_storage_option(key: &str) -> bool {
    use object_store::aws::AmazonS3ConfigKey;
    use object_store::azure::AzureConfigKey;
    use object_store::gcp::GoogleConfigKey;
    let key = key.to_ascii_lowercase();
    key.parse::<AmazonS3ConfigKey>().is_ok()
        || key.parse::<AzureConfigKey>().is_ok()
        || key.parse::<GoogleConfigKey>().is_ok()
        || key.parse::<object_store::ClientConfigKey>().is_ok()
}

/// The object store of a cloud URL (`s3://`, `az://`, `abfss://`, `gs://`, Azure/S3
/// `https://`, plain `http(s)://`) and the path inside it.
///
/// The store is configured as a user of the cloud's own tools expects: first from the
/// environment, as `object_store`'s `from_env()` builders read it (`AWS_*`, `AZURE_*`,
/// `GOOGLE_*`), then from the URL, then from `options`, which win. One options map
/// serves every URL of a session, so a key that belongs to another cloud is ignored;
/// a key no cloud knows is an error.
pub fn cloud_store(
    url: &Url,
    options: &[(String, String)],
) -> std::result::Result<(Arc<dyn ObjectStore>, Path), object_store::Error> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
    use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
    use object_store::ObjectStoreScheme;

    for (key, _) in options {
        let key = key.to_ascii_lowercase();
        if !is_storage_option(&key) {
            return Err(object_store::Error::Generic {
                store: "storage options",
                source: format!(
                    "unknown storage option '{key}' (keys are object_store's, e.g. \
                     aws_endpoint, azure_storage_account_name, google_service_account)"
                )
                .into(),
            });
        }
    }
    let lowered = || {
        options
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
    };
    let (scheme, path) = ObjectStoreScheme::parse(url)?;
    let path = Path::parse(path)?;
    let store: Arc<dyn ObjectStore> = match scheme {
        ObjectStoreScheme::AmazonS3 => Arc::new(
            lowered()
                .filter_map(|(k, v)| k.parse::<AmazonS3ConfigKey>().ok().map(|k| (k, v)))
                .fold(
                    AmazonS3Builder::from_env().with_url(url.as_str()),
                    |b, (k, v)| b.with_config(k, v),
                )
                .build()?,
        ),
        ObjectStoreScheme::MicrosoftAzure => Arc::new(
            lowered()
                .filter_map(|(k, v)| k.parse::<AzureConfigKey>().ok().map(|k| (k, v)))
                .fold(
                    MicrosoftAzureBuilder::from_env().with_url(url.as_str()),
                    |b, (k, v)| b.with_config(k, v),
                )
                .build()?,
        ),
        ObjectStoreScheme::GoogleCloudStorage => Arc::new(
            lowered()
                .filter_map(|(k, v)| k.parse::<GoogleConfigKey>().ok().map(|k| (k, v)))
                .fold(
                    GoogleCloudStorageBuilder::from_env().with_url(url.as_str()),
                    |b, (k, v)| b.with_config(k, v),
                )
                .build()?,
        ),
        _ => {
            let client: Vec<_> = lowered()
                .filter(|(k, _)| k.parse::<object_store::ClientConfigKey>().is_ok())
                .collect();
            let (store, path) = object_store::parse_url_opts(url, client)?;
            return Ok((store.into(), path));
        }
    };
    Ok((Arc::new(ListingFilter::new(store)), path))
}

/// The local folder of a root as [`open_root`] shows it, when it is one.
pub(crate) fn local_dir(shown: &str) -> Option<std::path::PathBuf> {
    let path = match Url::parse(shown) {
        Ok(url) if url.scheme() == "file" => url.to_file_path().ok()?,
        Ok(url) if url.scheme().len() > 1 => return None,
        _ => std::path::PathBuf::from(shown),
    };
    path.is_dir().then_some(path)
}

fn open_local(path: &std::path::Path) -> Result<(Arc<dyn ObjectStore>, String)> {
    let shown = path.display().to_string();
    let invalid = |reason: String| TablesError::InvalidRoot {
        url: shown.clone(),
        reason,
    };
    if path.exists() && !path.is_dir() {
        return Err(invalid("it is a file, not a folder".into()));
    }
    std::fs::create_dir_all(path).map_err(|e| invalid(format!("cannot create the folder: {e}")))?;
    let canonical = path
        .canonicalize()
        .map_err(|e| invalid(format!("cannot resolve the folder: {e}")))?;
    let store = LocalFileSystem::new_with_prefix(&canonical)
        .map_err(|e| invalid(e.to_string()))?
        .with_automatic_cleanup(true);
    Ok((Arc::new(store), canonical.display().to_string()))
}

fn with_prefix(store: Arc<dyn ObjectStore>, prefix: Path) -> Arc<dyn ObjectStore> {
    if prefix.as_ref().is_empty() {
        store
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_show_secrets() {
        let err = open_root("ftp://user:SECRET@example.com/db;KEY", &[]).unwrap_err();
        assert!(
            !err.to_string().contains("SECRET") && !err.to_string().contains("KEY"),
            "{err}"
        );
    }

    #[test]
    fn rejects_a_file_as_root() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let err = open_root(file.to_str().unwrap(), &[]).unwrap_err();
        assert!(err.to_string().contains("it is a file"), "{err}");
    }

    #[test]
    fn rejects_unknown_schemes() {
        let err = open_root("ftp://example.com/db", &[]).unwrap_err();
        assert!(err.to_string().contains("cannot open database"), "{err}");
    }
}
