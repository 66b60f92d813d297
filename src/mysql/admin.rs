//! The agent's own admin account, made once by `guestagent bootstrap`.
//!
//! The account is `<name>`@`localhost`, authenticated by the unix socket
//! (MariaDB's `unix_socket`, MySQL's `auth_socket`): the OS user of the same
//! name logs in without a password, so no admin password sits on disk.
//!
//! Its privileges are `ALL PRIVILEGES ON *.* WITH GRANT OPTION`, and that is
//! the least that works: mysqld lets an account grant only what it holds
//! itself with GRANT OPTION, and the agent grants ALL on arbitrary databases
//! (`create_user`, `grant_access`) and ALL ON *.* WITH GRANT OPTION to
//! `root`@`%` (`enable_root`). What the agent does *not* need, a password,
//! is what this removes.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};

use super::{Flavor, MODE, Result, driver_error, quote};

/// What bootstrap did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bootstrapped {
    /// The account was created.
    Created,
    /// It existed and was left exactly as it is: a package upgrade runs
    /// bootstrap again, and must not re-grant what an operator took away.
    Existing,
}

/// Connects as `root` over the socket (the caller runs as OS root) and
/// creates or updates the admin account `name`@`localhost`.
pub async fn bootstrap(socket: &str, name: &str) -> Result<Bootstrapped> {
    let opts = OptsBuilder::default()
        .socket(Some(socket.to_owned()))
        .user(Some("root"))
        .prefer_socket(true);
    let mut conn = Conn::new(opts)
        .await
        .map_err(|e| driver_error("connect as root", e))?;
    let version: Option<String> = conn
        .query_first("SELECT @@version")
        .await
        .map_err(|e| driver_error("probe version", e))?;
    let flavor = if version
        .unwrap_or_default()
        .to_ascii_lowercase()
        .contains("mariadb")
    {
        Flavor::MariaDb
    } else {
        Flavor::MySql
    };
    let acct = format!(
        "{}@{}",
        quote::literal(name, MODE),
        quote::literal("localhost", MODE)
    );
    let exists: Option<u8> = conn
        .exec_first(
            "SELECT 1 FROM mysql.user WHERE User = ? AND Host = 'localhost'",
            (name,),
        )
        .await
        .map_err(|e| driver_error("look up the admin account", e))?;
    if exists.is_some() {
        let _ = conn.disconnect().await;
        return Ok(Bootstrapped::Existing);
    }
    let auth = match flavor {
        Flavor::MariaDb => "IDENTIFIED VIA unix_socket",
        Flavor::MySql => "IDENTIFIED WITH auth_socket",
    };
    let statements = [
        format!("CREATE USER {acct} {auth}"),
        format!("GRANT ALL PRIVILEGES ON *.* TO {acct} WITH GRANT OPTION"),
    ];
    for sql in statements {
        conn.query_drop(&sql)
            .await
            .map_err(|e| driver_error(format!("bootstrap {name}@localhost"), e))?;
    }
    let _ = conn.disconnect().await;
    Ok(Bootstrapped::Created)
}
