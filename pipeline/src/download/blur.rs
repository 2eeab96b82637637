//! Blurring of bounding boxes (faces, say) as img2dataset's
//! `BoundingBoxBlurrer` does it (`--bbox-col`): each box `[x_min, y_min,
//! x_max, y_max]`, normalised to [0, 1], is grown by a tenth of its larger
//! side on every side; the mask of the grown boxes and the image are blurred
//! with one Gaussian kernel (odd size `2 · ceil(0.1 · largest box side) + 1`,
//! at least 3; OpenCV's sigma for that size; borders reflected as OpenCV's
//! `BORDER_REFLECT_101`), and the image becomes `image · (1 - mask') +
//! blurred · mask'` (so the blur fades out at the box edges), in `f32` and
//! truncated back to 8 bits as img2dataset does.

/// Parses a cell of the bbox column: a JSON list of `[x_min, y_min, x_max,
/// y_max]` lists (one box alone is accepted too); null or empty: no box.
pub fn parse_boxes(text: &str) -> Result<Vec<[f64; 4]>, String> {
    let text = text.trim();
    if text.is_empty() || text == "null" {
        return Ok(Vec::new());
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("bounding boxes {text:?}: {e}"))?;
    let as_box = |v: &serde_json::Value| -> Option<[f64; 4]> {
        let a = v.as_array()?;
        if a.len() != 4 {
            return None;
        }
        let mut b = [0.0; 4];
        for (d, s) in b.iter_mut().zip(a) {
            *d = s.as_f64()?;
        }
        Some(b)
    };
    let list = value
        .as_array()
        .ok_or_else(|| format!("bounding boxes {text:?}: not a list"))?;
    if let Some(single) = as_box(&value).filter(|_| list.iter().all(|v| v.is_number())) {
        return Ok(vec![single]);
    }
    list.iter()
        .map(|v| {
            as_box(v).ok_or_else(|| {
                format!("bounding boxes {text:?}: {v} is not [x_min, y_min, x_max, y_max]")
            })
        })
        .collect()
}

/// OpenCV's Gaussian kernel of odd size `k` with its default sigma for
/// that size (`0.3 · ((k - 1) / 2 - 1) + 0.8`), normalised.
fn gaussian_kernel(k: usize) -> Vec<f32> {
    let sigma = 0.3 * ((k as f64 - 1.0) * 0.5 - 1.0) + 0.8;
    let c = (k as f64 - 1.0) / 2.0;
    let w: Vec<f64> = (0..k)
        .map(|i| (-((i as f64 - c).powi(2)) / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f64 = w.iter().sum();
    w.iter().map(|v| (v / sum) as f32).collect()
}

/// OpenCV's `BORDER_REFLECT_101` index (`gfedcb|abcdefgh|gfedcba`).
fn reflect101(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let n = n as isize;
    let period = 2 * (n - 1);
    let mut i = i.rem_euclid(period);
    if i >= n {
        i = period - i;
    }
    i as usize
}

/// A rectangle `[x0, x1) × [y0, y1)`.
#[derive(Debug, Clone, Copy)]
struct Region {
    x0: usize,
    x1: usize,
    y0: usize,
    y1: usize,
}

/// Separable Gaussian blur of `channels`-interleaved `f32` planes `w × h`,
/// computed only for `region` (the result is `region`-sized); the taps
/// reach outside it, reflected at the image's borders.
fn gaussian_blur(
    src: &[f32],
    (w, h): (usize, usize),
    channels: usize,
    kernel: &[f32],
    region: Region,
) -> Vec<f32> {
    let r = kernel.len() / 2;
    let rw = region.x1 - region.x0;
    // Rows the vertical taps read (reflected indices stay within them).
    let (b0, b1) = (region.y0.saturating_sub(r), (region.y1 + r).min(h));
    let mut tmp = vec![0f32; (b1 - b0) * rw * channels];
    for y in b0..b1 {
        for x in region.x0..region.x1 {
            for c in 0..channels {
                let mut acc = 0f32;
                for (k, wgt) in kernel.iter().enumerate() {
                    let sx = reflect101(x as isize + k as isize - r as isize, w);
                    acc += src[(y * w + sx) * channels + c] * wgt;
                }
                tmp[((y - b0) * rw + x - region.x0) * channels + c] = acc;
            }
        }
    }
    let mut out = vec![0f32; (region.y1 - region.y0) * rw * channels];
    for y in region.y0..region.y1 {
        for x in 0..rw {
            for c in 0..channels {
                let mut acc = 0f32;
                for (k, wgt) in kernel.iter().enumerate() {
                    let sy = reflect101(y as isize + k as isize - r as isize, h);
                    acc += tmp[((sy - b0) * rw + x) * channels + c] * wgt;
                }
                out[((y - region.y0) * rw + x) * channels + c] = acc;
            }
        }
    }
    out
}

/// Blurs `boxes` (normalised) in RGB8 pixels `w × h`.
pub fn blur_boxes(rgb: &mut [u8], w: u32, h: u32, boxes: &[[f64; 4]]) {
    if boxes.is_empty() || w == 0 || h == 0 {
        return;
    }
    let (wu, hu) = (w as usize, h as usize);
    let mut mask = vec![0f32; wu * hu];
    let mut max_side = 0i64;
    // The part of the image the mask covers.
    let mut covered: Option<Region> = None;
    for b in boxes {
        // As img2dataset: truncating int() of the scaled coordinates.
        let mut a = [
            (b[0] * f64::from(w)) as i64,
            (b[1] * f64::from(h)) as i64,
            (b[2] * f64::from(w)) as i64,
            (b[3] * f64::from(h)) as i64,
        ];
        let side = (a[2] - a[0]).max(a[3] - a[1]);
        max_side = max_side.max(side);
        let grow = 0.1 * side as f64;
        a[0] = (a[0] as f64 - grow) as i64;
        a[1] = (a[1] as f64 - grow) as i64;
        a[2] = (a[2] as f64 + grow) as i64;
        a[3] = (a[3] as f64 + grow) as i64;
        let clamp_x = |v: i64| v.clamp(0, i64::from(w) - 1) as usize;
        let clamp_y = |v: i64| v.clamp(0, i64::from(h) - 1) as usize;
        let (x0, x1, y0, y1) = (clamp_x(a[0]), clamp_x(a[2]), clamp_y(a[1]), clamp_y(a[3]));
        if x0 >= x1 || y0 >= y1 {
            continue;
        }
        for y in y0..y1 {
            mask[y * wu + x0..y * wu + x1].fill(1.0);
        }
        covered = Some(match covered {
            None => Region { x0, x1, y0, y1 },
            Some(c) => Region {
                x0: c.x0.min(x0),
                x1: c.x1.max(x1),
                y0: c.y0.min(y0),
                y1: c.y1.max(y1),
            },
        });
    }
    let sigma = 0.1 * max_side as f64;
    let mut k = ((2.0 * sigma.ceil() + 1.0) as usize).max(3);
    if k.is_multiple_of(2) {
        k += 1;
    }
    let kernel = gaussian_kernel(k);
    let r = k / 2;
    let img: Vec<f32> = rgb.iter().map(|&v| f32::from(v) / 255.0).collect();
    // The blurred mask is exactly 0 farther than the kernel's radius from
    // the mask (reflected taps included), so only that region is blurred.
    let region = covered.map(|c| Region {
        x0: c.x0.saturating_sub(r),
        x1: (c.x1 + r).min(wu),
        y0: c.y0.saturating_sub(r),
        y1: (c.y1 + r).min(hu),
    });
    let blurred = region.map(|reg| {
        (
            reg,
            gaussian_blur(&img, (wu, hu), 3, &kernel, reg),
            gaussian_blur(&mask, (wu, hu), 1, &kernel, reg),
        )
    });
    for (i, px) in rgb.iter_mut().enumerate() {
        let (x, y) = ((i / 3) % wu, i / 3 / wu);
        // img · (1 - mask') + blurred · mask', in f32 as img2dataset; outside
        // the region mask' is 0.
        let v = match &blurred {
            Some((reg, img_b, mask_b))
                if (reg.x0..reg.x1).contains(&x) && (reg.y0..reg.y1).contains(&y) =>
            {
                let j = (y - reg.y0) * (reg.x1 - reg.x0) + x - reg.x0;
                let m = mask_b[j];
                img[i] * (1.0 - m) + img_b[j * 3 + i % 3] * m
            }
            _ => img[i],
        };
        *px = (v * 255.0) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_parse_from_json() {
        assert_eq!(parse_boxes("").unwrap(), Vec::<[f64; 4]>::new());
        assert_eq!(parse_boxes("[]").unwrap(), Vec::<[f64; 4]>::new());
        assert_eq!(
            parse_boxes("[[0.1, 0.2, 0.3, 0.4]]").unwrap(),
            [[0.1, 0.2, 0.3, 0.4]]
        );
        assert_eq!(parse_boxes("[0, 0, 1, 1]").unwrap(), [[0.0, 0.0, 1.0, 1.0]]);
        assert!(parse_boxes("[[0.1, 0.2]]").is_err());
        assert!(parse_boxes("face").is_err());
    }

    #[test]
    fn only_the_box_is_blurred() {
        let (w, h) = (40u32, 40u32);
        // A checkerboard: blurring makes it grey.
        let mut rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let v = if (i % w + i / w) % 2 == 0 { 255 } else { 0 };
                [v, v, v]
            })
            .collect();
        let before = rgb.clone();
        blur_boxes(&mut rgb, w, h, &[[0.25, 0.25, 0.75, 0.75]]);
        let at = |p: &[u8], x: u32, y: u32| p[((y * w + x) * 3) as usize];
        // Centre: grey-ish; far corner: untouched (up to the f32 round trip).
        assert!(
            (60..200).contains(&at(&rgb, 20, 20)),
            "{}",
            at(&rgb, 20, 20)
        );
        assert!(at(&rgb, 1, 1).abs_diff(at(&before, 1, 1)) <= 1);
        assert_eq!(reflect101(-1, 5), 1);
        assert_eq!(reflect101(5, 5), 3);
        let k = gaussian_kernel(5);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
}
