//! The journal on a disk that fills up: the append that fails leaves no
//! partial record behind, so every record written before it, and every one
//! written once there is room again, survives a restart.
//!
//! The disk is a tmpfs of a few pages, mounted for the test (needs root;
//! skipped otherwise, saying so).

use std::process::Command;
use std::time::Duration;

use guestagent::testkit::{ActionType, Journal, NewAction};

const DAY: Duration = Duration::from_secs(86_400);

fn new(i: usize) -> NewAction {
    NewAction {
        action_type: ActionType::DatabaseUserCreate,
        method: "create_user".into(),
        unique_id: Some(format!("unique-{i}")),
        resources: Vec::new(),
        changed: Vec::new(),
        requested_by: None,
        context: None,
        call: false,
        digest: Some("d".repeat(64)),
    }
}

struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_leaves_no_torn_record() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16k,mode=0700", "tmpfs"])
        .arg(dir.path())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    let _mounted = Mounted(dir.path().to_owned());
    let written;
    {
        let j = Journal::open(dir.path(), DAY).unwrap();
        let mut n = 0;
        loop {
            match j.admit(new(n)).await {
                Ok(_) => n += 1,
                Err(e) => {
                    assert!(e.to_string().contains("No space left"), "{e}");
                    break;
                }
            }
            assert!(n < 10_000, "the disk never filled");
        }
        written = n;
        // A second failure in a row leaves nothing either.
        assert!(j.admit(new(written)).await.is_err());
    }
    assert!(written > 0);
    let text = std::fs::read(dir.path().join("actions.jsonl")).unwrap();
    assert_eq!(
        text.last(),
        Some(&b'\n'),
        "a partial record was left at the end"
    );
    assert_eq!(text.iter().filter(|b| **b == b'\n').count(), written);

    // Room again (an operator cleaned up): appends work and everything is
    // read back after a restart.
    let text_len = text.len();
    let j = Journal::open(dir.path(), DAY).unwrap();
    for i in 0..written {
        assert!(
            j.find_unique(&format!("unique-{i}")).is_some(),
            "record {i} lost"
        );
    }
    drop(j);
    let grown = Command::new("mount")
        .args(["-o", "remount,size=64k"])
        .arg(dir.path())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(grown, "remount with more room");
    let j = Journal::open(dir.path(), DAY).unwrap();
    j.admit(new(written)).await.unwrap();
    drop(j);
    let j = Journal::open(dir.path(), DAY).unwrap();
    for i in 0..=written {
        assert!(
            j.find_unique(&format!("unique-{i}")).is_some(),
            "record {i} lost"
        );
    }
    assert!(
        std::fs::metadata(dir.path().join("actions.jsonl"))
            .unwrap()
            .len() as usize
            > text_len
    );
}
