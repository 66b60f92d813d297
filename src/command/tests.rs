//! Parsing tests: every refusal happens before anything reaches mysqld.

use serde_json::{Map, Value, json};

use super::read::list_databases::ListDatabases;
use super::read::list_users::ListUsers;
use super::write::create_database::CreateDatabase;
use super::write::create_user::CreateUser;
use super::write::enable_root::EnableRoot;
use super::write::update_attributes::UpdateAttributes;
use super::*;
use crate::model::{Protected, Resource, WireClass};

fn protected() -> Protected {
    Protected::new("os_admin", &[], &[])
}

fn cx(protected: &Protected) -> ParseCx<'_> {
    ParseCx {
        protected,
        limits: LIMITS,
        allow_root_enable: true,
    }
}

const LIMITS: Limits = Limits { max_items: 100 };

fn parse(method: &str, args: Value) -> Result<Command, ParseError> {
    let Value::Object(map) = args else {
        panic!("args must be an object")
    };
    Command::parse(method, map, &cx(&protected()))
}

fn user(name: &str, host: Value, pw: &str, dbs: Value) -> Value {
    json!({"_name": name, "_host": host, "_password": pw, "_databases": dbs, "_is_root": false})
}

#[test]
fn create_user_parses_databases_in_both_forms() {
    let cmd = parse(
        "create_user",
        json!({"users": [user("app", json!("%"), "pw", json!([{"_name": "db1", "_character_set": null, "_collate": null}, "db2"]))]}),
    )
    .unwrap();
    let Command::Write(Write::CreateUser(CreateUser(users))) = cmd else {
        panic!()
    };
    assert_eq!(users[0].account.to_string(), "app@%");
    let dbs: Vec<&str> = users[0].databases.iter().map(|d| d.as_str()).collect();
    assert_eq!(dbs, ["db1", "db2"]);
}

#[test]
fn one_bad_user_refuses_the_whole_list() {
    for bad in [
        user("ok2", json!("%"), "", json!([])),
        user("a'b", json!("%"), "pw", json!([])),
        user("ok2", json!("localhost"), "pw", json!([])),
        user("root", json!("%"), "pw", json!([])),
        user("ok2", json!("%"), "pw", json!(["mysql"])),
        user("ok2", json!("%"), "pw", json!(["a;b"])),
        user("ok", json!("%"), "pw", json!([])), // duplicate of the first
    ] {
        let r = parse(
            "create_user",
            json!({"users": [user("ok", Value::Null, "pw", json!([])), bad.clone()]}),
        );
        assert!(r.is_err(), "{bad}");
    }
}

#[test]
fn limits_and_types() {
    let many: Vec<Value> = (0..101)
        .map(|i| user(&format!("u{i}"), json!("%"), "pw", json!([])))
        .collect();
    assert!(matches!(
        parse("create_user", json!({"users": many})),
        Err(ParseError::TooMany { .. })
    ));
    assert!(matches!(
        parse("create_user", json!({"users": []})),
        Err(ParseError::Empty(_))
    ));
    assert!(matches!(
        parse("create_user", json!({})),
        Err(ParseError::Missing("users"))
    ));
    assert!(matches!(
        parse("create_user", json!({"users": "x"})),
        Err(ParseError::Type { .. })
    ));
    assert!(matches!(
        parse("list_users", json!({"limit": 0})),
        Err(ParseError::Type { .. })
    ));
    assert!(matches!(
        parse("list_users", json!({"limit": "5"})),
        Err(ParseError::Type { .. })
    ));
    assert!(matches!(
        parse("no_such", json!({})),
        Err(ParseError::UnknownMethod(_))
    ));
}

#[test]
fn paging_arguments() {
    let Command::Read(Read::ListUsers(ListUsers(p))) = parse(
        "list_users",
        json!({"limit": 2, "marker": "a@%", "include_marker": true}),
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(
        (p.limit, p.marker.as_deref(), p.include_marker),
        (Some(2), Some("a@%"), true)
    );
    let Command::Read(Read::ListDatabases(ListDatabases(p))) =
        parse("list_databases", json!({"limit": null, "marker": null})).unwrap()
    else {
        panic!()
    };
    assert_eq!((p.limit, p.marker, p.include_marker), (None, None, false));
}

#[test]
fn system_names_refused_everywhere() {
    assert!(matches!(
        parse("get_user", json!({"username": "root", "hostname": "%"})),
        Err(ParseError::SystemUser(_))
    ));
    assert!(matches!(
        parse(
            "get_user",
            json!({"username": "mariadb.sys", "hostname": "%"})
        ),
        Err(ParseError::SystemUser(_))
    ));
    assert!(
        parse(
            "get_user",
            json!({"username": "app", "hostname": "localhost"})
        )
        .is_err()
    );
    assert!(matches!(
        parse(
            "delete_user",
            json!({"user": {"_name": "os_admin", "_host": "%"}})
        ),
        Err(ParseError::SystemUser(_))
    ));
    assert!(matches!(
        parse("delete_database", json!({"database": {"_name": "mysql"}})),
        Err(ParseError::SystemDatabase(_))
    ));
    assert!(matches!(
        parse("create_database", json!({"databases": [{"_name": "sys"}]})),
        Err(ParseError::SystemDatabase(_))
    ));
}

#[test]
fn databases() {
    let Command::Write(Write::CreateDatabase(CreateDatabase(d))) = parse(
        "create_database",
        json!({"databases": [{"_name": "a", "_character_set": "utf8mb4", "_collate": null}, {"_name": "b"}]}),
    )
    .unwrap() else { panic!() };
    assert_eq!(d[0].charset.as_ref().map(|c| c.as_str()), Some("utf8mb4"));
    assert!(d[1].charset.is_none() && d[1].collation.is_none());
    assert!(
        parse(
            "create_database",
            json!({"databases": [{"_name": "a", "_character_set": "x; DROP"}]})
        )
        .is_err()
    );
    assert!(parse("delete_database", json!({"database": {"_name": "a`b"}})).is_err());
}

#[test]
fn parse_errors_never_echo_passwords() {
    let e = parse(
        "create_user",
        json!({"users": [user("a'b", json!("%"), "topsecret-pw", json!([]))]}),
    )
    .unwrap_err();
    assert!(!e.to_string().contains("topsecret"));
    let e = parse(
        "create_user",
        json!({"users": [user("ok", json!("%"), "topsecret\0pw", json!([]))]}),
    )
    .unwrap_err();
    assert!(!e.to_string().contains("topsecret"));
}

#[test]
fn update_attributes_refuses_protected_targets() {
    let base = |attrs: Value| json!({"username": "app", "hostname": "%", "user_attrs": attrs});
    for bad in [
        json!({"name": "root"}),
        json!({"name": "os_admin"}),
        json!({"name": "mariadb.sys"}),
        json!({"host": "localhost"}),
        json!({"host": "127.0.0.1"}),
        json!({"name": "a'b"}),
        json!({"password": ""}),
    ] {
        assert!(
            parse("update_attributes", base(bad.clone())).is_err(),
            "{bad}"
        );
    }
    let Command::Write(Write::UpdateAttributes(UpdateAttributes {
        account: a,
        change: c,
    })) = parse(
        "update_attributes",
        base(json!({"name": "app2", "password": "pw' ACCOUNT LOCK -- "})),
    )
    .unwrap()
    else {
        panic!()
    };
    assert_eq!(a.to_string(), "app@%");
    assert_eq!(c.rename.unwrap().to_string(), "app2@%");
    assert!(c.password.is_some());
}

#[test]
fn change_passwords_checks_every_user_first() {
    let ok = json!({"name": "a", "host": "%", "password": "pw"});
    assert!(parse("change_passwords", json!({"users": [ok.clone()]})).is_ok());
    for bad in [
        json!({"name": "b", "host": "%", "password": ""}),
        json!({"name": "root", "host": "%", "password": "pw"}),
        json!({"name": "b", "host": "localhost", "password": "pw"}),
        ok.clone(),
    ] {
        assert!(
            parse(
                "change_passwords",
                json!({"users": [ok.clone(), bad.clone()]})
            )
            .is_err(),
            "{bad}"
        );
    }
}

#[test]
fn grants_check_every_database() {
    let args = |dbs: Value| json!({"username": "app", "hostname": "%", "databases": dbs});
    assert!(parse("grant_access", args(json!(["a", "b"]))).is_ok());
    for bad in [
        json!(["a", "mysql"]),
        json!(["a", "information_schema"]),
        json!(["a", "sys"]),
        json!(["a", "x`y"]),
        json!([]),
    ] {
        assert!(parse("grant_access", args(bad.clone())).is_err(), "{bad}");
    }
    assert!(
        parse(
            "revoke_access",
            json!({"username": "app", "hostname": "%", "database": "mysql"})
        )
        .is_err()
    );
    assert!(
        parse(
            "revoke_access",
            json!({"username": "app", "hostname": "%", "database": "a_b"})
        )
        .is_ok()
    );
}

#[test]
fn root_methods() {
    assert!(matches!(
        parse("enable_root", json!({})),
        Ok(Command::Write(Write::EnableRoot(EnableRoot(None))))
    ));
    assert!(matches!(
        parse("enable_root_with_password", json!({"root_password": null})),
        Ok(Command::Write(Write::EnableRoot(EnableRoot(None))))
    ));
    assert!(matches!(
        parse("enable_root_with_password", json!({"root_password": "pw"})),
        Ok(Command::Write(Write::EnableRoot(EnableRoot(Some(_)))))
    ));
    assert!(parse("enable_root_with_password", json!({"root_password": ""})).is_err());
    assert!(matches!(
        parse("get_root_password", json!({})),
        Ok(Command::Read(Read::GetRootPassword(_)))
    ));
}

#[test]
fn every_listed_method_parses_or_names_its_argument() {
    for m in method_names() {
        match parse(m, json!({})) {
            Ok(_) | Err(ParseError::Missing(_)) => {}
            Err(e) => panic!("{m}: {e}"),
        }
    }
}

#[test]
fn root_enable_switched_off_is_not_supported() {
    let p = protected();
    let off = ParseCx {
        allow_root_enable: false,
        ..cx(&p)
    };
    for m in ["enable_root", "enable_root_with_password"] {
        let e = Command::parse(m, Map::new(), &off).unwrap_err();
        assert_eq!(e.wire_class(), WireClass::NotSupported, "{m}");
    }
}

#[test]
fn unknown_method_is_worded_as_oslo_words_it() {
    let e = parse("frobnicate", json!({})).unwrap_err();
    assert_eq!(e.wire_class(), WireClass::NoSuchMethod);
    assert_eq!(
        e.to_string(),
        "Endpoint does not support RPC method frobnicate"
    );
}

#[test]
fn every_write_names_its_resources_and_gates() {
    let p = protected();
    let writes = [
        (
            "create_user",
            json!({"users": [user("a", json!("%"), "pw", json!(["d"]))]}),
        ),
        ("delete_user", json!({"user": {"_name": "a", "_host": "%"}})),
        (
            "update_attributes",
            json!({"username": "a", "hostname": "%", "user_attrs": {"name": "b"}}),
        ),
        (
            "change_passwords",
            json!({"users": [{"name": "a", "host": "%", "password": "pw"}]}),
        ),
        (
            "grant_access",
            json!({"username": "a", "hostname": "%", "databases": ["d"]}),
        ),
        (
            "revoke_access",
            json!({"username": "a", "hostname": "%", "database": "d"}),
        ),
        ("create_database", json!({"databases": [{"_name": "d"}]})),
        ("delete_database", json!({"database": {"_name": "d"}})),
        (
            "regenerate_password",
            json!({"username": "a", "hostname": "%"}),
        ),
    ];
    for (m, args) in writes {
        let Value::Object(map) = args else {
            unreachable!()
        };
        let Command::Write(w) = Command::parse(m, map, &cx(&p)).unwrap() else {
            panic!("{m} is a write")
        };
        assert_eq!(w.resources().len(), 1, "{m}");
        assert!(!w.gates().is_empty(), "{m}");
    }
    let Command::Write(w) = parse(
        "update_attributes",
        json!({"username": "a", "hostname": "%", "user_attrs": {"name": "b"}}),
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(w.gates().len(), 2, "a rename waits for its new name too");
    for m in ["enable_root", "disable_root"] {
        let Command::Write(w) = parse(m, json!({})).unwrap() else {
            panic!()
        };
        assert_eq!(
            w.gates(),
            vec![Resource::User(crate::model::Account::remote_root())]
        );
    }
}

#[test]
fn account_attributes_parse_or_refuse_whole() {
    let with = |extra: Value| {
        let mut u = user("app", json!("%"), "pw", json!([]));
        for (k, v) in extra.as_object().unwrap() {
            u[k] = v.clone();
        }
        parse("create_user", json!({ "users": [u] }))
    };
    let Command::Write(Write::CreateUser(CreateUser(users))) = with(json!({
        "_require": "x509", "_max_connections": 5, "_max_queries_per_hour": 0,
        "_locked": true, "_password_expire_days": 0, "_auth_plugin": "ed25519",
    }))
    .unwrap() else {
        panic!()
    };
    let a = &users[0].attrs;
    assert_eq!(a.require, Some(crate::model::Require::X509));
    assert_eq!(
        (a.max_connections, a.max_queries_per_hour),
        (Some(5), Some(0))
    );
    assert_eq!(a.locked, Some(true));
    assert_eq!(a.password_expire, Some(crate::model::Expiry::Never));
    assert_eq!(
        users[0].auth_plugin,
        Some(crate::model::AuthPlugin::Ed25519)
    );
    // The hostile corpus: every one refused, nothing half-read.
    for bad in [
        json!({"_require": "SSL"}),
        json!({"_require": "specified"}),
        json!({"_require": ""}),
        json!({"_require": 1}),
        json!({"_max_connections": -1}),
        json!({"_max_connections": 2147483648u64}),
        json!({"_max_connections": 1e3}),
        json!({"_max_connections": "5"}),
        json!({"_max_connections": true}),
        json!({"_max_queries_per_hour": 18446744073709551615u64}),
        json!({"_max_queries_per_hour": -9223372036854775808i64}),
        json!({"_locked": "yes"}),
        json!({"_locked": 1}),
        json!({"_password_expire_days": 65536}),
        json!({"_password_expire_days": -1}),
        json!({"_password_expire_days": 1.5}),
        json!({"_password_expire_days": [30]}),
        json!({"_auth_plugin": "unix_socket"}),
        json!({"_auth_plugin": "sha256_password"}),
        json!({"_auth_plugin": {"name": "ed25519"}}),
    ] {
        let e = with(bad.clone()).unwrap_err();
        assert_eq!(e.wire_class(), WireClass::BadRequest, "{bad}: {e}");
    }
    // Null is absent: the server's default.
    let Command::Write(Write::CreateUser(CreateUser(users))) =
        with(json!({"_require": null, "_locked": null})).unwrap()
    else {
        panic!()
    };
    assert!(users[0].attrs.is_empty());
}

#[test]
fn update_attributes_takes_attributes_as_one_unit_and_names_what_changes() {
    let Command::Write(w) = parse(
        "update_attributes",
        json!({"username": "app", "hostname": "%",
               "user_attrs": {"password": "pw2", "_locked": false, "_max_connections": 3}}),
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(w.changed(), ["password", "_max_connections", "_locked"]);
    assert!(
        parse(
            "update_attributes",
            json!({"username": "app", "hostname": "%", "user_attrs": {"_require": "tls"}})
        )
        .is_err()
    );
}

#[test]
fn revoke_takes_a_wildcard_pattern_as_listed() {
    let args = |db: &str| json!({"username": "app", "hostname": "%", "database": db});
    for ok in ["%", "app\\_%", "a%b"] {
        assert!(parse("revoke_access", args(ok)).is_ok(), "{ok}");
    }
    for bad in ["a\u{200b}%", &format!("{}%", "x".repeat(64))] {
        assert!(parse("revoke_access", args(bad)).is_err(), "{bad}");
    }
    // Granting on a pattern is still refused.
    assert!(
        parse(
            "grant_access",
            json!({"username": "app", "hostname": "%", "databases": ["%"]})
        )
        .is_err()
    );
}
