//! IDX files (MNIST, Fashion-MNIST): `00 00 08 ndim`, big-endian u32 dims, then u8 data.

use super::{limits, resize, DataError, Split, PLANE};
use crate::files::At;
use std::path::Path;

/// A decoded IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Decompresses a whole .gz file; a truncated or corrupt stream is a `Truncated` error, one that
/// inflates past `limits::MAX_FILE_BYTES` a `TooLarge` one.
pub fn read_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let f = std::fs::File::open(path).at(path)?;
    let gz = flate2::read::GzDecoder::new(std::io::BufReader::new(f));
    limits::read_bounded(gz, limits::MAX_FILE_BYTES, path, "the gzip stream").map_err(|e| limits::stream_err(path, e))
}

/// Parses an IDX byte buffer holding unsigned bytes (type 0x08).
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray, DataError> {
    let err = |offset: usize, detail: String| DataError::Idx { path: path.to_path_buf(), offset, detail };
    if bytes.len() < 4 {
        return Err(err(0, format!("{} bytes is shorter than the 4-byte magic", bytes.len())));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(err(0, format!("bad magic {:02x?}", &bytes[..4])));
    }
    if bytes[2] != 0x08 {
        return Err(err(2, format!("element type 0x{:02x}, expected 0x08 (unsigned byte)", bytes[2])));
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 {
        return Err(err(3, "zero dimensions".into()));
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(err(bytes.len(), format!("header needs {header} bytes, file has {}", bytes.len())));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| err(4, format!("dims {dims:?} overflow")))?;
    let have = bytes.len() - header;
    if have != count {
        return Err(err(header, format!("dims {dims:?} need {count} data bytes, file has {have}")));
    }
    Ok(IdxArray { dims, data: bytes[header..].to_vec() })
}

/// Builds a 1-channel 32x32 split from an IDX image array [N, H, W] and label array [N],
/// resizing each image as torchvision's `Resize(32)` does on a PIL image (see `resize`).
pub fn split_from_idx(
    images: &IdxArray,
    labels: &IdxArray,
    image_path: &Path,
    label_path: &Path,
    classes: usize,
) -> Result<Split, DataError> {
    if images.dims.len() != 3 || images.dims[1] == 0 || images.dims[2] == 0 {
        return Err(DataError::Idx {
            path: image_path.to_path_buf(),
            offset: 3,
            detail: format!("image file has dims {:?}, expected [N, H, W]", images.dims),
        });
    }
    if labels.dims.len() != 1 || labels.dims[0] != images.dims[0] {
        return Err(DataError::Idx {
            path: label_path.to_path_buf(),
            offset: 3,
            detail: format!("label dims {:?} do not match {} images", labels.dims, images.dims[0]),
        });
    }
    let (n, h, w) = (images.dims[0], images.dims[1], images.dims[2]);
    // Each image becomes a 32x32 plane whatever its size: tiny declared images would multiply.
    limits::check_count(image_path, n as u64)?;
    if let Some((i, &l)) = labels.data.iter().enumerate().find(|(_, &l)| l as usize >= classes) {
        return Err(DataError::LabelOutOfRange {
            path: label_path.to_path_buf(),
            key: "labels".into(),
            index: i,
            label: l as i64,
            classes,
        });
    }
    let mut out = vec![0u8; n * PLANE];
    for (src, dst) in images.data.chunks_exact(h * w).zip(out.chunks_exact_mut(PLANE)) {
        dst.copy_from_slice(&resize::to_32(src, w, h, 1));
    }
    Ok(Split { images: out, labels: labels.data.clone(), n })
}

/// Serialises an IDX u8 array (used by tests to make synthetic files in the real format).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for &d in dims {
        v.extend_from_slice(&(d as u32).to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("x.idx")
    }

    #[test]
    fn roundtrip() {
        let data: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
        let a = parse_idx(&encode_idx(&[2, 3, 4], &data), p()).unwrap();
        assert_eq!(a.dims, vec![2, 3, 4]);
        assert_eq!(a.data, data);
    }

    #[test]
    fn rejects_bad_magic_type_and_length() {
        let mut b = encode_idx(&[2], &[1, 2]);
        b[0] = 1;
        assert!(matches!(parse_idx(&b, p()), Err(DataError::Idx { offset: 0, .. })));
        let mut b = encode_idx(&[2], &[1, 2]);
        b[2] = 0x0d;
        assert!(matches!(parse_idx(&b, p()), Err(DataError::Idx { offset: 2, .. })));
        let b = encode_idx(&[3], &[1, 2]);
        let e = parse_idx(&b, p()).unwrap_err().to_string();
        assert!(e.contains("x.idx") && e.contains("need 3"), "{e}");
        assert!(parse_idx(&[0, 0, 8], p()).is_err());
        assert!(parse_idx(&[0, 0, 8, 2, 0, 0], p()).is_err());
    }

    #[test]
    fn label_out_of_range_and_count_mismatch() {
        let imgs = parse_idx(&encode_idx(&[2, 28, 28], &[7; 2 * 784]), p()).unwrap();
        let labs = parse_idx(&encode_idx(&[2], &[3, 10]), p()).unwrap();
        let e = split_from_idx(&imgs, &labs, p(), Path::new("l.idx"), 10).unwrap_err();
        assert!(matches!(e, DataError::LabelOutOfRange { index: 1, label: 10, .. }), "{e}");
        let labs = parse_idx(&encode_idx(&[3], &[0, 1, 2]), p()).unwrap();
        assert!(split_from_idx(&imgs, &labs, p(), p(), 10).is_err());
        let labs = parse_idx(&encode_idx(&[2], &[0, 9]), p()).unwrap();
        let s = split_from_idx(&imgs, &labs, p(), p(), 10).unwrap();
        assert_eq!((s.n, s.images.len(), s.labels.clone()), (2, 2 * 1024, vec![0, 9]));
        assert!(s.images.iter().all(|&v| v == 7));
    }

    #[test]
    fn truncated_gz_is_reported() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&encode_idx(&[100], &[5; 100])).unwrap();
        let gz = enc.finish().unwrap();
        std::fs::write(&path, &gz[..gz.len() / 2]).unwrap();
        assert!(matches!(read_gz(&path), Err(DataError::Truncated { .. })));
        std::fs::write(&path, &gz).unwrap();
        assert_eq!(read_gz(&path).unwrap().len(), 108);
    }
}
