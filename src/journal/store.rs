//! The journal file: append-only JSON lines, each the whole action after a
//! change, fsync'd in batches by the writer thread (`writer`).
//!
//! Replaying keeps the last line per action id. A power loss can tear only
//! the line being written, the last one: replay truncates an unterminated
//! final line, and nothing else. A failed append (a full disk) is rewound
//! to where the file ended, so no partial record stays behind a later one;
//! should one be found anyway (a file from an older version, a disk error),
//! the record that follows it on the same line is recovered and the rest of
//! the file is read as usual, with a warning. Compaction writes the live
//! actions to a temporary file, fsyncs it, renames it over the journal and
//! fsyncs the directory: at every instant one complete journal exists.
//!
//! Files are created 0600 and opened with `O_NOFOLLOW`: a symbolic link put
//! in the state directory cannot redirect the agent's writes.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, Permissions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::JournalError;
use super::action::Action;

/// File name of the journal inside the state directory.
pub const FILE: &str = "actions.jsonl";
/// File name of the key the journal's command digests are made with.
pub const KEY_FILE: &str = "journal.key";

/// The open journal file.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    file: File,
}

/// Options for the agent's own files: 0600, never through a symlink.
fn private() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    o
}

impl Store {
    /// Opens (creating) the journal in `dir` and replays it.
    pub fn open(dir: &Path) -> Result<(Store, BTreeMap<u64, Action>), JournalError> {
        std::fs::create_dir_all(dir).map_err(|e| JournalError::io(dir, e))?;
        let path = dir.join(FILE);
        let mut file = private()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| JournalError::io(&path, e))?;
        // A file an older version or an operator left wider than that.
        file.set_permissions(Permissions::from_mode(0o600))
            .map_err(|e| JournalError::io(&path, e))?;
        let (actions, good, salvaged) = replay(&file).map_err(|e| JournalError::io(&path, e))?;
        if salvaged > 0 {
            tracing::warn!(path = %path.display(), lines = salvaged, "journal lines that do not parse were skipped (a record found after a partial one was kept)");
        }
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
        Ok((Store { path, file }, actions))
    }

    /// Appends encoded records (whole lines) and waits until they are on
    /// disk. On failure the file is cut back to where it ended, so no
    /// partial record stays.
    pub fn append_batch(&mut self, lines: &[u8]) -> Result<(), JournalError> {
        self.append(lines, true)
    }

    /// Appends encoded records without waiting for the disk (records nobody
    /// waits for): a later [`Store::append_batch`] or [`Store::sync`] puts
    /// them on disk. Cut back on failure as `append_batch` is.
    pub fn append_unsynced(&mut self, lines: &[u8]) -> Result<(), JournalError> {
        self.append(lines, false)
    }

    fn append(&mut self, lines: &[u8], sync: bool) -> Result<(), JournalError> {
        let io = |e| JournalError::io(&self.path, e);
        let before = self.file.metadata().map_err(io)?.len();
        let written = self
            .file
            .write_all(lines)
            .and_then(|()| if sync { self.file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            if let Err(undo) = self.file.set_len(before) {
                tracing::error!(path = %self.path.display(), error = %undo, "cannot cut a failed journal append back");
            }
            return Err(JournalError::io(&self.path, e));
        }
        Ok(())
    }

    /// Puts what was appended without waiting on disk.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.file
            .sync_data()
            .map_err(|e| JournalError::io(&self.path, e))
    }

    /// Where the journal lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the journal with a snapshot written by [`snapshot`]: syncs
    /// it, renames it over the journal, syncs the directory, and appends to
    /// it from then on.
    pub fn install(&mut self, tmp: &Path) -> Result<(), JournalError> {
        File::open(tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| JournalError::io(tmp, e))?;
        std::fs::rename(tmp, &self.path).map_err(|e| JournalError::io(&self.path, e))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| JournalError::io(dir, e))?;
        }
        self.file = private()
            .append(true)
            .open(&self.path)
            .map_err(|e| JournalError::io(&self.path, e))?;
        Ok(())
    }
}

/// Writes `live` to a temporary file beside the journal at `path`, one
/// record per action, without syncing it (the writer does, in
/// [`Store::install`]). Streamed: the live set is never encoded whole in
/// memory.
pub fn snapshot<'a>(
    path: &Path,
    live: impl Iterator<Item = &'a Action>,
) -> Result<PathBuf, JournalError> {
    let tmp = path.with_extension("jsonl.tmp");
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(JournalError::io(&tmp, e));
        }
        _ => {}
    }
    let file = private()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| JournalError::io(&tmp, e))?;
    let mut out = std::io::BufWriter::new(file);
    for a in live {
        serde_json::to_writer(&mut out, a).map_err(|e| JournalError::Encode(e.to_string()))?;
        out.write_all(b"\n")
            .map_err(|e| JournalError::io(&tmp, e))?;
    }
    out.flush().map_err(|e| JournalError::io(&tmp, e))?;
    Ok(tmp)
}

/// Reads the journal in `dir` without changing it (safe while the daemon
/// runs): the actions of every complete record.
pub fn read_only(dir: &Path) -> Result<BTreeMap<u64, Action>, JournalError> {
    let path = dir.join(FILE);
    let file = match private().read(true).open(&path) {
        Ok(f) => f,
        // No journal yet: no actions yet.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(JournalError::io(&path, e)),
    };
    replay(&file)
        .map(|(actions, _, _)| actions)
        .map_err(|e| JournalError::io(&path, e))
}

/// Reads every complete record. Returns the actions, the length of the file
/// up to its last complete line, and how many lines did not parse whole.
fn replay(file: &File) -> std::io::Result<(BTreeMap<u64, Action>, u64, usize)> {
    let mut reader = BufReader::new(file);
    reader.seek(SeekFrom::Start(0))?;
    let mut actions = BTreeMap::new();
    let mut good = 0u64;
    let mut bad = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        good += n as u64;
        let record = serde_json::from_slice::<Action>(&line).ok().or_else(|| {
            bad += 1;
            salvage(&line)
        });
        if let Some(a) = record {
            actions.insert(a.id, a);
        }
    }
    Ok((actions, good, bad))
}

/// A record written after a partial one on the same line: every record
/// starts with its id.
fn salvage(line: &[u8]) -> Option<Action> {
    const START: &[u8] = b"{\"id\":";
    let at = line
        .windows(START.len())
        .rposition(|w| w == START)
        .filter(|at| *at > 0)?;
    serde_json::from_slice(line.get(at..)?).ok()
}

/// The key the journal's command digests are made with: 32 random bytes in
/// `dir`, made on first use.
pub fn key(dir: &Path) -> Result<[u8; 32], JournalError> {
    let path = dir.join(KEY_FILE);
    let mut key = [0u8; 32];
    match private().read(true).open(&path) {
        Ok(mut f) => {
            f.read_exact(&mut key)
                .map_err(|e| JournalError::io(&path, e))?;
            return Ok(key);
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(JournalError::io(&path, e));
        }
        Err(_) => {}
    }
    getrandom::fill(&mut key).map_err(|e| JournalError::Encode(format!("no randomness: {e}")))?;
    let mut f = private()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| JournalError::io(&path, e))?;
    f.write_all(&key)
        .and_then(|()| f.sync_all())
        .map_err(|e| JournalError::io(&path, e))?;
    Ok(key)
}
