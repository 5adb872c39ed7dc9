//! Image grids as figures a reader takes in at a glance (Fig. 3): rows of small images, each row
//! labelled on its left, under a title, enlarged to at least `MIN_WIDTH` pixels.
//!
//! The figure is an SVG (text as text, like every other figure) holding each row as a PNG. Rows
//! are enlarged here, by repeating pixels, rather than left to the viewer: a viewer scales an
//! embedded image by smoothing, which blurs 32-pixel images beyond recognition.
use super::error::ReportError;
use super::svg::esc;
use base64::Engine;
use std::fmt::Write;

/// Narrowest image area of a grid, in pixels.
pub const MIN_WIDTH: usize = 800;
/// Width of the label column, the title band and the gap between rows.
const LABEL_W: usize = 130;
const TITLE_H: usize = 40;
const GAP: usize = 8;

/// A decoded 8-bit greyscale or RGB image.
struct Raster {
    width: usize,
    height: usize,
    channels: usize,
    pixels: Vec<u8>,
}

/// The figure: `rows` are (label, PNG bytes), drawn top to bottom.
pub fn labelled_rows(title: &str, rows: &[(&str, &[u8])]) -> Result<String, ReportError> {
    let rasters: Vec<Raster> = rows.iter().map(|(label, png)| decode(label, png)).collect::<Result<_, _>>()?;
    let widest = rasters.iter().map(|r| r.width).max().unwrap_or(0);
    if widest == 0 {
        return Err(ReportError::Image { what: title.into(), msg: "a grid needs at least one row".into() });
    }
    let scale = MIN_WIDTH.div_ceil(widest);
    let width = LABEL_W + widest * scale + GAP;
    let height = TITLE_H + rasters.iter().map(|r| r.height * scale + GAP).sum::<usize>();
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="16">"#
    );
    let _ = write!(s, r#"<rect width="{width}" height="{height}" fill="white"/>"#);
    let _ = write!(s, r#"<text x="{}" y="26" text-anchor="middle" font-size="17">{}</text>"#, width / 2, esc(title));
    let mut y = TITLE_H;
    for ((label, _), r) in rows.iter().zip(&rasters) {
        let (w, h) = (r.width * scale, r.height * scale);
        let _ = write!(
            s,
            r#"<g class="row"><text x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>"#,
            LABEL_W - 12,
            y + h / 2,
            esc(label)
        );
        let png = base64::engine::general_purpose::STANDARD.encode(encode(&enlarge(r, scale), label)?);
        let _ = write!(
            s,
            r#"<image x="{LABEL_W}" y="{y}" width="{w}" height="{h}" style="image-rendering:pixelated" xlink:href="data:image/png;base64,{png}"/></g>"#
        );
        y += h + GAP;
    }
    s.push_str("</svg>\n");
    Ok(s)
}

fn decode(label: &str, png: &[u8]) -> Result<Raster, ReportError> {
    let bad = |msg: String| ReportError::Image { what: label.into(), msg };
    let mut reader = png::Decoder::new(png).read_info().map_err(|e| bad(e.to_string()))?;
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).map_err(|e| bad(e.to_string()))?;
    let channels = match (info.color_type, info.bit_depth) {
        (png::ColorType::Grayscale, png::BitDepth::Eight) => 1,
        (png::ColorType::Rgb, png::BitDepth::Eight) => 3,
        (c, d) => return Err(bad(format!("{c:?} {d:?} images are not drawn (8-bit greyscale or RGB are)"))),
    };
    pixels.truncate(info.buffer_size());
    Ok(Raster { width: info.width as usize, height: info.height as usize, channels, pixels })
}

/// Each pixel repeated `k` times across and down.
fn enlarge(r: &Raster, k: usize) -> Raster {
    let (w, c) = (r.width * k, r.channels);
    let mut pixels = Vec::with_capacity(r.pixels.len() * k * k);
    for row in r.pixels.chunks_exact(r.width * c) {
        let wide: Vec<u8> = row.chunks_exact(c).flat_map(|px| std::iter::repeat_n(px, k).flatten().copied()).collect();
        (0..k).for_each(|_| pixels.extend_from_slice(&wide));
    }
    Raster { width: w, height: r.height * k, channels: c, pixels }
}

fn encode(r: &Raster, label: &str) -> Result<Vec<u8>, ReportError> {
    let bad = |e: png::EncodingError| ReportError::Image { what: label.into(), msg: e.to_string() };
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, r.width as u32, r.height as u32);
    enc.set_color(if r.channels == 1 { png::ColorType::Grayscale } else { png::ColorType::Rgb });
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(bad)?;
    writer.write_image_data(&r.pixels).map_err(bad)?;
    writer.finish().map_err(bad)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(r: &Raster) -> Vec<u8> {
        encode(r, "t").unwrap()
    }

    #[test]
    fn rows_are_labelled_enlarged_without_smoothing_and_wide_enough() {
        // A 2 x 1 RGB image: a red and a blue pixel; and a greyscale row.
        let rgb = Raster { width: 2, height: 1, channels: 3, pixels: vec![255, 0, 0, 0, 0, 255] };
        let grey = Raster { width: 2, height: 1, channels: 1, pixels: vec![10, 200] };
        let svg = labelled_rows("t <1>", &[("real", &png(&rgb)), ("NREM dream", &png(&grey))]).unwrap();
        assert!(svg.contains(">real</text>") && svg.contains(">NREM dream</text>") && svg.contains("t &lt;1&gt;"));
        assert_eq!(svg.matches(r#"<g class="row">"#).count(), 2);
        // Enlarged 400 times (800 / 2): the embedded rows decode to 800 x 400 with sharp edges.
        let first = svg.split("base64,").nth(1).unwrap().split('"').next().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(first).unwrap();
        let r = decode("t", &bytes).unwrap();
        assert_eq!((r.width, r.height, r.channels), (800, 400, 3));
        let at = |x: usize, y: usize| &r.pixels[(y * 800 + x) * 3..][..3];
        assert_eq!((at(399, 0), at(400, 0), at(0, 399)), (&[255, 0, 0][..], &[0, 0, 255][..], &[255, 0, 0][..]));
        assert!(svg.contains(&format!(r#"width="{}""#, LABEL_W + 800 + GAP)));
    }

    #[test]
    fn bad_images_and_empty_grids_are_errors_naming_them() {
        let e = labelled_rows("t", &[("REM dream", b"not a png")]).unwrap_err().to_string();
        assert!(e.contains("REM dream"), "{e}");
        assert!(labelled_rows("empty", &[]).is_err());
    }
}
