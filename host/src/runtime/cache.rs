//! Where compiled code is kept between runs.
//!
//! Policy components are cached by [`ArtifactCache`]: the machine code
//! wasmtime made for a component, serialised as it is (not compressed), in a
//! file that a later run maps into memory instead of compiling again. A run
//! on one lead then starts in a few milliseconds: wasmtime's own cache, which
//! the compiler still uses for the engine module, compresses its entries and
//! copies them into memory, which cost about 30 ms per start.
//!
//! Mapped code runs unchecked, so the cache is trusted only as ssh trusts
//! its keys: leadfilter creates its cache directories with mode 0700, and a
//! directory or entry that is not owned by the user or that group or others
//! may write is not used. Policies are then compiled in memory, with one
//! warning (a world-writable cache once let anyone swap a compiled policy
//! for one that passed leads through unfiltered).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Cache, CacheConfig};

use crate::private_fs::{make_private_dir, trusted};

/// The environment variable that overrides the cache directory.
pub const CACHE_DIR_ENV: &str = "LEADFILTER_CACHE_DIR";

/// Whether and where compiled code is cached on disk.
///
/// Compiling a policy component to machine code takes a moment (the engine
/// is a few MiB of Wasm); the cache makes every later load of the same
/// component nearly free.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CacheSetting {
    /// `$LEADFILTER_CACHE_DIR` if set, otherwise `leadfilter/` in the user's
    /// cache directory (`~/.cache` on Linux). No cache when neither is known,
    /// or when the user's cache directory cannot be used (a read-only home
    /// slows leadfilter down but does not stop it).
    #[default]
    Default,
    /// No on-disk cache: every load compiles.
    Disabled,
    /// This directory.
    Directory(PathBuf),
}

impl CacheSetting {
    /// The directory this setting resolves to, if any.
    pub fn directory(&self) -> Option<PathBuf> {
        self.resolve().map(|(dir, _)| dir)
    }

    /// The directory, and whether it is the user's default one, which is
    /// used only if it can be.
    fn resolve(&self) -> Option<(PathBuf, bool)> {
        match self {
            CacheSetting::Default => match std::env::var_os(CACHE_DIR_ENV) {
                Some(dir) if !dir.is_empty() => Some((PathBuf::from(dir), false)),
                _ => dirs::cache_dir().map(|dir| (dir.join("leadfilter"), true)),
            },
            CacheSetting::Disabled => None,
            CacheSetting::Directory(dir) => Some((dir.clone(), false)),
        }
    }

    /// The directory, made (mode 0700) if it is missing; `None` when there
    /// is no cache or it cannot be trusted (with a warning).
    fn usable_directory(&self) -> Result<Option<PathBuf>, String> {
        let Some((dir, best_effort)) = self.resolve() else {
            return Ok(None);
        };
        let made = std::path::absolute(&dir).and_then(|dir| {
            make_private_dir(&dir)?;
            Ok(dir)
        });
        let dir = match made {
            Ok(dir) => dir,
            Err(_) if best_effort => return Ok(None),
            Err(e) => {
                return Err(format!(
                    "the cache directory `{}` cannot be used: {e}",
                    dir.display()
                ));
            }
        };
        Ok(trusted_dir(&dir).then_some(dir))
    }

    /// The cache of compiled policy components for this setting.
    pub(crate) fn artifacts(&self) -> Result<Option<ArtifactCache>, String> {
        let Some(dir) = self.usable_directory()? else {
            return Ok(None);
        };
        let dir = dir.join(ARTIFACTS);
        if make_private_dir(&dir).is_err() || !trusted_dir(&dir) {
            return Ok(None);
        }
        Ok(Some(ArtifactCache { dir }))
    }

    /// The wasmtime cache for this setting.
    pub(crate) fn build(&self) -> Result<Option<Cache>, String> {
        let Some(dir) = self.usable_directory()? else {
            return Ok(None);
        };
        let best_effort = self.resolve().is_some_and(|(_, best_effort)| best_effort);
        let mut config = CacheConfig::new();
        config.with_directory(&dir);
        match Cache::new(config) {
            Ok(cache) => Ok(Some(cache)),
            Err(_) if best_effort => Ok(None),
            Err(e) => Err(format!(
                "the cache directory `{}` cannot be used: {e:#}",
                dir.display()
            )),
        }
    }
}

/// The subdirectory of the cache directory that holds compiled components.
const ARTIFACTS: &str = "components";

/// Compiled components kept at most; the least recently used go first.
const KEEP_ARTIFACTS: usize = 32;

/// A temporary file this old is left from a run that died while writing
/// (writing one takes well under a second).
const STALE_TEMPORARY: Duration = Duration::from_secs(600);

/// Compiled policy components on disk, one file per component and engine
/// configuration.
#[derive(Debug, Clone)]
pub(crate) struct ArtifactCache {
    dir: PathBuf,
}

/// Where a loaded component's machine code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSource {
    /// Compiled by this load.
    Compiled,
    /// Mapped from the on-disk cache, as an earlier load left it.
    Cache,
}

impl ArtifactCache {
    /// The component made from `bytes` for `engine`: mapped from the cache
    /// when an earlier load put it there, otherwise compiled and put there.
    /// A cache entry that cannot be used (damaged, or from another wasmtime)
    /// is compiled again and replaced; a cache that cannot be written only
    /// makes the next load compile again.
    pub(crate) fn load(
        &self,
        engine: &wasmtime::Engine,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, CodeSource)> {
        let path = self.dir.join(format!("{}.cwasm", key(engine, bytes)));
        if path.is_file()
            && trusted_file(&path)
            && let Ok(component) = map(engine, &path)
        {
            // The modification time marks the last use, for `trim`.
            let _ = std::fs::File::open(&path).and_then(|f| f.set_modified(SystemTime::now()));
            return Ok((component, CodeSource::Cache));
        }
        let component = Component::new(engine, bytes)?;
        if let Ok(serialized) = component.serialize() {
            // Best effort: the component is loaded either way.
            let _ = self.store(&path, &serialized);
        }
        Ok((component, CodeSource::Compiled))
    }

    /// Writes `bytes` to `path` whole or not at all (a file in place is
    /// replaced by a rename, never rewritten while another run maps it;
    /// mode 0600), then trims the cache to [`KEEP_ARTIFACTS`] files.
    fn store(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        make_private_dir(&self.dir)?;
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(format!(
            ".{}-{}.tmp",
            std::process::id(),
            WRITES.fetch_add(1, Ordering::Relaxed)
        ));
        let temporary = PathBuf::from(temporary);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options
            .open(&temporary)
            .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
            .and_then(|()| std::fs::rename(&temporary, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written?;
        self.trim();
        Ok(())
    }

    /// Removes the least recently used compiled components beyond
    /// [`KEEP_ARTIFACTS`], and temporary files that a run which died while
    /// writing left behind.
    fn trim(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let stale = SystemTime::now()
            .checked_sub(STALE_TEMPORARY)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut artifacts: Vec<(SystemTime, PathBuf)> = Vec::new();
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let Some(modified) = entry.metadata().and_then(|m| m.modified()).ok() else {
                continue;
            };
            match path.extension().and_then(|x| x.to_str()) {
                Some("cwasm") => artifacts.push((modified, path)),
                Some("tmp") if modified < stale => {
                    let _ = std::fs::remove_file(&path);
                }
                _ => {}
            }
        }
        if artifacts.len() <= KEEP_ARTIFACTS {
            return;
        }
        artifacts.sort();
        for (_, path) in &artifacts[..artifacts.len() - KEEP_ARTIFACTS] {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Whether the cache directory can be trusted; warns once if not.
fn trusted_dir(dir: &Path) -> bool {
    let ok = std::fs::metadata(dir).is_ok_and(|meta| meta.is_dir() && trusted(&meta));
    if !ok {
        warn_once(format!(
            "the cache directory `{}` is not owned by you or can be written by others: compiled policies are not cached (make it yours with mode 0700)",
            dir.display()
        ));
    }
    ok
}

/// Whether a cache entry can be mapped; warns once if not.
fn trusted_file(path: &Path) -> bool {
    let ok = std::fs::metadata(path).is_ok_and(|meta| trusted(&meta));
    if !ok {
        warn_once(format!(
            "the cache entry `{}` is not owned by you or can be written by others: it is not used",
            path.display()
        ));
    }
    ok
}

/// Writes a warning on standard error, once per process and message.
fn warn_once(message: String) {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static WARNED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let first = WARNED
        .lock()
        .map(|mut warned| warned.insert(message.clone()))
        .unwrap_or(true);
    if first {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "leadfilter: warning: {message}");
    }
}

/// The file name of a component's machine code: a digest of the component
/// and of every engine setting that shapes the code (wasmtime's own
/// compatibility hash, which also covers its version).
fn key(engine: &wasmtime::Engine, bytes: &[u8]) -> String {
    let mut settings = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut settings);
    let digest = Sha256::new()
        .chain_update(b"leadfilter component artifact 1\0")
        .chain_update(settings.finish().to_le_bytes())
        .chain_update(bytes)
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Maps a file [`ArtifactCache::store`] wrote.
#[allow(unsafe_code)]
fn map(engine: &wasmtime::Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: wasmtime needs the file to hold code that `serialize` made,
    // unchanged while it is mapped. This cache writes its files whole and
    // replaces them only by renaming, never in place; wasmtime checks the
    // header (its version and this engine's settings) and refuses anything
    // else. Like wasmtime's own cache, it trusts the cache directory to be
    // writable only by its user.
    unsafe { Component::deserialize_file(engine, path) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_the_newest_components() {
        let dir = tempfile::tempdir().expect("a scratch directory");
        let cache = ArtifactCache {
            dir: dir.path().to_owned(),
        };
        let start = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1 << 30);
        for i in 0..KEEP_ARTIFACTS + 5 {
            let path = dir.path().join(format!("{i:03}.cwasm"));
            let file = std::fs::File::create(&path).expect("a file");
            file.set_modified(start + std::time::Duration::from_secs(i as u64))
                .expect("a modification time");
        }
        std::fs::write(dir.path().join("other.txt"), b"kept").expect("a file");
        // A temporary file from a run that died while writing goes; one
        // being written now stays.
        let dead = std::fs::File::create(dir.path().join("a.cwasm.1-0.tmp")).expect("a file");
        dead.set_modified(start).expect("a modification time");
        std::fs::write(dir.path().join("b.cwasm.2-0.tmp"), b"").expect("a file");
        cache.trim();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("the directory")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        left.sort();
        let mut expected: Vec<String> = (5..KEEP_ARTIFACTS + 5)
            .map(|i| format!("{i:03}.cwasm"))
            .collect();
        expected.push("b.cwasm.2-0.tmp".into());
        expected.push("other.txt".into());
        assert_eq!(left, expected);
    }
}
