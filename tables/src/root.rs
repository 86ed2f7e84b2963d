//! Opening the object store under a database root URL.

use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;
use url::Url;

use crate::error::{Result, TablesError};
use crate::redact::scrub_secrets;

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
            let (store, prefix) = object_store::parse_url_opts(&url, options.iter().cloned())
                .map_err(|e| invalid(scrub_secrets(&e.to_string())))?;
            Ok((with_prefix(store.into(), prefix), scrub_secrets(root)))
        }
    }
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
