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
    /// cache directory (`~/.cache` on Linux); no cache when neither is known.
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
        match self {
            CacheSetting::Default => match std::env::var_os(CACHE_DIR_ENV) {
                Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
                _ => dirs::cache_dir().map(|dir| dir.join("leadfilter")),
            },
            CacheSetting::Disabled => None,
            CacheSetting::Directory(dir) => Some(dir.clone()),
        }
    }

    /// The wasmtime cache for this setting.
    pub(crate) fn build(&self) -> Result<Option<Cache>, String> {
        let Some(dir) = self.directory() else {
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
        Cache::new(config).map(Some).map_err(|e| {
            format!(
                "the cache directory `{}` cannot be used: {e:#}",
                dir.display()
            )
        })
    }
}
