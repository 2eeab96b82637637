//! A small synthetic web for the offline demo and end-to-end tests.
//!
//! It writes what a crawl of a tiny image-heavy website would give:
//! - `web/`: the site itself (HTML pages and images of coloured shapes, JPEG
//!   and PNG, of varied sizes), to be served on 127.0.0.1;
//! - `crawl/sample-web.warc.gz`: a gzipped WARC (one member per record) with a
//!   `warcinfo` record and one `response` record per page, as a crawler would
//!   have stored it; image URLs in the pages are relative, so they resolve
//!   against the page URL (`--base-url`);
//! - `eval/`: an ImageFolder tree of held-out images (one folder per class)
//!   and `eval/classes.tsv` mapping folder names to class names, for
//!   zero-shot evaluation.
//!
//! The alt-texts describe what the images show (colour and shape, with
//! distractor words and some useless alts, like a real site), so a model
//! trained on the pairs learns something measurable.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use flate2::write::GzEncoder;
use image::{ImageFormat, Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

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

/// What to generate.
#[derive(Debug, Clone)]
pub struct SampleWebOptions {
    /// Number of HTML pages.
    pub pages: usize,
    /// Images per page.
    pub images_per_page: usize,
    /// Held-out evaluation images per class.
    pub eval_per_class: usize,
    /// URL the site will be served at, e.g. `http://127.0.0.1:8000`.
    pub base_url: String,
    /// Seed of every random choice: the same seed gives the same files.
    pub seed: u64,
}

/// What was written.
#[derive(Debug, Default, Clone, Copy)]
pub struct SampleWebSummary {
    /// HTML pages written (and WARC response records).
    pub pages: usize,
    /// Images on the site.
    pub images: usize,
    /// Held-out evaluation images.
    pub eval_images: usize,
}

/// One drawn image: what it shows.
struct Drawing {
    colour: usize,
    shape: usize,
    image: RgbImage,
}

fn draw(rng: &mut ChaCha8Rng, colour: usize, shape: usize, width: u32, height: u32) -> Drawing {
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

fn encode(image: &RgbImage, format: ImageFormat) -> Result<Vec<u8>> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, format)?;
    Ok(bytes.into_inner())
}

/// An alt-text for a drawing: mostly descriptive, sometimes with distractor
/// words, sometimes useless (as on real pages).
fn alt_text(rng: &mut ChaCha8Rng, d: &Drawing) -> String {
    let colour = COLOURS[d.colour].0;
    let shape = SHAPES[d.shape];
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

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Appends one gzip member holding a WARC record to `out`.
fn write_warc_record(
    out: &mut Vec<u8>,
    record_type: &str,
    target_uri: Option<&str>,
    content_type: &str,
    record_id: u64,
    block: &[u8],
) -> Result<()> {
    let mut header = String::new();
    header.push_str("WARC/1.0\r\n");
    let _ = write!(header, "WARC-Type: {record_type}\r\n");
    header.push_str("WARC-Date: 2026-01-01T00:00:00Z\r\n");
    let _ = write!(
        header,
        "WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-{record_id:012x}>\r\n"
    );
    if let Some(uri) = target_uri {
        let _ = write!(header, "WARC-Target-URI: {uri}\r\n");
    }
    let _ = write!(header, "Content-Type: {content_type}\r\n");
    let _ = write!(header, "Content-Length: {}\r\n\r\n", block.len());
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(header.as_bytes())?;
    gz.write_all(block)?;
    gz.write_all(b"\r\n\r\n")?;
    out.extend_from_slice(&gz.finish()?);
    Ok(())
}

/// Writes the synthetic web under `out` (see the module docs).
pub fn generate(out: &Path, opts: &SampleWebOptions) -> Result<SampleWebSummary> {
    let base = opts.base_url.trim_end_matches('/');
    let web = out.join("web");
    let images_dir = web.join("images");
    let pages_dir = web.join("pages");
    let crawl_dir = out.join("crawl");
    let eval_dir = out.join("eval");
    for d in [&images_dir, &pages_dir, &crawl_dir, &eval_dir] {
        fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut summary = SampleWebSummary::default();
    let mut warc = Vec::new();
    let info = format!(
        "software: witcurate/{}\r\nformat: WARC File Format 1.0\r\n",
        env!("CARGO_PKG_VERSION")
    );
    write_warc_record(
        &mut warc,
        "warcinfo",
        None,
        "application/warc-fields",
        0,
        info.as_bytes(),
    )?;

    for page in 0..opts.pages {
        let mut body = String::new();
        let _ = write!(
            body,
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Shapes gallery {page}</title></head>\n<body>\n<h1>Shapes gallery {page}</h1>\n"
        );
        for i in 0..opts.images_per_page {
            let idx = page * opts.images_per_page + i;
            let colour = rng.random_range(0..COLOURS.len());
            let shape = rng.random_range(0..SHAPES.len());
            let (w, h) = match rng.random_range(0..4) {
                0 => (128, 128),
                1 => (rng.random_range(96..320), rng.random_range(96..320)),
                2 => (320, 200),
                _ => (160, 240),
            };
            let d = draw(&mut rng, colour, shape, w, h);
            let (ext, format) = if rng.random_range(0..4) == 0 {
                ("png", ImageFormat::Png)
            } else {
                ("jpg", ImageFormat::Jpeg)
            };
            let name = format!("{idx:06}.{ext}");
            fs::write(images_dir.join(&name), encode(&d.image, format)?)?;
            summary.images += 1;
            let alt = alt_text(&mut rng, &d);
            let _ = writeln!(
                body,
                "<figure><img src=\"../images/{name}\" alt=\"{}\" width=\"{w}\" height=\"{h}\"></figure>",
                html_escape(&alt)
            );
        }
        body.push_str("<p>More shapes on the <a href=\"../pages/0.html\">first page</a>.</p>\n</body></html>\n");
        let page_name = format!("{page}.html");
        fs::write(pages_dir.join(&page_name), &body)?;
        let url = format!("{base}/pages/{page_name}");
        let mut http = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        http.extend_from_slice(body.as_bytes());
        write_warc_record(
            &mut warc,
            "response",
            Some(&url),
            "application/http; msgtype=response",
            page as u64 + 1,
            &http,
        )?;
        summary.pages += 1;
    }
    let warc_path = crawl_dir.join("sample-web.warc.gz");
    fs::write(&warc_path, &warc)?;

    let mut classes = String::new();
    for (c, (colour, _)) in COLOURS.iter().enumerate() {
        for (s, shape) in SHAPES.iter().enumerate() {
            let folder = format!("{colour}_{shape}");
            let _ = writeln!(classes, "{folder}\t{colour} {shape}");
            let dir = eval_dir.join(&folder);
            fs::create_dir_all(&dir)?;
            for k in 0..opts.eval_per_class {
                let d = draw(&mut rng, c, s, 128, 128);
                fs::write(
                    dir.join(format!("{k:04}.jpg")),
                    encode(&d.image, ImageFormat::Jpeg)?,
                )?;
                summary.eval_images += 1;
            }
        }
    }
    fs::write(eval_dir.join("classes.tsv"), classes)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_files() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let opts = SampleWebOptions {
            pages: 2,
            images_per_page: 3,
            eval_per_class: 1,
            base_url: "http://127.0.0.1:1".into(),
            seed: 7,
        };
        let s = generate(a.path(), &opts).unwrap();
        generate(b.path(), &opts).unwrap();
        assert_eq!(s.pages, 2);
        assert_eq!(s.images, 6);
        assert_eq!(s.eval_images, COLOURS.len() * SHAPES.len());
        let warc_a = fs::read(a.path().join("crawl/sample-web.warc.gz")).unwrap();
        let warc_b = fs::read(b.path().join("crawl/sample-web.warc.gz")).unwrap();
        assert_eq!(warc_a, warc_b);
        // The WARC holds every page's URL and its images' alt-texts.
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::MultiGzDecoder::new(&warc_a[..]),
            &mut text,
        )
        .unwrap();
        assert!(text.contains("WARC-Target-URI: http://127.0.0.1:1/pages/1.html"));
        assert_eq!(text.matches("<img ").count(), 6);
    }
}
