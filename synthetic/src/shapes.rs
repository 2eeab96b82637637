//! The images and their alt-texts: a coloured circle, square or triangle on a
//! noisy grey background, described by an alt-text that names the colour and
//! the shape, often among distractor words and sometimes not at all (as on
//! real pages). A model trained on the pairs learns something measurable.

use image::{ImageFormat, Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Error, Result};

/// Colours the shapes are drawn in: (name, RGB).
pub const COLOURS: [(&str, [u8; 3]); 6] = [
    ("red", [220, 30, 30]),
    ("green", [30, 170, 40]),
    ("blue", [30, 60, 220]),
    ("yellow", [240, 220, 30]),
    ("purple", [140, 40, 170]),
    ("orange", [250, 140, 20]),
];

/// Shapes drawn.
pub const SHAPES: [&str; 3] = ["circle", "square", "triangle"];

/// Quality of the generated JPEGs (that of most encoders' defaults).
pub const JPEG_QUALITY: u8 = 75;

/// Every class as `(folder, class name)`: `("red_circle", "red circle")`, …,
/// colour-major.
pub fn classes() -> Vec<(String, String)> {
    let mut v = Vec::new();
    for (colour, _) in COLOURS {
        for shape in SHAPES {
            v.push((format!("{colour}_{shape}"), format!("{colour} {shape}")));
        }
    }
    v
}

/// An independent generator for the stream named by `seed` and up to three
/// more numbers (say, a purpose, a shard and a row), so any item can be
/// generated on its own, in any order.
pub fn rng_for(seed: u64, path: &[u64]) -> ChaCha8Rng {
    assert!(path.len() <= 3, "rng_for takes at most 3 path elements");
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    for (i, p) in path.iter().enumerate() {
        key[8 * (i + 1)..8 * (i + 2)].copy_from_slice(&p.to_le_bytes());
    }
    let mut rng = ChaCha8Rng::from_seed(key);
    // The length tells `[1, 2]` from `[1, 2, 0]`.
    rng.set_stream(path.len() as u64);
    rng
}

/// One drawn image and what it shows.
#[derive(Debug, Clone)]
pub struct Drawing {
    /// Index into [`COLOURS`].
    pub colour: usize,
    /// Index into [`SHAPES`].
    pub shape: usize,
    /// The pixels.
    pub image: RgbImage,
}

/// Draws a `width × height` image of `SHAPES[shape]` in `COLOURS[colour]`
/// (size, position, shade and background drawn from `rng`).
pub fn draw(rng: &mut ChaCha8Rng, colour: usize, shape: usize, width: u32, height: u32) -> Drawing {
    let grey: u8 = rng.random_range(150..=250);
    let noise: i16 = rng.random_range(0..=20);
    let mut image = RgbImage::new(width, height);
    for p in image.pixels_mut() {
        let n = if noise > 0 {
            rng.random_range(-noise..=noise)
        } else {
            0
        };
        let v = (grey as i16 + n).clamp(0, 255) as u8;
        *p = Rgb([v, v, v]);
    }
    let side = width.min(height) as f32;
    let size = side * rng.random_range(0.35..0.8);
    let cx = rng.random_range(size / 2.0..=(width as f32 - size / 2.0).max(size / 2.0));
    let cy = rng.random_range(size / 2.0..=(height as f32 - size / 2.0).max(size / 2.0));
    let mut rgb = COLOURS[colour].1;
    for c in rgb.iter_mut() {
        *c = (*c as i16 + rng.random_range(-15..=15)).clamp(0, 255) as u8;
    }
    let half = size / 2.0;
    for y in 0..height {
        for x in 0..width {
            let dx = x as f32 + 0.5 - cx;
            let dy = y as f32 + 0.5 - cy;
            let inside = match SHAPES[shape] {
                "circle" => dx * dx + dy * dy <= half * half,
                "square" => dx.abs() <= half * 0.85 && dy.abs() <= half * 0.85,
                _ => {
                    // Upright triangle: apex at top, base at bottom.
                    let t = (dy + half) / size; // 0 at apex, 1 at base
                    (0.0..=1.0).contains(&t) && dx.abs() <= t * half
                }
            };
            if inside {
                image.put_pixel(x, y, Rgb(rgb));
            }
        }
    }
    Drawing {
        colour,
        shape,
        image,
    }
}

/// An alt-text for an image of `SHAPES[shape]` in `COLOURS[colour]`: mostly
/// descriptive, sometimes with distractor words, sometimes useless (`logo`,
/// `image 123`), as on real pages.
pub fn alt_text(rng: &mut ChaCha8Rng, colour: usize, shape: usize) -> String {
    let colour = COLOURS[colour].0;
    let shape = SHAPES[shape];
    let kind: u32 = rng.random_range(0..100);
    let distractors = [
        "free download",
        "HD wallpaper",
        "stock photo",
        "vector illustration",
        "clip art",
        "icon",
    ];
    let distractor = distractors[rng.random_range(0..distractors.len())];
    match kind {
        0..=29 => format!("a {colour} {shape}"),
        30..=49 => format!("{colour} {shape} on a grey background"),
        50..=64 => format!("photo of a {colour} {shape}, {distractor}"),
        65..=79 => format!("{distractor}: {colour} {shape}"),
        80..=89 => format!("The {shape} is {colour}."),
        90..=94 => "logo".to_string(),
        _ => format!("image {}", rng.random_range(1..1000)),
    }
}

/// Encodes an image as JPEG (quality [`JPEG_QUALITY`], 4:2:0, the download
/// stage's encoder settings) or in another `image` format (PNG, ...).
pub fn encode(image: &RgbImage, format: ImageFormat) -> Result<Vec<u8>> {
    if format == ImageFormat::Jpeg {
        return encode_jpeg(image);
    }
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, format)
        .map_err(|e| Error::Image(e.to_string()))?;
    Ok(bytes.into_inner())
}

/// JPEG with `jpeg-encoder`: fast even in unoptimised builds.
fn encode_jpeg(image: &RgbImage) -> Result<Vec<u8>> {
    use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder, SamplingFactor};
    let side = |v: u32| {
        u16::try_from(v).map_err(|_| {
            Error::Image(format!(
                "{}x{} is too large for a JPEG",
                image.width(),
                image.height()
            ))
        })
    };
    let (w, h) = (side(image.width())?, side(image.height())?);
    let mut jpg = Vec::with_capacity(image.as_raw().len() / 8);
    let mut encoder = Encoder::new(&mut jpg, JPEG_QUALITY);
    encoder.set_sampling_factor(SamplingFactor::F_2_2);
    encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
    encoder
        .encode(image.as_raw(), w, h, ColorType::Rgb)
        .map_err(|e| Error::Image(e.to_string()))?;
    Ok(jpg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawings_show_their_colour() {
        let mut rng = rng_for(1, &[2]);
        let d = draw(&mut rng, 2, 0, 64, 48);
        assert_eq!((d.image.width(), d.image.height()), (64, 48));
        // The shape covers the centre region somewhere: some pixel is blue-ish.
        assert!(d.image.pixels().any(|p| p.0[2] > 150 && p.0[0] < 100));
        let jpg = encode(&d.image, ImageFormat::Jpeg).unwrap();
        assert_eq!(&jpg[..2], &[0xFF, 0xD8]);
        let png = encode(&d.image, ImageFormat::Png).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert_eq!(classes().len(), COLOURS.len() * SHAPES.len());
        assert_eq!(classes()[0], ("red_circle".into(), "red circle".into()));
    }

    #[test]
    fn streams_are_independent_and_reproducible() {
        let a = rng_for(7, &[1, 2]).random::<u64>();
        assert_eq!(a, rng_for(7, &[1, 2]).random::<u64>());
        assert_ne!(a, rng_for(7, &[2, 1]).random::<u64>());
        assert_ne!(a, rng_for(8, &[1, 2]).random::<u64>());
        assert_ne!(a, rng_for(7, &[1, 2, 0]).random::<u64>());
    }
}
