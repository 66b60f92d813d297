//! What the integration tests that talk to the local mysqld share: a runtime
//! and a root session over the socket.

use mysql_async::{Conn, OptsBuilder};

/// The machine's mysqld socket (scripts/services starts it).
pub const SOCKET: &str = "/run/mysqld/mysqld.sock";

/// A current-thread runtime with I/O and time.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// root over the unix socket.
pub async fn root() -> Conn {
    let opts = OptsBuilder::default()
        .socket(Some(SOCKET))
        .user(Some("root"))
        .prefer_socket(true);
    Conn::new(opts)
        .await
        .expect("MariaDB over its socket (run scripts/services)")
}
