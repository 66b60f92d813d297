//! The command line contract: exit codes and what `check-config` prints.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn guestagent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_guestagent"))
        .args(args)
        .output()
        .expect("run guestagent")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p.to_string_lossy().into_owned()
}

const VALID: &str = r#"
guest_id = "0b1e4b9a-5a43-4c6e-9f1e-3c9d2d6c1a77"
[amqp]
url = "amqp://guest:s3cret-broker-pw@127.0.0.1:5672/%2f"
rpc_encryption_key = "s3cret-rpc-key"
[mysql]
socket = "/run/mysqld/mysqld.sock"
"#;

#[test]
fn version() {
    let out = guestagent(&["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn check_config_prints_effective_config_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "ok.toml", VALID);
    let out = guestagent(&["check-config", "--config", &path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("0b1e4b9a-5a43-4c6e-9f1e-3c9d2d6c1a77"));
    assert!(stdout.contains("127.0.0.1:5672"), "{stdout}");
    assert!(stdout.contains("exchange"), "defaults are shown: {stdout}");
    for secret in ["s3cret-broker-pw", "s3cret-rpc-key"] {
        assert!(!stdout.contains(secret), "{secret} leaked: {stdout}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains(secret));
    }
}

#[test]
fn bad_configs_exit_2_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("missing.toml", "[amqp]\nexchange = \"trove\"\n", "guest_id"),
        (
            "unknown.toml",
            "guest_id = \"g\"\n[amqp]\nexchnage = \"trove\"\n",
            "exchnage",
        ),
        ("syntax.toml", "guest_id = \n", "syntax.toml"),
    ];
    for (name, text, expect) in cases {
        let path = write(dir.path(), name, text);
        for cmd in ["check-config", "run"] {
            let out = guestagent(&[cmd, "--config", &path]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd} {name}: {stderr}");
            assert!(stderr.contains(expect), "{cmd} {name}: {stderr}");
        }
    }
    let out = guestagent(&["check-config", "--config", "/nonexistent/guestagent.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/guestagent.toml"));
}

#[test]
fn world_readable_secrets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "open.toml", VALID);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = guestagent(&["check-config", "--config", &path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&path) && stderr.contains("chmod"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"));
}

#[test]
fn bootstrap_says_when_mysqld_is_away_and_refuses_root() {
    let out = guestagent(&["bootstrap", "--socket", "/nonexistent/mysqld.sock"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("guestagent bootstrap --socket /nonexistent/mysqld.sock"),
        "{stderr}"
    );
    let out = guestagent(&["bootstrap", "--account", "root"]);
    assert_eq!(out.status.code(), Some(2));
    let out = guestagent(&["bootstrap", "--account", "a'b"]);
    assert_eq!(out.status.code(), Some(2));
}

#[cfg(feature = "testkit")]
#[tokio::test]
async fn actions_lists_the_journal_newest_first() {
    use guestagent::testkit::{ActionType, Journal, NewAction};
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let journal = Journal::open(&state, std::time::Duration::from_secs(3600)).unwrap();
    for (i, kind) in [ActionType::DatabaseUserCreate, ActionType::DatabaseDelete]
        .into_iter()
        .enumerate()
    {
        let a = journal
            .admit(NewAction {
                action_type: kind,
                method: "create_user".into(),
                unique_id: Some(format!("u{i}")),
                resources: vec![],
                changed: vec![],
                requested_by: None,
                context: None,
                call: false,
                digest: None,
            })
            .await
            .unwrap();
        journal.finish(a.id, Ok(None)).await.unwrap();
    }
    drop(journal);
    let cfg = format!("guest_id = \"g\"\n[state]\ndir = \"{}\"\n", state.display());
    let path = write(dir.path(), "g.toml", &cfg);
    let out = guestagent(&["actions", "--config", &path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = stdout.find("database_delete").expect("newest listed");
    let second = stdout.find("database_user_create").expect("older listed");
    assert!(first < second, "{stdout}");
    let out = guestagent(&["actions", "--config", &path, "--json", "--limit", "1"]);
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["action_type"], "database_delete");
    assert_eq!(v["status"], "success");
    assert!(
        v.get("unique_id").is_none(),
        "bookkeeping stays private: {v}"
    );
}
