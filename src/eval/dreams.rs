//! Dreams (Fig. 3), as fig3_generate_samples.py makes them: for real images x (batch 1) and other
//! real images x' (batch 2), NREM dreams G(E(x)) and REM dreams G(0.25 z + 0.25 z' + 0.5 n) with
//! z = E(x), z' = E(x'), n ~ N(0, I). Saved as PNG grids, pixels [-1, 1] -> [0, 255] as
//! torchvision's save_image after un-normalising does.
use super::error::EvalError;
use crate::data::Images;
use crate::engine::rng::Stream;
use crate::model::{Encoder, Generator, Heads};

#[derive(Clone, Debug)]
pub struct DreamConfig {
    /// Images per kind (one grid row each).
    pub n: usize,
    pub seed: u64,
}

impl Default for DreamConfig {
    fn default() -> Self {
        DreamConfig { n: 8, seed: 0 }
    }
}

/// Images in CNHW layout, [-1, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub x: Vec<f32>,
    pub channels: usize,
    pub n: usize,
}

#[derive(Clone, Debug)]
pub struct Dreams {
    pub real: Batch,
    pub nrem: Batch,
    pub rem: Batch,
}

/// REM's latent for dreams (fig3 and the FID script): 0.25 z + 0.25 z' + 0.5 noise.
pub fn rem_mixture(z: &[f32], z2: &[f32], noise: &[f32]) -> Vec<f32> {
    z.iter().zip(z2).zip(noise).map(|((a, b), e)| 0.25 * a + 0.25 * b + 0.5 * e).collect()
}

/// Picks 2n distinct images by a seeded shuffle: the first n are x, the next n are x'.
pub fn dreams(enc: &Encoder, gen: &Generator, images: Images, cfg: &DreamConfig) -> Result<Dreams, EvalError> {
    if cfg.n == 0 || images.n < 2 * cfg.n {
        return Err(EvalError::Input(format!("{} dreams need {} images, the set has {}", cfg.n, 2 * cfg.n, images.n)));
    }
    if enc.nz != gen.nz || enc.channels != images.channels || gen.channels != images.channels {
        return Err(EvalError::Input(format!(
            "encoder ({} ch, nz {}), generator ({} ch, nz {}) and images ({} ch) do not fit",
            enc.channels, enc.nz, gen.channels, gen.nz, images.channels
        )));
    }
    let mut order: Vec<usize> = (0..images.n).collect();
    Stream::derive(cfg.seed, "eval-dream-images", 0).shuffle(&mut order);
    let (xa, sa) = images.batch(&order[..cfg.n]);
    let (xb, sb) = images.batch(&order[cfg.n..2 * cfg.n]);
    let heads = Heads { z: true, d: false };
    // Latents stay in the encoder's [nz, n] layout, which is what the generator takes.
    let (z, z2) = (enc.forward(&xa, sa, heads).z, enc.forward(&xb, sb, heads).z);
    let mut noise = vec![0.0f32; z.len()];
    Stream::derive(cfg.seed, "eval-dream-noise", 0).fill_normal(&mut noise, 0.0, 1.0);
    let mix = rem_mixture(&z, &z2, &noise);
    let batch = |x: Vec<f32>| Batch { x, channels: images.channels, n: cfg.n };
    Ok(Dreams { nrem: batch(gen.forward(&z).x), rem: batch(gen.forward(&mix).x), real: batch(xa) })
}

/// Border between tiles, in pixels, black (torchvision's save_image default).
const PAD: usize = 2;

/// [-1, 1] -> [0, 255], as save_image(unorm(x)): x * 0.5 + 0.5, then * 255 + 0.5, clamped.
pub fn to_u8(v: f32) -> u8 {
    ((v * 0.5 + 0.5) * 255.0 + 0.5).clamp(0.0, 255.0) as u8
}

/// Lays out rows of batches (each a grid row, images side by side) as an interleaved
/// H x W x C u8 raster. Returns (width, height, pixels).
pub fn grid(rows: &[&Batch]) -> Result<(usize, usize, Vec<u8>), EvalError> {
    let first = rows.first().ok_or_else(|| EvalError::Input("an image grid needs at least one row".into()))?;
    let (c, side) = (first.channels, crate::data::SIDE);
    let cols = rows.iter().map(|b| b.n).max().unwrap_or(0);
    if rows.iter().any(|b| b.channels != c || b.x.len() != c * b.n * side * side) || cols == 0 {
        return Err(EvalError::Input("grid rows differ in channels or have the wrong number of pixels".into()));
    }
    let (w, h) = (PAD + cols * (side + PAD), PAD + rows.len() * (side + PAD));
    let mut px = vec![0u8; w * h * c];
    for (r, b) in rows.iter().enumerate() {
        for i in 0..b.n {
            for ch in 0..c {
                let plane = &b.x[(ch * b.n + i) * side * side..][..side * side];
                for y in 0..side {
                    for x in 0..side {
                        let (gy, gx) = (PAD + r * (side + PAD) + y, PAD + i * (side + PAD) + x);
                        px[(gy * w + gx) * c + ch] = to_u8(plane[y * side + x]);
                    }
                }
            }
        }
    }
    Ok((w, h, px))
}

/// PNG bytes of a grid: greyscale for 1 channel, RGB for 3.
pub fn grid_png(rows: &[&Batch]) -> Result<Vec<u8>, EvalError> {
    let (w, h, px) = grid(rows)?;
    let color = match rows[0].channels {
        1 => png::ColorType::Grayscale,
        3 => png::ColorType::Rgb,
        c => return Err(EvalError::Input(format!("cannot write {c}-channel images as PNG"))),
    };
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w as u32, h as u32);
    enc.set_color(color);
    enc.set_depth(png::BitDepth::Eight);
    let png_err = |e: png::EncodingError| EvalError::Input(format!("PNG encoding: {e}"));
    let mut writer = enc.write_header().map_err(png_err)?;
    writer.write_image_data(&px).map_err(png_err)?;
    writer.finish().map_err(png_err)?;
    Ok(out)
}

/// Writes real.png, nrem.png, rem.png and dreams.png (the three as rows) into `dir`.
pub fn write_dreams(d: &Dreams, dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>, EvalError> {
    let files: [(&str, Vec<&Batch>); 4] = [
        ("real.png", vec![&d.real]),
        ("nrem.png", vec![&d.nrem]),
        ("rem.png", vec![&d.rem]),
        ("dreams.png", vec![&d.real, &d.nrem, &d.rem]),
    ];
    files
        .iter()
        .map(|(name, rows)| {
            let path = dir.join(name);
            crate::files::atomic::write_atomic(&path, &grid_png(rows)?)?;
            Ok(path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Network;

    fn decode(bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        let mut r = png::Decoder::new(bytes).read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size()];
        let info = r.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info, buf)
    }

    #[test]
    fn grid_png_decodes_to_the_expected_size_and_pixels() {
        // Two RGB images: the first black (-1), the second with red 1, green 0, blue -1.
        let plane = crate::data::PLANE;
        let mut x = vec![-1.0f32; 3 * 2 * plane];
        x[plane..2 * plane].fill(1.0); // channel 0, image 1
        x[3 * plane..4 * plane].fill(0.0); // channel 1, image 1
        let b = Batch { x, channels: 3, n: 2 };
        let (info, px) = decode(&grid_png(&[&b, &b]).unwrap());
        assert_eq!((info.width, info.height, info.color_type), (2 + 2 * 34, 2 + 2 * 34, png::ColorType::Rgb));
        let at = |y: usize, x: usize| &px[(y * info.width as usize + x) * 3..][..3];
        assert_eq!(at(2, 2), [0, 0, 0]);
        assert_eq!(at(2 + 34 + 5, 2 + 34 + 7), [255, 128, 0]);
        assert_eq!(at(0, 0), [0, 0, 0]);
        let grey = Batch { x: vec![1.0; plane], channels: 1, n: 1 };
        let (info, px) = decode(&grid_png(&[&grey]).unwrap());
        assert_eq!(
            (info.width, info.height, info.color_type, px[2 * 36 + 2]),
            (36, 36, png::ColorType::Grayscale, 255)
        );
    }

    #[test]
    fn dreams_have_the_input_shape_and_lie_in_range() {
        let (enc, data, _) = crate::eval::testutil::tiny(20, 3, 2);
        let mut gen = Generator::with_size(3, 4, 8);
        gen.init(&mut Stream::derive(2, "test-gen", 0));
        let images = Images::new(&data, 3).unwrap();
        let d = dreams(&enc, &gen, images, &DreamConfig { n: 4, seed: 1 }).unwrap();
        for b in [&d.real, &d.nrem, &d.rem] {
            assert_eq!((b.x.len(), b.n, b.channels), (3 * 4 * 1024, 4, 3));
            assert!(b.x.iter().all(|v| (-1.0..=1.0).contains(v)));
        }
        assert_ne!(d.nrem.x, d.rem.x);
        assert!(dreams(&enc, &gen, images, &DreamConfig { n: 11, seed: 1 }).is_err());
    }
}
