//! The 16 x 16 transposes of the layout changes (convert.rs) and the weight packing (pack.rs):
//! in AVX-512 or AVX2 registers where the CPU has them, plain loops elsewhere. They only move
//! values (or add each once), so every form gives the same bytes.
use super::layout::LANES;
use super::Isa;
#[cfg(target_arch = "x86_64")]
use super::{avx2, avx512};

/// Row l's 16 floats at rows[l] become lane l of the vectors at dst + at[i] (i = 0..16).
///
/// # Safety
/// 16 floats readable at each row, 16 writable at each dst + at[i]; `isa` runs on this CPU.
pub unsafe fn rows_to_vectors(isa: Isa, rows: &[*const f32; LANES], dst: *mut f32, at: &[usize; LANES]) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => avx512::planes_to_pixels(rows, dst, at),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => avx2::planes_to_pixels(rows, dst, at),
        _ => {
            for (i, &a) in at.iter().enumerate() {
                for (l, row) in rows.iter().enumerate() {
                    *dst.add(a + l) = *row.add(i);
                }
            }
        }
    }
}

/// Lane l of the vector at src + at[i] becomes rows[l][i] (stored, or added when `ADD`).
///
/// # Safety
/// 16 floats readable at each src + at[i], 16 writable at each row; `isa` runs on this CPU.
pub unsafe fn vectors_to_rows<const ADD: bool>(
    isa: Isa,
    src: *const f32,
    at: &[usize; LANES],
    rows: &[*mut f32; LANES],
) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => avx512::pixels_to_planes::<ADD>(src, at, rows),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => avx2::pixels_to_planes::<ADD>(src, at, rows),
        _ => {
            for (l, row) in rows.iter().enumerate() {
                for (i, &a) in at.iter().enumerate() {
                    let v = *src.add(a + l);
                    *row.add(i) = if ADD { *row.add(i) + v } else { v };
                }
            }
        }
    }
}
