//! Conversions between the engine's CNHW tensors and blocked images (layout.rs): where a network
//! enters and leaves its engine::direct layers. Sixteen pixels of sixteen channels are one 16 x 16
//! transpose in vector registers where the CPU has them (transpose.rs); the plain loops give the same bytes
//! (the values are only moved).
use super::layout::{Blocked, SendPtr, LANES};
use super::transpose::{rows_to_vectors, vectors_to_rows};
use super::Isa;
use crate::engine::Shape4;
use rayon::prelude::*;

impl Blocked {
    /// From CNHW [C, N, H, W].
    pub fn from_cnhw(x: &[f32], s: Shape4, border: usize) -> Self {
        Self::from_cnhw_on(Isa::detect(), x, s, border)
    }

    pub(super) fn from_cnhw_on(isa: Isa, x: &[f32], s: Shape4, border: usize) -> Self {
        assert_eq!(x.len(), s.len(), "blocked layout: input length");
        let fill = |g: &Blocked, out: *mut f32| {
            let out = SendPtr(out);
            (0..s.n * g.blocks()).into_par_iter().for_each(|nb| {
                let (n, b) = (nb / g.blocks(), nb % g.blocks());
                let plane = unsafe { out.at((n * g.blocks() + b) * g.plane_len()) };
                let rows: [&[f32]; LANES] =
                    std::array::from_fn(|l| &x[((b * LANES + l) * s.n + n) * s.h * s.w..][..s.h * s.w]);
                let hw = s.h * s.w;
                if isa.is_vector() && hw.is_multiple_of(LANES) {
                    // Sixteen pixels at a time, transposed in registers.
                    for p0 in (0..hw).step_by(LANES) {
                        let src: [*const f32; LANES] = std::array::from_fn(|l| rows[l][p0..].as_ptr());
                        let off: [usize; LANES] = std::array::from_fn(|i| g.pixel((p0 + i) / s.w, (p0 + i) % s.w));
                        // SAFETY: `isa` runs here; the rows hold hw floats and the offsets
                        // are interior pixels of this plane.
                        unsafe { rows_to_vectors(isa, &src, plane, &off) };
                    }
                    return;
                }
                for y in 0..s.h {
                    let dst = unsafe { std::slice::from_raw_parts_mut(plane.add(g.pixel(y, 0)), s.w * LANES) };
                    for (xx, px) in dst.chunks_exact_mut(LANES).enumerate() {
                        for (v, row) in px.iter_mut().zip(&rows) {
                            *v = row[y * s.w + xx];
                        }
                    }
                }
            });
        };
        // SAFETY: every (image, block, row) of the interior is written above, nothing read.
        unsafe { Blocked::build(s.c, s.n, s.h, s.w, border, fill) }
    }

    /// To CNHW [C, N, H, W] (the border is dropped).
    pub fn to_cnhw(&self) -> Vec<f32> {
        self.to_cnhw_on(Isa::detect())
    }

    pub(super) fn to_cnhw_on(&self, isa: Isa) -> Vec<f32> {
        let (n, h, w) = (self.n, self.h, self.w);
        let len = self.c * n * h * w;
        let mut out: Vec<f32> = Vec::with_capacity(len);
        let dst = SendPtr(out.as_mut_ptr());
        (0..n * self.blocks()).into_par_iter().for_each(|nb| {
            let (i, b) = (nb / self.blocks(), nb % self.blocks());
            let plane = &self.data[i * self.image_len() + b * self.plane_len()..][..self.plane_len()];
            let chan = |l: usize| unsafe { dst.at(((b * LANES + l) * n + i) * h * w) };
            if isa.is_vector() && (h * w).is_multiple_of(LANES) {
                for p0 in (0..h * w).step_by(LANES) {
                    let off: [usize; LANES] = std::array::from_fn(|k| self.pixel((p0 + k) / w, (p0 + k) % w));
                    let to: [*mut f32; LANES] = std::array::from_fn(|l| unsafe { chan(l).add(p0) });
                    // SAFETY: `isa` runs here; interior pixels of this plane in, 16 floats
                    // of each of this image's channel planes out.
                    unsafe { vectors_to_rows::<false>(isa, plane.as_ptr(), &off, &to) };
                }
                return;
            }
            // One channel at a time: contiguous writes, reads 16 floats apart from a plane that
            // stays in L1.
            for l in 0..LANES {
                // SAFETY: channel b*16+l of image i, written here and nowhere else.
                let row = unsafe { std::slice::from_raw_parts_mut(chan(l), h * w) };
                for y in 0..h {
                    let src = &plane[self.pixel(y, 0) + l..];
                    for (xx, v) in row[y * w..(y + 1) * w].iter_mut().enumerate() {
                        *v = src[xx * LANES];
                    }
                }
            }
        });
        // SAFETY: every (channel, image) plane was written above.
        unsafe { out.set_len(len) };
        out
    }
}
