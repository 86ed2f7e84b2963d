//! Roles, as Kusto's database roles, and which one each statement needs.
//!
//! `viewer` reads: SQL and KQL queries, every `.show …`, and `.export` (in Kusto an
//! export needs only the right to read what it exports). `ingestor` also adds data:
//! `INSERT`, `.append`, `.set-or-append`, `.ingest`. `admin` may do everything:
//! tables, external tables, continuous exports, policies, maintenance, and SQL that
//! changes the catalog or the shared session (`CREATE`, `DROP`, `SET`, `COPY`).
//!
//! One rule Kusto does not need: on a server, a local path (a folder, `file://`) is the
//! server's own disk. An `.export` that writes there, or an `.ingest` that reads from
//! there, needs `admin`; object-store URLs (`s3://`, `az://`, `https://…`) keep the
//! roles above.

use std::fmt;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{LogicalPlan, WriteOp};
use datafusion_export::command::{Command, ExportTarget};
use serde::{Deserialize, Serialize};

/// A caller's role. Ordered: each role may do what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Queries, `.show …`, `.export`.
    Viewer,
    /// Also ingestion: `INSERT`, `.append`, `.set-or-append`, `.ingest`.
    Ingestor,
    /// Everything.
    Admin,
}

impl Role {
    /// Whether a caller with this role may do what needs `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }

    /// The role's name as users files and errors spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Ingestor => "ingestor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "ingestor" => Ok(Role::Ingestor),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role '{other}': expected viewer, ingestor or admin"
            )),
        }
    }
}

/// The role a management command needs, or `None` for [`Command::Sql`], whose role
/// depends on its plan ([`plan_role`]).
///
/// The match is exhaustive on purpose: a new command does not compile until someone
/// decides who may run it.
pub fn command_role(command: &Command) -> Option<Role> {
    use Role::*;
    Some(match command {
        Command::Sql(_) => return None,
        // The pipeline after `|` only reads the command's result.
        Command::Piped { command, .. } => return command_role(command),
        Command::ShowTables
        | Command::ShowTableExtents { .. }
        | Command::ShowTableSchema { .. }
        | Command::ShowMergePolicy { .. }
        | Command::ShowExternalTables
        | Command::ShowExternalTable { .. }
        | Command::ShowOperations
        | Command::ShowOperation { .. }
        | Command::ShowContinuousExports
        | Command::ShowContinuousExport { .. }
        | Command::ShowExportedArtifacts { .. }
        | Command::ShowContinuousExportFailures { .. } => Viewer,
        Command::Export(export) => match &export.target {
            ExportTarget::Storage { urls, .. }
                if urls.iter().any(|u| on_server_disk(u.expose())) =>
            {
                Admin
            }
            _ => Viewer,
        },
        Command::Ingest { sources, .. } if sources.iter().any(|u| on_server_disk(u.expose())) => {
            Admin
        }
        Command::Append { .. } | Command::Ingest { .. } => Ingestor,
        Command::CreateTable { .. }
        | Command::DropTable { .. }
        | Command::CreateExternalTable(_)
        | Command::DropExternalTable { .. }
        | Command::AlterSecretKey
        | Command::MergeExtents { .. }
        | Command::AlterMergePolicy { .. }
        | Command::CleanDatabase { .. }
        | Command::CreateOrAlterContinuousExport { .. }
        | Command::EnableContinuousExport { .. }
        | Command::DisableContinuousExport { .. }
        | Command::DropContinuousExport { .. }
        | Command::RunContinuousExport { .. } => Admin,
    })
}

/// Whether `location` (an export target or an ingestion source) is on the server's own
/// disk: a path without a scheme, or a `file://` URL.
fn on_server_disk(location: &str) -> bool {
    match location.trim().split_once("://") {
        Some((scheme, _)) => scheme.eq_ignore_ascii_case("file"),
        None => true,
    }
}

/// The role a planned SQL or KQL statement needs: `viewer` when DataFusion's
/// [`SQLOptions`] with DDL, DML and statements all off accepts it (subqueries
/// included), `ingestor` when what it changes is only appends (`INSERT INTO`), and
/// `admin` otherwise (DDL, `SET` and other statements, `COPY`, overwrites, deletes).
pub fn plan_role(plan: &LogicalPlan) -> Role {
    let read_only = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    if read_only.verify_plan(plan).is_ok() {
        return Role::Viewer;
    }
    let mut needed = Role::Viewer;
    // The visitor never fails: it only records what it sees.
    let _ = plan.apply_with_subqueries(|node| {
        let role = match node {
            LogicalPlan::Dml(dml) if matches!(dml.op, WriteOp::Insert(InsertOp::Append)) => {
                Role::Ingestor
            }
            LogicalPlan::Dml(_)
            | LogicalPlan::Ddl(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::Copy(_) => Role::Admin,
            _ => Role::Viewer,
        };
        needed = needed.max(role);
        Ok(TreeNodeRecursion::Continue)
    });
    needed
}

/// A short name of what a command does, for denials and metrics (never its text,
/// which may hold secrets).
pub fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Sql(_) => "SQL",
        Command::Piped { command, .. } => command_name(command),
        Command::CreateTable { .. } => ".create table",
        Command::DropTable { .. } => ".drop table",
        Command::ShowTables => ".show tables",
        Command::ShowTableExtents { .. } => ".show table extents",
        Command::ShowTableSchema { .. } => ".show table schema",
        Command::Append {
            create_if_missing: false,
            ..
        } => ".append",
        Command::Append { .. } => ".set-or-append",
        Command::Ingest { .. } => ".ingest",
        Command::Export(_) => ".export",
        Command::CreateExternalTable(_) => ".create external table",
        Command::DropExternalTable { .. } => ".drop external table",
        Command::AlterSecretKey => ".alter database secret key",
        Command::MergeExtents { .. } => ".merge",
        Command::AlterMergePolicy { .. } => ".alter policy merge",
        Command::ShowMergePolicy { .. } => ".show policy merge",
        Command::CleanDatabase { .. } => ".clean database",
        Command::ShowExternalTables => ".show external tables",
        Command::ShowExternalTable { .. } => ".show external table",
        Command::ShowOperations => ".show operations",
        Command::ShowOperation { .. } => ".show operation",
        Command::CreateOrAlterContinuousExport { .. } => ".create-or-alter continuous-export",
        Command::ShowContinuousExports => ".show continuous-exports",
        Command::ShowContinuousExport { .. } => ".show continuous-export",
        Command::ShowExportedArtifacts { .. } => ".show continuous-export exported-artifacts",
        Command::ShowContinuousExportFailures { .. } => ".show continuous-export failures",
        Command::EnableContinuousExport { .. } => ".enable continuous-export",
        Command::DisableContinuousExport { .. } => ".disable continuous-export",
        Command::DropContinuousExport { .. } => ".drop continuous-export",
        Command::RunContinuousExport { .. } => ".run continuous-export",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_export::command::parse_command;

    /// One statement per command variant, with the role it needs. `command_role`'s
    /// exhaustive match makes a new variant fail to compile; this table makes sure
    /// each decision is the intended one.
    #[test]
    fn every_command_has_its_role() {
        let cases: &[(&str, Option<Role>)] = &[
            ("SELECT 1", None),
            (".show tables | where TableName == 'T'", Some(Role::Viewer)),
            (".create table T (a:long)", Some(Role::Admin)),
            (".drop table T", Some(Role::Admin)),
            (".show tables", Some(Role::Viewer)),
            (".show table T extents", Some(Role::Viewer)),
            (".show table T schema", Some(Role::Viewer)),
            (".append T <| SELECT 1 AS a", Some(Role::Ingestor)),
            (".set-or-append T <| SELECT 1 AS a", Some(Role::Ingestor)),
            // The server's own disk needs admin; object stores keep the roles.
            (".ingest into table T ('/tmp/x.csv')", Some(Role::Admin)),
            (
                ".ingest into table T ('file:///tmp/x.csv')",
                Some(Role::Admin),
            ),
            (
                ".ingest into table T ('s3://b/x.csv')",
                Some(Role::Ingestor),
            ),
            (
                ".export to csv ('/tmp/out') <| SELECT 1 AS a",
                Some(Role::Admin),
            ),
            (
                ".export to csv ('s3://b/out', 'FILE:///tmp/out') <| SELECT 1 AS a",
                Some(Role::Admin),
            ),
            (
                ".export to parquet ('https://acct.blob.core.windows.net/c;key') <| SELECT 1 AS a",
                Some(Role::Viewer),
            ),
            (".export to table X <| SELECT 1 AS a", Some(Role::Viewer)),
            (
                ".create external table X (a:long) kind=storage dataformat=csv ('/tmp/x')",
                Some(Role::Admin),
            ),
            (".drop external table X", Some(Role::Admin)),
            (".alter database secret key", Some(Role::Admin)),
            (".merge T", Some(Role::Admin)),
            (".alter table T policy merge '{}'", Some(Role::Admin)),
            (".show table T policy merge", Some(Role::Viewer)),
            (".clean database older than 7d", Some(Role::Admin)),
            (".show external tables", Some(Role::Viewer)),
            (".show external table X", Some(Role::Viewer)),
            (".show operations", Some(Role::Viewer)),
            (
                ".show operation 00000000-0000-0000-0000-000000000000",
                Some(Role::Viewer),
            ),
            (
                ".create-or-alter continuous-export E over (T) to table X <| SELECT * FROM T",
                Some(Role::Admin),
            ),
            (".show continuous-exports", Some(Role::Viewer)),
            (".show continuous-export E", Some(Role::Viewer)),
            (
                ".show continuous-export E exported-artifacts",
                Some(Role::Viewer),
            ),
            (".show continuous-export E failures", Some(Role::Viewer)),
            (".enable continuous-export E", Some(Role::Admin)),
            (".disable continuous-export E", Some(Role::Admin)),
            (".drop continuous-export E", Some(Role::Admin)),
            (".run continuous-export E", Some(Role::Admin)),
        ];
        let mut seen = std::collections::HashSet::new();
        for (text, role) in cases {
            let command = parse_command(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(command_role(&command), *role, "{text}");
            seen.insert(std::mem::discriminant(&command));
        }
        // Every one of the 30 variants of `Command` has a row; a new variant needs one.
        assert_eq!(seen.len(), 30);
    }

    #[test]
    fn roles_order_and_parse() {
        assert!(Role::Admin.allows(Role::Ingestor));
        assert!(Role::Ingestor.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Ingestor));
        assert_eq!("ingestor".parse::<Role>(), Ok(Role::Ingestor));
        assert!("root".parse::<Role>().unwrap_err().contains("viewer"));
    }
}
