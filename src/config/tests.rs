//! Tests of [`Config::load`] and the rendering, on files in temporary directories.

use super::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

const SECRETS: [&str; 3] = ["hunter2", "rpc-key-sekrit", "db-pw-sekrit"];

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().expect("temp dir"))
    }

    fn file(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = self.0.path().join(name);
        fs::write(&path, text).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    fn load(&self, text: &str) -> Result<Config, ConfigError> {
        Config::load(&self.file("guestagent.toml", text, 0o640))
    }
}

fn no_secrets(shown: &str) {
    for secret in SECRETS {
        assert!(!shown.contains(secret), "{secret} leaked in: {shown}");
    }
}

fn err(result: Result<Config, ConfigError>) -> ConfigError {
    match result {
        Ok(cfg) => panic!("expected an error, got {cfg:?}"),
        Err(e) => {
            no_secrets(&e.to_string());
            no_secrets(&format!("{e:?}"));
            e
        }
    }
}

#[test]
fn the_shipped_example_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/guestagent.toml");
    let cfg = Config::load(&path).expect("example config");
    let defaults = Dir::new().load("guest_id = \"x\"").expect("minimal");
    assert_eq!(cfg.guest_id, "00000000-0000-0000-0000-000000000000");
    let rendered = cfg.render_redacted().replace(&cfg.guest_id, "x");
    assert_eq!(rendered, defaults.render_redacted());
}

#[test]
fn only_guest_id_gives_the_defaults() {
    let cfg = Dir::new().load("guest_id = \"abc-1\"\n").expect("load");
    assert_eq!(cfg.guest_id, "abc-1");
    assert_eq!(cfg.amqp.url.expose_secret(), DEFAULT_AMQP_URL);
    assert_eq!(cfg.amqp.exchange, "trove");
    assert_eq!(cfg.amqp.conductor_topic, "trove-conductor");
    assert!(cfg.amqp.rpc_encryption_key.is_none());
    assert!(!cfg.amqp.allow_plaintext);
    assert_eq!(cfg.amqp.report_interval, Duration::from_secs(30));
    assert_eq!(cfg.amqp.prefetch, 16);
    assert_eq!(cfg.mysql.socket, Path::new("/run/mysqld/mysqld.sock"));
    assert_eq!(cfg.mysql.user, "root");
    assert!(cfg.mysql.password.is_none());
    assert!(cfg.mysql.ignore_users.is_empty() && cfg.mysql.ignore_dbs.is_empty());
    assert_eq!(cfg.state, StateConfig::default());
    assert_eq!(cfg.log.level, "info");
    assert_eq!(cfg.limits, LimitsConfig::default());
    assert_eq!(cfg.limits.max_message_bytes, 1_048_576);
    assert_eq!(cfg.limits.max_items, 100);
}

#[test]
fn every_key_is_read() {
    let dir = Dir::new();
    let pw = dir.file("db.pw", "db-pw-sekrit\n", 0o600);
    let text = format!(
        "guest_id = \"g\"\n[amqp]\nurl = \"amqps://agent:hunter2@mq.example:5671/trove?heartbeat=10\"\n\
         exchange = \"ex\"\nconductor_topic = \"cond\"\nrpc_encryption_key = \"rpc-key-sekrit\"\n\
         allow_plaintext = true\nreport_interval = 5\nprefetch = 1\n\
         [mysql]\nsocket = \"/tmp/my.sock\"\nuser = \"os_admin\"\npassword_file = \"{}\"\n\
         ignore_users = [\"a\", \"b\"]\nignore_dbs = [\"c\"]\n[state]\ndir = \"/srv/ga\"\n\
         [log]\nlevel = \"DEBUG\"\n[limits]\nmax_message_bytes = 2048\nmax_items = 7\n",
        pw.display()
    );
    let cfg = dir.load(&text).expect("load");
    assert_eq!(cfg.amqp.exchange, "ex");
    assert_eq!(cfg.amqp.conductor_topic, "cond");
    let key = cfg
        .amqp
        .rpc_encryption_key
        .as_ref()
        .map(|k| k.expose_secret());
    assert_eq!(key, Some("rpc-key-sekrit"));
    assert!(cfg.amqp.allow_plaintext);
    assert_eq!(cfg.amqp.report_interval, Duration::from_secs(5));
    assert_eq!(cfg.amqp.prefetch, 1);
    assert_eq!(cfg.mysql.socket, Path::new("/tmp/my.sock"));
    assert_eq!(cfg.mysql.user, "os_admin");
    let password = cfg.mysql.password.as_ref().map(|p| p.expose_secret());
    assert_eq!(password, Some("db-pw-sekrit"));
    assert_eq!(cfg.mysql.ignore_users, ["a", "b"]);
    assert_eq!(cfg.mysql.ignore_dbs, ["c"]);
    assert_eq!(cfg.state.dir, Path::new("/srv/ga"));
    assert_eq!(cfg.log.level, "debug");
    assert_eq!(
        (cfg.limits.max_message_bytes, cfg.limits.max_items),
        (2048, 7)
    );

    // Nothing secret in Debug, in the rendering or in the logged URL.
    no_secrets(&format!("{cfg:?}"));
    no_secrets(&format!("{cfg:#?}"));
    let rendered = cfg.render_redacted();
    no_secrets(&rendered);
    assert!(
        rendered.contains("url = \"amqps://agent:<redacted>@mq.example:5671/trove?heartbeat=10\"")
    );
    assert!(rendered.contains("rpc_encryption_key = \"<redacted>\""));
    assert!(rendered.contains("# password: <redacted>"));
    assert_eq!(
        cfg.amqp_url_redacted(),
        "amqps://agent:<redacted>@mq.example:5671/trove?heartbeat=10"
    );
}

#[test]
fn unknown_keys_are_named_with_their_table() {
    for (text, key) in [
        ("guest_id = \"g\"\nguestid = 1\n", "guestid"),
        (
            "guest_id = \"g\"\n[amqp]\nurll = \"hunter2\"\n",
            "amqp.urll",
        ),
        (
            "guest_id = \"g\"\nmysql.pasword = \"hunter2\"\n",
            "mysql.pasword",
        ),
        (
            "guest_id = \"g\"\n[limits]\nmax_users = 1\n",
            "limits.max_users",
        ),
        ("guest_id = \"g\"\n[amqpx]\nurl = \"x\"\n", "amqpx"),
    ] {
        let dir = Dir::new();
        let e = err(dir.load(text));
        assert_eq!(e.code(), "unknown_key", "{e}");
        let msg = e.to_string();
        assert!(msg.contains(&format!("`{key}`")), "{msg}");
        assert!(msg.contains("guestagent.toml"), "{msg}");
    }
}

#[test]
fn a_missing_guest_id_is_named() {
    let dir = Dir::new();
    let e = err(dir.load("[log]\nlevel = \"info\"\n"));
    assert!(matches!(&e, ConfigError::Missing { key, .. } if key == "guest_id"));
    assert!(e.to_string().contains("guestagent.toml"), "{e}");
}

#[test]
fn an_unreadable_file_is_named() {
    let e = err(Config::load(Path::new("/nonexistent/dir/guestagent.toml")));
    assert_eq!(e.code(), "read");
    assert!(
        e.to_string().contains("/nonexistent/dir/guestagent.toml"),
        "{e}"
    );
}

#[test]
fn guest_id_must_be_a_queue_safe_name() {
    let long = "a".repeat(64);
    assert!(Dir::new().load(&format!("guest_id = \"{long}\"")).is_ok());
    for bad in ["", "a b", "a/b", "ü", "a*", &format!("{long}a")] {
        let e = err(Dir::new().load(&format!("guest_id = \"{bad}\"")));
        assert!(
            matches!(&e, ConfigError::Invalid { key, .. } if key == "guest_id"),
            "{e}"
        );
    }
}

#[test]
fn bad_values_are_named_without_their_value() {
    for (text, key) in [
        ("[amqp]\nurl = \"http://u:hunter2@h/\"", "amqp.url"),
        ("[amqp]\nurl = \"amqp://u:hunter2@/x\"", "amqp.url"),
        ("[amqp]\nurl = \"amqp://u:hunter2@h/\"", "amqp.url"),
        ("[amqp]\nurl = \"amqp://u:hunter2@[::1]/x\"", "amqp.url"),
        ("[amqp]\nprefetch = \"hunter2\"", "amqp.prefetch"),
        ("[amqp]\nprefetch = 0", "amqp.prefetch"),
        ("[amqp]\nprefetch = 65536", "amqp.prefetch"),
        ("[amqp]\nreport_interval = 0", "amqp.report_interval"),
        ("[amqp]\nexchange = \"\"", "amqp.exchange"),
        ("[amqp]\nconductor_topic = \"a b\"", "amqp.conductor_topic"),
        (
            "[amqp]\nallow_plaintext = \"hunter2\"",
            "amqp.allow_plaintext",
        ),
        ("amqp = \"hunter2\"", "amqp"),
        ("[mysql]\nsocket = \"run/mysqld.sock\"", "mysql.socket"),
        ("[mysql]\nuser = \"\"", "mysql.user"),
        ("[mysql]\npassword_file = \"db.pw\"", "mysql.password_file"),
        (
            "[mysql]\nignore_users = [\"ok\", \"\"]",
            "mysql.ignore_users",
        ),
        ("[mysql]\nignore_dbs = [\"hunter2\", 5]", "mysql.ignore_dbs"),
        ("[state]\ndir = \"\"", "state.dir"),
        ("[log]\nlevel = \"verbose\"", "log.level"),
        (
            "[limits]\nmax_message_bytes = 10",
            "limits.max_message_bytes",
        ),
        ("[limits]\nmax_items = 0", "limits.max_items"),
        ("[limits]\nmax_items = -1", "limits.max_items"),
    ] {
        let e = err(Dir::new().load(&format!("guest_id = \"g\"\n{text}\n")));
        assert!(
            matches!(&e, ConfigError::Invalid { key: k, .. } if k == key),
            "{text}: {e}"
        );
    }
}

#[test]
fn syntax_errors_give_the_place_but_not_the_text() {
    let e = err(Dir::new().load("guest_id = \"g\"\n[amqp]\nurl = \"amqp://u:hunter2@h\n"));
    assert_eq!(e.code(), "parse");
    assert!(e.to_string().contains("line 3"), "{e}");
    let e = err(Dir::new().load("guest_id = \"g\"\nguest_id = \"h\"\n"));
    assert!(e.to_string().contains("line 2"), "{e}");
}

#[test]
fn files_holding_secrets_must_not_be_world_readable() {
    let cases = [
        ("[amqp]\nurl = \"amqp://u:hunter2@h/%2f\"\n", true),
        ("[amqp]\nrpc_encryption_key = \"rpc-key-sekrit\"\n", true),
        (
            "[amqp]\nurl = \"amqp://u@h/%2f\"\nrpc_encryption_key = \"\"\n",
            false,
        ),
        ("[mysql]\npassword_file = \"\"\n", false),
    ];
    for (text, secret) in cases {
        let dir = Dir::new();
        let text = format!("guest_id = \"g\"\n{text}");
        let path = dir.file("ga.toml", &text, 0o644);
        match Config::load(&path) {
            Err(ConfigError::InsecurePermissions { path: p, mode }) if secret => {
                assert_eq!((p, mode), (path.clone(), 0o644));
            }
            Ok(_) if !secret => {}
            other => panic!("{text}: {:?}", other.err()),
        }
        if secret {
            let e = err(Config::load(&path)).to_string();
            assert!(e.contains(&format!("chmod 0640 {}", path.display())), "{e}");
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).expect("chmod");
        assert!(Config::load(&path).is_ok(), "{text}");
    }
}

#[test]
fn the_password_file_is_checked_too() {
    let dir = Dir::new();
    let pw = dir.file("db.pw", "db-pw-sekrit\n", 0o644);
    let text = format!(
        "guest_id = \"g\"\n[mysql]\npassword_file = \"{}\"\n",
        pw.display()
    );
    let e = err(dir.load(&text));
    assert!(
        matches!(&e, ConfigError::InsecurePermissions { path, .. } if *path == pw),
        "{e}"
    );
    fs::remove_file(&pw).expect("rm");
    let e = err(dir.load(&text));
    assert!(
        matches!(&e, ConfigError::Read { path, .. } if *path == pw),
        "{e}"
    );
}

#[test]
fn render_redacted_round_trips_without_secrets() {
    let dir = Dir::new();
    let text = "guest_id = \"round.trip_1\"\n[amqp]\nurl = \"amqp://agent@mq:5673/v%2fh?frame_max=8192\"\n\
                exchange = \"ex\"\nallow_plaintext = true\nreport_interval = 12\nprefetch = 3\n\
                [mysql]\nsocket = \"/s\"\nuser = \"u \\\"q\\\"\"\nignore_users = [\"a\", \"b'c\"]\n\
                ignore_dbs = [\"d\"]\n[state]\ndir = \"/st\"\n[log]\nlevel = \"warn\"\n\
                [limits]\nmax_message_bytes = 4096\nmax_items = 9\n";
    let cfg = dir.load(text).expect("load");
    let rendered = cfg.render_redacted();
    let again = dir.load(&rendered).expect("rendered config loads");
    assert_eq!(again.render_redacted(), rendered);
    assert_eq!(again.amqp.url.expose_secret(), cfg.amqp.url.expose_secret());
    assert_eq!(again.mysql.user, "u \"q\"");
    assert_eq!(again.mysql.ignore_users, cfg.mysql.ignore_users);
    assert_eq!(format!("{again:?}"), format!("{cfg:?}"));
    assert!(!rendered.contains(REDACTED), "{rendered}");
}

#[test]
fn every_error_message_is_free_of_secrets() {
    // Secrets next to every kind of mistake; `err` checks Display and Debug.
    let head = "guest_id = \"g\"\n[amqp]\nurl = \"amqp://u:hunter2@h/%2f\"\n\
                rpc_encryption_key = \"rpc-key-sekrit\"\n";
    for tail in [
        "prefetch = \"rpc-key-sekrit\"\n",
        "bogus = \"hunter2\"\n",
        "[mysql]\nuser = \"hunter2\nx\"\n",
        "[mysql]\nignore_users = \"hunter2\"\n",
        "url = \"amqp://u:hunter2@h/%2f\"\n",
    ] {
        err(Dir::new().load(&format!("{head}{tail}")));
    }
    let dir = Dir::new();
    let path = dir.file("ga.toml", head, 0o604);
    err(Config::load(&path));
}

#[test]
fn defaults_of_the_parts_match_the_constants() {
    let amqp = AmqpConfig::default();
    assert_eq!(amqp.url.expose_secret(), DEFAULT_AMQP_URL);
    assert_eq!(amqp.prefetch, DEFAULT_PREFETCH);
    let shown = format!("{amqp:?}");
    assert!(
        shown.contains("amqp://guest:<redacted>@127.0.0.1:5672/%2f"),
        "{shown}"
    );
    assert_eq!(
        MysqlConfig::default().socket,
        Path::new(DEFAULT_MYSQL_SOCKET)
    );
    assert_eq!(LogConfig::default().level, DEFAULT_LOG_LEVEL);
}

#[test]
fn multi_host_urls_and_the_oslo_table() {
    let dir = Dir::new();
    let cfg = dir
        .load(
            "guest_id = \"g\"\n[amqp]\nurl = \"amqp://a:hunter2@h1:5672,b:hunter2@h2:5673/vh\"\n\
             [oslo_messaging_rabbit]\nrabbit_quorum_queue = true\nrabbit_quorum_delivery_limit = 3\n",
        )
        .expect("load");
    let ends: Vec<&str> = cfg
        .amqp
        .brokers
        .iter()
        .map(|b| b.endpoint.as_str())
        .collect();
    assert_eq!(ends, ["h1:5672", "h2:5673"]);
    assert_eq!(
        cfg.amqp.brokers[1].url.expose_secret(),
        "amqp://b:hunter2@h2:5673/vh"
    );
    assert!(cfg.amqp.rabbit.quorum_queue);
    assert_eq!(cfg.amqp.rabbit.quorum_delivery_limit, 3);
    no_secrets(&cfg.render_redacted());
    no_secrets(&format!("{cfg:?}"));
    assert!(cfg.render_redacted().contains("rabbit_quorum_queue = true"));

    // oslo's form in TOML too, with ssl in the query.
    let cfg = dir
        .load(
            "guest_id = \"g\"\n[amqp]\nurl = \"rabbit://u:hunter2@h1,u:hunter2@h2:5671/?ssl=1\"\n",
        )
        .expect("load");
    assert_eq!(
        cfg.amqp.brokers[0].url.expose_secret(),
        "amqps://u:hunter2@h1:5672/%2F"
    );
    assert_eq!(cfg.amqp.brokers[1].endpoint, "h2:5671");

    for (text, key) in [
        (
            "guest_id = \"g\"\n[oslo_messaging_rabbit]\nrabbit_quorum_queu = true\n",
            "oslo_messaging_rabbit.rabbit_quorum_queu",
        ),
        (
            "guest_id = \"g\"\n[oslo_messaging_rabbit]\nssl_ca_file = \"/x\"\n",
            "oslo_messaging_rabbit.ssl_ca_file",
        ),
        (
            "guest_id = \"g\"\n[amqp]\nurl = \"amqp://h1,,h2/vh\"\n",
            "amqp.url",
        ),
    ] {
        let e = err(dir.load(text));
        assert!(e.to_string().contains(key), "{e}");
    }
}
