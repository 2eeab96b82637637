//! Encoding of output images: JPEG (`jpeg-encoder`: AVX2 where the CPU has
//! it; 4:2:0 chroma subsampling, box-averaged, as Pillow and OpenCV write by
//! default), PNG (the `png` crate through `image`) or WebP (lossless; the
//! pure-Rust encoder has no lossy mode).

use std::io::Cursor;
use std::str::FromStr;

use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder, ImageFormat};
use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder as JpegEncoder, SamplingFactor};

/// The format of output images (img2dataset's `--encode_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncodeFormat {
    /// JPEG; quality 0-100.
    #[default]
    Jpg,
    /// PNG; the quality is the compression level 0-9, as in img2dataset.
    Png,
    /// WebP, lossless (the quality is not used).
    Webp,
}

impl EncodeFormat {
    /// The file extension (`jpg`, `png`, `webp`), also the webdataset key suffix.
    pub fn extension(self) -> &'static str {
        match self {
            EncodeFormat::Jpg => "jpg",
            EncodeFormat::Png => "png",
            EncodeFormat::Webp => "webp",
        }
    }

    /// The `image` crate's format of this encoding.
    pub fn image_format(self) -> ImageFormat {
        match self {
            EncodeFormat::Jpg => ImageFormat::Jpeg,
            EncodeFormat::Png => ImageFormat::Png,
            EncodeFormat::Webp => ImageFormat::WebP,
        }
    }

    /// The default quality: 95 for JPEG and WebP (img2dataset's default),
    /// compression level 9 for PNG (img2dataset's 95 is not a PNG level, so
    /// its PNG users always pass one).
    pub fn default_quality(self) -> u8 {
        match self {
            EncodeFormat::Png => 9,
            _ => 95,
        }
    }

    /// Checks a quality for this format: 0-100, or 0-9 for PNG.
    pub fn check_quality(self, quality: u8) -> Result<(), String> {
        let max = if self == EncodeFormat::Png { 9 } else { 100 };
        if quality > max {
            return Err(format!(
                "--encode-quality {quality} is out of range for {} (0-{max}{})",
                self.extension(),
                if max == 9 {
                    ", the PNG compression level"
                } else {
                    ""
                }
            ));
        }
        Ok(())
    }
}

impl FromStr for EncodeFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "jpg" | "jpeg" => Ok(EncodeFormat::Jpg),
            "png" => Ok(EncodeFormat::Png),
            "webp" => Ok(EncodeFormat::Webp),
            other => Err(format!(
                "unknown encode format {other:?} (expected jpg, png or webp)"
            )),
        }
    }
}

/// An image that could not be encoded.
#[derive(Debug, thiserror::Error)]
#[error("{format:?} encoder: {message}")]
pub struct EncodeError {
    format: EncodeFormat,
    message: String,
}

/// Encodes RGB8 pixels (`width * height * 3` bytes, row-major) in `format`
/// at `quality` (see [`EncodeFormat`]).
pub fn encode(
    rgb: &[u8],
    width: u32,
    height: u32,
    format: EncodeFormat,
    quality: u8,
) -> Result<Vec<u8>, EncodeError> {
    let err = |message: String| EncodeError { format, message };
    match format {
        EncodeFormat::Jpg => encode_jpeg(rgb, width, height, quality).map_err(err),
        EncodeFormat::Png => {
            let compression = match quality {
                0 => CompressionType::Uncompressed,
                q => CompressionType::Level(q.min(9)),
            };
            let mut out = Cursor::new(Vec::new());
            PngEncoder::new_with_quality(&mut out, compression, PngFilter::Adaptive)
                .write_image(rgb, width, height, ExtendedColorType::Rgb8)
                .map_err(|e| err(e.to_string()))?;
            Ok(out.into_inner())
        }
        EncodeFormat::Webp => {
            let mut out = Cursor::new(Vec::new());
            WebPEncoder::new_lossless(&mut out)
                .write_image(rgb, width, height, ExtendedColorType::Rgb8)
                .map_err(|e| err(e.to_string()))?;
            Ok(out.into_inner())
        }
    }
}

/// Encodes RGB8 pixels as a baseline JPEG with 4:2:0 chroma subsampling at
/// `quality` (clamped to 1..=100). Fails, with a message, for images wider
/// or taller than 65535 pixels.
pub fn encode_jpeg(rgb: &[u8], width: u32, height: u32, quality: u8) -> Result<Vec<u8>, String> {
    let side =
        |v: u32| u16::try_from(v).map_err(|_| format!("{width}x{height} is too large for a JPEG"));
    let (w, h) = (side(width)?, side(height)?);
    let mut jpg = Vec::with_capacity(rgb.len() / 8);
    let mut encoder = JpegEncoder::new(&mut jpg, quality.clamp(1, 100));
    encoder.set_sampling_factor(SamplingFactor::F_2_2);
    encoder.set_chroma_subsampling_method(ChromaSubsamplingMethod::Average);
    encoder
        .encode(rgb, w, h, ColorType::Rgb)
        .map_err(|e| e.to_string())?;
    Ok(jpg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_round_trips() {
        let rgb: Vec<u8> = (0..12 * 8).flat_map(|i| [i as u8, 100, 200]).collect();
        for (format, quality) in [
            (EncodeFormat::Jpg, 95),
            (EncodeFormat::Png, 9),
            (EncodeFormat::Png, 0),
            (EncodeFormat::Webp, 95),
        ] {
            let bytes = encode(&rgb, 12, 8, format, quality).unwrap();
            assert_eq!(image::guess_format(&bytes).unwrap(), format.image_format());
            let back = image::load_from_memory(&bytes).unwrap().into_rgb8();
            assert_eq!(back.dimensions(), (12, 8));
            if format != EncodeFormat::Jpg {
                assert_eq!(back.into_raw(), rgb, "{format:?} is lossless");
            }
        }
    }

    #[test]
    fn quality_ranges() {
        assert!(EncodeFormat::Png.check_quality(9).is_ok());
        assert!(EncodeFormat::Png.check_quality(95).is_err());
        assert!(EncodeFormat::Jpg.check_quality(100).is_ok());
        assert!(EncodeFormat::Jpg.check_quality(101).is_err());
        assert_eq!("jpeg".parse(), Ok(EncodeFormat::Jpg));
    }
}
