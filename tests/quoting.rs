//! Quoting against the real mysqld, with hostile input: whatever the string,
//! the statement either stores exactly the value asked or is refused. Runs
//! in both backslash modes (`NO_BACKSLASH_ESCAPES` off and on).

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use proptest::prelude::*;

use guestagent::testkit::{BackslashMode, ident, literal};

mod common;
use common::runtime;

async fn connect(mode: BackslashMode) -> Conn {
    let mut conn = common::root().await;
    let sql_mode = match mode {
        BackslashMode::Escapes => "SET SESSION sql_mode = ''",
        BackslashMode::Literal => "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'",
    };
    conn.query_drop(sql_mode).await.unwrap();
    conn
}

/// Hostile text: SQL metacharacters, wildcards, NUL, control characters,
/// and arbitrary Unicode.
fn hostile() -> impl Strategy<Value = String> {
    let meta = prop::sample::select(vec![
        "'",
        "\"",
        "`",
        "\\",
        ";",
        "--",
        "#",
        "/*",
        "*/",
        "%",
        "_",
        "\0",
        "\n",
        "\r",
        "\t",
        "\x1a",
        " ",
        "' OR '1'='1",
        "\\'",
        "''",
        "\\\\",
        "é",
        "😀",
        "\u{2028}",
    ]);
    prop::collection::vec(
        prop_oneof![meta.prop_map(str::to_owned), any::<String>()],
        0..8,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn literals_round_trip_in_both_modes(s in hostile()) {
        runtime().block_on(async {
            for mode in [BackslashMode::Escapes, BackslashMode::Literal] {
                let mut conn = connect(mode).await;
                let got: Option<Vec<u8>> = conn
                    .query_first(format!("SELECT CAST({} AS BINARY)", literal(&s, mode)))
                    .await
                    .unwrap_or_else(|e| panic!("{mode:?} {s:?}: {e}"));
                assert_eq!(got.as_deref(), Some(s.as_bytes()), "{mode:?}");
            }
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn schema_names_are_stored_exactly_or_refused(s in hostile()) {
        let name = format!("qt_{s}");
        runtime().block_on(async {
            let mut conn = connect(BackslashMode::Escapes).await;
            if conn.query_drop(format!("CREATE DATABASE {}", ident(&name))).await.is_err() {
                return; // refused: nothing stored
            }
            let stored: Option<Vec<u8>> = conn
                .exec_first(
                    "SELECT CAST(SCHEMA_NAME AS BINARY) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                    (name.as_str(),),
                )
                .await
                .unwrap();
            conn.query_drop(format!("DROP DATABASE {}", ident(&name))).await.unwrap();
            assert_eq!(stored.as_deref(), Some(name.as_bytes()));
        });
    }

    #[test]
    fn account_names_are_stored_exactly_or_refused(s in hostile(), mode_literal in any::<bool>()) {
        let mode = if mode_literal { BackslashMode::Literal } else { BackslashMode::Escapes };
        let name: String = format!("qt{s}").chars().take(32).collect();
        // mysqld stores host names in lower case; ask for what it keeps.
        let host = format!("10.9.{}", s.chars().take(8).collect::<String>()).to_lowercase();
        // mysqld's account columns are utf8mb3: it mangles characters beyond
        // the BMP instead of refusing them, which is why `UserName::parse`
        // refuses them before any quoting happens.
        prop_assume!(!format!("{name}{host}").chars().any(|c| u32::from(c) > 0xFFFF));
        runtime().block_on(async {
            let mut conn = connect(mode).await;
            let acct = format!("{}@{}", literal(&name, mode), literal(&host, mode));
            if conn.query_drop(format!("CREATE USER {acct}")).await.is_err() {
                return;
            }
            let found: Vec<(Vec<u8>, Vec<u8>)> = conn
                .exec(
                    "SELECT CAST(User AS BINARY), CAST(Host AS BINARY) FROM mysql.user WHERE User = ? AND Host = ?",
                    (name.as_str(), host.as_str()),
                )
                .await
                .unwrap();
            conn.query_drop(format!("DROP USER {acct}")).await.unwrap();
            assert_eq!(found.len(), 1, "{name:?}@{host:?}");
        });
    }
}
