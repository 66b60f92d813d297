//! Tests of [`Config::load_trove`] on Trove-shaped files.

use super::Transport;
use crate::config::{Config, ConfigError};
use secrecy::ExposeSecret;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// What Trove's taskmanager injects (`Instance.get_injected_files`).
const GUEST_INFO: &str = "[DEFAULT]\nguest_id=7f3c2a4e-1b2d-4c5e-8f90-123456789abc\n\
    datastore_manager=mariadb\ndatastore_version=10.11\n\
    tenant_id=9b1deb4d3b7d4bad9bdd2b0d7b3dcb6d\ndatastore_registry_ext=\n\
    replication_strategy=trove.guestagent.strategies.replication.mariadb_gtid.MariaDBGTIDReplication\n\
    ssl_mode=None\nnetwork_isolation=True\ninstance_rpc_encr_key=rpc-key-sekrit\n";

/// What devstack's plugin writes as the guest config (`configure_trove`).
const GUESTAGENT_CONF: &str = "[DEFAULT]\nlog_dir = /var/log/trove/\n\
    log_file = trove-guestagent.log\nrpc_backend = rabbit\n\
    transport_url = rabbit://stackrabbit:hunter2@10.1.0.1:5672/\n\
    control_exchange = trove\nignore_users = os_admin\n\
    command_process_timeout = 60\n\n\
    [service_credentials]\nusername = trove\nuser_domain_name = Default\n\
    project_domain_name = Default\npassword = svc-sekrit\nproject_name = service\n\
    region_name = RegionOne\nauth_url = http://10.1.0.1/identity\n\n\
    [mariadb]\n# tcp_ports = 3306\nignore_dbs = lost+found, tmp\n";

const SECRETS: [&str; 3] = ["hunter2", "rpc-key-sekrit", "svc-sekrit"];

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().expect("temp dir"))
    }

    fn path(&self) -> PathBuf {
        self.0.path().to_owned()
    }

    fn file(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = self.0.path().join(name);
        fs::write(&path, text).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    /// Trove's two files in this directory, and `trove-guestagent.conf` + `extra`.
    fn trove(&self, extra: &str) -> PathBuf {
        self.file("guest_info.conf", GUEST_INFO, 0o640);
        self.file(
            "trove-guestagent.conf",
            &format!("{GUESTAGENT_CONF}{extra}"),
            0o640,
        );
        self.path()
    }
}

fn load(paths: &[PathBuf]) -> Config {
    match Config::load_trove(paths, None) {
        Ok(cfg) => cfg,
        Err(e) => panic!("{e}"),
    }
}

fn err(result: Result<Config, ConfigError>) -> ConfigError {
    let e = result.expect_err("an error");
    for secret in SECRETS {
        assert!(!e.to_string().contains(secret), "{e}");
        assert!(!format!("{e:?}").contains(secret), "{e:?}");
    }
    e
}

fn url(cfg: &Config) -> &str {
    cfg.amqp.url.expose_secret()
}

#[test]
fn a_trove_guest_directory_is_read() {
    let dir = Dir::new();
    let cfg = load(&[dir.trove("")]);
    assert_eq!(cfg.guest_id, "7f3c2a4e-1b2d-4c5e-8f90-123456789abc");
    assert_eq!(url(&cfg), "amqp://stackrabbit:hunter2@10.1.0.1:5672/%2F");
    assert_eq!(cfg.amqp.exchange, "trove");
    assert_eq!(cfg.amqp.conductor_topic, "trove-conductor");
    let key = cfg
        .amqp
        .rpc_encryption_key
        .as_ref()
        .map(|k| k.expose_secret());
    assert_eq!(key, Some("rpc-key-sekrit"));
    assert_eq!(cfg.mysql.ignore_users, ["os_admin"]); // [DEFAULT], deprecated place
    assert_eq!(cfg.mysql.ignore_dbs, ["lost+found", "tmp"]); // [mariadb]
    assert_eq!(cfg.amqp.report_interval.as_secs(), 30);
    // The result is the same given the two files instead of the directory.
    let files = [
        dir.path().join("guest_info.conf"),
        dir.path().join("trove-guestagent.conf"),
    ];
    assert_eq!(load(&files).render_redacted(), cfg.render_redacted());
    let shown = format!("{cfg:?}{}", cfg.render_redacted());
    for secret in SECRETS {
        assert!(!shown.contains(secret), "{shown}");
    }
    // lapin reads the URL as oslo.messaging meant it.
    let uri = lapin::uri::AMQPUri::from_str(url(&cfg)).unwrap_or_default();
    assert_eq!(uri.authority.userinfo.password, "hunter2");
    assert_eq!(
        (uri.authority.host.as_str(), uri.vhost.as_str()),
        ("10.1.0.1", "/")
    );
}

#[test]
fn oslo_defaults_apply_when_options_are_absent() {
    let dir = Dir::new();
    let info = dir.file("guest_info.conf", "[DEFAULT]\nguest_id = abc\n", 0o644);
    let cfg = load(&[info]);
    assert_eq!(cfg.amqp.exchange, "openstack");
    assert_eq!(url(&cfg), crate::config::DEFAULT_AMQP_URL);
    assert!(cfg.amqp.rpc_encryption_key.is_none());
    assert!(cfg.mysql.ignore_users.is_empty());
}

#[test]
fn later_files_and_the_overlay_override() {
    let dir = Dir::new();
    let trove = dir.trove(
        "\n[DEFAULT]\ncontrol_exchange = second\nreport_interval = 10\nconductor_queue = cq\n",
    );
    let cfg = load(std::slice::from_ref(&trove));
    assert_eq!(cfg.amqp.exchange, "second");
    assert_eq!(cfg.amqp.report_interval.as_secs(), 10);
    assert_eq!(cfg.amqp.conductor_topic, "cq");
    let later = dir.file("z.conf", "[DEFAULT]\ncontrol_exchange = zed\n", 0o644);
    assert_eq!(load(std::slice::from_ref(&trove)).amqp.exchange, "zed"); // z.conf sorts last
    fs::remove_file(&later).expect("rm");
    let other = Dir::new();
    let later = other.file("later.conf", "[DEFAULT]\nguest_id = other-id\n", 0o644);
    assert_eq!(load(&[trove.clone(), later]).guest_id, "other-id");

    let overlay = other.file(
        "ga.toml",
        "[amqp]\nexchange = \"trove\"\nprefetch = 4\n[mysql]\nignore_dbs = []\n",
        0o644,
    );
    let cfg = Config::load_trove(&[trove], Some(&overlay)).expect("overlay");
    assert_eq!(cfg.amqp.exchange, "trove");
    assert_eq!(cfg.amqp.prefetch, 4);
    assert!(cfg.mysql.ignore_dbs.is_empty());
    assert_eq!(cfg.guest_id, "7f3c2a4e-1b2d-4c5e-8f90-123456789abc");
}

#[test]
fn the_datastore_section_wins_over_default() {
    for (manager, users) in [("mysql", "m"), ("MariaDB", "ma"), ("", "m")] {
        let dir = Dir::new();
        let line = match manager {
            "" => String::new(),
            m => format!("datastore_manager = {m}\n"),
        };
        let text = format!(
            "[DEFAULT]\nguest_id = g\n{line}ignore_users = d\n\
             [mysql]\nignore_users = m\n[MariaDB]\nignore_users = ma\n"
        );
        let cfg = load(&[dir.file("a.conf", &text, 0o644)]);
        assert_eq!(cfg.mysql.ignore_users, [users], "{manager}");
    }
}

#[test]
fn transport_urls_map_like_oslo_messaging() {
    for (transport, expected) in [
        ("rabbit://u:p@h:5672/", "amqp://u:p@h:5672/%2F"),
        ("rabbit://u:p@h:5672//", "amqp://u:p@h:5672/%2F"),
        ("rabbit://u:p@h:5672", "amqp://u:p@h:5672/%2F"),
        ("rabbit://u:p@h/trove", "amqp://u:p@h:5672/trove"),
        (
            "rabbit://u:p@h:1234/a%2Fb?heartbeat=5",
            "amqp://u:p@h:1234/a%2Fb",
        ),
        (
            "rabbit://u:p%40ss%3Aw@h1:5672,u2:p2@h2:5673/v",
            "amqp://u:p%40ss%3Aw@h1:5672,u2:p2@h2:5673/v",
        ),
        ("rabbit://u:p w@h/", "amqp://u:p%20w@h:5672/%2F"),
        (
            "rabbit://h1,h2/",
            "amqp://guest:guest@h1:5672,guest:guest@h2:5672/%2F",
        ),
        ("rabbit://", "amqp://guest:guest@localhost:5672/%2F"),
        ("rabbit:///vh", "amqp://guest:guest@localhost:5672/vh"),
        ("kombu+rabbit://u:p@h/", "amqp://u:p@h:5672/%2F"),
        ("RABBIT://u:p@h/", "amqp://u:p@h:5672/%2F"),
    ] {
        let converted = Transport::parse(transport).map(|t| t.to_amqp("amqp").to_string());
        assert_eq!(converted.as_deref(), Ok(expected), "{transport}");
    }
    for bad in ["amqp://u:p@h/", "kafka://h/", "nothing"] {
        assert!(Transport::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn ssl_and_old_rabbit_options() {
    let dir = Dir::new();
    let text = "[DEFAULT]\nguest_id = g\n[oslo_messaging_rabbit]\nssl = True\n\
                rabbit_host = mq\nrabbit_userid = agent\nrabbit_password = hunter2\n\
                rabbit_virtual_host = trove\n";
    let cfg = load(&[dir.file("a.conf", text, 0o600)]);
    assert_eq!(url(&cfg), "amqps://agent:hunter2@mq:5672/trove");
    let text = "[DEFAULT]\nguest_id = g\nrabbit_hosts = h1:5673, h2:5672\nrabbit_use_ssl = no\n";
    let cfg = load(&[dir.file("b.conf", text, 0o600)]);
    assert_eq!(
        url(&cfg),
        "amqp://guest:guest@h1:5673,guest:guest@h2:5672/%2F"
    );
}

#[test]
fn every_host_of_the_transport_url_is_a_broker() {
    let dir = Dir::new();
    // What kolla-ansible writes: every node, each with its credentials.
    let text = "[DEFAULT]\nguest_id = g\n\
                transport_url = rabbit://openstack:pw1@10.0.0.11:5672,openstack:pw2@10.0.0.12:5672,openstack:pw3@10.0.0.13:5672//\n";
    let cfg = load(&[dir.file("a.conf", text, 0o600)]);
    let endpoints: Vec<&str> = cfg
        .amqp
        .brokers
        .iter()
        .map(|b| b.endpoint.as_str())
        .collect();
    assert_eq!(
        endpoints,
        ["10.0.0.11:5672", "10.0.0.12:5672", "10.0.0.13:5672"]
    );
    let urls: Vec<&str> = cfg
        .amqp
        .brokers
        .iter()
        .map(|b| b.url.expose_secret())
        .collect();
    assert_eq!(urls[1], "amqp://openstack:pw2@10.0.0.12:5672/%2F");
    for u in &urls {
        let lapin = lapin::uri::AMQPUri::from_str(u).unwrap();
        assert_eq!(lapin.vhost, "/");
    }
    assert!(!format!("{cfg:?}").contains("pw2"));
    assert!(!cfg.render_redacted().contains("pw2"));
}

#[test]
fn oslo_rabbit_options_from_the_section_and_the_query() {
    let dir = Dir::new();
    let text = "[DEFAULT]\nguest_id = g\n\
                transport_url = rabbit://u:p@mq:5672/?rabbit_qos_prefetch_count=7\n\
                [oslo_messaging_rabbit]\nrabbit_quorum_queue = true\n\
                rabbit_quorum_delivery_limit = 5\nrabbit_qos_prefetch_count = 1\n\
                rabbit_retry_interval = 2\nheartbeat_timeout_threshold = 20\n\
                kombu_failover_strategy = shuffle\nsome_unregistered_option = x\n";
    let cfg = load(&[dir.file("a.conf", text, 0o600)]);
    let r = &cfg.amqp.rabbit;
    assert!(r.quorum_queue && r.durable());
    assert_eq!(r.quorum_delivery_limit, 5);
    assert_eq!(r.qos_prefetch_count, 7, "the query wins");
    assert_eq!(cfg.amqp.prefetch, 7, "oslo's prefetch count is the agent's");
    assert_eq!(r.retry_interval, std::time::Duration::from_secs(2));
    assert_eq!(r.heartbeat_timeout_threshold, 20);
    assert_eq!(r.failover, crate::config::Failover::Shuffle);
    // A query parameter oslo does not know is refused, as oslo refuses it.
    let text = "[DEFAULT]\nguest_id = g\ntransport_url = rabbit://u:p@mq/?no_such_option=1\n";
    let e = Config::load_trove(&[dir.file("b.conf", text, 0o600)], None).unwrap_err();
    assert!(e.to_string().contains("no_such_option"), "{e}");
    // A combination oslo or RabbitMQ refuses is refused at start, by name.
    let text = "[DEFAULT]\nguest_id = g\n[oslo_messaging_rabbit]\n\
                rabbit_quorum_queue = true\namqp_auto_delete = true\n";
    let e = Config::load_trove(&[dir.file("c.conf", text, 0o600)], None).unwrap_err();
    let e = e.to_string();
    assert!(
        e.contains("rabbit_quorum_queue") && e.contains("amqp_auto_delete"),
        "{e}"
    );
}

#[test]
fn tls_from_oslo_options_and_the_url_query() {
    let dir = Dir::new();
    let key = dir.file("client.key", "-----BEGIN PRIVATE KEY-----\n", 0o600);
    let text = format!(
        "[DEFAULT]\nguest_id = g\ntransport_url = rabbit://u:p@mq:5671/?ssl=1\n\
         [oslo_messaging_rabbit]\nssl_ca_file = /etc/ca.pem\nssl_cert_file = /etc/c.pem\n\
         ssl_key_file = {}\nssl_version = TLSv1_2\n",
        key.display()
    );
    let cfg = load(&[dir.file("a.conf", &text, 0o600)]);
    assert_eq!(url(&cfg), "amqps://u:p@mq:5671/%2F");
    assert_eq!(
        cfg.amqp.tls.ca_file.as_deref(),
        Some(Path::new("/etc/ca.pem"))
    );
    assert_eq!(
        cfg.amqp.tls.cert_file.as_deref(),
        Some(Path::new("/etc/c.pem"))
    );
    assert_eq!(cfg.amqp.tls.key_file.as_deref(), Some(key.as_path()));
    // The query wins over the section, as in oslo's ConfigOptsProxy.
    let text = "[DEFAULT]\nguest_id = g\n\
                transport_url = rabbit://u:p@mq:5671/?ssl=true&ssl_ca_file=%2Fq%2Fca.pem\n\
                [oslo_messaging_rabbit]\nssl = false\nssl_ca_file = /etc/ca.pem\n";
    let cfg = load(&[dir.file("b.conf", text, 0o600)]);
    assert!(url(&cfg).starts_with("amqps://"));
    assert_eq!(
        cfg.amqp.tls.ca_file.as_deref(),
        Some(Path::new("/q/ca.pem"))
    );
}

#[test]
fn tls_files_without_ssl_are_left_unread_as_oslo_does() {
    let dir = Dir::new();
    let text = "[DEFAULT]\nguest_id = g\ntransport_url = rabbit://u:p@mq/\n\
                [oslo_messaging_rabbit]\nssl_ca_file = /etc/ca.pem\nssl_version = TLSv1\n";
    let cfg = load(&[dir.file("a.conf", text, 0o600)]);
    assert_eq!(url(&cfg), "amqp://u:p@mq:5672/%2F");
    assert_eq!(cfg.amqp.tls, crate::config::TlsConfig::default());
}

#[test]
fn tls_settings_that_cannot_be_honoured_are_refused() {
    let dir = Dir::new();
    for (text, key, words) in [
        (
            "[DEFAULT]\nguest_id = g\n[oslo_messaging_rabbit]\nssl = True\nssl_version = TLSv1\n",
            "[oslo_messaging_rabbit] ssl_version",
            "TLS 1.2",
        ),
        (
            "[DEFAULT]\nguest_id = g\n[oslo_messaging_rabbit]\nssl = True\nssl_version = nope\n",
            "[oslo_messaging_rabbit] ssl_version",
            "TLSv1_2",
        ),
        (
            "[DEFAULT]\nguest_id = g\ntransport_url = rabbit://mq/\n\
             [oslo_messaging_rabbit]\nssl = True\nssl_cert_file = /c.pem\n",
            "[oslo_messaging_rabbit] ssl_cert_file",
            "key file",
        ),
    ] {
        let e = Config::load_trove(&[dir.file("x.conf", text, 0o600)], None).unwrap_err();
        let shown = e.to_string();
        assert!(shown.contains(key) && shown.contains(words), "{shown}");
    }
}

#[test]
fn files_holding_secrets_must_not_be_world_readable() {
    for (name, text) in [
        ("guest_info.conf", GUEST_INFO.to_owned()),
        (
            "t.conf",
            "[DEFAULT]\nguest_id = g\ntransport_url = rabbit://u:hunter2@h/\n".into(),
        ),
        (
            "t.conf",
            format!("{GUEST_INFO}[service_credentials]\npassword = svc-sekrit\n"),
        ),
    ] {
        let dir = Dir::new();
        let path = dir.file(name, &text, 0o644);
        let e = err(Config::load_trove(&[dir.path()], None));
        assert!(
            matches!(&e, ConfigError::InsecurePermissions { path: p, mode: 0o644 } if *p == path),
            "{e}"
        );
        assert!(e.to_string().contains("chmod 0640"), "{e}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).expect("chmod");
        load(&[dir.path()]);
    }
    // Without a secret, a world-readable file is fine.
    let dir = Dir::new();
    let text = "[DEFAULT]\nguest_id = g\ntransport_url = rabbit://u@h/\ninstance_rpc_encr_key =\n";
    load(&[dir.file("t.conf", text, 0o644)]);
}

#[test]
fn errors_name_the_file_and_the_option() {
    let dir = Dir::new();
    let e = err(Config::load_trove(&[dir.path()], None));
    assert!(
        matches!(&e, ConfigError::Read { path, .. } if *path == dir.path()),
        "{e}"
    );
    let e = err(Config::load_trove(&[dir.path().join("missing.conf")], None));
    assert!(e.to_string().contains("missing.conf"), "{e}");

    let cases = [
        (
            "[DEFAULT]\ndatastore_manager = mysql\n",
            "[DEFAULT] guest_id",
        ),
        (
            "[DEFAULT]\nguest_id = g\nreport_interval = often\n",
            "[DEFAULT] report_interval",
        ),
        (
            "[DEFAULT]\nguest_id = g\nreport_interval = 0\n",
            "[DEFAULT] report_interval",
        ),
        ("[DEFAULT]\nguest_id = a/b\n", "[DEFAULT] guest_id"),
        (
            "[DEFAULT]\nguest_id = g\ntransport_url = amqp://u:hunter2@h/\n",
            "[DEFAULT] transport_url",
        ),
        (
            "[DEFAULT]\nguest_id = g\ntransport_url = rabbit://u:hunter2@[::1]:5672/\n",
            "[DEFAULT] transport_url",
        ),
        (
            "[DEFAULT]\nguest_id = g\ntransport_url = rabbit://u:hunter2@h:x/\n",
            "[DEFAULT] transport_url",
        ),
        (
            "[DEFAULT]\nguest_id = g\n[oslo_messaging_rabbit]\nssl = maybe\n",
            "[oslo_messaging_rabbit] ssl",
        ),
        (
            "[DEFAULT]\nguest_id = g\ncontrol_exchange =\n",
            "[DEFAULT] control_exchange",
        ),
    ];
    for (text, key) in cases {
        let dir = Dir::new();
        let path = dir.file("t.conf", text, 0o600);
        let e = err(Config::load_trove(&[dir.path()], None));
        let msg = e.to_string();
        assert!(msg.contains(&format!("`{key}`")), "{text}: {msg}");
        let missing = matches!(e, ConfigError::Missing { .. });
        let named = if missing { dir.path() } else { path };
        assert!(msg.contains(&named.display().to_string()), "{msg}");
    }
    let dir = Dir::new();
    dir.file("t.conf", "[DEFAULT]\nguest_id = g\ntransport_url\n", 0o600);
    let e = err(Config::load_trove(&[dir.path()], None));
    assert!(e.to_string().contains("line 3"), "{e}");
}

#[test]
fn hidden_and_other_files_in_the_directory_are_skipped() {
    let dir = Dir::new();
    dir.trove("");
    dir.file(".hidden.conf", "not ini at all", 0o644);
    dir.file("README", "not ini at all", 0o644);
    fs::create_dir(dir.path().join("sub.conf")).expect("mkdir");
    let cfg = load(&[dir.path()]);
    assert_eq!(cfg.amqp.exchange, "trove");
    assert!(Path::new(&dir.path().join("guest_info.conf")).exists());
}

#[test]
fn a_trove_guest_waits_for_prepare_and_reads_its_datastore_options() {
    let dir = Dir::new();
    let trove = dir.trove(
        "\n[DEFAULT]\nroot_grant = SELECT, process\nroot_grant_option = False\n\
         [mariadb]\nmount_point = /srv/db\n",
    );
    let cfg = load(std::slice::from_ref(&trove));
    assert!(cfg.trove.await_prepare, "Trove's files: prepare is awaited");
    assert_eq!(
        cfg.trove.prepare_marker_dir,
        Path::new("/opt/trove-guestagent")
    );
    assert_eq!(cfg.mysql.mount_point, Path::new("/srv/db"));
    let grants: Vec<&str> = cfg.mysql.root_grant.iter().map(|p| p.as_str()).collect();
    assert_eq!(grants, ["SELECT", "PROCESS"]);
    assert!(!cfg.mysql.root_grant_option);
    // The datastore's section wins over [DEFAULT], as for ignore_users.
    let other = Dir::new();
    let trove2 = other.trove("\n[DEFAULT]\nroot_grant = SELECT\n[mariadb]\nroot_grant = ALL\n");
    let grants: Vec<String> = load(&[trove2])
        .mysql
        .root_grant
        .iter()
        .map(|p| p.as_str().to_owned())
        .collect();
    assert_eq!(grants, ["ALL"]);

    let overlay = dir.file(
        "ga.toml",
        "[trove]\nawait_prepare = false\nprepare_marker_dir = \"/tmp/m\"\n",
        0o644,
    );
    let cfg = Config::load_trove(&[trove], Some(&overlay)).expect("overlay");
    assert!(!cfg.trove.await_prepare);
    assert_eq!(cfg.trove.prepare_marker_dir, Path::new("/tmp/m"));
}

#[test]
fn root_grants_that_are_no_privileges_are_refused() {
    for bad in ["ALL; DROP", "SELECT ON *.*", "ALL`", "\"\""] {
        let dir = Dir::new();
        let trove = dir.trove(&format!("\n[DEFAULT]\nroot_grant = {bad}\n"));
        let e = err(Config::load_trove(&[trove], None));
        assert!(e.to_string().contains("root_grant"), "{bad}: {e}");
    }
}
