//! Where wasmtime keeps compiled code between runs.

use std::path::PathBuf;

use wasmtime::{Cache, CacheConfig};

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

    /// The wasmtime cache for this setting.
    pub(crate) fn build(&self) -> Result<Option<Cache>, String> {
        let Some((dir, best_effort)) = self.resolve() else {
            return Ok(None);
        };
        let dir = std::path::absolute(&dir).map_err(|e| {
            format!(
                "the cache directory `{}` cannot be resolved: {e}",
                dir.display()
            )
        })?;
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
