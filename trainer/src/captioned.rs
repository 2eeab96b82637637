//! Image–text retrieval on a captioned image set with several captions per
//! image, given as the Karpathy-split JSON that COCO and Flickr30k users
//! have (`dataset_coco.json`, `dataset_flickr30k.json`): image→text counts a
//! hit when any of the image's captions ranks within the top K, text→image
//! when the caption's image does.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::io_err;
use crate::eval::{embed_images, embed_texts, rank_against, require_finite, share};
use crate::model::Clip;
use crate::tokenizer::TextTokenizer;
use crate::{Error, Result};

/// Images and their captions.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptionedImages {
    /// Image files.
    pub images: Vec<PathBuf>,
    /// Every caption, image by image.
    pub captions: Vec<String>,
    /// The image (index into `images`) of each caption.
    pub caption_image: Vec<usize>,
}

#[derive(Deserialize)]
struct KarpathyFile {
    images: Vec<KarpathyImage>,
}

#[derive(Deserialize)]
struct KarpathyImage {
    filename: String,
    #[serde(default)]
    filepath: Option<String>,
    split: String,
    sentences: Vec<KarpathySentence>,
}

#[derive(Deserialize)]
struct KarpathySentence {
    raw: String,
}

/// Reads the images of `split` (`test`, `val`, `train`, `restval`) of a
/// Karpathy-split JSON; image paths are `root/filepath/filename` (COCO) or
/// `root/filename` (Flickr30k). At most `max_images` images, in file order.
pub fn load_karpathy(
    json: &Path,
    root: &Path,
    split: &str,
    max_images: Option<usize>,
) -> Result<CaptionedImages> {
    let bytes = storage::files::read(json).map_err(io_err(json))?;
    let file: KarpathyFile = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Config(format!(
            "{}: not a Karpathy-split JSON ({{\"images\": [{{\"filename\", \"split\", \"sentences\": [{{\"raw\"}}]}}]}}): {e}",
            json.display()
        ))
    })?;
    let mut set = CaptionedImages {
        images: Vec::new(),
        captions: Vec::new(),
        caption_image: Vec::new(),
    };
    for img in file.images.into_iter().filter(|i| i.split == split) {
        if max_images.is_some_and(|m| set.images.len() >= m) {
            break;
        }
        if img.sentences.is_empty() {
            continue;
        }
        let path = match &img.filepath {
            Some(dir) => root.join(dir).join(&img.filename),
            None => root.join(&img.filename),
        };
        let index = set.images.len();
        set.images.push(path);
        for s in img.sentences {
            set.captions.push(s.raw);
            set.caption_image.push(index);
        }
    }
    if set.images.len() < 2 {
        return Err(Error::Config(format!(
            "{}: fewer than two images with captions in split {split:?}",
            json.display()
        )));
    }
    Ok(set)
}

/// Recall of image→text and text→image retrieval.
#[derive(Debug, Clone, Serialize)]
pub struct CaptionedRetrievalReport {
    /// Images ranked (those that decode).
    pub images: usize,
    /// Captions ranked.
    pub captions: usize,
    /// Images that could not be read or decoded (left out with their captions).
    pub unreadable_images: usize,
    /// Image→text recall@1, @5, @10: any of the image's captions in the top K.
    pub image_to_text: [f64; 3],
    /// Text→image recall@1, @5, @10.
    pub text_to_image: [f64; 3],
}

/// The K of the recalls reported.
pub const RECALL_AT: [usize; 3] = [1, 5, 10];

/// Ranks every caption for every image and the other way round. A wrong
/// candidate that scores as high as the right one counts against the model.
pub fn captioned_retrieval(
    model: &Clip,
    tok: &TextTokenizer,
    set: &CaptionedImages,
    batch: usize,
) -> Result<CaptionedRetrievalReport> {
    // A chunk of images in memory at a time; an image that cannot be read
    // or decoded is named, counted and left out with its captions.
    let mut parts = Vec::new();
    let mut ok = Vec::with_capacity(set.images.len());
    for paths in set.images.chunks(batch.max(1) * 4) {
        let bytes: Vec<Vec<u8>> = paths
            .iter()
            .map(|p| {
                storage::files::read(p).unwrap_or_else(|e| {
                    log::warn!("{}: cannot read image ({e}); skipped", p.display());
                    Vec::new()
                })
            })
            .collect();
        match embed_images(model, &bytes, batch) {
            Ok((emb, decoded)) => {
                for (p, (good, b)) in paths.iter().zip(decoded.iter().zip(&bytes)) {
                    if !good && !b.is_empty() {
                        log::warn!("{}: cannot decode image; skipped", p.display());
                    }
                }
                ok.extend(decoded);
                parts.push(emb);
            }
            Err(Error::Config(_)) => {
                log::warn!(
                    "{} images in a row that cannot be decoded; skipped",
                    paths.len()
                );
                ok.extend(std::iter::repeat_n(false, paths.len()));
            }
            Err(e) => return Err(e),
        }
    }
    if parts.is_empty() {
        return Err(Error::Config(
            "no decodable image in the captioned set".into(),
        ));
    }
    let img = candle_core::Tensor::cat(&parts, 0)?;
    // Images that decode, and their captions.
    let kept: Vec<usize> = (0..set.images.len()).filter(|&i| ok[i]).collect();
    let mut new_index = vec![usize::MAX; set.images.len()];
    for (n, &i) in kept.iter().enumerate() {
        new_index[i] = n;
    }
    let (captions, truth): (Vec<String>, Vec<usize>) = set
        .captions
        .iter()
        .zip(&set.caption_image)
        .filter(|(_, &i)| ok[i])
        .map(|(c, &i)| (c.clone(), new_index[i]))
        .unzip();
    let txt = embed_texts(model, tok, &captions, batch)?;
    require_finite(&img, "image")?;
    require_finite(&txt, "text")?;
    let sim = img.matmul(&txt.t()?)?.to_vec2::<f32>()?;
    let (i2t, t2i) = ranks(&sim, &truth);
    let recall = |ranks: &[usize]| RECALL_AT.map(|k| share(ranks, k));
    Ok(CaptionedRetrievalReport {
        images: kept.len(),
        captions: captions.len(),
        unreadable_images: set.images.len() - kept.len(),
        image_to_text: recall(&i2t),
        text_to_image: recall(&t2i),
    })
}

/// The rank (0 = first) of each image's best caption among the other
/// images' captions, and of each caption's image among the other images, in
/// `sim` (images × captions; `truth[j]` is caption j's image). Wrong
/// candidates scoring as high as the right one (ties, NaN) count against.
fn ranks(sim: &[Vec<f32>], truth: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let captions = truth.len();
    // Image i: the rank of its best caption among the others' captions.
    let i2t: Vec<usize> = sim
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let best = (0..captions)
                .filter(|&j| truth[j] == i)
                .map(|j| row[j])
                .fold(f32::NAN, |a, b| if a.is_nan() || b > a { b } else { a });
            rank_against(row, best, |j| truth[j] != i)
        })
        .collect();
    let t2i: Vec<usize> = (0..captions)
        .map(|j| {
            let column: Vec<f32> = sim.iter().map(|row| row[j]).collect();
            rank_against(&column, column[truth[j]], |i| i != truth[j])
        })
        .collect();
    (i2t, t2i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_right_caption_counts_and_ties_count_against() {
        // Image 0 has captions 0 and 1, image 1 caption 2.
        let truth = [0, 0, 1];
        let sim = vec![vec![0.1, 0.9, 0.5], vec![0.2, 0.3, 0.4]];
        let (i2t, t2i) = ranks(&sim, &truth);
        // Image 0's best caption (0.9) beats caption 2 (0.5); image 1's
        // caption (0.4) beats image 0's (0.2, 0.3).
        assert_eq!(i2t, [0, 0]);
        // Caption 0: image 1 scores 0.2 > 0.1; caption 2: image 0 scores 0.5 > 0.4.
        assert_eq!(t2i, [1, 0, 1]);
        // Everything equal: every rank is last.
        let (i2t, t2i) = ranks(&[vec![0.5; 3], vec![0.5; 3]], &truth);
        assert_eq!(i2t, [1, 2]);
        assert_eq!(t2i, [1, 1, 1]);
        let (i2t, _) = ranks(&[vec![f32::NAN; 3], vec![0.1; 3]], &truth);
        assert_eq!(i2t[0], 1);
    }

    #[test]
    fn karpathy_json_is_read_by_split_with_coco_and_flickr_paths() {
        let d = tempfile::tempdir().unwrap();
        let json = d.path().join("dataset_coco.json");
        std::fs::write(
            &json,
            r#"{"images": [
              {"filepath": "val2014", "filename": "a.jpg", "split": "test",
               "sentences": [{"raw": "a dog", "tokens": ["a", "dog"]}, {"raw": "a puppy"}]},
              {"filepath": "val2014", "filename": "b.jpg", "split": "train",
               "sentences": [{"raw": "a cat"}]},
              {"filename": "c.jpg", "split": "test", "sentences": [{"raw": "a fox"}]}
            ], "dataset": "coco"}"#,
        )
        .unwrap();
        let set = load_karpathy(&json, Path::new("/imgs"), "test", None).unwrap();
        assert_eq!(
            set.images,
            [
                PathBuf::from("/imgs/val2014/a.jpg"),
                PathBuf::from("/imgs/c.jpg")
            ]
        );
        assert_eq!(set.captions, ["a dog", "a puppy", "a fox"]);
        assert_eq!(set.caption_image, [0, 0, 1]);
        let e = load_karpathy(&json, Path::new("/imgs"), "val", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("fewer than two"), "{e}");
        std::fs::write(&json, "[1, 2]").unwrap();
        let e = load_karpathy(&json, Path::new("/imgs"), "test", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Karpathy"), "{e}");
    }
}
