//! The resizer: checks an image from its header (format by magic bytes, size,
//! aspect ratio, pixel count) before decoding, decodes, resizes with
//! `fast_image_resize` and re-encodes as JPEG with `jpeg-encoder` (AVX2
//! where the CPU has it; 4:2:0 chroma subsampling, box-averaged, as Pillow
//! and OpenCV write by default).

use std::io::Cursor;
use std::str::FromStr;

use fast_image_resize::images::Image as FirImage;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use jpeg_encoder::{ChromaSubsamplingMethod, ColorType, Encoder as JpegEncoder, SamplingFactor};

use super::status::{Failure, FailureClass};

/// How images are brought to `image_size` (img2dataset's modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// Keep the original pixels (JPEG originals are stored as they came).
    No,
    /// Largest side to `image_size`, then white padding to a square.
    #[default]
    Border,
    /// Smallest side to `image_size`, ratio kept.
    KeepRatio,
    /// Largest side to `image_size`, ratio kept.
    KeepRatioLargest,
    /// Smallest side to `image_size`, then the centre square is kept.
    CenterCrop,
}

impl FromStr for ResizeMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "no" => ResizeMode::No,
            "border" => ResizeMode::Border,
            "keep_ratio" => ResizeMode::KeepRatio,
            "keep_ratio_largest" => ResizeMode::KeepRatioLargest,
            "center_crop" => ResizeMode::CenterCrop,
            other => {
                return Err(format!(
                    "unknown resize mode {other:?} (expected no, border, keep_ratio, \
                     keep_ratio_largest or center_crop)"
                ))
            }
        })
    }
}

/// Image checks and output settings.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ImageConfig {
    /// Resize mode.
    pub mode: ResizeMode,
    /// Target side in pixels.
    pub image_size: u32,
    /// Output JPEG quality, 1..=100.
    pub jpeg_quality: u8,
    /// Images whose smallest side is below this fail with `too_small`.
    pub min_image_size: u32,
    /// Images with max(w/h, h/w) above this fail with `aspect_ratio`.
    #[serde(with = "infinite_as_null")]
    pub max_aspect_ratio: f64,
    /// Images with more pixels fail with `too_large`, checked from the header.
    pub max_pixels: u64,
}

impl Default for ImageConfig {
    fn default() -> Self {
        Self {
            mode: ResizeMode::Border,
            image_size: 256,
            jpeg_quality: 95,
            min_image_size: 0,
            max_aspect_ratio: f64::INFINITY,
            // The decompression-bomb threshold of Pillow (and so of most
            // Python image pipelines).
            max_pixels: 89_478_485,
        }
    }
}

/// A resized, re-encoded image.
#[derive(Debug, Clone)]
pub struct Processed {
    /// JPEG bytes.
    pub jpg: Vec<u8>,
    /// Final width.
    pub width: u32,
    /// Final height.
    pub height: u32,
    /// Width before resizing.
    pub original_width: u32,
    /// Height before resizing.
    pub original_height: u32,
    /// 64-bit DCT pHash of the decoded image (see [`crate::phash`]).
    pub phash: u64,
}

/// A failed image, with its original size when the header was readable.
#[derive(Debug, Clone)]
pub struct ImageFailure {
    /// What went wrong.
    pub failure: Failure,
    /// `(width, height)` from the header, if it was read.
    pub original: Option<(u32, u32)>,
}

fn fail(class: FailureClass, msg: impl Into<String>, original: Option<(u32, u32)>) -> ImageFailure {
    ImageFailure {
        failure: Failure::new(class, msg),
        original,
    }
}

/// The formats we decode, recognised by their magic bytes.
pub fn sniff_format(bytes: &[u8]) -> Option<ImageFormat> {
    match image::guess_format(bytes) {
        Ok(
            f @ (ImageFormat::Jpeg
            | ImageFormat::Png
            | ImageFormat::Gif
            | ImageFormat::WebP
            | ImageFormat::Bmp),
        ) => Some(f),
        _ => None,
    }
}

fn describe_start(bytes: &[u8]) -> String {
    let head: String = String::from_utf8_lossy(&bytes[..bytes.len().min(24)])
        .chars()
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    format!("{} bytes starting with {head:?}", bytes.len())
}

/// A JPEG whose entropy-coded data is cut off has no end-of-image marker
/// after its last start-of-scan marker (tolerant decoders fill the missing
/// part with grey and report success).
fn jpeg_is_truncated(bytes: &[u8]) -> bool {
    let last_sos = memchr::memmem::rfind(bytes, &[0xFF, 0xDA]);
    let last_eoi = memchr::memmem::rfind(bytes, &[0xFF, 0xD9]);
    match (last_sos, last_eoi) {
        (Some(sos), Some(eoi)) => eoi < sos,
        (_, None) => true,
        (None, Some(_)) => false,
    }
}

/// Checks, decodes, resizes and re-encodes one downloaded image.
pub fn process(bytes: &[u8], cfg: &ImageConfig) -> Result<Processed, ImageFailure> {
    let format = sniff_format(bytes).ok_or_else(|| {
        fail(
            FailureClass::NotAnImage,
            format!("not a supported image: {}", describe_start(bytes)),
            None,
        )
    })?;
    let mut limits = Limits::default();
    // Strict per-side limits, plus the allocation bound the decoder honours.
    let max_side = u32::try_from(cfg.max_pixels).unwrap_or(u32::MAX).max(1);
    limits.max_image_width = Some(max_side);
    limits.max_image_height = Some(max_side);
    limits.max_alloc = Some(cfg.max_pixels.saturating_mul(8).max(64 << 20));

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits.clone());
    let (w, h) = reader.into_dimensions().map_err(|e| {
        fail(
            FailureClass::DecodeError,
            format!("{format:?} header: {e}"),
            None,
        )
    })?;
    let original = Some((w, h));
    if w == 0 || h == 0 {
        return Err(fail(
            FailureClass::DecodeError,
            "zero-sized image",
            original,
        ));
    }
    let pixels = u64::from(w) * u64::from(h);
    if pixels > cfg.max_pixels {
        return Err(fail(
            FailureClass::TooLarge,
            format!(
                "{w}x{h} = {pixels} pixels exceeds --max-pixels {}",
                cfg.max_pixels
            ),
            original,
        ));
    }
    if w.min(h) < cfg.min_image_size {
        return Err(fail(
            FailureClass::TooSmall,
            format!("{w}x{h} is below --min-image-size {}", cfg.min_image_size),
            original,
        ));
    }
    let ratio = f64::from(w.max(h)) / f64::from(w.min(h));
    if ratio > cfg.max_aspect_ratio {
        return Err(fail(
            FailureClass::AspectRatio,
            format!(
                "{w}x{h} has aspect ratio {ratio:.1} above --max-aspect-ratio {}",
                cfg.max_aspect_ratio
            ),
            original,
        ));
    }
    if format == ImageFormat::Jpeg && jpeg_is_truncated(bytes) {
        return Err(fail(
            FailureClass::DecodeError,
            "truncated JPEG: no end-of-image marker after the last scan",
            original,
        ));
    }
    if cfg.mode == ResizeMode::No && format == ImageFormat::Jpeg {
        // Stored as downloaded, but only once it is known to decode.
        let rgb = to_rgb_on_white(decode(bytes, format, limits, original)?);
        return Ok(Processed {
            jpg: bytes.to_vec(),
            width: w,
            height: h,
            original_width: w,
            original_height: h,
            phash: crate::phash::phash_rgb(&rgb, w, h),
        });
    }
    let img = decode(bytes, format, limits, original)?;
    let rgb = to_rgb_on_white(img);
    let phash = crate::phash::phash_rgb(&rgb, w, h);
    let (out, ow, oh) = resize(rgb, w, h, cfg)
        .map_err(|e| fail(FailureClass::DecodeError, format!("resize: {e}"), original))?;
    let jpg = encode_jpeg(&out, ow, oh, cfg.jpeg_quality).map_err(|e| {
        fail(
            FailureClass::EncodeError,
            format!("JPEG encoder: {e}"),
            original,
        )
    })?;
    Ok(Processed {
        jpg,
        width: ow,
        height: oh,
        original_width: w,
        original_height: h,
        phash,
    })
}

/// Encodes RGB8 pixels (`width * height * 3` bytes, row-major) as a baseline
/// JPEG with 4:2:0 chroma subsampling at `quality` (clamped to 1..=100).
/// Fails, with a message, for images wider or taller than 65535 pixels.
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

fn decode(
    bytes: &[u8],
    format: ImageFormat,
    limits: Limits,
    original: Option<(u32, u32)>,
) -> Result<DynamicImage, ImageFailure> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    reader.decode().map_err(|e| {
        fail(
            FailureClass::DecodeError,
            format!("{format:?}: {e}"),
            original,
        )
    })
}

/// RGB8 pixels; transparent images are composited on white (as img2dataset does).
fn to_rgb_on_white(img: DynamicImage) -> Vec<u8> {
    if !img.color().has_alpha() {
        return match img {
            DynamicImage::ImageRgb8(buf) => buf.into_raw(),
            other => other.into_rgb8().into_raw(),
        };
    }
    let rgba = img.into_rgba8().into_raw();
    let mut out = Vec::with_capacity(rgba.len() / 4 * 3);
    for px in rgba.chunks_exact(4) {
        let a = u32::from(px[3]);
        for &c in &px[..3] {
            out.push(((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8);
        }
    }
    out
}

fn scaled(w: u32, h: u32, side: u32, by_largest: bool) -> (u32, u32) {
    let reference = if by_largest { w.max(h) } else { w.min(h) };
    let scale = f64::from(side) / f64::from(reference);
    let nw = ((f64::from(w) * scale).round() as u32).max(1);
    let nh = ((f64::from(h) * scale).round() as u32).max(1);
    (nw, nh)
}

/// Resizes RGB8 pixels per the mode; returns pixels and their size.
fn resize(rgb: Vec<u8>, w: u32, h: u32, cfg: &ImageConfig) -> Result<(Vec<u8>, u32, u32), String> {
    let size = cfg.image_size.max(1);
    let src = FirImage::from_vec_u8(w, h, rgb, PixelType::U8x3).map_err(|e| e.to_string())?;
    let (tw, th, crop, pad) = match cfg.mode {
        ResizeMode::No => return Ok((src.into_vec(), w, h)),
        ResizeMode::KeepRatio => {
            let (nw, nh) = scaled(w, h, size, false);
            (nw, nh, None, false)
        }
        ResizeMode::KeepRatioLargest => {
            let (nw, nh) = scaled(w, h, size, true);
            (nw, nh, None, false)
        }
        ResizeMode::Border => {
            let (nw, nh) = scaled(w, h, size, true);
            (nw, nh, None, true)
        }
        ResizeMode::CenterCrop => {
            let side = w.min(h);
            let crop = (
                f64::from((w - side) / 2),
                f64::from((h - side) / 2),
                f64::from(side),
            );
            (size, size, Some(crop), false)
        }
    };
    let pixels = if (tw, th) == (w, h) && crop.is_none() {
        src.into_vec()
    } else {
        let upscaling = u64::from(tw) * u64::from(th) > u64::from(w) * u64::from(h);
        let filter = if upscaling {
            FilterType::Lanczos3
        } else {
            FilterType::Hamming
        };
        let mut options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
        if let Some((left, top, side)) = crop {
            options = options.crop(left, top, side, side);
        }
        let mut dst = FirImage::new(tw, th, PixelType::U8x3);
        Resizer::new()
            .resize(&src, &mut dst, &options)
            .map_err(|e| e.to_string())?;
        dst.into_vec()
    };
    if !pad || (tw == size && th == size) {
        return Ok((pixels, tw, th));
    }
    let mut canvas = vec![255u8; size as usize * size as usize * 3];
    let (x0, y0) = ((size - tw.min(size)) / 2, (size - th.min(size)) / 2);
    let row = tw as usize * 3;
    for y in 0..th.min(size) as usize {
        let dst_off = ((y0 as usize + y) * size as usize + x0 as usize) * 3;
        canvas[dst_off..dst_off + row].copy_from_slice(&pixels[y * row..(y + 1) * row]);
    }
    Ok((canvas, size, size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb, Rgba};

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = ImageBuffer::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 9]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = ImageBuffer::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 9]));
        encode_jpeg(img.as_raw(), w, h, 90).unwrap()
    }

    fn cfg(mode: ResizeMode) -> ImageConfig {
        ImageConfig {
            mode,
            image_size: 64,
            ..ImageConfig::default()
        }
    }

    fn dims_of(jpg: &[u8]) -> (u32, u32) {
        let img = image::load_from_memory(jpg).unwrap();
        (img.width(), img.height())
    }

    #[test]
    fn modes_give_expected_sizes() {
        let bytes = png(200, 100);
        let cases = [
            (ResizeMode::Border, (64, 64)),
            (ResizeMode::KeepRatio, (128, 64)),
            (ResizeMode::KeepRatioLargest, (64, 32)),
            (ResizeMode::CenterCrop, (64, 64)),
            (ResizeMode::No, (200, 100)),
        ];
        for (mode, want) in cases {
            let p = process(&bytes, &cfg(mode)).unwrap();
            assert_eq!((p.width, p.height), want, "{mode:?}");
            assert_eq!(dims_of(&p.jpg), want, "{mode:?}");
            assert_eq!((p.original_width, p.original_height), (200, 100));
        }
    }

    #[test]
    fn border_pads_with_white() {
        let p = process(&png(200, 100), &cfg(ResizeMode::Border)).unwrap();
        let img = image::load_from_memory(&p.jpg).unwrap().into_rgb8();
        let corner = img.get_pixel(0, 0);
        assert!(corner.0.iter().all(|&c| c > 240), "{corner:?}");
        let centre = img.get_pixel(32, 32);
        assert!(centre.0[2] < 60, "{centre:?}");
    }

    #[test]
    fn jpeg_kept_as_is_with_mode_no() {
        let bytes = jpeg(40, 30);
        let p = process(&bytes, &cfg(ResizeMode::No)).unwrap();
        assert_eq!(p.jpg, bytes);
    }

    #[test]
    fn transparent_pixels_become_white() {
        let img = ImageBuffer::from_pixel(8, 8, Rgba([0u8, 0, 0, 0]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        let p = process(out.get_ref(), &cfg(ResizeMode::KeepRatio)).unwrap();
        let px = *image::load_from_memory(&p.jpg)
            .unwrap()
            .into_rgb8()
            .get_pixel(3, 3);
        assert!(px.0.iter().all(|&c| c > 240), "{px:?}");
    }

    #[test]
    fn bad_inputs_are_classified() {
        let c = ImageConfig {
            min_image_size: 10,
            max_aspect_ratio: 3.0,
            ..cfg(ResizeMode::Border)
        };
        let class = |b: &[u8]| process(b, &c).unwrap_err().failure.class;
        assert_eq!(
            class(b"<!DOCTYPE html><html></html>"),
            FailureClass::NotAnImage
        );
        assert_eq!(class(&png(5, 50)), FailureClass::TooSmall);
        assert_eq!(class(&png(40, 200)), FailureClass::AspectRatio);
        let full = jpeg(64, 64);
        assert_eq!(class(&full[..full.len() / 2]), FailureClass::DecodeError);
        let p = png(64, 64);
        assert_eq!(class(&p[..p.len() / 2]), FailureClass::DecodeError);
        let small = ImageConfig {
            max_pixels: 1000,
            ..cfg(ResizeMode::Border)
        };
        let e = process(&png(40, 40), &small).unwrap_err();
        assert_eq!(e.failure.class, FailureClass::TooLarge);
        assert_eq!(e.original, Some((40, 40)));
    }
}

/// JSON has no infinity: an unlimited aspect ratio is written as `null`.
mod infinite_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }
}
