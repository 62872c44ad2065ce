//! Directories and files only this user may change: the code cache and the
//! queue store live in them, as ssh treats its keys.

use std::path::Path;

/// Makes a directory and its missing parents, each with mode 0700.
pub(crate) fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Whether a file or directory is owned by this user and not writable by
/// group or others (a symbolic link is judged by what it points at).
#[cfg(unix)]
pub(crate) fn trusted(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.uid() == rustix::process::geteuid().as_raw() && meta.mode() & 0o022 == 0
}

/// Whether a file or directory can be trusted (no owners to check here).
#[cfg(not(unix))]
pub(crate) fn trusted(_meta: &std::fs::Metadata) -> bool {
    true
}
