//! The arithmetic of every element of a product, and when the `gemm` crate's kernels follow it.
//!
//! Every element of C = A·B (+ C) is summed the way the crate's micro-kernels sum it: the
//! reduction is cut into blocks of `block_len` (a function of the tile's size and k only); each
//! block is one chain of fused multiply-adds in index order, starting from +0; the first block
//! is written to C (or added to it when accumulating) and each later block is added to C.
//!
//! Why this is spelled out: the crate computes small products (at most 16 x 16 elements, a side
//! of one, a reduction of at most two) with other kernels that sum across vector lanes, so their
//! bytes depend on the CPU's vector width; and it derives its block length from the CPU's L1
//! cache. A run on an AVX2 CPU then wrote other bytes than one on an AVX-512 CPU (results/demo
//! was not reproduced across the two). engine::gemm gives the crate only the tiles where it
//! provably follows the rule below (`crate_follows`) and computes every other tile with
//! engine::gemm::chains, which follows it by construction, on any CPU.

/// The longest reduction block: the crate's floor for its cache rule, and its block for small
/// products.
pub(crate) const KC_MAX: usize = 512;

/// The crate's AVX-512 micro-tile: 64 rows (4 vectors of 16) by 6 columns (engine::implicit_gemm
/// calls those kernels itself).
pub(crate) const MR: usize = 64;
pub(crate) const NR: usize = 6;

/// The length of the reduction blocks of an `mi x nj` tile (either orientation) over `k`:
/// tiles of at most 64 x 64 take blocks of 512 with a shorter last one (the crate's rule for
/// small products); larger tiles split k into equal blocks of at most 512 (its cache rule, whose
/// result on x86 CPUs is this floor of 512).
pub(crate) fn block_len(mi: usize, nj: usize, k: usize) -> usize {
    if k == 0 {
        0
    } else if mi <= SMALL && nj <= SMALL {
        k.min(KC_MAX)
    } else {
        k.div_ceil(k.div_ceil(KC_MAX))
    }
}

/// The side up to which a tile takes the crate's small-product blocks.
const SMALL: usize = 64;

/// Whether every tile of an m x n x k product, however C is cut, sums in the same blocks of 512
/// and there are several of them: C fits one small-product tile and k is longer than a block.
/// Then the blocks may be computed apart and added in order (engine::gemm's `block_parts`).
pub(crate) fn blocks_apart(m: usize, n: usize, k: usize) -> bool {
    m <= SMALL && n <= SMALL && k > KC_MAX
}

/// Whether the crate computes an `mi x nj x k` tile (as engine::gemm calls it) with its
/// micro-kernels in blocks of `block_len` on this CPU: then its bytes are the rule's. Tiles it
/// would send to its lane-summing kernels (one-wide sides, at most 16 x 16 elements, k <= 2), and
/// every tile on a CPU whose kernels do not fuse (no FMA) or whose cache rule gives another block,
/// are computed by engine::gemm::chains instead.
pub(crate) fn crate_follows(mi: usize, nj: usize, k: usize) -> bool {
    if k <= 2 || mi <= 1 || nj <= 1 || mi * nj <= 16 * 16 {
        return false;
    }
    match crate_micro_tile() {
        // The crate sees the product turned around (nj x mi).
        Some((mr, nr)) => crate_block_len(nj, mi, k, mr, nr) == block_len(mi, nj, k),
        None => false,
    }
}

/// The micro-tile (MR, NR) of the crate's kernels on this CPU, or None where they are not FMA
/// kernels: its dispatch takes AVX-512 where present (the `x86-v4` feature is on), else FMA.
fn crate_micro_tile() -> Option<(usize, usize)> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Some((MR, NR));
        }
        if std::arch::is_x86_feature_detected!("fma") {
            return Some((16, 6));
        }
    }
    None
}

/// The block length the crate itself uses for a product it sees as m x n x k with micro-tile
/// mr x nr (gemm_common::gemm::gemm_basic_generic): min(k, 512) for products of at most 64 x 64,
/// else its cache rule, balanced over k.
fn crate_block_len(m: usize, n: usize, k: usize, mr: usize, nr: usize) -> usize {
    if m <= 64 && n <= 64 {
        k.min(KC_MAX)
    } else {
        gemm_common::cache::kernel_params(m, n, k, mr, nr, std::mem::size_of::<f32>()).kc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_the_reduction_and_never_exceed_512() {
        for k in [1, 2, 3, 511, 512, 513, 1000, 1024, 4096, 16384, 16385] {
            for (mi, nj) in [(16, 16), (64, 64), (65, 64), (256, 1024)] {
                let kc = block_len(mi, nj, k);
                assert!((1..=KC_MAX).contains(&kc) && kc <= k, "{mi}x{nj}x{k}: {kc}");
                // Balanced blocks differ by less than one block count from equal.
                if mi > 64 {
                    assert!(kc * k.div_ceil(kc) - k < k.div_ceil(kc), "{mi}x{nj}x{k}: {kc}");
                }
            }
        }
        assert_eq!(block_len(32, 32, 1000), 512);
        assert_eq!(block_len(128, 32, 1000), 500);
    }

    /// On x86 CPUs with FMA the crate's own rule gives `block_len` for every product PAD runs
    /// (batch 64; the paper's networks and the small ones of the tests), so those products keep
    /// the crate's fast kernels. Fails if a new version of the crate, or a CPU's cache, changes
    /// the rule: the bytes would still hold (chains take over), but the speed would not.
    #[test]
    fn the_crate_follows_the_rule_on_pads_products_here() {
        if crate_micro_tile().is_none() {
            return;
        }
        let shapes = [
            (64, 16384, 48),
            (48, 16384, 64),
            (64, 48, 16384),
            (128, 4096, 1024),
            (1024, 4096, 128),
            (128, 1024, 4096),
            (256, 1024, 2048),
            (64, 256, 4096),
            (256, 4096, 64),
            (4096, 64, 256),
            (64, 1024, 512),
            (3000, 700, 100),
        ];
        for (mi, nj, k) in shapes {
            assert!(crate_follows(mi, nj, k), "{mi}x{nj}x{k}");
            assert!(crate_follows(nj, mi, k), "{nj}x{mi}x{k}");
        }
    }
}
