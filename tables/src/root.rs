//! Opening the object store under a database root URL.

use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;
use url::Url;

use crate::error::{Result, TablesError};

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
        url: redact_url(root),
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
        "memory" => Ok((Arc::new(InMemory::new()), redact_url(root))),
        _ => {
            let (store, prefix) = object_store::parse_url_opts(&url, options.iter().cloned())
                .map_err(|e| invalid(crate::root::redact_text(&e.to_string())))?;
            Ok((with_prefix(store.into(), prefix), redact_url(root)))
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

/// A URL with its userinfo password, query string and `;`-secrets removed.
pub fn redact_url(url: &str) -> String {
    let head = match url.split_once(';') {
        Some((head, _)) => format!("{head};*****"),
        None => url.to_string(),
    };
    match Url::parse(&head) {
        Ok(mut parsed) if parsed.has_host() => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("*****"));
            }
            if parsed.query().is_some() {
                parsed.set_query(Some("*****"));
            }
            parsed.to_string()
        }
        _ => head,
    }
}

/// Free text with every URL in it redacted.
pub fn redact_text(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            if word.contains("://") {
                redact_url(word)
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secrets() {
        assert_eq!(
            redact_url("https://acct.blob.core.windows.net/c?sv=1&sig=SECRET"),
            "https://acct.blob.core.windows.net/c?*****"
        );
        assert_eq!(
            redact_url("https://acct.blob.core.windows.net/c;SECRETKEY"),
            "https://acct.blob.core.windows.net/c;*****"
        );
        assert!(!redact_url("s3://user:SECRET@bucket/x").contains("SECRET"));
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
