//! Resize geometry: from an image's size, the resize mode, the target size
//! and `resize_only_if_bigger`, which size the image is scaled to, which
//! part of it is kept and how it is padded. Only sizes, no pixels; the rules
//! are img2dataset's (its `Resizer`, built on albumentations'
//! `SmallestMaxSize`, `LongestMaxSize`, `CenterCrop` and `PadIfNeeded`):
//!
//! - `keep_ratio` and `center_crop` scale the smaller side to `size`, the
//!   other side by the same factor `size / min(w, h)`, rounded half to even
//!   (Python's `round`) and at least 1; `center_crop` then keeps the
//!   `size × size` square at `((w' - size) / 2, (h' - size) / 2)` (floored).
//! - `keep_ratio_largest` and `border` do the same with the larger side;
//!   `border` then pads to `size × size` with white, the image at
//!   `(floor((size - w') / 2), floor((size - h') / 2))`.
//! - With `resize_only_if_bigger`, an image whose reference side (smaller or
//!   larger, as above) is not above `size` is left entirely alone: not
//!   scaled, not cropped, not padded.
//! - An image is scaled down (with the downscale interpolation) when its
//!   reference side is above `size`, otherwise up; a scale that leaves the
//!   size as it is does not resample.

use super::resize::ResizeMode;

/// What to do with an image of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Size to resample to, when it differs from the original.
    pub scale_to: Option<(u32, u32)>,
    /// Whether the resampling is a downscale (img2dataset's choice of
    /// interpolation: by the reference side, not by the area).
    pub downscale: bool,
    /// `(x, y, width, height)` to keep of the scaled image.
    pub crop: Option<(u32, u32, u32, u32)>,
    /// `(side, left, top)`: a white `side × side` canvas with the image at
    /// `(left, top)`.
    pub pad: Option<(u32, u32, u32)>,
    /// Final size.
    pub out: (u32, u32),
}

impl Plan {
    /// Whether the plan leaves the pixels as they are.
    pub fn is_identity(&self) -> bool {
        self.scale_to.is_none() && self.crop.is_none() && self.pad.is_none()
    }
}

/// `round(dim * scale)` as Python computes it (ties to even), at least 1.
fn scaled_side(dim: u32, scale: f64) -> u32 {
    ((f64::from(dim) * scale).round_ties_even() as u32).max(1)
}

/// The plan for a `w × h` image.
pub fn plan(w: u32, h: u32, mode: ResizeMode, size: u32, only_if_bigger: bool) -> Plan {
    let identity = Plan {
        scale_to: None,
        downscale: false,
        crop: None,
        pad: None,
        out: (w, h),
    };
    let by_smaller = match mode {
        ResizeMode::No => return identity,
        ResizeMode::KeepRatio | ResizeMode::CenterCrop => true,
        ResizeMode::KeepRatioLargest | ResizeMode::Border => false,
    };
    let reference = if by_smaller { w.min(h) } else { w.max(h) };
    let downscale = reference > size;
    if only_if_bigger && !downscale {
        return identity;
    }
    let scale = f64::from(size) / f64::from(reference);
    let (sw, sh) = (scaled_side(w, scale), scaled_side(h, scale));
    let scale_to = ((sw, sh) != (w, h)).then_some((sw, sh));
    let mut plan = Plan {
        scale_to,
        downscale,
        crop: None,
        pad: None,
        out: (sw, sh),
    };
    match mode {
        ResizeMode::CenterCrop => {
            let (cw, ch) = (size.min(sw), size.min(sh));
            if (cw, ch) != (sw, sh) {
                plan.crop = Some(((sw - cw) / 2, (sh - ch) / 2, cw, ch));
                plan.out = (cw, ch);
            }
        }
        ResizeMode::Border if sw < size || sh < size => {
            let side = size.max(sw).max(sh);
            plan.pad = Some((side, (side - sw) / 2, (side - sh) / 2));
            plan.out = (side, side);
        }
        _ => {}
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use ResizeMode::*;

    #[test]
    fn sizes_follow_img2dataset() {
        // 451x300 to 256 (figures from img2dataset's Resizer on this size).
        assert_eq!(plan(451, 300, Border, 256, false).out, (256, 256));
        assert_eq!(plan(451, 300, KeepRatio, 256, false).out, (385, 256));
        assert_eq!(plan(451, 300, CenterCrop, 256, false).out, (256, 256));
        assert_eq!(plan(451, 300, KeepRatioLargest, 256, false).out, (256, 170));
        assert_eq!(plan(451, 300, No, 256, false).out, (451, 300));
        let b = plan(451, 300, Border, 256, false);
        assert_eq!(b.scale_to, Some((256, 170)));
        assert_eq!(b.pad, Some((256, 0, 43)));
        let c = plan(451, 300, CenterCrop, 256, false);
        assert_eq!(c.scale_to, Some((385, 256)));
        assert_eq!(c.crop, Some((64, 0, 256, 256)));
        assert!(c.downscale);
    }

    #[test]
    fn rounding_is_half_to_even() {
        // 100x50 -> smaller side 10: scale 0.2, 100*0.2 = 20.
        assert_eq!(plan(100, 50, KeepRatio, 10, false).out, (20, 10));
        // 5x2 -> 1 by the smaller side: 2.5 rounds to 2 (ties to even).
        assert_eq!(plan(5, 2, KeepRatio, 1, false).out, (2, 1));
        // 7x2 -> 1: 3.5 rounds to 4.
        assert_eq!(plan(7, 2, KeepRatio, 1, false).out, (4, 1));
        // Never below 1 pixel.
        assert_eq!(plan(1000, 1, KeepRatioLargest, 10, false).out, (10, 1));
    }

    #[test]
    fn upscaling_and_only_if_bigger() {
        let up = plan(100, 50, Border, 256, false);
        assert!(!up.downscale);
        assert_eq!(up.scale_to, Some((256, 128)));
        assert_eq!(up.out, (256, 256));
        // Small images are left entirely alone, also by border and center_crop.
        for mode in [Border, KeepRatio, KeepRatioLargest, CenterCrop] {
            let p = plan(100, 50, mode, 256, true);
            assert!(p.is_identity(), "{mode:?}");
            assert_eq!(p.out, (100, 50));
        }
        // keep_ratio looks at the smaller side: 300x200 to 256 is an upscale.
        assert!(plan(300, 200, KeepRatio, 256, true).is_identity());
        assert!(!plan(300, 200, KeepRatioLargest, 256, true).is_identity());
        // Exactly the size: no resampling, border pads nothing.
        assert!(plan(256, 256, Border, 256, false).is_identity());
        let same = plan(256, 100, KeepRatioLargest, 256, false);
        assert!(same.is_identity());
    }
}
