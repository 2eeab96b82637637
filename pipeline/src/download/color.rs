//! Colour management: an image with an embedded RGB ICC profile (Display
//! P3 and Adobe RGB photos, say) is converted to sRGB, the space its pixels
//! are read in everywhere downstream, with `moxcms` (already the `image`
//! crate's colour engine). Profiles of other spaces (greyscale, CMYK) are
//! left alone: the decoder has already turned those pixels into RGB.

use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

/// An ICC profile that could not be applied.
#[derive(Debug, thiserror::Error)]
#[error("ICC profile: {0}")]
pub struct ColorError(String);

/// Converts RGB8 pixels described by the ICC profile `icc` to sRGB.
/// Returns whether it converted (false for a profile of another space).
pub fn icc_to_srgb(rgb: &mut [u8], icc: &[u8]) -> Result<bool, ColorError> {
    let profile = ColorProfile::new_from_slice(icc).map_err(|e| ColorError(e.to_string()))?;
    if profile.color_space != DataColorSpace::Rgb {
        return Ok(false);
    }
    let srgb = ColorProfile::new_srgb();
    let transform = profile
        .create_transform_8bit(Layout::Rgb, &srgb, Layout::Rgb, TransformOptions::default())
        .map_err(|e| ColorError(e.to_string()))?;
    // Row by row: one small buffer, not a second copy of the image.
    const CHUNK: usize = 3 * 4096;
    let mut out = vec![0u8; CHUNK.min(rgb.len())];
    for chunk in rgb.chunks_mut(CHUNK) {
        let dst = &mut out[..chunk.len()];
        transform
            .transform(chunk, dst)
            .map_err(|e| ColorError(e.to_string()))?;
        chunk.copy_from_slice(dst);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srgb_is_kept_and_display_p3_is_converted() {
        let srgb = ColorProfile::new_srgb().encode().unwrap();
        let mut px = vec![200u8, 100, 100, 128, 128, 128];
        assert!(icc_to_srgb(&mut px, &srgb).unwrap());
        for (a, b) in px.iter().zip([200u8, 100, 100, 128, 128, 128]) {
            assert!(a.abs_diff(b) <= 1, "{px:?}");
        }
        let p3 = ColorProfile::new_display_p3().encode().unwrap();
        let mut px = vec![200u8, 100, 100, 128, 128, 128];
        assert!(icc_to_srgb(&mut px, &p3).unwrap());
        // The same numbers mean a more saturated red in P3: further from
        // grey in sRGB. Greys stay grey (same white point and curve).
        assert!(px[0] > 205 && px[1] < 100, "{px:?}");
        assert!(px[3..].iter().all(|&v| v.abs_diff(128) <= 1), "{px:?}");
        assert!(icc_to_srgb(&mut px, b"not a profile").is_err());
    }
}
