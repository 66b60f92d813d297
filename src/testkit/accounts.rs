//! Account attributes and the root history through the whole path on
//! fakes: what a create sets is what a read reports, the journal names what
//! changed (never a value), and the root history comes from the journal.

use serde_json::json;

use super::tests::{body, call, cast, check, drive, reply, result_of, setup};

#[test]
fn attributes_set_by_create_and_update_are_read_back() {
    let (d, _dir) = drive(&setup(false));
    let create = [body(&cast(
        "create_user",
        json!({"users": [{"_name": "app", "_host": "%", "_password": "secret-pw-1",
                          "_require": "ssl", "_max_connections": 4, "_locked": true,
                          "_password_expire_days": 30}]}),
        "c1",
    ))];
    check(&create, &d.deliver(&create), 0);
    let get = [body(&call(
        "get_user",
        json!({"username": "app", "hostname": "%"}),
        "g1",
    ))];
    let got = check(&get, &d.deliver(&get), 1);
    let user = result_of(reply(&got[0]).unwrap(), false).unwrap();
    assert_eq!(user["_require"], "ssl");
    assert_eq!(user["_max_connections"], 4);
    assert_eq!(user["_max_queries_per_hour"], 0);
    assert_eq!(user["_locked"], true);
    assert_eq!(user["_password_expire_days"], 30);
    let update = [body(&cast(
        "update_attributes",
        json!({"username": "app", "hostname": "%",
               "user_attrs": {"_locked": false, "_require": "none", "password": "secret-pw-2"}}),
        "u1",
    ))];
    check(&update, &d.deliver(&update), 2);
    let get = [body(&call(
        "get_user",
        json!({"username": "app", "hostname": "%"}),
        "g2",
    ))];
    let got = check(&get, &d.deliver(&get), 3);
    let user = result_of(reply(&got[0]).unwrap(), false).unwrap();
    assert_eq!(
        (user["_locked"].clone(), user["_require"].clone()),
        (json!(false), json!("none"))
    );
    assert_eq!(user["_max_connections"], 4, "unchanged attributes stay");
    let (actions, _) = d.journal().list(10, None);
    let changed: Vec<String> = actions[0].changed.clone();
    assert_eq!(changed, ["password", "_require", "_locked"]);
    let text = serde_json::to_string(&actions[0]).unwrap();
    assert!(!text.contains("secret-pw"), "{text}");
}

#[test]
fn root_history_comes_from_the_journal() {
    let (d, _dir) = drive(&setup(false));
    let history = |id: &str, tag: u64| {
        let m = [body(&call("get_root_history", json!({}), id))];
        let got = check(&m, &d.deliver(&m), tag);
        result_of(reply(&got[0]).unwrap(), false).unwrap()
    };
    let none = history("h1", 0);
    assert_eq!(
        none,
        json!({"enabled": false, "last_enabled_at": null,
                            "last_enabled_by": null, "action": null})
    );
    let mut enable = call("enable_root", json!({}), "e1");
    enable.insert("_context_user_name".into(), json!("alice"));
    let m = [body(&enable)];
    check(&m, &d.deliver(&m), 1);
    let h = history("h2", 2);
    assert_eq!(h["enabled"], true);
    assert_eq!(h["last_enabled_by"], "alice");
    assert!(
        h["last_enabled_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let m = [body(&call("disable_root", json!({}), "d1"))];
    check(&m, &d.deliver(&m), 3);
    let h = history("h3", 4);
    assert_eq!(h["enabled"], false);
    assert_eq!(h["last_enabled_by"], "alice", "the history stays");
}

#[test]
fn the_tls_mode_reaches_every_account_and_those_made_later() {
    let (d, _dir) = drive(&setup(false));
    let get = |name: &str, id: &str, tag: u64| {
        let m = [body(&call(
            "get_user",
            json!({"username": name, "hostname": "%"}),
            id,
        ))];
        let got = check(&m, &d.deliver(&m), tag);
        result_of(reply(&got[0]).unwrap(), false).unwrap()
    };
    let create = |name: &str, id: &str, tag: u64| {
        let m = [body(&cast(
            "create_user",
            json!({"users": [{"_name": name, "_host": "%", "_password": "pw-1"}]}),
            id,
        ))];
        check(&m, &d.deliver(&m), tag);
    };
    let ssl = |args: serde_json::Value, id: &str, tag: u64, method: &str| {
        let m = [body(&call(method, args, id))];
        let got = check(&m, &d.deliver(&m), tag);
        result_of(reply(&got[0]).unwrap(), false)
    };
    create("old", "c1", 0);
    // mysqld without TLS: enabling is refused, nothing changes.
    let refused = ssl(
        json!({"mode": "enforced", "enable": true,
                             "container": {"private_key": "-----BEGIN KEY-----"}}),
        "s1",
        1,
        "ssl_action",
    )
    .unwrap_err();
    assert_eq!(refused["class"], "DatastoreOperationNotSupported");
    assert_eq!(get("old", "g1", 2)["_require"], "none");
    d.db().set_tls(true);
    let on = ssl(
        json!({"mode": "enforced", "enable": true}),
        "s2",
        3,
        "ssl_action",
    )
    .unwrap();
    assert_eq!(
        (on["status"].clone(), on["mode"].clone()),
        (json!("on"), json!("enforced"))
    );
    assert_eq!(get("old", "g2", 4)["_require"], "ssl");
    create("later", "c2", 5);
    assert_eq!(
        get("later", "g3", 6)["_require"],
        "ssl",
        "made later, follows the mode"
    );
    let shown = ssl(json!({}), "s3", 7, "ssl_show").unwrap();
    assert_eq!(shown, json!({"status": "on", "mode": "enforced"}));
    let back = ssl(json!({}), "s4", 8, "ssl_rollback").unwrap();
    assert_eq!(back["mode"], serde_json::Value::Null);
    assert_eq!(get("old", "g4", 9)["_require"], "none");
    assert_eq!(get("later", "g5", 10)["_require"], "none");
    let nothing = ssl(json!({}), "s5", 11, "ssl_rollback").unwrap_err();
    assert_eq!(nothing["class"], "GuestError");
    let both = ssl(
        json!({"enable": true, "disable": true}),
        "s6",
        12,
        "ssl_action",
    )
    .unwrap_err();
    assert_eq!(both["class"], "DatastoreOperationNotSupported");
    let (actions, _) = d.journal().list(20, None);
    let text = serde_json::to_string(&actions).unwrap();
    assert!(!text.contains("BEGIN KEY"), "the container is never kept");
}
