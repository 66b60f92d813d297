//! The journal file: append-only JSON lines, each the whole action after a
//! change, fsync'd before the caller goes on.
//!
//! Replaying keeps the last line per action id. A power loss can tear only
//! the line being written: replay stops at the first line that does not
//! parse or lacks its newline and truncates the file there, so every earlier
//! record survives intact. Compaction writes the live actions to a temporary
//! file, fsyncs it, renames it over the journal and fsyncs the directory: at
//! every instant one complete journal exists.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::JournalError;
use super::action::Action;

/// File name of the journal inside the state directory.
pub const FILE: &str = "actions.jsonl";

/// The open journal file.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    file: File,
    /// Bytes in the file now; drives compaction.
    pub bytes: u64,
}

impl Store {
    /// Opens (creating) the journal in `dir` and replays it.
    pub fn open(dir: &Path) -> Result<(Store, BTreeMap<u64, Action>), JournalError> {
        std::fs::create_dir_all(dir).map_err(|e| JournalError::io(dir, e))?;
        let path = dir.join(FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| JournalError::io(&path, e))?;
        let (actions, good) = replay(&file).map_err(|e| JournalError::io(&path, e))?;
        let len = file
            .metadata()
            .map_err(|e| JournalError::io(&path, e))?
            .len();
        if good < len {
            tracing::warn!(path = %path.display(), kept = good, dropped = len - good, "journal ended in a torn record; truncating it");
            file.set_len(good).map_err(|e| JournalError::io(&path, e))?;
            file.sync_all().map_err(|e| JournalError::io(&path, e))?;
        }
        file.seek(SeekFrom::End(0))
            .map_err(|e| JournalError::io(&path, e))?;
        Ok((
            Store {
                path,
                file,
                bytes: good,
            },
            actions,
        ))
    }

    /// Appends one action record and waits until it is on disk.
    pub fn append(&mut self, action: &Action) -> Result<(), JournalError> {
        let mut line =
            serde_json::to_vec(action).map_err(|e| JournalError::Encode(e.to_string()))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|e| JournalError::io(&self.path, e))?;
        self.file
            .sync_data()
            .map_err(|e| JournalError::io(&self.path, e))?;
        self.bytes += line.len() as u64;
        Ok(())
    }

    /// Rewrites the journal to hold exactly `live`.
    pub fn compact<'a>(
        &mut self,
        live: impl Iterator<Item = &'a Action>,
    ) -> Result<(), JournalError> {
        let tmp = self.path.with_extension("jsonl.tmp");
        let mut out = File::create(&tmp).map_err(|e| JournalError::io(&tmp, e))?;
        let mut bytes = 0u64;
        for a in live {
            let mut line =
                serde_json::to_vec(a).map_err(|e| JournalError::Encode(e.to_string()))?;
            line.push(b'\n');
            out.write_all(&line)
                .map_err(|e| JournalError::io(&tmp, e))?;
            bytes += line.len() as u64;
        }
        out.sync_all().map_err(|e| JournalError::io(&tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| JournalError::io(&self.path, e))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| JournalError::io(dir, e))?;
        }
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| JournalError::io(&self.path, e))?;
        self.bytes = bytes;
        Ok(())
    }
}

/// Reads the journal in `dir` without changing it (safe while the daemon
/// runs): the actions of every complete record.
pub fn read_only(dir: &Path) -> Result<BTreeMap<u64, Action>, JournalError> {
    let path = dir.join(FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        // No journal yet: no actions yet.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(JournalError::io(&path, e)),
    };
    replay(&file)
        .map(|(actions, _)| actions)
        .map_err(|e| JournalError::io(&path, e))
}

/// Reads every complete record; returns the actions and the length of the
/// good prefix of the file.
fn replay(file: &File) -> std::io::Result<(BTreeMap<u64, Action>, u64)> {
    let mut reader = BufReader::new(file);
    reader.seek(SeekFrom::Start(0))?;
    let mut actions = BTreeMap::new();
    let mut good = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        match serde_json::from_slice::<Action>(&line) {
            Ok(a) => {
                actions.insert(a.id, a);
                good += n as u64;
            }
            Err(_) => break,
        }
    }
    Ok((actions, good))
}
