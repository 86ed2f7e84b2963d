//! `dfexport-users`: manage the users file that `dfexport serve --users FILE` reads —
//! users with argon2-hashed passwords, API tokens for machines, and their roles
//! (viewer, ingestor, admin). A running server reads the file when it starts.
//!
//! ```text
//! printf '%s\n' "$PASSWORD" | dfexport-users --file users.json set-user alice --role admin
//! dfexport-users --file users.json add-token airflow --role ingestor   # prints the token once
//! dfexport-users --file users.json list
//! dfexport-users --file users.json remove airflow
//! ```

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use datafusion_export_server::users_file;
use datafusion_export_server::Role;

/// Manage the users file of `dfexport serve --users FILE`.
#[derive(Debug, Parser)]
#[command(name = "dfexport-users", version)]
struct Args {
    /// The users file (created if missing).
    #[arg(long, env = "DFEXPORT_USERS_FILE")]
    file: PathBuf,
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Add a user, or change its password and role. The password is read from the
    /// first line of standard input (pipe it from your secret store); it is stored
    /// only as an argon2 hash.
    SetUser {
        /// The user name.
        name: String,
        /// viewer, ingestor or admin.
        #[arg(long)]
        role: Role,
    },
    /// Add an API token for a machine (a pipeline, a scheduler). The token is printed
    /// once and stored only as its SHA-256: keep it in the caller's secret store.
    AddToken {
        /// The token's name (shows in logs, never the token).
        name: String,
        /// viewer, ingestor or admin.
        #[arg(long)]
        role: Role,
    },
    /// Remove a user or an API token.
    Remove {
        /// The user or token name.
        name: String,
    },
    /// List users and API tokens with their roles (never hashes).
    List,
}

fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err("no password on standard input: pipe it in, e.g. \
             printf '%s\\n' \"$PASSWORD\" | dfexport-users --file F set-user NAME --role R"
            .into());
    }
    Ok(password)
}

fn run(args: Args) -> Result<(), String> {
    let file = &args.file;
    match args.action {
        Action::SetUser { name, role } => {
            let password = read_password()?;
            let new =
                users_file::set_user(file, &name, &password, role).map_err(|e| e.to_string())?;
            let what = if new { "added" } else { "updated" };
            eprintln!("user '{name}' {what} ({role}) in {}", file.display());
        }
        Action::AddToken { name, role } => {
            let token = users_file::add_api_token(file, &name, role).map_err(|e| e.to_string())?;
            eprintln!(
                "API token '{name}' ({role}) added to {}; it is shown once, here:",
                file.display()
            );
            println!("{token}");
        }
        Action::Remove { name } => {
            if !users_file::remove(file, &name).map_err(|e| e.to_string())? {
                return Err(format!(
                    "no user or API token '{name}' in {}",
                    file.display()
                ));
            }
            eprintln!("'{name}' removed from {}", file.display());
        }
        Action::List => {
            for entry in users_file::list(file).map_err(|e| e.to_string())? {
                println!("{}\t{}\t{}", entry.kind, entry.name, entry.role);
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
