//! `prepare` on fakes: what Trove's taskmanager sends a new instance's
//! guest, the instance's life as the heartbeat reports it, and the refusals
//! of what the agent cannot do.

use serde_json::{Map, Value, json};

use super::tests::{body, call, cast, check, inner_of, reply, result_of};
use super::*;
use crate::conductor::ServiceStatus::{Building, FailedToSpawn, Healthy};

fn trove_setup() -> Setup {
    Setup {
        await_prepare: true,
        ..Setup::default()
    }
}

/// `prepare` as Trove 26's taskmanager sends it (version 1.1).
fn prepare(args: Value, id: &str) -> Vec<u8> {
    let mut m = cast("prepare", args, id);
    m.insert("version".into(), json!("1.1"));
    body(&m)
}

fn request() -> Value {
    json!({
        "packages": "", "memory_mb": 1024, "device_path": "/dev/vdb",
        "mount_point": "/var/lib/mysql", "backup_info": null,
        "config_contents": "[mysqld]\nport = 3306\n", "root_password": null,
        "overrides": {}, "cluster_config": null, "snapshot": null, "modules": [],
        "ds_version": "10.11",
        "databases": [{"_name": "app", "_collate": null, "_character_set": null}],
        "users": [{"_name": "app", "_password": "app-pw", "_host": "%",
                   "_databases": [{"_name": "app", "_collate": null, "_character_set": null}],
                   "_is_root": false}],
    })
}

fn noted(s: &Settled) -> Map<String, Value> {
    inner_of(&reply(s).expect("a notification").body)
}

#[test]
fn prepare_creates_the_request_then_the_heartbeat_reports_mysqld() {
    let dir = tempfile::tempdir().unwrap();
    let d = Drive::new(&trove_setup(), dir.path()).unwrap();
    assert_eq!(d.heartbeat(Healthy), None, "no heartbeat before prepare");
    let m = [prepare(request(), "p1")];
    let got = check(&m, &d.deliver(&m), 0);
    assert_eq!(noted(&got[0])["method"], "notify_end");
    assert!(d.db().has_schema("app") && d.db().has_account("app", "%"));
    assert_eq!(d.heartbeat(Healthy), Some(Healthy));
    assert!(dir.path().join("markers/.guestagent.prepare.end").is_file());
    let (actions, _) = d.journal().list(10, None);
    assert_eq!(actions[0].public_json()["action_type"], "instance_prepare");
    assert_eq!(actions[0].public_json()["resource_type"], "instance");
    assert_eq!(actions[0].resources.len(), 2);
    // A restarted agent finds the marker and reports at once.
    let d = d.restart(&trove_setup(), dir.path()).unwrap();
    assert_eq!(d.heartbeat(Healthy), Some(Healthy));
}

#[test]
fn prepare_with_a_root_password_enables_root() {
    let (d, _dir) = {
        let dir = tempfile::tempdir().unwrap();
        (Drive::new(&trove_setup(), dir.path()).unwrap(), dir)
    };
    let mut args = request();
    args["root_password"] = json!("root-pw");
    args["users"] = json!([]);
    let m = [prepare(args, "p2")];
    check(&m, &d.deliver(&m), 0);
    assert!(d.db().has_account("root", "%"));
    assert!(d.db().has_schema("app"));
}

#[test]
fn what_the_agent_cannot_do_is_refused_and_fails_the_instance() {
    for (key, value) in [
        ("backup_info", json!({"id": "b1", "location": "swift://x"})),
        ("cluster_config", json!({"id": "c1"})),
        ("snapshot", json!({"dataset": {}})),
        ("modules", json!([{"id": "m1"}])),
        ("overrides", json!({"max_connections": 10})),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let d = Drive::new(&trove_setup(), dir.path()).unwrap();
        let mut args = request();
        args[key] = value;
        let m = [prepare(args, "p3")];
        let got = check(&m, &d.deliver(&m), 0);
        let note = noted(&got[0]);
        assert_eq!(note["method"], "notify_exc_info", "{key}");
        let message = note["args"]["message"].as_str().unwrap_or("");
        assert!(message.contains(key), "{key}: {message}");
        assert!(!d.db().has_schema("app"), "{key}: nothing half-done");
        assert_eq!(d.heartbeat(Healthy), Some(FailedToSpawn), "{key}");
    }
}

#[test]
fn a_prepare_call_hands_back_the_passwords_it_generated() {
    let dir = tempfile::tempdir().unwrap();
    let d = Drive::new(&trove_setup(), dir.path()).unwrap();
    let mut args = request();
    args["users"][0]["_password"] = Value::Null;
    let mut m = call("prepare", args.clone(), "p6");
    m.insert("version".into(), json!("1.1"));
    let m = [body(&m)];
    let got = check(&m, &d.deliver(&m), 0);
    let answer = result_of(reply(&got[0]).expect("a reply"), false).expect("no failure");
    assert!(answer.to_string().contains("app@%"), "{answer}");
    assert!(d.db().has_schema("app") && d.db().has_account("app", "%"));
    assert_eq!(d.heartbeat(Healthy), Some(Healthy));
    // As a cast nobody could receive the password: refused before any SQL.
    let dir = tempfile::tempdir().unwrap();
    let d = Drive::new(&trove_setup(), dir.path()).unwrap();
    let m = [prepare(args, "p7")];
    let got = check(&m, &d.deliver(&m), 0);
    assert_eq!(noted(&got[0])["method"], "notify_exc_info");
    assert!(!d.db().has_schema("app"));
}

#[test]
fn a_failing_prepare_reports_failed_to_spawn_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = Drive::new(&trove_setup(), dir.path()).unwrap();
    // The account exists already: create_user's own refusal.
    d.db().add_account("app", "%");
    let m = [prepare(request(), "p4")];
    let got = check(&m, &d.deliver(&m), 0);
    let note = noted(&got[0]);
    assert_eq!(note["method"], "notify_exc_info");
    assert!(
        note["args"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("already exists")
    );
    assert_eq!(d.heartbeat(Healthy), Some(FailedToSpawn));
    assert!(!dir.path().join("markers/.guestagent.prepare.end").exists());
}

#[test]
fn a_redelivered_prepare_is_not_applied_twice() {
    let dir = tempfile::tempdir().unwrap();
    let d = Drive::new(&trove_setup(), dir.path()).unwrap();
    let m = [prepare(request(), "p5")];
    check(&m, &d.deliver(&m), 0);
    let calls = d.db().calls();
    let again = check(&m, &d.deliver(&m), 1);
    assert_eq!(
        again[0],
        Settled::Ack {
            tag: 2,
            published: Vec::new()
        },
        "the conductor already has its outcome"
    );
    assert_eq!(d.db().calls(), calls, "nothing ran again");
}

#[test]
fn a_crash_during_prepare_is_finished_by_the_redelivery() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup {
        faults: vec![None, Some(Fault::Hang)],
        ..trove_setup()
    };
    let d = Drive::new(&s, dir.path()).unwrap();
    let m = [prepare(request(), "p6")];
    d.deliver_for(&m, Some(std::time::Duration::from_secs(5)));
    assert_eq!(d.heartbeat(Healthy), Some(Building));
    // Killed while creating the users; the schema is there, the user too.
    let d = d.restart(&trove_setup(), dir.path()).unwrap();
    assert_eq!(d.heartbeat(Healthy), None, "no marker: waiting again");
    // A new process: its deliveries are tagged from 1 again.
    let got = check(&m, &d.deliver(&m), 0);
    assert_eq!(noted(&got[0])["method"], "notify_end");
    assert_eq!(d.heartbeat(Healthy), Some(Healthy));
    assert!(d.db().has_account("app", "%"));
}

#[test]
fn a_prepare_whose_message_never_comes_back_ends_by_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let s = Setup {
        faults: vec![None, Some(Fault::Hang)],
        ..trove_setup()
    };
    let d = Drive::new(&s, dir.path()).unwrap();
    let m = [prepare(request(), "p8")];
    d.deliver_for(&m, Some(std::time::Duration::from_secs(5)));
    let d = d.restart(&trove_setup(), dir.path()).unwrap();
    assert_eq!(d.heartbeat(Healthy), None, "no marker: waiting again");
    d.sweep();
    // Judged from mysqld (the schema and the account are there): reported
    // done, and the instance told so instead of waiting for ever.
    let sent = d.broker().sent();
    assert_eq!(inner_of(&sent[0].body)["method"], "notify_end");
    assert_eq!(d.heartbeat(Healthy), Some(Healthy));
}

#[test]
fn without_trove_there_is_no_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let d = Drive::new(&Setup::default(), dir.path()).unwrap();
    assert_eq!(d.heartbeat(Healthy), Some(Healthy));
}
