//! How much one input file may make pad hold in memory. Every size a file declares (an image's
//! width and height, a tar member's length, a dimension of an IDX or MAT array) and every stream
//! that inflates (gzip, zlib) is checked against these before memory is allocated for it, so a
//! small hostile file (a decompression bomb, a header declaring gigapixels) ends with an error
//! naming the file and the limit instead of aborting the process.
//!
//! The limits are far above every dataset pad reads (CIFAR-10's largest member is 30.7 MB, SVHN's
//! train X 225 MB, MNIST's train images 47 MB; its images are 32x32 or 28x28) and low enough that
//! the worst case fits a small machine.
use super::DataError;
use crate::files::PathIo;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Pixels on either side of one image.
pub const MAX_IMAGE_SIDE: u64 = 16_384;
/// Bytes of one decoded image (width x height x bytes per pixel, as the decoder outputs it): a
/// 44-megapixel RGB photograph. The decoders' working memory is a small multiple of it.
pub const MAX_IMAGE_BYTES: u64 = 128 << 20;
/// Bytes of one image file (a PNG or JPEG is smaller than its decoded pixels).
pub const MAX_IMAGE_FILE: u64 = MAX_IMAGE_BYTES;
/// Bytes read into memory from one file or archive member, after decompression.
pub const MAX_FILE_BYTES: u64 = 1 << 30;
/// Images of one dataset (train and test together): a dataset artifact holds them all as
/// 32x32 planes, 3 GB at most.
pub const MAX_IMAGES: u64 = 1_000_000;

/// "128 MiB", "1 GiB": a byte count as people read it.
pub fn human(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if bytes >= size {
            let v = bytes as f64 / size as f64;
            return if bytes.is_multiple_of(size) {
                format!("{} {unit}", bytes / size)
            } else {
                format!("{v:.1} {unit}")
            };
        }
    }
    format!("{bytes} bytes")
}

/// The error for `what` of `path` (a file, or a member of an archive) over `limit`.
pub fn too_large(path: &Path, what: String, limit: String) -> DataError {
    DataError::TooLarge { path: path.to_path_buf(), what, limit }
}

/// An image's declared width and height.
pub fn check_sides(path: &Path, width: u64, height: u64) -> Result<(), DataError> {
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(too_large(
            path,
            format!("image of {width}x{height} pixels"),
            format!("{MAX_IMAGE_SIDE} pixels a side"),
        ));
    }
    Ok(())
}

/// An image's declared size, checked before anything is allocated for its pixels: its sides,
/// then the bytes it decodes to.
pub fn check_image(path: &Path, width: u64, height: u64, bytes_per_pixel: u64) -> Result<(), DataError> {
    check_sides(path, width, height)?;
    let bytes = width * height * bytes_per_pixel;
    if bytes > MAX_IMAGE_BYTES {
        return Err(too_large(
            path,
            format!(
                "image of {width}x{height} pixels, decoding to {} ({bytes_per_pixel} bytes a pixel),",
                human(bytes)
            ),
            format!("{} decoded per image", human(MAX_IMAGE_BYTES)),
        ));
    }
    Ok(())
}

/// A file or member of `len` bytes that is about to be read whole.
pub fn check_len(path: &Path, what: &str, len: u64, limit: u64) -> Result<(), DataError> {
    if len > limit {
        return Err(too_large(path, format!("{what} of {}", human(len)), format!("{} read into memory", human(limit))));
    }
    Ok(())
}

/// Reads a stream to its end, failing (without holding more) once it yields more than `limit`
/// bytes: for inflating streams, whose output size nothing declares. `what` names the stream
/// ("the gzip stream"); the error comes back through `std::io::Error` as an `OverLimit`, which
/// `stream_err` turns into `DataError::TooLarge`.
pub fn read_bounded(mut r: impl Read, limit: u64, path: &Path, what: &str) -> Result<Vec<u8>, std::io::Error> {
    let mut out = Vec::new();
    (&mut r).take(limit + 1).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(std::io::Error::other(OverLimit {
            path: path.to_path_buf(),
            what: format!("{what} (it inflates past {})", human(limit)),
            limit: format!("{} read into memory from one file", human(limit)),
        }));
    }
    Ok(out)
}

/// A limit crossed inside a stream, carried through `std::io::Error`.
#[derive(Debug)]
pub struct OverLimit {
    pub path: PathBuf,
    pub what: String,
    pub limit: String,
}

impl OverLimit {
    pub fn to_error(&self) -> DataError {
        too_large(&self.path, self.what.clone(), self.limit.clone())
    }
}

impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_error().fmt(f)
    }
}

impl std::error::Error for OverLimit {}

/// A count of images (of one dataset so far) checked against `MAX_IMAGES`.
pub fn check_count(path: &Path, n: u64) -> Result<(), DataError> {
    if n > MAX_IMAGES {
        return Err(too_large(path, format!("a dataset of {n} images"), format!("{MAX_IMAGES} images per dataset")));
    }
    Ok(())
}

/// Maps a read error inside a compressed stream: EOF and corrupt data mean a truncated/corrupt
/// archive, everything else stays an I/O error.
pub(crate) fn stream_err(path: &std::path::Path, e: std::io::Error) -> DataError {
    use std::io::ErrorKind::*;
    if let Some(over) = e.get_ref().and_then(|i| i.downcast_ref::<OverLimit>()) {
        return over.to_error();
    }
    match e.kind() {
        UnexpectedEof | InvalidData | InvalidInput => {
            DataError::Truncated { path: path.to_path_buf(), detail: e.to_string() }
        }
        _ => PathIo { path: path.to_path_buf(), source: e }.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_read_them() {
        assert_eq!(human(128 << 20), "128 MiB");
        assert_eq!(human(1 << 30), "1 GiB");
        assert_eq!(human(432_000_000), "412.0 MiB");
        assert_eq!(human(1000), "1000 bytes");
    }

    #[test]
    fn images_are_checked_by_side_then_by_decoded_bytes() {
        let p = Path::new("d/train/a/x.png");
        check_image(p, 16_384, 2048, 4).unwrap();
        let e = check_image(p, 60_000, 60_000, 3).unwrap_err().to_string();
        assert_eq!(
            e,
            "d/train/a/x.png: image of 60000x60000 pixels is larger than pad reads (at most 16384 pixels a side)"
        );
        let e = check_image(p, 12_000, 12_000, 3).unwrap_err().to_string();
        assert!(
            e.contains("decoding to 412.0 MiB (3 bytes a pixel)") && e.contains("at most 128 MiB decoded per image"),
            "{e}"
        );
    }

    #[test]
    fn an_inflating_stream_stops_past_its_limit() {
        let p = Path::new("a.gz");
        assert_eq!(read_bounded(&[7u8; 10][..], 10, p, "x").unwrap(), vec![7; 10]);
        let e = read_bounded(std::io::repeat(0), 1 << 20, p, "gzip stream").unwrap_err();
        assert!(e.to_string().contains("a.gz: gzip stream (it inflates past 1 MiB) is larger than pad reads"), "{e}");
        let e = stream_err(p, e);
        assert!(matches!(e, DataError::TooLarge { .. }), "{e:?}");
    }
}
