//! The session every pooled connection to mysqld runs in, checked against
//! the real server: whatever `sql_mode` a session starts with (here one
//! that would change how statements parse), the agent's setup statement
//! pins it whole.

use mysql_async::prelude::Queryable;

mod common;

#[test]
fn sql_mode_is_pinned_whole() {
    common::runtime().block_on(async {
        let mut conn = common::root().await;
        conn.query_drop(
            "SET SESSION sql_mode = 'ANSI_QUOTES,NO_BACKSLASH_ESCAPES,PIPES_AS_CONCAT,ANSI'",
        )
        .await
        .unwrap();
        conn.query_drop(guestagent::testkit::SESSION_SETUP)
            .await
            .unwrap();
        let mode: Option<String> = conn.query_first("SELECT @@SESSION.sql_mode").await.unwrap();
        let version: Option<String> = conn.query_first("SELECT @@version").await.unwrap();
        let want = if version.unwrap_or_default().contains("MariaDB") {
            "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION"
        } else {
            "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
        };
        assert_eq!(mode.as_deref(), Some(want));
        // And so a GRANT cannot create an account.
        let err = conn
            .query_drop("GRANT SELECT ON `ga_session_test`.* TO 'ga_no_such_user'@'%'")
            .await
            .expect_err("GRANT made an account");
        assert!(err.to_string().contains("1133") || err.to_string().to_lowercase().contains("password"), "{err}");
        let _ = conn.disconnect().await;
    });
}
