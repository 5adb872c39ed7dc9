//! Getting archives into the download directory and verifying them.
//!
//! A file already in the download directory is verified and never fetched again. Otherwise it is
//! copied from a local mirror directory or downloaded over HTTP (a blocking `ureq` client) into
//! `<name>.part` with a progress bar, verified, and only then renamed to `<name>`; a failed
//! fetch or check removes the `.part` file.
//!
//! Verification (see `verify`): the decompressed-content sha256 of .gz files when known (stable
//! across re-gzipping mirrors); otherwise the published size, sha256 and MD5 (whatever the
//! origin, unless `allow_unpublished`); the archive sha256 against the lock entry of the same
//! origin; for a file found in the download directory, any recorded sha256 (or matching
//! content). New (file, origin) pairs are recorded in the lock.

use super::lock::{FileEntry, Lock};
use super::{hash_file, idx, DataError};
use crate::files::sha256_hex;
use crate::files::At;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub const OFFICIAL: &str = "official";
pub const LOCAL: &str = "local";

/// One archive of a dataset, with what is published about it (the table is in `sources`).
#[derive(Debug, Clone, Copy)]
pub struct FileSpec<'a> {
    pub name: &'a str,
    pub size: Option<u64>,
    pub md5: Option<&'a str>,
    pub sha256: Option<&'a str>,
    /// sha256 of the decompressed content of a .gz file (stable across re-gzipping).
    pub content_sha256: Option<&'a str>,
    /// A gzip file whose decompressed content is hashed too.
    pub gz: bool,
}

/// Where a file comes from: an HTTP(S) URL or a local path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Url(String),
    Path(PathBuf),
}

/// Resolves `base` (a URL, `file://` URL or directory) joined with a file name.
pub fn locate(base: &str, name: &str) -> Location {
    if base.starts_with("http://") || base.starts_with("https://") {
        Location::Url(format!("{}/{}", base.trim_end_matches('/'), name))
    } else {
        Location::Path(Path::new(base.strip_prefix("file://").unwrap_or(base)).join(name))
    }
}

fn progress(len: Option<u64>, name: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::with_draw_target(len, indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(name.to_string());
    pb
}

/// Copies `reader` into `part` with a progress bar; returns the byte count.
fn pump(mut reader: impl Read, part: &Path, len: Option<u64>, name: &str, from: &str) -> Result<u64, DataError> {
    let f = std::fs::File::create(part).at(part)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    let pb = progress(len, name);
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let k = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(DataError::Http {
                    url: from.to_string(),
                    detail: format!("read failed after {total} bytes: {e}"),
                })
            }
        };
        w.write_all(&buf[..k]).at(part)?;
        total += k as u64;
        pb.set_position(total);
    }
    w.flush().at(part)?;
    pb.finish_and_clear();
    Ok(total)
}

/// Downloads `url` into `part`; checks the byte count against Content-Length.
pub fn download(url: &str, part: &Path, name: &str) -> Result<(), DataError> {
    let http = |detail: String| DataError::Http { url: url.to_string(), detail };
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(std::time::Duration::from_secs(30))
        .timeout_read(std::time::Duration::from_secs(120))
        .build();
    let resp = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, r) => http(format!("HTTP {code} {}", r.status_text())),
        ureq::Error::Transport(t) => http(t.to_string()),
    })?;
    let len: Option<u64> = resp.header("Content-Length").and_then(|v| v.parse().ok());
    let got = pump(resp.into_reader(), part, len, name, url)?;
    if let Some(len) = len.filter(|&l| l != got) {
        return Err(DataError::SizeMismatch {
            file: name.to_string(),
            from: url.to_string(),
            expected: len,
            actual: got,
        });
    }
    Ok(())
}

fn fetch_into(loc: &Location, part: &Path, name: &str) -> Result<(), DataError> {
    match loc {
        Location::Url(u) => download(u, part, name),
        Location::Path(p) => {
            let f = std::fs::File::open(p).at(p)?;
            let len = f.metadata().ok().map(|m| m.len());
            pump(f, part, len, name, &p.display().to_string()).map(|_| ())
        }
    }
}

/// sha256 of a .gz file's decompressed content.
pub fn gz_content_sha256(path: &Path) -> Result<String, DataError> {
    Ok(sha256_hex(&idx::read_gz(path)?))
}

/// Checks `path` (holding `spec.name`, fetched from `origin`, or found in the download
/// directory when `origin` is `LOCAL`) and returns the lock entry describing it.
pub fn verify(
    path: &Path,
    spec: &FileSpec,
    origin: &str,
    from: &str,
    lock: &Lock,
    allow_unpublished: bool,
) -> Result<FileEntry, DataError> {
    let name = spec.name.to_string();
    let mismatch = |algo: &'static str, expected: String, actual: &str| DataError::HashMismatch {
        file: name.clone(),
        algo,
        from: from.to_string(),
        expected,
        actual: actual.to_string(),
    };
    let size = std::fs::metadata(path).at(path)?.len();
    let (sha, md5) = hash_file(path)?;
    let content = if spec.gz { Some(gz_content_sha256(path)?) } else { None };
    // With allow_unpublished the published content hash does not apply (a slice or re-encoding of
    // the data), but what the lock recorded for these files still does.
    let published = if allow_unpublished { None } else { spec.content_sha256.map(str::to_string) };
    let known_content = published.or_else(|| lock.entries(spec.name).find_map(|e| e.content_sha256.clone()));
    let mut content_ok = false;
    if let (Some(want), Some(got)) = (&known_content, &content) {
        if want != got {
            return Err(mismatch("sha256 of decompressed content", want.clone(), got));
        }
        content_ok = true;
    }
    // Published size / sha256 / MD5 hold for the official bytes from any origin, unless the
    // decompressed content was verified (a re-gzipping mirror) or the caller accepts files that
    // differ from the published ones (its own re-encodings, test data).
    if !content_ok && !allow_unpublished {
        if let Some(want) = spec.size.filter(|&s| s != size) {
            return Err(DataError::SizeMismatch {
                file: name.clone(),
                from: from.to_string(),
                expected: want,
                actual: size,
            });
        }
        if let Some(want) = spec.sha256.filter(|w| *w != sha) {
            return Err(mismatch("sha256", want.to_string(), &sha));
        }
        if let Some(want) = spec.md5.filter(|w| *w != md5) {
            return Err(mismatch("md5", want.to_string(), &md5));
        }
    }
    if origin != LOCAL {
        if let Some(e) = lock.entries(spec.name).find(|e| e.origin == origin && e.sha256 != sha) {
            return Err(mismatch("sha256", e.sha256.clone(), &sha));
        }
    } else {
        let known: Vec<String> =
            lock.entries(spec.name).map(|e| e.sha256.clone()).chain(spec.sha256.map(str::to_string)).collect();
        if !known.is_empty() && !known.contains(&sha) && !content_ok {
            return Err(mismatch("sha256", known.join(" or "), &sha));
        }
    }
    Ok(FileEntry { name, origin: origin.to_string(), size, sha256: sha, content_sha256: content })
}

/// Makes `spec.name` present and verified in `download_dir`, fetching it from `base` (the
/// official base URL or a mirror) if needed. Records new entries in `lock`. Returns the path and
/// the archive's sha256.
pub fn ensure_file(
    spec: &FileSpec,
    base: Option<&str>,
    origin: &str,
    download_dir: &Path,
    lock: &mut Lock,
    allow_unpublished: bool,
) -> Result<(PathBuf, String), DataError> {
    let dest = download_dir.join(spec.name);
    let entry = if dest.is_file() {
        verify(&dest, spec, LOCAL, &dest.display().to_string(), lock, allow_unpublished)?
    } else {
        let base = base.ok_or_else(|| DataError::Config {
            key: spec.name.to_string(),
            detail: format!("not in {} and no origin to fetch it from: pass --mirror DIR|URL", download_dir.display()),
        })?;
        std::fs::create_dir_all(download_dir).at(download_dir)?;
        let loc = locate(base, spec.name);
        let from = match &loc {
            Location::Url(u) => u.clone(),
            Location::Path(p) => p.display().to_string(),
        };
        let part = download_dir.join(format!("{}.part", spec.name));
        let r = fetch_into(&loc, &part, spec.name)
            .and_then(|_| verify(&part, spec, origin, &from, lock, allow_unpublished));
        match r {
            Ok(e) => {
                std::fs::rename(&part, &dest).at(&dest)?;
                e
            }
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                return Err(e);
            }
        }
    };
    let sha = entry.sha256.clone();
    let already =
        lock.entries(spec.name).any(|e| e.sha256 == sha && (entry.origin == LOCAL || e.origin == entry.origin));
    if !already {
        lock.record(entry);
    }
    Ok((dest, sha))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(bytes: &[u8], level: u32) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn locate_urls_and_dirs() {
        assert_eq!(locate("http://h/a/", "f.gz"), Location::Url("http://h/a/f.gz".into()));
        assert_eq!(locate("file:///m", "f.gz"), Location::Path("/m/f.gz".into()));
        assert_eq!(locate("../shared/data", "f.gz"), Location::Path("../shared/data/f.gz".into()));
    }

    /// A re-gzipped copy (different archive bytes and MD5, same content) is accepted on its
    /// decompressed-content hash; different content is not, whatever the origin.
    #[test]
    fn regzipped_file_verifies_on_content() {
        let dir = tempfile::tempdir().unwrap();
        let content = b"idx content".repeat(100);
        let official = gz(&content, 9);
        let (_, md5_official) = {
            let p = dir.path().join("o.gz");
            std::fs::write(&p, &official).unwrap();
            hash_file(&p).unwrap()
        };
        let want = sha256_hex(&content);
        let spec = FileSpec {
            name: "f.gz",
            size: None,
            md5: Some(&md5_official),
            sha256: None,
            content_sha256: Some(&want),
            gz: true,
        };
        let p = dir.path().join("f.gz");
        std::fs::write(&p, gz(&content, 1)).unwrap();
        let lock = Lock::default();
        for origin in [LOCAL, OFFICIAL, "/mirror"] {
            let e = verify(&p, &spec, origin, "here", &lock, false).unwrap();
            assert_eq!(e.content_sha256.as_deref(), Some(want.as_str()));
        }
        std::fs::write(&p, gz(b"other content", 1)).unwrap();
        let e = verify(&p, &spec, LOCAL, "here", &lock, false).unwrap_err();
        assert!(matches!(e, DataError::HashMismatch { algo, .. } if algo.contains("content")));
        // allow_unpublished: the published content hash does not bind a slice or re-encoding...
        let e = verify(&p, &spec, LOCAL, "here", &lock, true).unwrap();
        // ...but what the lock recorded for the file does.
        let mut locked = Lock::default();
        locked.file.push(FileEntry { content_sha256: Some(want.clone()), ..e });
        let e = verify(&p, &spec, LOCAL, "here", &locked, true).unwrap_err();
        assert!(matches!(e, DataError::HashMismatch { algo, .. } if algo.contains("content")));
        // without a content hash the published MD5 decides
        let spec = FileSpec { content_sha256: None, ..spec };
        std::fs::write(&p, gz(&content, 1)).unwrap();
        let e = verify(&p, &spec, OFFICIAL, "here", &lock, false).unwrap_err();
        assert!(matches!(e, DataError::HashMismatch { algo: "md5", .. }), "{e}");
        std::fs::write(&p, &official).unwrap();
        assert!(verify(&p, &spec, OFFICIAL, "here", &lock, false).is_ok());
    }
}
