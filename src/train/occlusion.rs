//! Occlusion masks: the authors' Occlude transform. The image is cut into `tile` x `tile` squares
//! on a grid from the top-left (edge tiles clipped); one uniform draw per tile in row-major order;
//! a tile is dropped (set to 0, the grey of images in [-1, 1]) if its draw < `drop`. One mask
//! [H, W] serves every channel and every image of the batch.
use crate::engine::rng::Stream;

pub fn tile_mask(h: usize, w: usize, drop: f64, tile: usize, rng: &mut Stream) -> Vec<f32> {
    let mut mask = vec![1.0f32; h * w];
    for i in (0..h).step_by(tile) {
        for j in (0..w).step_by(tile) {
            if rng.uniform() < drop {
                for r in i..(i + tile).min(h) {
                    mask[r * w + j..r * w + (j + tile).min(w)].fill(0.0);
                }
            }
        }
    }
    mask
}

/// One NREM occlusion: the drawn drop rate and tile size, and the mask they gave.
pub struct NremOcclusion {
    pub drop: f64,
    pub tile: usize,
    pub mask: Vec<f32>,
}

/// NREM's random occlusion: drop rate ~ U(0, 1), tile size uniform in 1..=8.
pub fn nrem_occlusion(h: usize, w: usize, rng: &mut Stream) -> NremOcclusion {
    let drop = rng.uniform();
    let tile = rng.int_inclusive(1, 8) as usize;
    NremOcclusion { drop, tile, mask: tile_mask(h, w, drop, tile, rng) }
}

/// x[c, n, i, j] *= mask[i, j] for CNHW images.
pub fn apply_mask(x: &mut [f32], mask: &[f32]) {
    for plane in x.chunks_mut(mask.len()) {
        plane.iter_mut().zip(mask).for_each(|(v, m)| *v *= m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p0_keeps_everything_p1_drops_everything() {
        let mut rng = Stream::derive(0, "occlusion", 0);
        assert!(tile_mask(32, 32, 0.0, 4, &mut rng).iter().all(|&m| m == 1.0));
        assert!(tile_mask(32, 32, 1.0, 4, &mut rng).iter().all(|&m| m == 0.0));
    }

    #[test]
    fn tiles_are_whole_squares_clipped_at_the_edge() {
        let mut rng = Stream::derive(1, "occlusion", 0);
        let m = tile_mask(10, 10, 0.5, 3, &mut rng);
        // every 3x3 tile (2x... at edges) is uniform
        for ti in (0..10).step_by(3) {
            for tj in (0..10).step_by(3) {
                let v = m[ti * 10 + tj];
                for r in ti..(ti + 3).min(10) {
                    for c in tj..(tj + 3).min(10) {
                        assert_eq!(m[r * 10 + c], v);
                    }
                }
            }
        }
        let dropped = m.iter().filter(|&&v| v == 0.0).count();
        assert!(dropped > 0 && dropped < 100);
    }
}
