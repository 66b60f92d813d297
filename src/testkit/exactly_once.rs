//! The exactly-once core on fakes: a fake mysqld ([`FakeDb`]: faults,
//! latency, a hang to be killed in), a broker whose commits fail on request,
//! a journal in a temporary directory, and tokio's paused clock, so the
//! retry windows (300 s for a cast) pass in milliseconds.
//!
//! Each test says what a real fault looks like: a redelivery comes as the
//! same body again, a crash is the runtime dropped where it stands and a new
//! agent opened over the same journal and the same server.

use std::time::Duration;

use serde_json::json;

use super::tests::{body, call, cast, check, drive, inner_of, reply, result_of, setup};
use super::*;
use crate::journal::Status;

/// The conductor method a cast's outcome went out as.
fn noted(s: &Settled) -> String {
    let p = reply(s).expect("an answer");
    inner_of(&p.body)["method"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

fn create(name: &str, id: &str) -> Vec<u8> {
    body(&cast(
        "create_user",
        json!({"users": [{"_name": name, "_host": "%", "_password": "pw-1"}]}),
        id,
    ))
}

/// An agent whose fake mysqld fails its first call with `fault`.
fn faulty(fault: crate::testkit::Fault, dir: &std::path::Path) -> Drive {
    let s = Setup {
        faults: vec![Some(fault)],
        ..Setup::default()
    };
    Drive::new(&s, dir).unwrap()
}

fn only_action(d: &Drive) -> crate::journal::Action {
    let (actions, _) = d.journal().list(10, None);
    assert_eq!(actions.len(), 1, "{actions:?}");
    actions.into_iter().next().unwrap()
}

#[test]
fn a_cast_published_twice_is_reported_once() {
    let (d, _dir) = drive(&setup(false));
    let m = [create("app", "c1")];
    let first = check(&m, &d.deliver(&m), 0);
    assert_eq!(noted(&first[0]), "notify_end");
    let calls = d.db().calls();
    let again = check(&m, &d.deliver(&m), 1);
    assert_eq!(
        again[0],
        Settled::Ack {
            tag: 2,
            published: vec![]
        },
        "acknowledged, and no second notification"
    );
    assert_eq!(d.db().calls(), calls, "mysqld was not asked again");
    assert_eq!(d.db().accounts(), ["app@%"]);
    assert_eq!(only_action(&d).status, Status::Success);
}

#[test]
fn a_call_sent_twice_is_answered_twice_from_the_journal() {
    let (d, _dir) = drive(&setup(false));
    let c = [body(&call(
        "create_user",
        json!({"users": [{"_name": "app", "_host": "%", "_password": "pw-1"}]}),
        "c1",
    ))];
    let first = check(&c, &d.deliver(&c), 0);
    let calls = d.db().calls();
    let again = check(&c, &d.deliver(&c), 1);
    // The caller may be waiting on the second; it gets the same answer.
    assert_eq!(
        result_of(reply(&again[0]).unwrap(), false).unwrap()["action"]["id"],
        result_of(reply(&first[0]).unwrap(), false).unwrap()["action"]["id"]
    );
    assert_eq!(d.db().calls(), calls);
}

#[test]
fn an_answer_the_broker_did_not_take_is_given_on_redelivery_once() {
    let (d, _dir) = drive(&setup(false));
    let m = [create("app", "c1")];
    d.broker().fail_next(1);
    assert!(
        d.deliver(&m).is_empty(),
        "a failed commit settles nothing: the delivery stays unacknowledged"
    );
    let a = only_action(&d);
    assert_eq!(
        (a.status, a.unsent, a.answered),
        (Status::Success, true, false)
    );
    let calls = d.db().calls();
    let again = check(&m, &d.deliver(&m), 1);
    assert_eq!(noted(&again[0]), "notify_end");
    assert_eq!(d.db().calls(), calls, "applied once");
    assert!(only_action(&d).answered);
}

#[test]
fn a_crash_between_the_sql_and_the_answer_finishes_without_applying_twice() {
    let dir = tempfile::tempdir().unwrap();
    let d = faulty(crate::testkit::Fault::Hang, dir.path());
    let m = [create("app", "c1")];
    // The account is created, then the agent is killed while mysqld's
    // answer is on its way.
    let settled = d.deliver_for(&m, Some(Duration::from_secs(10)));
    assert!(settled.is_empty(), "{settled:?}");
    assert_eq!(d.db().accounts(), ["app@%"]);
    assert_eq!(only_action(&d).status, Status::Running);
    let d = d.restart(&setup(false), dir.path()).unwrap();
    let again = check(&m, &d.deliver(&m), 0);
    // Not "the user exists": what the first attempt did counts as done.
    assert_eq!(noted(&again[0]), "notify_end");
    assert_eq!(d.db().accounts(), ["app@%"]);
    let a = only_action(&d);
    assert_eq!((a.status, a.answered), (Status::Success, true));
}

#[test]
fn a_crash_before_the_answer_of_a_refused_command_reports_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let d = faulty(crate::testkit::Fault::Refused, dir.path());
    let m = [create("app", "c1")];
    d.broker().fail_next(1);
    assert!(d.deliver(&m).is_empty());
    let d = d.restart(&setup(false), dir.path()).unwrap();
    let calls = d.db().calls();
    let again = check(&m, &d.deliver(&m), 0);
    assert_eq!(
        noted(&again[0]),
        "notify_exc_info",
        "the recorded failure, not a retry"
    );
    assert_eq!(d.db().calls(), calls);
    assert!(d.db().accounts().is_empty());
}

#[test]
fn a_poison_command_is_answered_once_and_never_loops() {
    let dir = tempfile::tempdir().unwrap();
    let d = faulty(crate::testkit::Fault::Refused, dir.path());
    let m = [create("app", "c1")];
    let first = check(&m, &d.deliver(&m), 0);
    assert_eq!(noted(&first[0]), "notify_exc_info");
    assert!(
        matches!(first[0], Settled::Ack { .. }),
        "acknowledged, not requeued"
    );
    assert_eq!(d.db().calls(), 1, "a permanent error is not retried");
    let a = only_action(&d);
    assert_eq!((a.status, a.answered), (Status::Failed, true));
}

#[test]
fn retry_windows_end_in_a_failure_not_a_hang() {
    use crate::testkit::Fault;
    let s = Setup {
        faults: vec![Some(Fault::Away); 10_000],
        ..Setup::default()
    };
    let (d, _dir) = drive(&s);
    let m = [create("app", "c1")];
    let settled = check(&m, &d.deliver(&m), 0);
    assert_eq!(noted(&settled[0]), "notify_exc_info");
    let cast_calls = d.db().calls();
    assert!(
        cast_calls > 5,
        "retried while mysqld was away: {cast_calls}"
    );
    assert_eq!(only_action(&d).status, Status::Failed);

    // A call gives up after its own _timeout, well before a cast's window.
    let mut c = call(
        "get_user",
        json!({"username": "app", "hostname": "%"}),
        "g1",
    );
    c.insert("_timeout".into(), json!(5));
    let got = check(&[body(&c)], &d.deliver(&[body(&c)]), 1);
    let failure = result_of(reply(&got[0]).unwrap(), false).unwrap_err();
    assert!(failure["message"].as_str().is_some(), "{failure}");
    let call_calls = d.db().calls() - cast_calls;
    assert!(
        call_calls < cast_calls,
        "the call retried {call_calls} times, the cast {cast_calls}"
    );
}

#[test]
fn mutations_on_different_accounts_run_together_within_the_pool() {
    let (d, _dir) = drive(&setup(false));
    d.db().set_latency(Duration::from_millis(100));
    let bodies: Vec<Vec<u8>> = (0..12)
        .map(|i| create(&format!("u{i}"), &format!("c{i}")))
        .collect();
    let settled = check(&bodies, &d.deliver(&bodies), 0);
    assert!(settled.iter().all(|s| noted(s) == "notify_end"));
    assert_eq!(
        d.db().take_most_in_flight(),
        crate::mysql::POOL_SIZE,
        "as many at once as there are connections, no more"
    );
}

/// Create, change, delete, create, rename, delete the new name, create it
/// again: each step fails unless the one before it took effect first.
fn steps(name: &str, id: &str) -> Vec<Vec<u8>> {
    let renamed = format!("{name}2");
    vec![
        create(name, &format!("{id}1")),
        body(&cast(
            "change_passwords",
            json!({"users": [{"name": name, "host": "%", "password": "pw-2"}]}),
            &format!("{id}2"),
        )),
        body(&cast(
            "delete_user",
            json!({"user": {"_name": name, "_host": "%"}}),
            &format!("{id}3"),
        )),
        create(name, &format!("{id}4")),
        body(&cast(
            "update_attributes",
            json!({"username": name, "hostname": "%", "user_attrs": {"name": renamed}}),
            &format!("{id}5"),
        )),
        body(&cast(
            "delete_user",
            json!({"user": {"_name": renamed, "_host": "%"}}),
            &format!("{id}6"),
        )),
        create(&renamed, &format!("{id}7")),
    ]
}

#[test]
fn mutations_on_one_account_apply_one_at_a_time_in_arrival_order() {
    let (d, _dir) = drive(&setup(false));
    d.db().set_latency(Duration::from_millis(100));
    let bodies = steps("app", "s");
    let settled = check(&bodies, &d.deliver(&bodies), 0);
    for (i, s) in settled.iter().enumerate() {
        assert_eq!(noted(s), "notify_end", "step {} failed", i + 1);
    }
    assert_eq!(
        d.db().take_most_in_flight(),
        1,
        "two at once on one account"
    );
    assert_eq!(d.db().accounts(), ["app2@%"]);
    let (actions, _) = d.journal().list(100, None);
    let mut order: Vec<(u64, String)> = actions
        .iter()
        .map(|a| (a.id, a.unique_id.clone().unwrap_or_default()))
        .collect();
    order.sort();
    let ids: Vec<&str> = order.iter().map(|(_, u)| u.as_str()).collect();
    assert_eq!(ids, ["s1", "s2", "s3", "s4", "s5", "s6", "s7"]);
}

#[test]
fn one_account_in_line_does_not_hold_up_the_others() {
    let (d, _dir) = drive(&setup(false));
    d.db().set_latency(Duration::from_millis(100));
    let mut bodies = Vec::new();
    for (i, s) in steps("app", "s").into_iter().enumerate() {
        bodies.push(s);
        bodies.push(create(&format!("other{i}"), &format!("o{i}")));
    }
    let settled = check(&bodies, &d.deliver(&bodies), 0);
    for (i, s) in settled.iter().enumerate() {
        assert_eq!(noted(s), "notify_end", "delivery {} failed", i + 1);
    }
    assert!(
        d.db().take_most_in_flight() > 1,
        "nothing ran beside the account in line"
    );
    assert_eq!(d.db().accounts().len(), 8);
}

/// An agent killed holding a create whose SQL landed, restarted.
fn killed_after_the_sql(dir: &std::path::Path, m: &[Vec<u8>]) -> Drive {
    let d = faulty(crate::testkit::Fault::Hang, dir);
    assert!(d.deliver_for(m, Some(Duration::from_secs(10))).is_empty());
    d.restart(&setup(false), dir).unwrap()
}

#[test]
fn an_action_whose_message_never_comes_back_is_reported_after_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let m = [create("app", "c1")];
    let d = killed_after_the_sql(dir.path(), &m);
    let took = d.sweep();
    assert!(
        took >= crate::agent::delivery::Patience::default().grace,
        "reported after {took:?}"
    );
    let sent = d.broker().sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let note = inner_of(&sent[0].body);
    assert_eq!(
        note["method"], "notify_end",
        "checked in mysqld: the account is there"
    );
    // The request's own context, so the conductor can match it.
    assert_eq!(note["_context_request_id"], "req-c1", "{note:?}");
    let a = only_action(&d);
    assert_eq!((a.status, a.answered), (Status::Success, true));
    // A late redelivery is neither applied nor reported again.
    let calls = d.db().calls();
    let late = check(&m, &d.deliver(&m), 0);
    assert!(reply(&late[0]).is_none(), "a second outcome: {late:?}");
    assert_eq!(d.db().calls(), calls);
}

#[test]
fn a_redelivery_within_the_grace_leaves_the_sweep_nothing_to_report() {
    let dir = tempfile::tempdir().unwrap();
    let m = [create("app", "c1")];
    let d = killed_after_the_sql(dir.path(), &m);
    let settled = check(&m, &d.deliver(&m), 0);
    assert_eq!(noted(&settled[0]), "notify_end");
    let _ = d.sweep();
    assert!(
        d.broker().sent().is_empty(),
        "a second outcome: {:?}",
        d.broker().sent()
    );
    assert_eq!(d.db().accounts(), ["app@%"]);
}
