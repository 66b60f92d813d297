//! Journal durability tests: replay, torn records, compaction, paging.

use std::io::Write;
use std::time::Duration;

use super::*;
use crate::model::{HostPattern, UserName};

fn app() -> Account {
    Account {
        name: UserName::parse("app").unwrap(),
        host: HostPattern::any(),
    }
}

fn new(unique: &str) -> NewAction {
    NewAction {
        action_type: ActionType::DatabaseUserCreate,
        method: "create_user".into(),
        unique_id: Some(unique.into()),
        resources: vec![Resource::User(app())],
        changed: vec!["password"],
        requested_by: Some("alice".into()),
        context: None,
        call: false,
        digest: None,
    }
}

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test]
async fn survives_reopen_with_every_state() {
    let dir = tempfile::tempdir().unwrap();
    {
        let j = Journal::open(dir.path(), DAY).unwrap();
        let a = j.admit(new("u1")).await.unwrap();
        assert_eq!(a.status, Status::Queued);
        j.start(a.id).await.unwrap();
        j.finish(a.id, Ok(Some(serde_json::json!(null))))
            .await
            .unwrap();
        let b = j.admit(new("u2")).await.unwrap();
        j.start(b.id).await.unwrap();
    }
    let j = Journal::open(dir.path(), DAY).unwrap();
    let a = j.find_unique("u1").unwrap();
    assert_eq!(a.status, Status::Success);
    assert_eq!(a.public_json()["finished_success"], true);
    assert_eq!(a.resource_id, Some(app().uid()));
    assert_eq!(a.resources, [Resource::User(app())]);
    let b = j.find_unique("u2").unwrap();
    assert_eq!(b.status, Status::Running);
    assert_eq!(j.unanswered().len(), 2);
    let c = j.admit(new("u3")).await.unwrap();
    assert!(c.id > b.id, "ids keep increasing across restarts");
}

#[tokio::test]
async fn torn_last_record_is_dropped_and_earlier_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let j = Journal::open(dir.path(), DAY).unwrap();
        j.admit(new("u1")).await.unwrap();
        j.admit(new("u2")).await.unwrap();
    }
    let path = dir.path().join(store::FILE);
    let full = std::fs::read(&path).unwrap();
    // Power loss in the middle of a third record.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"{\"id\":3,\"action_type\":\"datab").unwrap();
    drop(f);
    let j = Journal::open(dir.path(), DAY).unwrap();
    assert!(j.find_unique("u1").is_some() && j.find_unique("u2").is_some());
    assert_eq!(
        std::fs::read(&path).unwrap(),
        full,
        "the torn tail is truncated"
    );
    j.admit(new("u3")).await.unwrap();
    drop(j);
    let j = Journal::open(dir.path(), DAY).unwrap();
    assert_eq!(j.list(10, None).0.len(), 3);
}

#[tokio::test]
async fn a_corrupt_line_in_the_middle_costs_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(store::FILE);
    {
        let j = Journal::open(dir.path(), DAY).unwrap();
        j.admit(new("u1")).await.unwrap();
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"garbage\n").unwrap();
    drop(f);
    {
        let j = Journal::open(dir.path(), DAY).unwrap();
        assert!(j.find_unique("u1").is_some());
        j.admit(new("u2")).await.unwrap();
    }
    // Every record after the bad line survives the next start too.
    let j = Journal::open(dir.path(), DAY).unwrap();
    assert!(j.find_unique("u1").is_some() && j.find_unique("u2").is_some());
}

#[tokio::test]
async fn a_record_after_a_partial_one_on_its_line_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(store::FILE);
    {
        let j = Journal::open(dir.path(), DAY).unwrap();
        j.admit(new("u1")).await.unwrap();
    }
    // What an older version left after a failed write: a partial record,
    // then the next record appended right after it.
    let whole = std::fs::read(&path).unwrap();
    let mut second: Action = serde_json::from_slice(&whole[..whole.len() - 1]).unwrap();
    second.id = 2;
    second.unique_id = Some("u2".into());
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"{\"id\":9,\"action_type\":\"datab").unwrap();
    f.write_all(&serde_json::to_vec(&second).unwrap()).unwrap();
    f.write_all(b"\n").unwrap();
    drop(f);
    let j = Journal::open(dir.path(), DAY).unwrap();
    assert!(j.find_unique("u1").is_some());
    assert_eq!(j.find_unique("u2").map(|a| a.id), Some(2));
    assert!(j.get(9).is_none());
}

#[test]
fn journal_files_are_private_and_never_followed_through_a_link() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    drop(Journal::open(dir.path(), DAY).unwrap());
    for name in [store::FILE, store::KEY_FILE] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    // A journal that is a symlink (someone aims the agent's writes
    // elsewhere) is refused, not followed.
    let other = tempfile::tempdir().unwrap();
    let target = other.path().join("elsewhere");
    std::fs::write(&target, b"").unwrap();
    let linked = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&target, linked.path().join(store::FILE)).unwrap();
    assert!(Journal::open(linked.path(), DAY).is_err());
    assert_eq!(std::fs::read(&target).unwrap(), b"");
}

#[test]
fn digests_are_keyed_per_journal_and_stable_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let a = Journal::open(dir.path(), DAY)
        .unwrap()
        .digest("m", "{\"x\":1}");
    let again = Journal::open(dir.path(), DAY)
        .unwrap()
        .digest("m", "{\"x\":1}");
    let other_dir = tempfile::tempdir().unwrap();
    let elsewhere = Journal::open(other_dir.path(), DAY)
        .unwrap()
        .digest("m", "{\"x\":1}");
    assert_eq!(a, again);
    assert_ne!(a, elsewhere);
    let j = Journal::open(dir.path(), DAY).unwrap();
    assert_ne!(j.digest("m", "{\"x\":1}"), j.digest("m", "{\"x\":2}"));
    assert_ne!(j.digest("m", "{\"x\":1}"), j.digest("n", "{\"x\":1}"));
}

#[tokio::test]
async fn list_is_newest_first_with_markers() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), DAY).unwrap();
    for i in 0..5 {
        j.admit(new(&format!("u{i}"))).await.unwrap();
    }
    let (page, next) = j.list(2, None);
    assert_eq!(page.iter().map(|a| a.id).collect::<Vec<_>>(), [5, 4]);
    assert_eq!(next, Some(4));
    let (page, next) = j.list(3, next);
    assert_eq!(page.iter().map(|a| a.id).collect::<Vec<_>>(), [3, 2, 1]);
    assert_eq!(next, None);
    assert!(j.get(3).is_some() && j.get(99).is_none());
}

#[tokio::test]
async fn compaction_keeps_unfinished_and_bounds_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let max = 50;
    let j = Journal::open_with(dir.path(), DAY, max).unwrap();
    let keep = j.admit(new("keep")).await.unwrap();
    let mut sizes = Vec::new();
    for i in 0..400 {
        let a = j.admit(new(&format!("n{i}"))).await.unwrap();
        j.finish(a.id, Err((WireClass::GuestError, "x".into())))
            .await
            .unwrap();
        j.answered(a.id).unwrap();
        sizes.push(
            std::fs::metadata(dir.path().join(store::FILE))
                .unwrap()
                .len(),
        );
    }
    drop(j);
    let j = Journal::open_with(dir.path(), DAY, max).unwrap();
    assert!(
        j.get(keep.id).is_some(),
        "unfinished actions are never dropped"
    );
    let live = j.list(usize::MAX, None).0.len();
    assert!(live <= 1 + 2 * max, "{live} actions kept");
    assert!(j.get(401).is_some(), "the newest are kept");
    let (first, last) = (sizes[100], sizes[399]);
    assert!(
        last < first * 2,
        "the file does not grow with history: {first} -> {last}"
    );
}

#[tokio::test]
async fn dedup_window_expires() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), Duration::from_secs(0)).unwrap();
    let a = j.admit(new("u1")).await.unwrap();
    // Same second: still inside a zero window.
    let _ = a;
    let mut inner = j.lock();
    if let Some(x) = inner.actions.get_mut(&1) {
        x.created_at = 1_000_000_000;
    }
    drop(inner);
    assert!(j.find_unique("u1").is_none());
}

#[tokio::test]
async fn context_is_kept_until_answered_then_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), DAY).unwrap();
    let mut n = new("u1");
    n.context = Some(serde_json::json!({"request_id": "req-1"}));
    let a = j.admit(n).await.unwrap();
    j.start(a.id).await.unwrap();
    j.finish(a.id, Ok(None)).await.unwrap();
    // Unanswered: the sweep may still need it to report the outcome.
    assert!(j.unanswered()[0].context.is_some());
    j.answered(a.id).unwrap();
    assert_eq!(j.get(a.id).unwrap().context, None);
    drop(j);
    let j = Journal::open(dir.path(), DAY).unwrap();
    assert_eq!(
        j.get(a.id).unwrap().context,
        None,
        "the last record wins on replay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_records_all_reach_the_file() {
    let dir = tempfile::tempdir().unwrap();
    {
        let j = std::sync::Arc::new(Journal::open(dir.path(), DAY).unwrap());
        let mut tasks = Vec::new();
        for i in 0..64 {
            let j = j.clone();
            tasks.push(tokio::spawn(async move {
                let a = j.admit_running(new(&format!("u{i}"))).await.unwrap();
                j.finish(a.id, Ok(None)).await.unwrap();
                // Not waited for; the writer still puts it in the file
                // before the journal is gone.
                j.answered(a.id).unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
    let j = Journal::open(dir.path(), DAY).unwrap();
    let (all, _) = j.list(100, None);
    assert_eq!(all.len(), 64);
    assert!(
        all.iter()
            .all(|a| a.status == Status::Success && a.answered && a.started_at.is_some()),
        "{all:?}"
    );
    let lines = std::fs::read_to_string(dir.path().join(store::FILE)).unwrap();
    assert_eq!(
        lines.lines().count(),
        3 * 64,
        "one record per change, none torn"
    );
}

#[tokio::test]
async fn created_users_come_from_successful_creates() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), DAY).unwrap();
    let a = j.admit_running(new("u1")).await.unwrap();
    j.finish(a.id, Ok(None)).await.unwrap();
    let b = j.admit_running(new("u2")).await.unwrap();
    j.finish(b.id, Err((WireClass::BadRequest, "exists".into())))
        .await
        .unwrap();
    let created = j.created_users();
    assert_eq!(created.get(&app()), Some(&a.created_at));
    assert_eq!(created.len(), 1);
    let failed = j.get(b.id).unwrap();
    assert_eq!(failed.failure_class, Some(WireClass::BadRequest));
    assert_eq!(failed.public_json()["finished_success"], false);
}
