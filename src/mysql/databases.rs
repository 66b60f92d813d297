//! Schemas: list, create (with character set and collation), delete.
//!
//! Character sets and collations are resolved against the server's own
//! tables before anything is created, so a bad one in the middle of a list
//! fails the whole command with nothing changed.

use mysql_async::prelude::Queryable;

use super::{Mysql, Result, driver_error, quote, text};
use crate::model::{Attempt, Charset, DbError, DbInfo, DbName, NewDatabase, Page, partial};

/// `SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME`, the
/// last two read NULL-safe (a typed read of a NULL panics in the driver).
type SchemaRow = (Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);

impl Mysql {
    /// Lists the non-system schemas, sorted by name, one page at a time.
    pub async fn list_databases(&self, page: &Page) -> Result<(Vec<DbInfo>, Option<String>)> {
        let mut conn = self.conn().await?;
        let rows: Vec<SchemaRow> = conn
            .query(
                "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME \
                 FROM information_schema.SCHEMATA",
            )
            .await
            .map_err(|e| driver_error("list databases", e))?;
        let mut dbs: Vec<DbInfo> = rows
            .into_iter()
            .map(|(n, c, o)| {
                let or_empty = |v: Option<Vec<u8>>| text(v.unwrap_or_default());
                (text(n), or_empty(c), or_empty(o))
            })
            .filter(|(n, _, _)| !self.protected.is_system_db(n))
            .map(|(n, c, o)| DbInfo {
                name: DbName::from_server(n),
                charset: Charset::from_server(c),
                collation: Charset::from_server(o),
            })
            .collect();
        dbs.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
        Ok(page.apply(dbs, |d| d.name.as_str().to_owned()))
    }

    /// Creates every schema that does not exist yet (existing ones are left
    /// as they are, as Trove does). Character sets and collations are checked
    /// for all before any is created.
    pub async fn create_databases(&self, dbs: &[NewDatabase]) -> Result<()> {
        let mut conn = self.conn().await?;
        let mut statements = Vec::with_capacity(dbs.len());
        for db in dbs {
            let (charset, collation) = resolve_charset(&mut conn, db).await?;
            let mut sql = format!(
                "CREATE DATABASE IF NOT EXISTS {}",
                quote::ident(db.name.as_str())
            );
            if let Some(cs) = charset {
                sql.push_str(&format!(" CHARACTER SET {}", quote::ident(&cs)));
            }
            if let Some(co) = collation {
                sql.push_str(&format!(" COLLATE {}", quote::ident(&co)));
            }
            statements.push((db.name.clone(), sql));
        }
        let labels: Vec<String> = statements.iter().map(|(n, _)| n.to_string()).collect();
        for (i, (name, sql)) in statements.iter().enumerate() {
            if let Err(e) = conn.query_drop(sql).await {
                let err = driver_error(format!("CREATE DATABASE {name}"), e);
                return Err(partial(&labels, i, err));
            }
        }
        Ok(())
    }

    /// Drops a schema; `DatabaseNotFound` when it does not exist.
    pub async fn delete_database(&self, name: &DbName, attempt: Attempt) -> Result<()> {
        let mut conn = self.conn().await?;
        if !self.database_exists(&mut conn, name).await? {
            return match attempt {
                Attempt::First => Err(DbError::DatabaseNotFound(name.clone())),
                Attempt::Recovery => Ok(()),
            };
        }
        conn.query_drop(format!("DROP DATABASE {}", quote::ident(name.as_str())))
            .await
            .map_err(|e| driver_error(format!("DROP DATABASE {name}"), e))
    }

    /// True when the schema exists.
    pub async fn schema_exists(&self, name: &DbName) -> Result<bool> {
        let mut conn = self.conn().await?;
        self.database_exists(&mut conn, name).await
    }

    pub(crate) async fn database_exists(
        &self,
        conn: &mut mysql_async::Conn,
        name: &DbName,
    ) -> Result<bool> {
        let found: Option<u8> = conn
            .exec_first(
                "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (name.as_str(),),
            )
            .await
            .map_err(|e| driver_error(format!("look up database {name}"), e))?;
        Ok(found.is_some())
    }
}

/// Checks a requested character set / collation pair against the server and
/// fills in the set's default collation. `(None, None)` means "server default".
async fn resolve_charset(
    conn: &mut mysql_async::Conn,
    db: &NewDatabase,
) -> Result<(Option<String>, Option<String>)> {
    match (&db.charset, &db.collation) {
        (None, None) => Ok((None, None)),
        (Some(cs), None) => {
            // NULL-safe: a typed read of a NULL column panics in the driver.
            let default: Option<Option<String>> = conn
                .exec_first(
                    "SELECT DEFAULT_COLLATE_NAME FROM information_schema.CHARACTER_SETS \
                     WHERE CHARACTER_SET_NAME = ?",
                    (cs.as_str(),),
                )
                .await
                .map_err(|e| driver_error("look up character set", e))?;
            match default {
                Some(Some(co)) => Ok((Some(cs.as_str().to_owned()), Some(co))),
                Some(None) => Ok((Some(cs.as_str().to_owned()), None)),
                None => Err(DbError::Charset(format!("unknown character set {cs}"))),
            }
        }
        (cs, Some(co)) => {
            // A NULL owner (MariaDB 10.10's `uca1400_ai_ci`) is a collation
            // of several character sets: read without a driver panic.
            let owner: Option<Option<String>> = conn
                .exec_first(
                    "SELECT CHARACTER_SET_NAME FROM information_schema.COLLATIONS \
                     WHERE COLLATION_NAME = ?",
                    (co.as_str(),),
                )
                .await
                .map_err(|e| driver_error("look up collation", e))?;
            match (owner, cs) {
                (None, _) => Err(DbError::Charset(format!("unknown collation {co}"))),
                (Some(None), None) => Err(DbError::Charset(format!(
                    "collation {co} applies to several character sets: give _character_set too"
                ))),
                // mysqld itself checks the pair when the schema is created.
                (Some(None), Some(cs)) => {
                    Ok((Some(cs.as_str().to_owned()), Some(co.as_str().to_owned())))
                }
                (Some(Some(owner)), Some(cs)) if owner != cs.as_str() => Err(DbError::Charset(
                    format!("collation {co} does not belong to character set {cs}"),
                )),
                (Some(Some(owner)), _) => Ok((Some(owner), Some(co.as_str().to_owned()))),
            }
        }
    }
}
