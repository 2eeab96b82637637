//! Image decoding, augmentation and normalisation.

use image::imageops::{self, FilterType};
use image::RgbImage;

use crate::rng::Rng;

/// CLIP's per-channel mean (RGB).
pub const MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_7];
/// CLIP's per-channel standard deviation (RGB).
pub const STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

/// Decodes any format the `image` crate reads (JPEG, PNG, WebP, …) to RGB.
pub fn decode_rgb(bytes: &[u8]) -> Result<RgbImage, String> {
    image::load_from_memory(bytes)
        .map(|i| i.to_rgb8())
        .map_err(|e| format!("cannot decode image: {e}"))
}

/// torchvision's `RandomResizedCrop`: a crop covering a fraction in
/// `[scale_min, 1]` of the area with aspect ratio in `[3/4, 4/3]`
/// (log-uniform), resized to `size × size`. Falls back to the centred
/// largest square when ten draws do not fit.
pub fn random_resized_crop(img: &RgbImage, size: u32, scale_min: f64, rng: &mut Rng) -> RgbImage {
    let (w, h) = img.dimensions();
    let area = (w as f64) * (h as f64);
    let (lr0, lr1) = ((3.0f64 / 4.0).ln(), (4.0f64 / 3.0).ln());
    for _ in 0..10 {
        let target = area * rng.range(scale_min, 1.0);
        let ar = rng.range(lr0, lr1).exp();
        let cw = (target * ar).sqrt().round() as u32;
        let ch = (target / ar).sqrt().round() as u32;
        if cw > 0 && ch > 0 && cw <= w && ch <= h {
            let x = rng.below((w - cw + 1) as usize) as u32;
            let y = rng.below((h - ch + 1) as usize) as u32;
            let crop = imageops::crop_imm(img, x, y, cw, ch).to_image();
            return imageops::resize(&crop, size, size, FilterType::Triangle);
        }
    }
    center_square(img, size)
}

/// The centred largest square, resized to `size × size` (evaluation).
pub fn center_square(img: &RgbImage, size: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let s = w.min(h).max(1);
    let crop = imageops::crop_imm(img, (w - s.min(w)) / 2, (h - s.min(h)) / 2, s, s).to_image();
    imageops::resize(&crop, size, size, FilterType::Triangle)
}

/// Writes `img` as normalised CHW floats into `out` (`3 · w · h` long).
pub fn normalize_into(img: &RgbImage, out: &mut [f32]) {
    let (w, h) = img.dimensions();
    let plane = (w * h) as usize;
    debug_assert_eq!(out.len(), 3 * plane);
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (p.0[c] as f32 / 255.0 - MEAN[c]) / STD[c];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn crops_any_size_to_the_model_input() {
        let mut r = Rng::new(0);
        for (w, h) in [(7, 300), (640, 480), (32, 32), (1, 1)] {
            let img = RgbImage::from_pixel(w, h, Rgb([255, 0, 0]));
            let out = random_resized_crop(&img, 32, 0.5, &mut r);
            assert_eq!(out.dimensions(), (32, 32));
            assert_eq!(out.get_pixel(5, 5), &Rgb([255, 0, 0]));
            assert_eq!(center_square(&img, 16).dimensions(), (16, 16));
        }
        let mut buf = vec![0.0; 3 * 32 * 32];
        normalize_into(&RgbImage::from_pixel(32, 32, Rgb([255, 0, 0])), &mut buf);
        assert!((buf[0] - (1.0 - MEAN[0]) / STD[0]).abs() < 1e-6);
        assert!((buf[32 * 32] + MEAN[1] / STD[1]).abs() < 1e-6);
        assert!(decode_rgb(b"not an image").is_err());
    }
}
