//! Where an MLflow tracking database is, as the user named it: a SQLite file, `sqlite:///…`, or
//! a `postgresql://` URI; and how messages name it (never with its password).

use std::path::{Path, PathBuf};

use crate::mlflow::meta::Bad;

/// Where a tracking database is: how the user named it on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseSource {
    /// A SQLite file (`mlflow.db`, or `sqlite:///mlflow.db` as MLflow's tracking URI says).
    Sqlite(PathBuf),
    /// A `postgresql://` URI (SQLAlchemy's `postgresql+psycopg2://` form taken too).
    Postgres(String),
}

/// SQLite's file header.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

impl DatabaseSource {
    /// The database `arg` names, if it names one: a tracking URI, or a SQLite file. A URI of an
    /// engine prov9 does not read (MySQL, …) is an error saying so.
    pub fn of(arg: &Path) -> Result<Option<DatabaseSource>, Bad> {
        let text = arg.to_string_lossy();
        if let Some(path) = text.strip_prefix("sqlite:///") {
            return Ok(Some(DatabaseSource::Sqlite(PathBuf::from(path))));
        }
        if let Some((scheme, rest)) = text.split_once("://") {
            let engine = scheme.split('+').next().unwrap_or(scheme);
            return match engine {
                "postgresql" | "postgres" => Ok(Some(DatabaseSource::Postgres(format!(
                    "postgresql://{rest}"
                )))),
                "mysql" | "mssql" => Err(Bad::new(
                    redact(&text),
                    format!(
                        "MLflow on {engine} is not read yet; prov9 reads MLflow's SQLite and \
                         PostgreSQL databases and its mlruns/ file store"
                    ),
                )),
                _ => Ok(None),
            };
        }
        let mut head = [0u8; 16];
        let is_sqlite = std::fs::File::open(arg)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
            .is_ok()
            && &head == SQLITE_MAGIC;
        Ok(is_sqlite.then(|| DatabaseSource::Sqlite(arg.to_path_buf())))
    }

    /// How messages name it (a URI without its password).
    pub fn display(&self) -> String {
        match self {
            DatabaseSource::Sqlite(path) => path.display().to_string(),
            DatabaseSource::Postgres(uri) => redact(uri),
        }
    }
}

/// A URI with its password replaced by `***`.
fn redact(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_string();
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Some((user_info, host)) = authority.rsplit_once('@') else {
        return uri.to_string();
    };
    let user = user_info.split(':').next().unwrap_or("");
    let password = if user_info.contains(':') { ":***" } else { "" };
    let slash = if rest.contains('/') { "/" } else { "" };
    format!("{scheme}://{user}{password}@{host}{slash}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_uris_name_their_database() {
        let of = |s: &str| DatabaseSource::of(Path::new(s));
        assert_eq!(
            of("sqlite:////tmp/mlflow.db").unwrap(),
            Some(DatabaseSource::Sqlite("/tmp/mlflow.db".into()))
        );
        assert_eq!(
            of("sqlite:///mlflow.db").unwrap(),
            Some(DatabaseSource::Sqlite("mlflow.db".into()))
        );
        assert_eq!(
            of("postgresql+psycopg2://u:pw@db:5432/mlflow").unwrap(),
            Some(DatabaseSource::Postgres(
                "postgresql://u:pw@db:5432/mlflow".into()
            ))
        );
        let mysql = of("mysql+pymysql://u:secret@db/mlflow").unwrap_err();
        assert!(mysql.reason.contains("not read yet"), "{mysql:?}");
        assert!(!mysql.location.contains("secret"), "{mysql:?}");
        assert_eq!(of("s3://bucket/events/").unwrap(), None);
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("postgresql://mlflow:s3cret@db:5432/mlflow"),
            "postgresql://mlflow:***@db:5432/mlflow"
        );
        assert_eq!(redact("postgresql://db/mlflow"), "postgresql://db/mlflow");
        assert_eq!(redact("postgresql://u@db"), "postgresql://u@db");
    }
}
