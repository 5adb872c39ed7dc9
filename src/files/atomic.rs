//! Nothing half-written: every output file goes to a temporary sibling and is renamed into place.
use super::{At, PathIo};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary sibling used while writing `path` (same directory, so the rename is atomic).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename. On error the temp file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PathIo> {
    write_atomic_with(path, |w| w.write_all(bytes).at(path))
}

/// Writes a file through `fill` (streamed: artifacts have hundreds of MB) into the temporary
/// sibling, fsyncs it and renames it into place. On any error the temporary file is removed and
/// `dest` is untouched.
pub fn write_atomic_with<T, E: From<PathIo>>(
    dest: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<T, E>,
) -> Result<T, E> {
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).at(dir)?;
    }
    let tmp = temp_path(dest);
    let result = (|| {
        let f = std::fs::File::create(&tmp).at(dest)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        let v = fill(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error()).at(dest)?;
        f.sync_all().at(dest)?;
        std::fs::rename(&tmp, dest).at(dest)?;
        Ok(v)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
