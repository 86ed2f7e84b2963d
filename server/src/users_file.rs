//! Editing a users file ([`crate::auth`]'s format) the way the `dfexport-users` binary
//! does: add or change a user (its password hashed with argon2 here, never stored),
//! add an API token (printed once, only its SHA-256 kept), remove either, list them.
//!
//! Every change is checked as the server would load the result, then written to a
//! temporary file beside the users file and renamed over it, so that a server
//! starting meanwhile reads the old file or the new one, never half of one. On Unix
//! the file is readable by its owner only.

use std::path::Path;

use crate::auth::{
    api_token_sha256, hash_password, new_api_token, ApiTokenEntry, UserEntry, Users, UsersFile,
};
use crate::error::{Result, ServerError};
use crate::roles::Role;

/// One line of [`list`]: a user or an API token, and its role. Never a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// `user` or `api-token`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

fn read(path: &Path) -> Result<UsersFile> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            Users::parse(&text)
                .map_err(|e| ServerError::Config(format!("users file {}: {e}", path.display())))?;
            serde_json::from_str(&text)
                .map_err(|e| ServerError::Config(format!("users file {}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UsersFile::default()),
        Err(e) => Err(ServerError::Config(format!(
            "cannot read users file {}: {e}",
            path.display()
        ))),
    }
}

fn write(path: &Path, file: &UsersFile) -> Result<()> {
    let text = serde_json::to_string_pretty(file)
        .map_err(|e| ServerError::Config(format!("cannot write the users file: {e}")))?;
    // What the server would refuse is not written.
    Users::parse(&text)?;
    let fail = |e: std::io::Error| {
        ServerError::Config(format!("cannot write users file {}: {e}", path.display()))
    };
    let name = path
        .file_name()
        .ok_or_else(|| ServerError::Config(format!("{} is not a file name", path.display())))?;
    let mut staged = name.to_os_string();
    staged.push(format!(".{}.tmp", std::process::id()));
    let staged = path.with_file_name(staged);
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options.open(&staged).map_err(fail)?;
        out.write_all(text.as_bytes()).map_err(fail)?;
        out.write_all(b"\n").map_err(fail)?;
        out.sync_all().map_err(fail)?;
    }
    std::fs::rename(&staged, path).map_err(|e| {
        let _ = std::fs::remove_file(&staged);
        fail(e)
    })
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.contains(':') || name.chars().any(char::is_control) {
        return Err(ServerError::InvalidArgument(
            "a name must be non-empty, without ':' or control characters (Basic \
             credentials put a ':' after the user name)"
                .into(),
        ));
    }
    Ok(())
}

/// Whether the file already has an API token or a user by that name (of the other
/// kind than `kind`), which would make principals ambiguous in logs and errors.
fn taken_by_other(file: &UsersFile, name: &str, kind: &str) -> bool {
    match kind {
        "user" => file.api_tokens.iter().any(|t| t.name == name),
        _ => file.users.iter().any(|u| u.name == name),
    }
}

/// Adds user `name` with `password` and `role`, or changes its password and role.
/// Returns whether the user was new.
pub fn set_user(path: &Path, name: &str, password: &str, role: Role) -> Result<bool> {
    check_name(name)?;
    if password.chars().count() < 8 {
        return Err(ServerError::InvalidArgument(
            "a password needs at least 8 characters".into(),
        ));
    }
    let mut file = read(path)?;
    if taken_by_other(&file, name, "user") {
        return Err(ServerError::InvalidArgument(format!(
            "'{name}' is already an API token's name"
        )));
    }
    let password_hash = hash_password(password)?;
    let new = match file.users.iter_mut().find(|u| u.name == name) {
        Some(user) => {
            user.password_hash = password_hash;
            user.role = role;
            false
        }
        None => {
            file.users.push(UserEntry {
                name: name.to_string(),
                password_hash,
                role,
            });
            true
        }
    };
    write(path, &file)?;
    Ok(new)
}

/// Adds API token `name` with `role`; returns the token, which is not stored and
/// cannot be shown again.
pub fn add_api_token(path: &Path, name: &str, role: Role) -> Result<String> {
    check_name(name)?;
    let mut file = read(path)?;
    if file.api_tokens.iter().any(|t| t.name == name) || taken_by_other(&file, name, "token") {
        return Err(ServerError::InvalidArgument(format!(
            "'{name}' is already taken; remove it first to replace its token"
        )));
    }
    let (token, token_sha256) = new_api_token();
    debug_assert_eq!(api_token_sha256(&token), token_sha256);
    file.api_tokens.push(ApiTokenEntry {
        name: name.to_string(),
        token_sha256,
        role,
    });
    write(path, &file)?;
    Ok(token)
}

/// Removes the user or API token `name`; returns whether there was one.
pub fn remove(path: &Path, name: &str) -> Result<bool> {
    let mut file = read(path)?;
    let before = file.users.len() + file.api_tokens.len();
    file.users.retain(|u| u.name != name);
    file.api_tokens.retain(|t| t.name != name);
    if file.users.len() + file.api_tokens.len() == before {
        return Ok(false);
    }
    write(path, &file)?;
    Ok(true)
}

/// The users and API tokens of the file, with their roles.
pub fn list(path: &Path) -> Result<Vec<Listed>> {
    let file = read(path)?;
    let users = file.users.into_iter().map(|u| Listed {
        kind: "user",
        name: u.name,
        role: u.role,
    });
    let tokens = file.api_tokens.into_iter().map(|t| Listed {
        kind: "api-token",
        name: t.name,
        role: t.role,
    });
    Ok(users.chain(tokens).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_tokens_are_added_changed_listed_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        assert!(set_user(&path, "alice", "correct horse", Role::Viewer).unwrap());
        assert!(!set_user(&path, "alice", "battery staple", Role::Admin).unwrap());
        let token = add_api_token(&path, "airflow", Role::Ingestor).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("battery staple") && !text.contains(&token));
        assert!(text.contains(&api_token_sha256(&token)));
        let users = Users::parse(&text).unwrap();
        assert_eq!(format!("{users:?}"), "Users { users: 1, api_tokens: 1 }");
        assert_eq!(
            list(&path).unwrap(),
            [
                Listed {
                    kind: "user",
                    name: "alice".into(),
                    role: Role::Admin
                },
                Listed {
                    kind: "api-token",
                    name: "airflow".into(),
                    role: Role::Ingestor
                }
            ]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(add_api_token(&path, "airflow", Role::Viewer).is_err());
        assert!(add_api_token(&path, "alice", Role::Viewer).is_err());
        assert!(set_user(&path, "airflow", "long enough", Role::Viewer).is_err());
        assert!(set_user(&path, "bob", "short", Role::Viewer).is_err());
        assert!(set_user(&path, "a:b", "long enough", Role::Viewer).is_err());
        assert!(remove(&path, "airflow").unwrap());
        assert!(!remove(&path, "airflow").unwrap());
        assert_eq!(list(&path).unwrap().len(), 1);
        // Nothing half-written stays beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_broken_file_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.json");
        std::fs::write(&path, "{not json").unwrap();
        let e = set_user(&path, "alice", "correct horse", Role::Admin)
            .unwrap_err()
            .to_string();
        assert!(e.contains("users file"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{not json");
    }
}
