//! Image folders: `ROOT/{train,test}/<class>/*.png|*.jpg`, classes sorted by name, images sorted by
//! file name, each resized/cropped to 32x32 (torchvision `Resize(32)` + `CenterCrop(32)`, see
//! `resize`). ROOT is a directory or a .tar.gz read as a stream without unpacking (targz.rs); a tar
//! entry whose path leaves its folder (`..`, absolute) is an error. Files are decoded a batch at a
//! time, each checked against `limits` (its size on disk, the pixels its header declares) first.
//! RGB if any image is colour (grey images are then replicated to 3 channels, alpha is dropped as
//! Pillow's `convert("RGB")` does), otherwise 1 channel.
//!
//! JPEG decoding is the pure-Rust `jpeg-decoder`, not libjpeg-turbo as under Pillow: on the
//! CIFAR-10 JPEG stand-in about 9% of pixel values differ from Pillow's decode, by at most 3
//! grey levels (chroma upsampling/IDCT rounding). PNG decoding and the resize are exact.

use super::{limits, resize, targz, DataError, Dataset, Split, PLANE};
use crate::files::At;
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::path::Path;

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

/// Decodes a PNG or JPEG (chosen by its signature) to 8-bit grey or RGB. The size the header
/// declares is checked against `limits` before any pixel memory is allocated.
pub fn decode_image(bytes: &[u8], path: &Path) -> Result<Decoded, DataError> {
    let err = |detail: String| DataError::Image { path: path.to_path_buf(), detail };
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        let mut dec = png::Decoder::new(bytes);
        dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let header = dec.read_header_info().map_err(|e| err(format!("PNG: {e}")))?;
        // The sides first (IHDR alone), then the bytes the output will take.
        limits::check_sides(path, header.width.into(), header.height.into())?;
        let mut reader = dec.read_info().map_err(|e| err(format!("PNG: {e}")))?;
        let (color, _) = reader.output_color_type();
        let (w, h) = reader.info().size();
        limits::check_image(path, w.into(), h.into(), color.samples() as u64)?;
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
        // The frame header, then the check, then the pixels: the decoder allocates its planes
        // (and a progressive image's coefficients) for the declared size as it starts.
        dec.read_info().map_err(|e| err(format!("JPEG: {e}")))?;
        let info = dec.info().ok_or_else(|| err("JPEG: no frame info".into()))?;
        if info.pixel_format == jpeg_decoder::PixelFormat::CMYK32 {
            return Err(err("CMYK JPEG is not supported".into()));
        }
        limits::check_image(path, info.width.into(), info.height.into(), info.pixel_format.pixel_bytes() as u64)?;
        dec.set_max_decoding_buffer_size(limits::MAX_IMAGE_BYTES as usize);
        let px = dec.decode().map_err(|e| err(format!("JPEG: {e}")))?;
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

/// Image files are decoded in batches of about this many bytes (in parallel within a batch), so
/// the files' bytes are held only until their 32x32 planes are made.
const BATCH_BYTES: usize = 64 << 20;

/// A decoded image, resized to 32x32 planes, with where it came from.
struct Done {
    train: bool,
    class: String,
    file: String,
    channels: usize,
    planes: Vec<u8>,
}

/// Collects the image files of a tree and decodes them a batch at a time.
struct Decoder<'a> {
    root: &'a Path,
    pending: Vec<Item>,
    pending_bytes: usize,
    done: Vec<Done>,
}

impl<'a> Decoder<'a> {
    fn new(root: &'a Path) -> Self {
        Decoder { root, pending: Vec::new(), pending_bytes: 0, done: Vec::new() }
    }

    fn push(&mut self, item: Item) -> Result<(), DataError> {
        limits::check_count(self.root, (self.done.len() + self.pending.len() + 1) as u64)?;
        self.pending_bytes += item.bytes.len();
        self.pending.push(item);
        if self.pending_bytes >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DataError> {
        let root = self.root;
        let batch = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let decoded: Vec<Done> = batch
            .into_par_iter()
            .map(|it| {
                let split = if it.train { "train" } else { "test" };
                let shown = root.join(split).join(&it.class).join(&it.file);
                let d = decode_image(&it.bytes, &shown)?;
                let planes = resize::to_32(&d.pixels, d.width, d.height, d.channels);
                Ok(Done { train: it.train, class: it.class, file: it.file, channels: d.channels, planes })
            })
            .collect::<Result<_, DataError>>()?;
        self.done.extend(decoded);
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<Done>, DataError> {
        self.flush()?;
        Ok(self.done)
    }
}

fn items_from_dir(root: &Path, out: &mut Decoder) -> Result<(), DataError> {
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
                let path = f.path();
                let len = std::fs::metadata(&path).at(&path)?.len();
                limits::check_len(&path, "image file", len, limits::MAX_IMAGE_FILE)?;
                let bytes = std::fs::read(&path).at(&path)?;
                out.push(Item { train, class: class.clone(), file, bytes })?;
            }
        }
    }
    Ok(())
}

fn items_from_targz(archive: &Path, out: &mut Decoder) -> Result<(), DataError> {
    targz::read_members(archive, |m| {
        if !m.is_file {
            return Ok(());
        }
        if let Some((train, class, file)) = classify(&m.parts) {
            let bytes = m.read(limits::MAX_IMAGE_FILE)?;
            out.push(Item { train, class, file, bytes })?;
        }
        Ok(())
    })
}

/// True when `path` names a gzipped tar rather than a directory.
pub fn is_targz(path: &Path) -> bool {
    let s = path.to_string_lossy();
    s.ends_with(".tar.gz") || s.ends_with(".tgz")
}

/// Reads and decodes an image folder (directory or .tar.gz) into a dataset named `name`.
pub fn load_image_folder(root: &Path, name: &str) -> Result<Dataset, DataError> {
    let mut dec = Decoder::new(root);
    if is_targz(root) {
        items_from_targz(root, &mut dec)?
    } else {
        items_from_dir(root, &mut dec)?
    };
    let mut items = dec.finish()?;
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
    let channels = if items.iter().any(|d| d.channels == 3) { 3 } else { 1 };
    let mut train = Split::default();
    let mut test = Split::default();
    for it in &items {
        let s = if it.train { &mut train } else { &mut test };
        if it.channels == channels {
            s.images.extend_from_slice(&it.planes);
        } else {
            for _ in 0..channels {
                s.images.extend_from_slice(&it.planes[..PLANE]);
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

    /// A PNG chunk: length, type, data, CRC.
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }

    /// A PNG of `w`x`h` 8-bit pixels of colour type `color` (0 grey, 2 RGB, 6 RGBA) whose image
    /// data is `idat` (a zlib stream of filtered rows).
    pub fn png_with_idat(w: u32, h: u32, color: u8, idat: &[u8]) -> Vec<u8> {
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = [w.to_be_bytes(), h.to_be_bytes()].concat();
        ihdr.extend_from_slice(&[8, color, 0, 0, 0]);
        chunk(&mut out, b"IHDR", &ihdr);
        chunk(&mut out, b"IDAT", idat);
        chunk(&mut out, b"IEND", &[]);
        out
    }

    /// A decompression bomb: a complete, valid PNG of `w`x`h` black RGBA pixels, a few hundred KB
    /// per GB it decodes to. Its zlib stream is one fully flushed deflate piece of zeros repeated
    /// (a piece refers to nothing before it), so it is made in milliseconds.
    pub fn png_bomb(w: u32, h: u32) -> Vec<u8> {
        use flate2::{Compress, Compression, FlushCompress};
        let total = h as u64 * (1 + 4 * w as u64); // each row: filter byte 0, then the pixels
        let piece = 1u64 << 20;
        let deflate = |n: u64| {
            let mut c = Compress::new(Compression::best(), false);
            let mut out = Vec::with_capacity(n as usize / 100 + 64);
            c.compress_vec(&vec![0u8; n as usize], &mut out, FlushCompress::Full).expect("deflate");
            out
        };
        let full = deflate(piece);
        let mut z = vec![0x78, 0xda];
        for _ in 0..total / piece {
            z.extend_from_slice(&full);
        }
        z.extend_from_slice(&deflate(total % piece));
        z.extend_from_slice(&[0x03, 0x00]); // the last block: empty, fixed Huffman
        let adler = ((total % 65521) << 16) | 1; // adler32 of zeros: a = 1, b = count
        z.extend_from_slice(&(adler as u32).to_be_bytes());
        png_with_idat(w, h, 6, &z)
    }

    /// The start of a baseline JPEG declaring `w`x`h` RGB pixels (SOI and frame header only).
    pub fn jpeg_header(w: u16, h: u16) -> Vec<u8> {
        let mut out = vec![0xff, 0xd8, 0xff, 0xc0, 0, 17, 8];
        out.extend_from_slice(&h.to_be_bytes());
        out.extend_from_slice(&w.to_be_bytes());
        out.extend_from_slice(&[3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::targz::testing::targz;
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
    fn declared_sizes_are_refused_before_decoding() {
        let p = Path::new("f/train/a/big.png");
        // Headers alone: nothing is allocated for the 10.8 GB these declare.
        let e = decode_image(&png_with_idat(60_000, 60_000, 2, &[]), p).unwrap_err().to_string();
        assert_eq!(
            e,
            "f/train/a/big.png: image of 60000x60000 pixels is larger than pad reads (at most 16384 pixels a side)"
        );
        let e = decode_image(&jpeg_header(60_000, 60_000), Path::new("x.jpg")).unwrap_err().to_string();
        assert!(e.starts_with("x.jpg: image of 60000x60000 pixels is larger than pad reads"), "{e}");
        // Within the sides, over the bytes: 16000 x 16000 RGBA decodes to 977 MiB.
        let e = decode_image(&png_with_idat(16_000, 16_000, 6, &[]), p).unwrap_err().to_string();
        assert!(
            e.contains("decoding to 976.6 MiB (4 bytes a pixel)") && e.contains("128 MiB decoded per image"),
            "{e}"
        );
        let e = decode_image(&jpeg_header(9000, 9000), Path::new("x.jpg")).unwrap_err().to_string();
        assert!(e.contains("image of 9000x9000 pixels, decoding to 231.7 MiB (3 bytes a pixel)"), "{e}");
        // The bomb maker makes a real image: small, it decodes.
        let d = decode_image(&png_bomb(3, 2), p).unwrap();
        assert_eq!((d.width, d.height, d.channels, d.pixels), (3, 2, 3, vec![0; 18]));
        let bomb = png_bomb(16_384, 16_384);
        assert!(bomb.len() < 2 << 20, "{}", bomb.len());
        let e = decode_image(&bomb, p).unwrap_err();
        assert!(matches!(e, DataError::TooLarge { .. }), "{e}");
    }

    #[test]
    fn files_over_the_limits_in_a_folder_or_archive_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let img = png_bytes(1, 1, 1, &[0]);
        let tgz = dir.path().join("x.tar.gz");
        let bomb = png_with_idat(60_000, 60_000, 2, &[]);
        std::fs::write(&tgz, targz(&[("train/a/1.png", &img), ("test/a/huge.png", &bomb)])).unwrap();
        let e = load_image_folder(&tgz, "x").unwrap_err().to_string();
        assert!(e.contains("x.tar.gz/test/a/huge.png: image of 60000x60000 pixels"), "{e}");
        // A member or file larger than an image file may be is refused by its size alone.
        let big = vec![0u8; limits::MAX_IMAGE_FILE as usize + 1];
        std::fs::write(&tgz, targz(&[("train/a/1.png", &img), ("test/a/2.png", &big)])).unwrap();
        let e = load_image_folder(&tgz, "x").unwrap_err().to_string();
        assert!(e.contains("x.tar.gz: member test/a/2.png of 128.0 MiB is larger than pad reads"), "{e}");
        let root = dir.path().join("root");
        for (p, d) in [("train/a/1.png", &img), ("test/a/2.png", &big)] {
            std::fs::create_dir_all(root.join(p).parent().unwrap()).unwrap();
            std::fs::write(root.join(p), d).unwrap();
        }
        let e = load_image_folder(&root, "x").unwrap_err().to_string();
        assert!(e.contains("test/a/2.png: image file of 128.0 MiB is larger than pad reads"), "{e}");
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
