//! A .tar.gz read as a stream, member by member, nothing extracted to disk, with every length
//! bounded before memory is taken for it: a member is read only after its declared size is
//! checked, and the tar reader's own records between members (headers, GNU long names, pax
//! extensions, which it reads whole) may inflate to at most `RECORDS` bytes. A member's path that
//! leaves its folder (`..`, absolute) is an error.
use super::limits::{self, OverLimit};
use super::DataError;
use crate::files::At;
use std::cell::Cell;
use std::io::{BufReader, Read};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

/// Bytes the tar reader may pull from the stream between two members for its own records.
pub const RECORDS: u64 = 1 << 20;

/// The inflated stream, handing out at most `room` more bytes (then an `OverLimit` error).
struct Budget<R> {
    inner: R,
    room: Rc<Cell<u64>>,
    archive: PathBuf,
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let room = self.room.get();
        if room == 0 && !buf.is_empty() {
            return Err(std::io::Error::other(OverLimit {
                path: self.archive.clone(),
                what: "a tar header record (a long name or pax extension, read whole)".into(),
                limit: limits::human(RECORDS),
            }));
        }
        let take = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..take])?;
        self.room.set(room - n as u64);
        Ok(n)
    }
}

type Stream = Budget<flate2::read::GzDecoder<BufReader<std::fs::File>>>;

/// One member of the archive, as `read_members` hands it to its visitor.
pub struct Member<'a, 'b> {
    /// The path inside the archive.
    pub path: PathBuf,
    /// Its normal components (`safe_components`).
    pub parts: Vec<String>,
    pub is_file: bool,
    entry: &'b mut tar::Entry<'a, Stream>,
    room: &'b Cell<u64>,
    archive: &'b Path,
}

impl Member<'_, '_> {
    /// The member's bytes, refused (before reading) when it declares more than `limit`.
    pub fn read(&mut self, limit: u64) -> Result<Vec<u8>, DataError> {
        let size = self.entry.size();
        limits::check_len(self.archive, &format!("member {}", self.path.display()), size, limit)?;
        self.room.set(size);
        let mut bytes = Vec::with_capacity(size as usize);
        self.entry.read_to_end(&mut bytes).map_err(|e| limits::stream_err(self.archive, e))?;
        Ok(bytes)
    }
}

/// Calls `visit` with each member of `archive` in order. What a visitor does not read is skipped
/// (streamed past, not held).
pub fn read_members(
    archive: &Path,
    mut visit: impl FnMut(&mut Member) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let f = std::fs::File::open(archive).at(archive)?;
    let room = Rc::new(Cell::new(RECORDS));
    let gz = flate2::read::GzDecoder::new(BufReader::with_capacity(1 << 20, f));
    let mut tar = tar::Archive::new(Budget { inner: gz, room: room.clone(), archive: archive.to_path_buf() });
    for entry in tar.entries().map_err(|e| limits::stream_err(archive, e))? {
        let mut entry = entry.map_err(|e| limits::stream_err(archive, e))?;
        let path = entry.path().map_err(|e| limits::stream_err(archive, e))?.into_owned();
        let parts = safe_components(&path, archive)?;
        let is_file = entry.header().entry_type().is_file();
        let mut m = Member { path, parts, is_file, entry: &mut entry, room: &room, archive };
        visit(&mut m)?;
        // The rest of the member streams past here (it may be large, and is not kept); then the
        // next member's records get their budget.
        room.set(u64::MAX);
        std::io::copy(&mut entry, &mut std::io::sink()).map_err(|e| limits::stream_err(archive, e))?;
        room.set(RECORDS);
    }
    Ok(())
}

/// Components of a tar entry path; `..`, absolute paths and prefixes are refused.
pub fn safe_components(entry: &Path, archive: &Path) -> Result<Vec<String>, DataError> {
    let mut out = Vec::new();
    for c in entry.components() {
        match c {
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => {
                return Err(DataError::UnsafeTarPath {
                    path: archive.to_path_buf(),
                    entry: entry.display().to_string(),
                })
            }
        }
    }
    Ok(out)
}

/// Test helpers: archives in the real format.
#[doc(hidden)]
pub mod testing {
    /// A .tar.gz holding `files` (path, bytes); paths are written raw, so `..` can be tested.
    pub fn targz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (path, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            {
                let name = &mut h.as_old_mut().name;
                let p = path.as_bytes();
                name[..p.len()].copy_from_slice(p);
            }
            h.set_cksum();
            b.append(&h, *data).expect("tar append");
        }
        b.into_inner().expect("tar finish").finish().expect("gz finish")
    }
}

#[cfg(test)]
mod tests {
    use super::testing::targz;
    use super::*;

    #[test]
    fn members_are_read_skipped_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.tar.gz");
        let big = vec![0u8; 3 << 20];
        std::fs::write(&p, targz(&[("x/one", b"first"), ("x/big", &big), ("x/two", b"second")])).unwrap();
        // Unread members (3 MiB, past the record budget) are streamed past.
        let mut seen = Vec::new();
        read_members(&p, |m| {
            if m.parts.last().is_some_and(|f| f != "big") {
                seen.push(String::from_utf8(m.read(10).unwrap()).unwrap());
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, ["first", "second"]);
        // A member over the visitor's limit is refused by its declared size, named.
        let e = read_members(&p, |m| m.read(1 << 20).map(|_| ())).unwrap_err().to_string();
        assert!(
            e.contains("a.tar.gz: member x/big of 3 MiB is larger than pad reads (at most 1 MiB read into memory)"),
            "{e}"
        );
    }

    #[test]
    fn a_long_name_record_past_the_budget_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("longname.tar.gz");
        // The builder writes a path longer than 100 bytes as a GNU long-name record before the
        // member: here a 2 MiB one, which the tar reader would read whole.
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        let name = format!("train/a/{}.png", "x".repeat(2 << 20));
        b.append_data(&mut h, &name, &b"z"[..]).unwrap();
        std::fs::write(&p, b.into_inner().unwrap().finish().unwrap()).unwrap();
        let e = read_members(&p, |_| Ok(())).unwrap_err();
        assert!(matches!(e, DataError::TooLarge { .. }), "{e:?}");
        assert!(
            e.to_string().contains("longname.tar.gz: a tar header record") && e.to_string().contains("1 MiB"),
            "{e}"
        );
        // One of 100 KiB is within it.
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        b.append_data(&mut h, format!("a/{}", "y".repeat(100 << 10)), &b"z"[..]).unwrap();
        std::fs::write(&p, b.into_inner().unwrap().finish().unwrap()).unwrap();
        let mut n = 0;
        read_members(&p, |m| {
            n += m.read(1)?.len();
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 1);
    }
}
