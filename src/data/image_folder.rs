//! Image folders: `ROOT/{train,test}/<class>/*.png|*.jpg`, classes sorted by name, images sorted by
//! file name, each resized/cropped to 32x32 (torchvision `Resize(32)` + `CenterCrop(32)`, see
//! `resize`). ROOT is a directory or a .tar.gz read as a stream without unpacking; a tar entry
//! whose path leaves its folder (`..`, absolute) is an error. RGB if any image is colour (grey
//! images are then replicated to 3 channels, alpha is dropped as Pillow's `convert("RGB")` does),
//! otherwise 1 channel.
//!
//! JPEG decoding is the pure-Rust `jpeg-decoder`, not libjpeg-turbo as under Pillow: on the
//! CIFAR-10 JPEG stand-in about 9% of pixel values differ from Pillow's decode, by at most 3
//! grey levels (chroma upsampling/IDCT rounding). PNG decoding and the resize are exact.

use super::error::stream_err;
use super::{resize, DataError, Dataset, Split, PLANE};
use crate::files::At;
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Component, Path};

/// One image file found in the tree, before decoding.
struct Item {
    train: bool,
    class: String,
    file: String,
    bytes: Vec<u8>,
}

/// A decoded image: interleaved (HWC) pixels with 1 or 3 channels.
#[derive(Debug)]
pub struct Decoded {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub pixels: Vec<u8>,
}

fn is_image(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    l.ends_with(".png") || l.ends_with(".jpg") || l.ends_with(".jpeg")
}

/// Decodes a PNG or JPEG (chosen by its signature) to 8-bit grey or RGB.
pub fn decode_image(bytes: &[u8], path: &Path) -> Result<Decoded, DataError> {
    let err = |detail: String| DataError::Image { path: path.to_path_buf(), detail };
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        let mut dec = png::Decoder::new(bytes);
        dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = dec.read_info().map_err(|e| err(format!("PNG: {e}")))?;
        let mut buf = vec![0u8; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).map_err(|e| err(format!("PNG: {e}")))?;
        let (w, h) = (info.width as usize, info.height as usize);
        let src_c = info.color_type.samples();
        let keep = match info.color_type {
            png::ColorType::Grayscale | png::ColorType::GrayscaleAlpha => 1,
            _ => 3,
        };
        let line = info.line_size;
        let mut pixels = Vec::with_capacity(w * h * keep);
        for y in 0..h {
            let row = &buf[y * line..y * line + w * src_c];
            for px in row.chunks_exact(src_c) {
                pixels.extend_from_slice(&px[..keep]);
            }
        }
        return finish(w, h, keep, pixels, path);
    }
    if bytes.starts_with(&[0xff, 0xd8]) {
        let mut dec = jpeg_decoder::Decoder::new(bytes);
        let px = dec.decode().map_err(|e| err(format!("JPEG: {e}")))?;
        let info = dec.info().ok_or_else(|| err("JPEG: no frame info".into()))?;
        let (w, h) = (info.width as usize, info.height as usize);
        return match info.pixel_format {
            jpeg_decoder::PixelFormat::L8 => finish(w, h, 1, px, path),
            jpeg_decoder::PixelFormat::L16 => finish(w, h, 1, px.chunks_exact(2).map(|p| p[0]).collect(), path),
            jpeg_decoder::PixelFormat::RGB24 => finish(w, h, 3, px, path),
            jpeg_decoder::PixelFormat::CMYK32 => Err(err("CMYK JPEG is not supported".into())),
        };
    }
    Err(err(format!("neither PNG nor JPEG ({} bytes)", bytes.len())))
}

fn finish(w: usize, h: usize, c: usize, pixels: Vec<u8>, path: &Path) -> Result<Decoded, DataError> {
    if w == 0 || h == 0 || pixels.len() != w * h * c {
        return Err(DataError::Image {
            path: path.to_path_buf(),
            detail: format!("{w}x{h}x{c} image with {} bytes", pixels.len()),
        });
    }
    Ok(Decoded { width: w, height: h, channels: c, pixels })
}

/// Splits a path inside the tree into (is_train, class, file) when it is `.../{train,test}/<class>/<file>`.
fn classify(parts: &[String]) -> Option<(bool, String, String)> {
    let i = parts.iter().position(|p| p == "train" || p == "test")?;
    if parts.len() != i + 3 || !is_image(&parts[i + 2]) {
        return None;
    }
    Some((parts[i] == "train", parts[i + 1].clone(), parts[i + 2].clone()))
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

fn items_from_dir(root: &Path) -> Result<Vec<Item>, DataError> {
    let mut items = Vec::new();
    for (split, train) in [("train", true), ("test", false)] {
        let sdir = root.join(split);
        let classes = std::fs::read_dir(&sdir).at(&sdir)?;
        for c in classes {
            let c = c.at(&sdir)?;
            if !c.path().is_dir() {
                continue;
            }
            let class = c.file_name().to_string_lossy().into_owned();
            let files = std::fs::read_dir(c.path()).at(c.path())?;
            for f in files {
                let f = f.at(c.path())?;
                let file = f.file_name().to_string_lossy().into_owned();
                if !is_image(&file) {
                    continue;
                }
                let bytes = std::fs::read(f.path()).at(f.path())?;
                items.push(Item { train, class: class.clone(), file, bytes });
            }
        }
    }
    Ok(items)
}

fn items_from_targz(archive: &Path) -> Result<Vec<Item>, DataError> {
    let f = std::fs::File::open(archive).at(archive)?;
    let gz = flate2::read::GzDecoder::new(std::io::BufReader::new(f));
    let mut tar = tar::Archive::new(gz);
    let mut items = Vec::new();
    for entry in tar.entries().map_err(|e| stream_err(archive, e))? {
        let mut entry = entry.map_err(|e| stream_err(archive, e))?;
        let path = entry.path().map_err(|e| stream_err(archive, e))?.into_owned();
        let parts = safe_components(&path, archive)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        if let Some((train, class, file)) = classify(&parts) {
            let mut bytes = Vec::with_capacity(entry.size().min(1 << 28) as usize);
            entry.read_to_end(&mut bytes).map_err(|e| stream_err(archive, e))?;
            items.push(Item { train, class, file, bytes });
        }
    }
    Ok(items)
}

/// True when `path` names a gzipped tar rather than a directory.
pub fn is_targz(path: &Path) -> bool {
    let s = path.to_string_lossy();
    s.ends_with(".tar.gz") || s.ends_with(".tgz")
}

/// Reads and decodes an image folder (directory or .tar.gz) into a dataset named `name`.
pub fn load_image_folder(root: &Path, name: &str) -> Result<Dataset, DataError> {
    let mut items = if is_targz(root) { items_from_targz(root)? } else { items_from_dir(root)? };
    items.sort_by(|a, b| (!a.train, &a.class, &a.file).cmp(&(!b.train, &b.class, &b.file)));
    let layout = |detail: String| DataError::Layout { path: root.to_path_buf(), detail };
    let train_classes: BTreeSet<&str> = items.iter().filter(|i| i.train).map(|i| i.class.as_str()).collect();
    let test_classes: BTreeSet<&str> = items.iter().filter(|i| !i.train).map(|i| i.class.as_str()).collect();
    if train_classes.is_empty() || test_classes.is_empty() {
        return Err(layout(format!(
            "need images in train/<class>/ and test/<class>/ (found {} train and {} test classes)",
            train_classes.len(),
            test_classes.len()
        )));
    }
    if !test_classes.is_subset(&train_classes) {
        let extra: Vec<_> = test_classes.difference(&train_classes).collect();
        return Err(layout(format!("test classes {extra:?} have no train images")));
    }
    if train_classes.len() > 256 {
        return Err(layout(format!("{} classes, at most 256 fit a u8 label", train_classes.len())));
    }
    let classes: Vec<String> = train_classes.iter().map(|s| s.to_string()).collect();
    let decoded: Vec<(usize, Vec<u8>)> = items
        .par_iter()
        .map(|it| {
            let split = if it.train { "train" } else { "test" };
            let shown = root.join(split).join(&it.class).join(&it.file);
            let d = decode_image(&it.bytes, &shown)?;
            Ok((d.channels, resize::to_32(&d.pixels, d.width, d.height, d.channels)))
        })
        .collect::<Result<_, DataError>>()?;
    let channels = if decoded.iter().any(|(c, _)| *c == 3) { 3 } else { 1 };
    let mut train = Split::default();
    let mut test = Split::default();
    for (it, (c, px)) in items.iter().zip(decoded) {
        let s = if it.train { &mut train } else { &mut test };
        if c == channels {
            s.images.extend_from_slice(&px);
        } else {
            for _ in 0..channels {
                s.images.extend_from_slice(&px[..PLANE]);
            }
        }
        s.labels.push(classes.iter().position(|c| *c == it.class).unwrap_or(0) as u8);
        s.n += 1;
    }
    Ok(Dataset { name: name.to_string(), channels, classes, train, test })
}

/// Test helpers: tiny images and archives in the real formats.
#[doc(hidden)]
pub mod testing {
    /// A PNG of `w`x`h` pixels with `c` channels (1 grey, 3 RGB, 4 RGBA).
    pub fn png_bytes(w: u32, h: u32, c: usize, pixels: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(match c {
                1 => png::ColorType::Grayscale,
                3 => png::ColorType::Rgb,
                _ => png::ColorType::Rgba,
            });
            enc.set_depth(png::BitDepth::Eight);
            let mut wr = enc.write_header().expect("png header");
            wr.write_image_data(pixels).expect("png data");
        }
        out
    }

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
    use super::testing::*;
    use super::*;

    #[test]
    fn png_grey_rgb_rgba_decode() {
        let g = decode_image(&png_bytes(2, 1, 1, &[10, 20]), Path::new("g.png")).unwrap();
        assert_eq!((g.channels, g.pixels), (1, vec![10, 20]));
        let r = decode_image(&png_bytes(1, 1, 4, &[1, 2, 3, 4]), Path::new("r.png")).unwrap();
        assert_eq!((r.channels, r.pixels), (3, vec![1, 2, 3]));
        let e = decode_image(b"GIF89a....", Path::new("x.jpg")).unwrap_err();
        assert!(matches!(e, DataError::Image { .. }) && e.to_string().contains("x.jpg"));
        let mut trunc = png_bytes(4, 4, 3, &[9; 48]);
        trunc.truncate(trunc.len() - 20);
        assert!(decode_image(&trunc, Path::new("t.png")).is_err());
    }

    #[test]
    fn folder_and_targz_agree() {
        let dir = tempfile::tempdir().unwrap();
        let red = png_bytes(32, 32, 3, &[200, 10, 10].repeat(1024));
        let grey = png_bytes(28, 28, 1, &[77; 784]);
        let files: Vec<(&str, &[u8])> = vec![
            ("root/train/b_cat/1.png", &red),
            ("root/train/a_dog/2.png", &grey),
            ("root/train/a_dog/1.png", &red),
            ("root/test/b_cat/9.png", &grey),
            ("root/README", b"hi"),
        ];
        for (p, d) in &files {
            let full = dir.path().join(p);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, d).unwrap();
        }
        let tgz = dir.path().join("x.tar.gz");
        std::fs::write(&tgz, targz(&files)).unwrap();
        let a = load_image_folder(&dir.path().join("root"), "x").unwrap();
        let b = load_image_folder(&tgz, "x").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.classes, vec!["a_dog", "b_cat"]);
        assert_eq!((a.channels, a.train.n, a.test.n), (3, 3, 1));
        assert_eq!(a.train.labels, vec![0, 0, 1]);
        // a_dog/1.png is red: R plane 200, G plane 10
        assert_eq!(a.train.image(0, 3)[0], 200);
        assert_eq!(a.train.image(0, 3)[PLANE], 10);
        // grey image replicated to three equal planes
        assert!(a.train.image(1, 3).iter().all(|&v| v == 77));
    }

    #[test]
    fn escaping_tar_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let tgz = dir.path().join("evil.tar.gz");
        let img = png_bytes(1, 1, 1, &[0]);
        std::fs::write(&tgz, targz(&[("train/a/1.png", &img), ("train/../../etc/x.png", &img)])).unwrap();
        let e = load_image_folder(&tgz, "x").unwrap_err();
        assert!(matches!(e, DataError::UnsafeTarPath { .. }), "{e}");
        assert!(e.to_string().contains("../"), "{e}");
    }

    #[test]
    fn unreadable_image_and_bad_layout() {
        let dir = tempfile::tempdir().unwrap();
        let tgz = dir.path().join("x.tar.gz");
        let img = png_bytes(1, 1, 1, &[0]);
        std::fs::write(&tgz, targz(&[("train/a/1.png", &img), ("test/a/2.jpg", b"\xff\xd8garbage")])).unwrap();
        let e = load_image_folder(&tgz, "x").unwrap_err();
        assert!(matches!(e, DataError::Image { .. }) && e.to_string().contains("2.jpg"), "{e}");
        std::fs::write(&tgz, targz(&[("train/a/1.png", &img), ("test/b/2.png", &img)])).unwrap();
        assert!(matches!(load_image_folder(&tgz, "x"), Err(DataError::Layout { .. })));
        std::fs::write(&tgz, targz(&[("train/a/1.png", &img)])).unwrap();
        assert!(matches!(load_image_folder(&tgz, "x"), Err(DataError::Layout { .. })));
        let full = targz(&[("train/a/1.png", &img), ("test/a/1.png", &img)]);
        std::fs::write(&tgz, &full[..full.len() / 2]).unwrap();
        assert!(load_image_folder(&tgz, "x").is_err());
    }
}
