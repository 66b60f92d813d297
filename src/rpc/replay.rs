//! Memory of ciphertext: no encrypted message is accepted twice, and none is
//! built from pieces of another.
//!
//! Trove's scheme (AES-CBC, no MAC, see [`super::Crypto`]) lets anyone who
//! saw one blob and knows its plaintext make new valid blobs without the
//! key: changing the IV rewrites the first block's plaintext at will, and any
//! run of blocks `C[i..j]` of a blob, given `C[i-1]` (altered) as IV, is a
//! blob of its own. Every heartbeat hands out such a blob (`{}` as the
//! context), and a captured request can simply be sent again under a fresh
//! `_unique_id`. What all of these have in common is that they reuse
//! ciphertext blocks, while a legitimate sender draws a fresh random IV for
//! every blob, so its blocks are new with overwhelming probability.
//!
//! So, for `state.dedup_window`, the guard remembers every ciphertext block
//! (IV excluded) of every blob the agent received or sent, and refuses a
//! message holding a block it has seen, unless the message is a redelivery:
//! the same `_unique_id`, method and blobs as one already taken, which the
//! journal then answers as before. Each block is remembered by its first 8
//! bytes; ciphertext is pseudo-random, so two different blocks share them
//! with probability 2^-64.
//!
//! Memory is bounded: blocks are kept in generations (a 24th of the window
//! each, sealed into sorted arrays), expired as the window moves, and, past
//! [`MAX_COST`], dropped oldest first with a warning saying how far back the
//! memory still reaches. [`ReplayGuard::persist`] appends what is new to
//! files in the state directory (no fsync: they only need to survive a
//! restart of the process, not a power loss) and [`ReplayGuard::restore`]
//! reads them back, so a restart does not reopen the window.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// Cost units the guard may hold: one per block, three per message id (an
/// id is 24 bytes, a block 8). At most about 2 MiB of sealed memory.
pub const MAX_COST: usize = 1 << 18;
/// Cipher block size.
const BLOCK: usize = 16;
const BLOCKS_EXT: &str = "blocks";
const IDS_EXT: &str = "ids";
const ID_RECORD: usize = 24;

/// What a message's blobs and identity are, for the guard.
#[derive(Debug, Clone, Default)]
pub struct Seal {
    blocks: Vec<u64>,
    id: Option<u64>,
    hasher: Sha256,
}

impl Seal {
    /// Starts the seal of one message.
    pub fn new(method: &str, unique_id: Option<&str>) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(method.as_bytes());
        hasher.update([0]);
        if let Some(u) = unique_id {
            hasher.update(u.as_bytes());
        }
        hasher.update([0]);
        Seal {
            blocks: Vec::new(),
            id: unique_id.map(id_key),
            hasher,
        }
    }

    /// Adds one blob: `name` is where it sits in the message, `raw` its
    /// bytes after base64 (IV and ciphertext).
    pub fn add(&mut self, name: &str, raw: &[u8]) {
        self.hasher.update(name.as_bytes());
        self.hasher.update([0]);
        self.hasher.update((raw.len() as u64).to_le_bytes());
        self.hasher.update(raw);
        self.blocks
            .extend(blocks_of(raw.get(BLOCK..).unwrap_or_default()));
    }

    /// Whether any blob was added.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    fn fingerprint(&self) -> u128 {
        let digest = self.hasher.clone().finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        u128::from_le_bytes(first)
    }
}

/// The guard's judgement of an incoming message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing in it was seen before; it is now remembered.
    Fresh,
    /// The same message as one already taken (a broker redelivery).
    Redelivery,
    /// It reuses ciphertext of another message: a replay or a forgery.
    Reused,
}

/// The memory itself; shared behind the codec.
#[derive(Debug)]
pub struct ReplayGuard {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    window: u64,
    span: u64,
    current: Current,
    sealed: VecDeque<Sealed>,
    /// Generations dropped since the last persist, whose files go too.
    dropped: Vec<u64>,
    cost: usize,
}

#[derive(Debug)]
struct Current {
    start: u64,
    blocks: HashSet<u64>,
    ids: HashMap<u64, u128>,
    unflushed_blocks: Vec<u64>,
    unflushed_ids: Vec<(u64, u128)>,
}

#[derive(Debug)]
struct Sealed {
    start: u64,
    blocks: Box<[u64]>,
    ids: Box<[(u64, u128)]>,
}

impl Current {
    fn new(start: u64) -> Self {
        Current {
            start,
            blocks: HashSet::new(),
            ids: HashMap::new(),
            unflushed_blocks: Vec::new(),
            unflushed_ids: Vec::new(),
        }
    }
}

fn id_key(unique_id: &str) -> u64 {
    let digest = Sha256::digest(unique_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

fn blocks_of(ciphertext: &[u8]) -> impl Iterator<Item = u64> + '_ {
    ciphertext.chunks_exact(BLOCK).map(|b| {
        let mut first = [0u8; 8];
        first.copy_from_slice(&b[..8]);
        u64::from_le_bytes(first)
    })
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl ReplayGuard {
    /// An empty memory for `window`.
    pub fn new(window: Duration) -> Self {
        Self::starting(window, now(), Vec::new())
    }

    fn starting(window: Duration, now: u64, sealed: Vec<Sealed>) -> Self {
        let window = window.as_secs().max(60);
        let span = (window / 24).max(60);
        let mut inner = Inner {
            window,
            span,
            current: Current::new(now),
            sealed: sealed.into(),
            dropped: Vec::new(),
            cost: 0,
        };
        inner.cost = inner.sealed.iter().map(Sealed::cost).sum();
        inner.expire(now);
        ReplayGuard {
            inner: Mutex::new(inner),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Only a panic while holding it poisons it, and release builds abort.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Judges an incoming message and remembers it when it is fresh.
    pub fn check(&self, seal: &Seal) -> Verdict {
        self.check_at(seal, now())
    }

    fn check_at(&self, seal: &Seal, now: u64) -> Verdict {
        let mut inner = self.lock();
        inner.expire(now);
        let fingerprint = seal.fingerprint();
        if seal.blocks.iter().any(|b| inner.has_block(*b)) {
            let same = seal
                .id
                .and_then(|id| inner.fingerprint_of(id))
                .is_some_and(|f| f == fingerprint);
            return if same {
                Verdict::Redelivery
            } else {
                Verdict::Reused
            };
        }
        for b in &seal.blocks {
            inner.add_block(*b);
        }
        if let Some(id) = seal.id {
            inner.add_id(id, fingerprint);
        }
        inner.enforce(now);
        Verdict::Fresh
    }

    /// Remembers the blocks of a blob the agent sent (`raw`: IV and
    /// ciphertext), so nobody can build a message from them.
    pub fn sent(&self, raw: &[u8]) {
        let mut inner = self.lock();
        let now = now();
        inner.expire(now);
        for b in blocks_of(raw.get(BLOCK..).unwrap_or_default()) {
            inner.add_block(b);
        }
        inner.enforce(now);
    }

    /// Appends what is new to the generation files in `dir` and deletes the
    /// files of generations no longer kept.
    pub fn persist(&self, dir: &Path) -> io::Result<()> {
        let (start, blocks, ids, dropped) = {
            let mut inner = self.lock();
            let c = &mut inner.current;
            let taken = (
                c.start,
                std::mem::take(&mut c.unflushed_blocks),
                std::mem::take(&mut c.unflushed_ids),
            );
            (
                taken.0,
                taken.1,
                taken.2,
                std::mem::take(&mut inner.dropped),
            )
        };
        fs::create_dir_all(dir)?;
        for gone in dropped {
            for ext in [BLOCKS_EXT, IDS_EXT] {
                match fs::remove_file(dir.join(format!("{gone}.{ext}"))) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
        }
        if !blocks.is_empty() {
            let bytes: Vec<u8> = blocks.iter().flat_map(|b| b.to_le_bytes()).collect();
            append(&dir.join(format!("{start}.{BLOCKS_EXT}")), &bytes)?;
        }
        if !ids.is_empty() {
            let bytes: Vec<u8> = ids
                .iter()
                .flat_map(|(id, f)| id.to_le_bytes().into_iter().chain(f.to_le_bytes()))
                .collect();
            append(&dir.join(format!("{start}.{IDS_EXT}")), &bytes)?;
        }
        Ok(())
    }

    /// The memory kept in `dir` by an earlier process, for `window`.
    pub fn restore(dir: &Path, window: Duration) -> io::Result<Self> {
        Self::restore_at(dir, window, now())
    }

    fn restore_at(dir: &Path, window: Duration, now: u64) -> io::Result<Self> {
        let mut starts: Vec<u64> = match fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    let (start, ext) = name.split_once('.')?;
                    (ext == BLOCKS_EXT || ext == IDS_EXT)
                        .then(|| start.parse().ok())
                        .flatten()
                })
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        starts.sort_unstable();
        starts.dedup();
        let mut sealed = Vec::with_capacity(starts.len());
        for start in starts {
            let mut blocks: Vec<u64> = read_records(&dir.join(format!("{start}.{BLOCKS_EXT}")), 8)?
                .chunks_exact(8)
                .map(|r| u64::from_le_bytes(r.try_into().unwrap_or_default()))
                .collect();
            let mut ids: Vec<(u64, u128)> =
                read_records(&dir.join(format!("{start}.{IDS_EXT}")), ID_RECORD)?
                    .chunks_exact(ID_RECORD)
                    .map(|r| {
                        let (id, f) = r.split_at(8);
                        (
                            u64::from_le_bytes(id.try_into().unwrap_or_default()),
                            u128::from_le_bytes(f.try_into().unwrap_or_default()),
                        )
                    })
                    .collect();
            blocks.sort_unstable();
            blocks.dedup();
            ids.sort_unstable();
            sealed.push(Sealed {
                start,
                blocks: blocks.into(),
                ids: ids.into(),
            });
        }
        let guard = Self::starting(window, now, sealed);
        // The files of generations expired while the agent was down go now.
        guard.persist(dir)?;
        Ok(guard)
    }

    /// Blocks and ids remembered (for diagnostics and tests).
    pub fn len(&self) -> (usize, usize) {
        let inner = self.lock();
        let blocks =
            inner.current.blocks.len() + inner.sealed.iter().map(|s| s.blocks.len()).sum::<usize>();
        let ids = inner.current.ids.len() + inner.sealed.iter().map(|s| s.ids.len()).sum::<usize>();
        (blocks, ids)
    }

    /// Whether nothing is remembered.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

impl Sealed {
    fn cost(&self) -> usize {
        self.blocks.len() + 3 * self.ids.len()
    }
}

impl Inner {
    fn has_block(&self, b: u64) -> bool {
        self.current.blocks.contains(&b)
            || self
                .sealed
                .iter()
                .any(|s| s.blocks.binary_search(&b).is_ok())
    }

    /// The newest fingerprint recorded for an id.
    fn fingerprint_of(&self, id: u64) -> Option<u128> {
        if let Some(f) = self.current.ids.get(&id) {
            return Some(*f);
        }
        self.sealed.iter().rev().find_map(|s| {
            let at = s.ids.partition_point(|(k, _)| *k < id);
            s.ids.get(at).filter(|(k, _)| *k == id).map(|(_, f)| *f)
        })
    }

    fn add_block(&mut self, b: u64) {
        if self.current.blocks.insert(b) {
            self.current.unflushed_blocks.push(b);
            self.cost += 1;
        }
    }

    fn add_id(&mut self, id: u64, fingerprint: u128) {
        if self.current.ids.insert(id, fingerprint).is_none() {
            self.cost += 3;
        }
        self.current.unflushed_ids.push((id, fingerprint));
    }

    /// Seals the current generation when its time is up, and forgets the
    /// generations that left the window.
    fn expire(&mut self, now: u64) {
        if now >= self.current.start.saturating_add(self.span) {
            self.seal(now);
        }
        let horizon = now.saturating_sub(self.window);
        while let Some(oldest) = self.sealed.front() {
            if oldest.start.saturating_add(self.span) > horizon {
                break;
            }
            self.drop_oldest();
        }
    }

    /// Keeps the memory within [`MAX_COST`]: a generation that grew past an
    /// eighth of it is sealed early, and the oldest go first.
    fn enforce(&mut self, now: u64) {
        let current_cost = self.current.blocks.len() + 3 * self.current.ids.len();
        if current_cost > MAX_COST / 8 {
            self.seal(now);
        }
        let mut dropped_any = false;
        while self.cost > MAX_COST && !self.sealed.is_empty() {
            self.drop_oldest();
            dropped_any = true;
        }
        if dropped_any {
            let reach = self.sealed.front().map_or(self.current.start, |s| s.start);
            tracing::warn!(
                reaches_back_s = now.saturating_sub(reach),
                window_s = self.window,
                "the memory of encrypted messages is full; replays older than it reaches back are no longer refused"
            );
        }
    }

    fn seal(&mut self, now: u64) {
        let mut next = Current::new(now);
        // What was not yet written goes with the new generation's files:
        // its records are whole, and replay reads every file the same way.
        next.unflushed_blocks = std::mem::take(&mut self.current.unflushed_blocks);
        next.unflushed_ids = std::mem::take(&mut self.current.unflushed_ids);
        let old = std::mem::replace(&mut self.current, next);
        if old.blocks.is_empty() && old.ids.is_empty() {
            return;
        }
        let mut blocks: Vec<u64> = old.blocks.into_iter().collect();
        blocks.sort_unstable();
        let mut ids: Vec<(u64, u128)> = old.ids.into_iter().collect();
        ids.sort_unstable();
        self.sealed.push_back(Sealed {
            start: old.start,
            blocks: blocks.into(),
            ids: ids.into(),
        });
    }

    fn drop_oldest(&mut self) {
        if let Some(gone) = self.sealed.pop_front() {
            self.cost = self.cost.saturating_sub(gone.cost());
            self.dropped.push(gone.start);
        }
    }
}

fn append(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    f.write_all(bytes)
}

/// A file's whole records (a torn tail is ignored); empty when it is absent.
fn read_records(path: &Path, record: usize) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(mut f) => {
            f.read_to_end(&mut bytes)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(bytes),
        Err(e) => return Err(e),
    }
    let whole = bytes.len() - bytes.len() % record;
    bytes.truncate(whole);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(iv: u8, blocks: &[u8]) -> Vec<u8> {
        let mut out = vec![iv; BLOCK];
        for b in blocks {
            out.extend([*b; BLOCK]);
        }
        out
    }

    fn seal(method: &str, id: &str, blobs: &[Vec<u8>]) -> Seal {
        let mut s = Seal::new(method, Some(id));
        for (i, b) in blobs.iter().enumerate() {
            s.add(&format!("arg{i}"), b);
        }
        s
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn fresh_then_redelivery_then_replay() {
        let g = ReplayGuard::starting(HOUR, 1000, Vec::new());
        let m = seal("change_passwords", "u1", &[raw(1, &[10, 11])]);
        assert_eq!(g.check_at(&m, 1000), Verdict::Fresh);
        assert_eq!(g.check_at(&m, 1001), Verdict::Redelivery);
        // The same blobs under another id or another method.
        let other_id = seal("change_passwords", "u2", &[raw(1, &[10, 11])]);
        assert_eq!(g.check_at(&other_id, 1002), Verdict::Reused);
        let other_method = seal("regenerate_password", "u1", &[raw(1, &[10, 11])]);
        assert_eq!(g.check_at(&other_method, 1002), Verdict::Reused);
    }

    #[test]
    fn iv_flips_and_block_runs_are_refused() {
        let g = ReplayGuard::starting(HOUR, 1000, Vec::new());
        // A blob the agent sent (a heartbeat's context).
        g.lock()
            .add_block(blocks_of(&[7u8; 16]).next().unwrap_or(0));
        let forged = seal("enable_root_with_password", "x", &[raw(99, &[7])]);
        assert_eq!(g.check_at(&forged, 1000), Verdict::Reused);
        // A run cut out of the middle of a received blob.
        let long = seal("create_user", "y", &[raw(1, &[20, 21, 22, 23])]);
        assert_eq!(g.check_at(&long, 1000), Verdict::Fresh);
        let run = seal("create_user", "z", &[raw(21, &[22, 23])]);
        assert_eq!(g.check_at(&run, 1000), Verdict::Reused);
        // New blocks are fine, even with an old IV.
        let new = seal("create_user", "w", &[raw(1, &[30])]);
        assert_eq!(g.check_at(&new, 1000), Verdict::Fresh);
    }

    #[test]
    fn forgets_after_the_window() {
        let g = ReplayGuard::starting(HOUR, 0, Vec::new());
        let m = seal("m", "u", &[raw(1, &[5])]);
        assert_eq!(g.check_at(&m, 10), Verdict::Fresh);
        let again = seal("m", "v", &[raw(2, &[5])]);
        assert_eq!(g.check_at(&again, 3000), Verdict::Reused);
        // The generation holding it (150 s wide) ends before now - window.
        assert_eq!(g.check_at(&again, 3900), Verdict::Fresh);
    }

    #[test]
    fn memory_is_bounded() {
        let g = ReplayGuard::starting(Duration::from_secs(86_400), 0, Vec::new());
        let mut n = 0u64;
        for t in 0..40u64 {
            let mut s = Seal::new("m", None);
            let mut blob = vec![0u8; BLOCK];
            for _ in 0..10_000 {
                n += 1;
                blob.extend(n.to_le_bytes());
                blob.extend([0u8; 8]);
            }
            s.add("a", &blob);
            assert_eq!(g.check_at(&s, t), Verdict::Fresh);
        }
        let (blocks, _) = g.len();
        assert!(blocks <= MAX_COST, "{blocks}");
        assert!(blocks >= MAX_COST / 2, "{blocks}");
    }

    #[test]
    fn survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let g = ReplayGuard::starting(HOUR, 1000, Vec::new());
        let m = seal("m", "u", &[raw(1, &[5, 6])]);
        assert_eq!(g.check_at(&m, 1000), Verdict::Fresh);
        g.persist(dir.path()).unwrap();
        // A torn record at the end is ignored.
        let torn = dir.path().join("1000.blocks");
        let mut f = OpenOptions::new().append(true).open(&torn).unwrap();
        f.write_all(&[1, 2, 3]).unwrap();
        let back = ReplayGuard::restore_at(dir.path(), HOUR, 1100).unwrap();
        assert_eq!(back.check_at(&m, 1100), Verdict::Redelivery);
        let replay = seal("m", "v", &[raw(9, &[6])]);
        assert_eq!(back.check_at(&replay, 1100), Verdict::Reused);
        // Expired generations' files are deleted on restore.
        let later = ReplayGuard::restore_at(dir.path(), HOUR, 9000).unwrap();
        assert!(later.is_empty());
        assert!(!torn.exists());
    }
}
