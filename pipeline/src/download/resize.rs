//! The image step of a download: checks an image from its header (format by
//! magic bytes, size, aspect ratio, pixel count) before decoding, decodes it
//! (EXIF orientation applied, an RGB ICC profile converted to sRGB
//! ([`super::color`]), transparency composited on white), and brings
//! it to the configured size and format. The geometry is
//! [`super::geometry`], the resampling [`super::resample`], the encoding
//! [`super::encode`]; this module strings them together as img2dataset's
//! `Resizer` does.

use std::io::Cursor;
use std::str::FromStr;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use super::budget::{self, MemoryBudget};
use super::encode::{self, EncodeFormat};
use super::geometry::{self, Plan};
use super::resample::{self, Interpolation};
use super::status::{Failure, FailureClass};

/// How images are brought to `image_size` (img2dataset's modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// Keep the original size.
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
#[serde(default)]
pub struct ImageConfig {
    /// Resize mode.
    pub mode: ResizeMode,
    /// Target side in pixels.
    pub image_size: u32,
    /// Leave images whose reference side is not above `image_size` alone
    /// (no upscaling, and then no crop or padding either, as img2dataset).
    pub resize_only_if_bigger: bool,
    /// Interpolation when scaling down.
    pub downscale_interpolation: Interpolation,
    /// Interpolation when scaling up.
    pub upscale_interpolation: Interpolation,
    /// Output format.
    pub encode_format: EncodeFormat,
    /// Output quality: 0-100 for JPEG, the compression level 0-9 for PNG.
    #[serde(alias = "jpeg_quality")]
    pub encode_quality: u8,
    /// Keep the downloaded bytes when the image needs no change (same
    /// format as `encode_format`, no resizing, no transparency, upright).
    pub skip_reencode: bool,
    /// Keep the downloaded bytes always: no resizing, no re-encoding.
    pub disable_all_reencoding: bool,
    /// Apply the EXIF orientation before resizing (img2dataset does not).
    pub apply_exif_orientation: bool,
    /// Convert images with an embedded RGB ICC profile to sRGB
    /// (img2dataset does not).
    pub apply_icc_profile: bool,
    /// Images whose smallest side is below this fail with `too_small`.
    pub min_image_size: u32,
    /// Images with more pixels fail with `too_large` (img2dataset's
    /// `max_image_area`, a filter; `max_pixels` is the decoder's guard).
    #[serde(with = "infinite_as_null")]
    pub max_image_area: f64,
    /// Images with max(w/h, h/w) above this fail with `aspect_ratio`.
    #[serde(with = "infinite_as_null")]
    pub max_aspect_ratio: f64,
    /// Images with more pixels fail with `too_large`, checked from the header.
    pub max_pixels: u64,
    /// Bytes all concurrent decodes may hold together (see
    /// [`super::budget`]); an image that needs more fails with `too_large`.
    pub decode_memory: u64,
}

impl Default for ImageConfig {
    fn default() -> Self {
        Self {
            mode: ResizeMode::Border,
            image_size: 256,
            resize_only_if_bigger: false,
            downscale_interpolation: Interpolation::Area,
            upscale_interpolation: Interpolation::Lanczos,
            encode_format: EncodeFormat::Jpg,
            encode_quality: 95,
            skip_reencode: false,
            disable_all_reencoding: false,
            apply_exif_orientation: true,
            apply_icc_profile: true,
            min_image_size: 0,
            max_image_area: f64::INFINITY,
            max_aspect_ratio: f64::INFINITY,
            // The decompression-bomb threshold of Pillow (and so of most
            // Python image pipelines).
            max_pixels: 89_478_485,
            decode_memory: DEFAULT_DECODE_MEMORY,
        }
    }
}

/// The default decode memory budget: 2 GiB, enough for one image at the
/// default `max_pixels` even at 16 bits per channel with alpha.
pub const DEFAULT_DECODE_MEMORY: u64 = 2 << 30;

/// The largest ICC profile kept, inflated (real profiles are kilobytes; a
/// few LUT-based ones reach a megabyte or two).
const ICC_MAX: u64 = 8 << 20;

/// A resized, re-encoded image.
#[derive(Debug, Clone)]
pub struct Processed {
    /// The encoded image (in `encode_format`, or the downloaded bytes when
    /// they were kept).
    pub jpg: Vec<u8>,
    /// Final width.
    pub width: u32,
    /// Final height.
    pub height: u32,
    /// Width before resizing (after EXIF orientation).
    pub original_width: u32,
    /// Height before resizing (after EXIF orientation).
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

fn decode_limits(cfg: &ImageConfig) -> Limits {
    let mut limits = Limits::default();
    // Strict per-side limits, plus the allocation bound the decoder honours
    // (for PNG it covers ancillary chunks too).
    let max_side = u32::try_from(cfg.max_pixels).unwrap_or(u32::MAX).max(1);
    limits.max_image_width = Some(max_side);
    limits.max_image_height = Some(max_side);
    limits.max_alloc = Some(cfg.decode_memory.max(1 << 20));
    limits
}

/// A PNG whose `iCCP` chunk inflates beyond [`ICC_MAX`] (a decompression
/// bomb hidden in metadata), without that chunk; `None` when there is none.
fn png_without_huge_iccp(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut pos = 8usize;
    while pos + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().ok()?) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let end = pos.checked_add(12)?.checked_add(len)?;
        // iCCP comes before the image data.
        if end > bytes.len() || kind == b"IDAT" {
            return None;
        }
        if kind == b"iCCP" {
            let data = &bytes[pos + 8..pos + 8 + len];
            let name_end = data.iter().position(|&b| b == 0)?;
            let stream = data.get(name_end + 2..)?;
            let mut inflated = flate2::read::ZlibDecoder::new(stream).take(ICC_MAX + 1);
            let size = std::io::copy(&mut inflated, &mut std::io::sink()).ok()?;
            if size <= ICC_MAX {
                return None;
            }
            log::debug!("PNG iCCP chunk inflates beyond {ICC_MAX} bytes: dropped");
            let mut out = bytes[..pos].to_vec();
            out.extend_from_slice(&bytes[end..]);
            return Some(out);
        }
        pos = end;
    }
    None
}

/// The filters that need only the size: pixel count, smallest side,
/// aspect ratio.
fn check_size(w: u32, h: u32, cfg: &ImageConfig) -> Result<(), ImageFailure> {
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
    if pixels as f64 > cfg.max_image_area {
        return Err(fail(
            FailureClass::TooLarge,
            format!(
                "{w}x{h} = {pixels} pixels exceeds --max-image-area {}",
                cfg.max_image_area
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
    Ok(())
}

/// Whether an orientation swaps width and height.
fn swaps_sides(o: Orientation) -> bool {
    matches!(
        o,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// Checks, decodes, resizes and re-encodes one downloaded image, with a
/// decode budget of its own (`cfg.decode_memory`).
pub fn process(bytes: &[u8], cfg: &ImageConfig) -> Result<Processed, ImageFailure> {
    process_within(bytes, cfg, &MemoryBudget::new(cfg.decode_memory), &[])
}

/// [`process`], reserving decode memory from `budget` (shared by the
/// threads that decode), and blurring `boxes` (normalised `[x_min, y_min,
/// x_max, y_max]`, see [`super::blur`]) after scaling, before any crop or
/// padding, as img2dataset does.
pub fn process_within(
    bytes: &[u8],
    cfg: &ImageConfig,
    budget: &MemoryBudget,
    boxes: &[[f64; 4]],
) -> Result<Processed, ImageFailure> {
    let format = sniff_format(bytes).ok_or_else(|| {
        fail(
            FailureClass::NotAnImage,
            format!("not a supported image: {}", describe_start(bytes)),
            None,
        )
    })?;
    let header_error = |e: image::ImageError| {
        fail(
            FailureClass::DecodeError,
            format!("{format:?} header: {e}"),
            None,
        )
    };
    let stripped = match format {
        ImageFormat::Png => png_without_huge_iccp(bytes),
        _ => None,
    };
    let to_decode = stripped.as_deref().unwrap_or(bytes);
    let mut reader = ImageReader::with_format(Cursor::new(to_decode), format);
    reader.limits(decode_limits(cfg));
    let mut decoder = reader.into_decoder().map_err(header_error)?;
    let (raw_w, raw_h) = decoder.dimensions();
    let orientation = if cfg.apply_exif_orientation {
        // Unreadable EXIF is no reason to lose the image: it stays as stored.
        decoder.orientation().unwrap_or(Orientation::NoTransforms)
    } else {
        Orientation::NoTransforms
    };
    let (w, h) = if swaps_sides(orientation) {
        (raw_h, raw_w)
    } else {
        (raw_w, raw_h)
    };
    let original = Some((w, h));
    check_size(w, h, cfg)?;
    if format == ImageFormat::Jpeg && jpeg_is_truncated(bytes) {
        return Err(fail(
            FailureClass::DecodeError,
            "truncated JPEG: no end-of-image marker after the last scan",
            original,
        ));
    }
    let need = budget::decode_estimate(raw_w, raw_h, decoder.color_type().bytes_per_pixel().into());
    let _reservation = budget.reserve(need).ok_or_else(|| {
        fail(
            FailureClass::TooLarge,
            format!(
                "{w}x{h} {:?} needs about {need} bytes to decode, above --decode-memory {}",
                decoder.color_type(),
                budget.total()
            ),
            original,
        )
    })?;
    // A profile that cannot be read is no reason to lose the image.
    let icc = if cfg.apply_icc_profile {
        decoder.icc_profile().ok().flatten()
    } else {
        None
    };
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| {
        fail(
            FailureClass::DecodeError,
            format!("{format:?}: {e}"),
            original,
        )
    })?;
    img.apply_orientation(orientation);
    let had_alpha = img.color().has_alpha();
    let mut rgb = to_rgb_on_white(img);
    if let Some(icc) = icc {
        if let Err(e) = super::color::icc_to_srgb(&mut rgb, &icc) {
            log::debug!("{format:?} image kept in its own colours: {e}");
        }
    }
    let phash = crate::phash::phash_rgb(&rgb, w, h);
    let kept = |width, height| Processed {
        jpg: bytes.to_vec(),
        width,
        height,
        original_width: w,
        original_height: h,
        phash,
    };
    if cfg.disable_all_reencoding {
        return Ok(kept(w, h));
    }
    let plan = geometry::plan(w, h, cfg.mode, cfg.image_size, cfg.resize_only_if_bigger);
    let unchanged = plan.is_identity()
        && !had_alpha
        && orientation == Orientation::NoTransforms
        && boxes.is_empty();
    if cfg.skip_reencode && unchanged && format == cfg.encode_format.image_format() {
        return Ok(kept(w, h));
    }
    let (ow, oh) = plan.out;
    let pixels = apply_plan(rgb, (w, h), &plan, cfg, boxes)
        .map_err(|e| fail(FailureClass::DecodeError, e.to_string(), original))?;
    let encoded = encode::encode(&pixels, ow, oh, cfg.encode_format, cfg.encode_quality)
        .map_err(|e| fail(FailureClass::EncodeError, e.to_string(), original))?;
    Ok(Processed {
        jpg: encoded,
        width: ow,
        height: oh,
        original_width: w,
        original_height: h,
        phash,
    })
}

/// Scales, blurs `boxes`, crops and pads RGB8 pixels as `plan` says.
fn apply_plan(
    rgb: Vec<u8>,
    size: (u32, u32),
    plan: &Plan,
    cfg: &ImageConfig,
    boxes: &[[f64; 4]],
) -> Result<Vec<u8>, resample::ResampleError> {
    let (mut pixels, mut size) = (rgb, size);
    if let Some(to) = plan.scale_to {
        let interpolation = if plan.downscale {
            cfg.downscale_interpolation
        } else {
            cfg.upscale_interpolation
        };
        pixels = resample::resample(pixels, size, to, interpolation)?;
        size = to;
    }
    super::blur::blur_boxes(&mut pixels, size.0, size.1, boxes);
    if let Some((x, y, cw, ch)) = plan.crop {
        let row = size.0 as usize * 3;
        let mut out = Vec::with_capacity(cw as usize * ch as usize * 3);
        for line in pixels.chunks_exact(row).skip(y as usize).take(ch as usize) {
            out.extend_from_slice(&line[x as usize * 3..(x + cw) as usize * 3]);
        }
        pixels = out;
        size = (cw, ch);
    }
    if let Some((side, left, top)) = plan.pad {
        let mut canvas = vec![255u8; side as usize * side as usize * 3];
        let row = size.0 as usize * 3;
        for (y, line) in pixels.chunks_exact(row).enumerate() {
            let off = ((top as usize + y) * side as usize + left as usize) * 3;
            canvas[off..off + row].copy_from_slice(line);
        }
        pixels = canvas;
    }
    Ok(pixels)
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
        encode::encode_jpeg(img.as_raw(), w, h, 90).unwrap()
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
    fn original_bytes_kept_only_when_asked() {
        let bytes = jpeg(40, 30);
        // As img2dataset: re-encoded unless --skip-reencode.
        let p = process(&bytes, &cfg(ResizeMode::No)).unwrap();
        assert_ne!(p.jpg, bytes);
        let skip = ImageConfig {
            skip_reencode: true,
            ..cfg(ResizeMode::No)
        };
        assert_eq!(process(&bytes, &skip).unwrap().jpg, bytes);
        // A resize, or another output format, re-encodes anyway.
        let resized = process(
            &bytes,
            &ImageConfig {
                mode: ResizeMode::Border,
                ..skip.clone()
            },
        );
        assert_ne!(resized.unwrap().jpg, bytes);
        let png_out = ImageConfig {
            encode_format: EncodeFormat::Png,
            encode_quality: 1,
            ..skip.clone()
        };
        let p = process(&bytes, &png_out).unwrap();
        assert_eq!(image::guess_format(&p.jpg).unwrap(), ImageFormat::Png);
        // --disable-all-reencoding keeps the bytes even when a resize is due.
        let keep = ImageConfig {
            disable_all_reencoding: true,
            ..cfg(ResizeMode::Border)
        };
        let p = process(&bytes, &keep).unwrap();
        assert_eq!(p.jpg, bytes);
        assert_eq!((p.width, p.height), (40, 30));
    }

    #[test]
    fn resize_only_if_bigger_leaves_small_images_alone() {
        let c = ImageConfig {
            resize_only_if_bigger: true,
            ..cfg(ResizeMode::Border)
        };
        let p = process(&png(40, 20), &c).unwrap();
        assert_eq!((p.width, p.height), (40, 20));
        let p = process(&png(200, 100), &c).unwrap();
        assert_eq!((p.width, p.height), (64, 64));
    }

    #[test]
    fn max_image_area_is_a_filter() {
        let c = ImageConfig {
            max_image_area: 1000.0,
            ..cfg(ResizeMode::Border)
        };
        let e = process(&png(40, 40), &c).unwrap_err();
        assert_eq!(e.failure.class, FailureClass::TooLarge);
        assert!(
            e.failure.message.contains("--max-image-area"),
            "{}",
            e.failure.message
        );
        assert!(process(&png(20, 20), &c).is_ok());
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

    /// A lossless copy of what the stage makes of `bytes` at its own size.
    fn pixels_as_is(bytes: &[u8], cfg: ImageConfig) -> image::RgbImage {
        let cfg = ImageConfig {
            mode: ResizeMode::No,
            encode_format: EncodeFormat::Png,
            encode_quality: 1,
            ..cfg
        };
        let p = process(bytes, &cfg).unwrap();
        image::load_from_memory(&p.jpg).unwrap().into_rgb8()
    }

    /// `jpeg` with an EXIF segment holding only an orientation tag.
    fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
        tiff.extend_from_slice(&1u16.to_be_bytes());
        tiff.extend_from_slice(&0x0112u16.to_be_bytes());
        tiff.extend_from_slice(&3u16.to_be_bytes());
        tiff.extend_from_slice(&1u32.to_be_bytes());
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        let mut payload = b"Exif\0\0".to_vec();
        payload.extend(tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend([0xFF, 0xE1]);
        out.extend(((payload.len() + 2) as u16).to_be_bytes());
        out.extend(payload);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    const ROCKET: &[u8] = include_bytes!("../../../tests/data/photos/rocket.jpg");

    #[test]
    fn exif_orientation_is_applied_to_a_real_photo() {
        let rotated = with_exif_orientation(ROCKET, 6);
        let upright = pixels_as_is(&rotated, ImageConfig::default());
        assert_eq!(upright.dimensions(), (427, 640));
        let plain = pixels_as_is(ROCKET, ImageConfig::default());
        assert_eq!(plain.dimensions(), (640, 427));
        assert_eq!(upright, image::imageops::rotate90(&plain));
        let p = process(&rotated, &cfg(ResizeMode::KeepRatio)).unwrap();
        assert_eq!((p.original_width, p.original_height), (427, 640));
        assert_eq!((p.width, p.height), (64, 96));
        // img2dataset's behaviour on request.
        let ignore = ImageConfig {
            apply_exif_orientation: false,
            ..ImageConfig::default()
        };
        assert_eq!(pixels_as_is(&rotated, ignore), plain);
    }

    #[test]
    fn sixteen_bit_images_become_eight_bit() {
        let img = ImageBuffer::from_pixel(8, 4, Rgb([65535u16, 32896, 0]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        let px = pixels_as_is(out.get_ref(), ImageConfig::default());
        assert_eq!(px.get_pixel(3, 2).0, [255, 128, 0]);
    }

    #[test]
    fn animated_gifs_give_their_first_frame() {
        use image::codecs::gif::GifEncoder;
        use image::{Delay, Frame};
        let frame = |c: [u8; 4]| {
            Frame::from_parts(
                ImageBuffer::from_pixel(6, 6, Rgba(c)),
                0,
                0,
                Delay::from_numer_denom_ms(100, 1),
            )
        };
        let mut gif = Vec::new();
        GifEncoder::new(&mut gif)
            .encode_frames([frame([255, 0, 0, 255]), frame([0, 0, 255, 255])])
            .unwrap();
        let px = pixels_as_is(&gif, ImageConfig::default());
        assert_eq!(px.get_pixel(2, 2).0, [255, 0, 0]);
    }

    #[test]
    fn cmyk_jpegs_are_converted_to_rgb() {
        // Cyan, magenta, yellow and white (no ink) in CMYK.
        let cmyk: Vec<u8> = [
            [255u8, 0, 0, 0],
            [0, 255, 0, 0],
            [0, 0, 255, 0],
            [0, 0, 0, 0],
        ]
        .iter()
        .flat_map(|c| std::iter::repeat_n(*c, 16 * 16).flatten())
        .collect();
        let mut jpg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpg, 100)
            .encode(&cmyk, 16, 64, jpeg_encoder::ColorType::Cmyk)
            .unwrap();
        let px = pixels_as_is(&jpg, ImageConfig::default());
        let near =
            |got: [u8; 3], want: [u8; 3]| got.iter().zip(want).all(|(a, b)| a.abs_diff(b) <= 12);
        for (y, want) in [
            (8, [0, 255, 255]),
            (24, [255, 0, 255]),
            (40, [255, 255, 0]),
            (56, [255, 255, 255]),
        ] {
            let got = px.get_pixel(8, y).0;
            assert!(near(got, want), "row {y}: {got:?}, want {want:?}");
        }
    }

    #[test]
    fn icc_profiles_are_converted_to_srgb() {
        use image::codecs::png::PngEncoder;
        use image::{ExtendedColorType, ImageEncoder};
        let img = ImageBuffer::from_pixel(4, 4, Rgb([200u8, 100, 100]));
        let mut png = Vec::new();
        let mut enc = PngEncoder::new(&mut png);
        enc.set_icc_profile(moxcms::ColorProfile::new_display_p3().encode().unwrap())
            .unwrap();
        enc.write_image(img.as_raw(), 4, 4, ExtendedColorType::Rgb8)
            .unwrap();
        assert_eq!(png_without_huge_iccp(&png), None, "a real profile is kept");
        let px = pixels_as_is(&png, ImageConfig::default()).get_pixel(1, 1).0;
        assert!(px[0] > 205 && px[1] < 100, "{px:?}");
        let ignore = ImageConfig {
            apply_icc_profile: false,
            ..ImageConfig::default()
        };
        assert_eq!(
            pixels_as_is(&png, ignore).get_pixel(1, 1).0,
            [200, 100, 100]
        );
    }

    /// A PNG from chunks (type, data), CRCs computed.
    fn png_from_chunks(chunks: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, data) in chunks {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            out.extend_from_slice(*kind);
            out.extend_from_slice(data);
            let mut crc = flate2::Crc::new();
            crc.update(*kind);
            crc.update(data);
            out.extend_from_slice(&crc.sum().to_be_bytes());
        }
        out
    }

    fn ihdr(w: u32, h: u32, depth: u8, color: u8) -> Vec<u8> {
        let mut d = w.to_be_bytes().to_vec();
        d.extend_from_slice(&h.to_be_bytes());
        d.extend_from_slice(&[depth, color, 0, 0, 0]);
        d
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(data).unwrap();
        z.finish().unwrap()
    }

    #[test]
    fn decode_memory_counts_depth_and_channels_before_decoding() {
        // 9000x9000 16-bit RGBA: 648 MB decoded, from a few bytes of header.
        let bytes = png_from_chunks(&[
            (b"IHDR", ihdr(9000, 9000, 16, 6)),
            (b"IDAT", zlib(&[0; 64])),
            (b"IEND", Vec::new()),
        ]);
        let c = ImageConfig {
            decode_memory: 1 << 30,
            ..cfg(ResizeMode::Border)
        };
        let e = process(&bytes, &c).unwrap_err();
        assert_eq!(e.failure.class, FailureClass::TooLarge);
        assert!(
            e.failure.message.contains("--decode-memory"),
            "{}",
            e.failure.message
        );
        assert_eq!(e.original, Some((9000, 9000)));
        // The same size at 8 bits fits (and then fails on its missing data).
        let small = png_from_chunks(&[
            (b"IHDR", ihdr(9000, 9000, 8, 0)),
            (b"IDAT", zlib(&[0; 64])),
            (b"IEND", Vec::new()),
        ]);
        let e = process(&small, &c).unwrap_err();
        assert_eq!(e.failure.class, FailureClass::DecodeError);
    }

    #[test]
    fn an_icc_bomb_is_dropped_and_the_image_kept() {
        // A 4x4 grey PNG whose iCCP chunk inflates to 16 MiB.
        let rows: Vec<u8> = (0..4).flat_map(|_| [0u8, 90, 90, 90, 90]).collect();
        let mut iccp = b"bomb\0\0".to_vec();
        iccp.extend(zlib(&vec![0u8; 16 << 20]));
        let bytes = png_from_chunks(&[
            (b"IHDR", ihdr(4, 4, 8, 0)),
            (b"iCCP", iccp),
            (b"IDAT", zlib(&rows)),
            (b"IEND", Vec::new()),
        ]);
        assert!(bytes.len() < 100 << 10, "{}", bytes.len());
        let stripped = png_without_huge_iccp(&bytes).expect("the iCCP chunk is dropped");
        assert!(memchr::memmem::find(&stripped, b"iCCP").is_none());
        assert!(stripped.len() < 200);
        let px = pixels_as_is(&bytes, ImageConfig::default());
        assert_eq!(px.get_pixel(1, 1).0, [90, 90, 90]);
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
