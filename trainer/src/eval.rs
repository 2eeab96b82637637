//! Zero-shot classification (CLIP's prompt-ensembling method) on an
//! ImageFolder tree, and image↔text retrieval on held-out shard rows.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use rayon::prelude::*;
use serde::Serialize;

use crate::data::augment;
use crate::data::ShardSet;
use crate::error::io_err;
use crate::labelled::{LabelledImages, TableColumns};
use crate::model::clip::l2_normalize;
use crate::model::Clip;
use crate::tokenizer::TextTokenizer;
use crate::{Error, Result};

/// Prompt templates used when none are given (a subset of the CLIP paper's
/// 80 ImageNet templates); `{}` stands for the class name.
pub const DEFAULT_TEMPLATES: &[&str] = &[
    "a photo of a {}.",
    "a bad photo of a {}.",
    "a photo of the {}.",
    "a good photo of a {}.",
    "a close-up photo of a {}.",
    "a bright photo of a {}.",
    "a cropped photo of a {}.",
    "a photo of a small {}.",
    "a photo of a large {}.",
    "a rendering of a {}.",
    "art of the {}.",
    "itap of a {}.",
];

/// One class of an ImageFolder tree.
#[derive(Debug, Clone, Serialize)]
pub struct ClassEntry {
    /// Sub-folder name.
    pub folder: String,
    /// Name used in the prompts.
    pub name: String,
}

/// Accuracy on one class.
#[derive(Debug, Clone, Serialize)]
pub struct ClassResult {
    /// Sub-folder name.
    pub folder: String,
    /// Name used in the prompts.
    pub name: String,
    /// Images evaluated.
    pub images: usize,
    /// Top-1 accuracy.
    pub top1: f64,
}

/// Zero-shot classification results.
#[derive(Debug, Clone, Serialize)]
pub struct ZeroShotReport {
    /// Number of classes.
    pub classes: usize,
    /// Images evaluated.
    pub images: usize,
    /// Images that could not be decoded (skipped).
    pub unreadable_images: usize,
    /// Prompt templates ensembled.
    pub templates: usize,
    /// Top-1 accuracy.
    pub top1: f64,
    /// Top-5 accuracy (equal to 1 with five classes or fewer).
    pub top5: f64,
    /// 1 / classes.
    pub chance_top1: f64,
    /// Mean over the classes (with images) of their top-1: the metric the
    /// CLIP paper reports for unbalanced sets (FGVC Aircraft, Oxford Pets,
    /// Caltech-101, Flowers-102).
    pub mean_per_class_recall: f64,
    /// Per-class top-1.
    pub per_class: Vec<ClassResult>,
}

/// Retrieval results (each pair's own caption/image is the one right answer).
#[derive(Debug, Clone, Serialize)]
pub struct RetrievalReport {
    /// Pairs in the pool.
    pub pairs: usize,
    /// Image→text recall@1.
    pub image_to_text_r1: f64,
    /// Image→text recall@5.
    pub image_to_text_r5: f64,
    /// Image→text recall@10.
    pub image_to_text_r10: f64,
    /// Text→image recall@1.
    pub text_to_image_r1: f64,
    /// Text→image recall@5.
    pub text_to_image_r5: f64,
    /// Text→image recall@10.
    pub text_to_image_r10: f64,
}

/// Everything `witcurate eval` reports.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// The checkpoint evaluated.
    pub checkpoint: PathBuf,
    /// Its step.
    pub step: u64,
    /// Zero-shot classification, if images were given.
    pub zero_shot: Option<ZeroShotReport>,
    /// Retrieval, if shards were given.
    pub retrieval: Option<RetrievalReport>,
    /// The linear probe, if its image sets were given.
    pub linear_probe: Option<crate::probe::ProbeReport>,
    /// Retrieval on a captioned image set (Karpathy-split JSON), if given.
    pub captioned_retrieval: Option<crate::captioned::CaptionedRetrievalReport>,
}

/// The classes of a labelled image set (see [`crate::labelled`]): its class
/// ids in label order (an ImageFolder's sorted sub-folders, a table's
/// labels), named by `classes` (lines `id<TAB>class name`; `#` comments and
/// blank lines ignored) or by the id with `_` read as a space.
pub fn load_classes(images: &Path, classes: Option<&Path>) -> Result<Vec<ClassEntry>> {
    let set = LabelledImages::open(images, &TableColumns::default(), None)?;
    name_classes(set.class_ids(), classes)
}

/// [`ClassEntry`]s for `ids`, named by the `classes` file if given.
fn name_classes(ids: &[String], classes: Option<&Path>) -> Result<Vec<ClassEntry>> {
    let names = match classes {
        Some(path) => read_class_names(path, ids)?,
        None => std::collections::HashMap::new(),
    };
    Ok(ids
        .iter()
        .map(|f| ClassEntry {
            name: names.get(f).cloned().unwrap_or_else(|| f.replace('_', " ")),
            folder: f.clone(),
        })
        .collect())
}

/// A text file on disk or on object storage.
fn read_text(path: &Path) -> Result<String> {
    let bytes = storage::files::read(path).map_err(io_err(path))?;
    String::from_utf8(bytes)
        .map_err(|_| Error::Config(format!("{}: not UTF-8 text", path.display())))
}

/// Reads a `classes.tsv`: lines `folder<TAB>class name`, `#` comments and
/// blank lines ignored. Every folder must be one of `folders` and named once,
/// every name non-empty and different from the other classes' names (two
/// classes of one name are indistinguishable, and would make any model look
/// perfect or useless); an error names the line.
fn read_class_names(
    path: &Path,
    folders: &[String],
) -> Result<std::collections::HashMap<String, String>> {
    let text = read_text(path)?;
    let bad =
        |line: usize, what: String| Error::Config(format!("{}:{line}: {what}", path.display()));
    let mut names = std::collections::HashMap::new();
    let mut folder_line = std::collections::HashMap::new();
    let mut name_line: std::collections::HashMap<String, (usize, String)> =
        std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != 2 {
            return Err(bad(
                n,
                format!(
                    "expected `folder<TAB>class name`, got {} tab-separated field(s)",
                    fields.len()
                ),
            ));
        }
        let (folder, name) = (fields[0].trim(), fields[1].trim());
        if folder.is_empty() {
            return Err(bad(n, "empty folder".into()));
        }
        if name.is_empty() {
            return Err(bad(n, format!("empty class name for folder {folder:?}")));
        }
        if !folders.iter().any(|f| f == folder) {
            return Err(bad(
                n,
                format!("{folder:?} is not a sub-folder (or label) of the images"),
            ));
        }
        if let Some(first) = folder_line.insert(folder.to_string(), n) {
            return Err(bad(
                n,
                format!("folder {folder:?} is named again (first on line {first})"),
            ));
        }
        if let Some((first, other)) = name_line.get(name) {
            return Err(bad(
                n,
                format!(
                    "class name {name:?} already names folder {other:?} (line {first}); \
                     classes must have different names"
                ),
            ));
        }
        name_line.insert(name.to_string(), (n, folder.to_string()));
        names.insert(folder.to_string(), name.to_string());
    }
    Ok(names)
}

/// Fails when `embeddings` hold a NaN or an infinity: a model with a
/// non-finite weight ranks nothing, and must not be reported as perfect.
pub(crate) fn require_finite(embeddings: &Tensor, what: &str) -> Result<()> {
    let finite = embeddings
        .flatten_all()?
        .to_vec1::<f32>()?
        .iter()
        .all(|v| v.is_finite());
    if finite {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "the model gives non-finite (NaN or infinite) {what} embeddings: \
             its weights hold a NaN or an infinity, or it diverged"
        )))
    }
}

/// Templates from a file (one per line, each containing `{}`), or the defaults.
pub fn load_templates(path: Option<&Path>) -> Result<Vec<String>> {
    let Some(path) = path else {
        return Ok(DEFAULT_TEMPLATES.iter().map(|s| s.to_string()).collect());
    };
    let text = read_text(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !line.contains("{}") {
            return Err(Error::Config(format!(
                "{}:{}: template lacks `{{}}` for the class name",
                path.display(),
                i + 1
            )));
        }
        out.push(line.to_string());
    }
    if out.is_empty() {
        return Err(Error::Config(format!("{}: no templates", path.display())));
    }
    Ok(out)
}

/// Unit-norm embeddings of captions, in batches.
pub fn embed_texts(
    model: &Clip,
    tok: &TextTokenizer,
    texts: &[String],
    batch: usize,
) -> Result<Tensor> {
    let dev = model.params.device();
    let t = tok.context_length();
    let mut parts = Vec::new();
    for chunk in texts.chunks(batch.max(1)) {
        let mut ids = Vec::with_capacity(chunk.len() * t);
        let mut eot = Vec::with_capacity(chunk.len());
        for s in chunk {
            let e = tok.encode(s)?;
            ids.extend(e.ids);
            eot.push(e.eot);
        }
        let ids = Tensor::from_vec(ids, (chunk.len(), t), dev)?;
        let eot = Tensor::from_vec(eot, chunk.len(), dev)?;
        parts.push(model.encode_text(&ids, &eot)?.detach());
    }
    Ok(Tensor::cat(&parts, 0)?)
}

/// Unit-norm embeddings of encoded images (centre crop, no augmentation);
/// images that cannot be decoded are reported as `None`.
pub(crate) fn embed_images<B: AsRef<[u8]> + Sync>(
    model: &Clip,
    images: &[B],
    batch: usize,
) -> Result<(Tensor, Vec<bool>)> {
    let s = model.config.image_size;
    let dev = model.params.device();
    let mut parts = Vec::new();
    let mut ok = Vec::with_capacity(images.len());
    for chunk in images.chunks(batch.max(1)) {
        let px: Vec<Option<Vec<f32>>> = chunk
            .par_iter()
            .map(|b| {
                augment::decode_rgb(b.as_ref()).ok().map(|img| {
                    let c = augment::center_square(&img, s as u32);
                    let mut v = vec![0f32; 3 * s * s];
                    augment::normalize_into(&c, &mut v);
                    v
                })
            })
            .collect();
        let mut flat = Vec::new();
        let mut n = 0;
        for p in px {
            ok.push(p.is_some());
            if let Some(p) = p {
                flat.extend(p);
                n += 1;
            }
        }
        if n > 0 {
            let x = Tensor::from_vec(flat, (n, 3, s, s), dev)?;
            parts.push(model.encode_image(&x)?.detach());
        }
    }
    if parts.is_empty() {
        return Err(Error::Config("no decodable image".into()));
    }
    Ok((Tensor::cat(&parts, 0)?, ok))
}

/// Rank of the true column in each row (0 = best): the number of other
/// columns that score at least as high. Ties count against the model (a
/// model that scores everything alike ranks last, not first), and so does a
/// NaN score.
fn ranks(scores: &[Vec<f32>], truth: &[usize]) -> Vec<usize> {
    scores
        .iter()
        .zip(truth)
        .map(|(row, &t)| rank_against(row, row[t], |j| j != t))
        .collect()
}

/// The rank (0 = first) of a right answer scoring `right` among the wrong
/// candidates of `row` (those `wrong` accepts): how many score at least as
/// high. Ties and NaN count against the model.
pub(crate) fn rank_against(row: &[f32], right: f32, wrong: impl Fn(usize) -> bool) -> usize {
    row.iter()
        .enumerate()
        .filter(|&(j, &v)| wrong(j) && v.partial_cmp(&right) != Some(std::cmp::Ordering::Less))
        .count()
}

/// Mean of the per-class top-1 over the classes that have images.
fn mean_per_class_recall(per_class: &[ClassResult]) -> f64 {
    let with: Vec<f64> = per_class
        .iter()
        .filter(|c| c.images > 0)
        .map(|c| c.top1)
        .collect();
    if with.is_empty() {
        0.0
    } else {
        with.iter().sum::<f64>() / with.len() as f64
    }
}

/// Share of `ranks` below `k` (recall@k, top-k accuracy).
pub(crate) fn share(ranks: &[usize], k: usize) -> f64 {
    if ranks.is_empty() {
        return 0.0;
    }
    ranks.iter().filter(|&&r| r < k).count() as f64 / ranks.len() as f64
}

/// Separates the alternative names of one class (`happy | smiling`): the
/// class embedding averages the prompts of all of them.
pub const CLASS_NAME_SEPARATOR: &str = " | ";

/// Class embeddings: for each class, the mean of its unit-norm prompt
/// embeddings (every template with every name of the class), re-normalised
/// (CLIP's prompt ensembling).
pub fn class_embeddings(
    model: &Clip,
    tok: &TextTokenizer,
    classes: &[ClassEntry],
    templates: &[String],
) -> Result<Tensor> {
    let mut rows = Vec::with_capacity(classes.len());
    for c in classes {
        let prompts: Vec<String> = c
            .name
            .split(CLASS_NAME_SEPARATOR)
            .flat_map(|name| templates.iter().map(move |t| t.replace("{}", name)))
            .collect();
        let e = embed_texts(model, tok, &prompts, 256)?;
        rows.push(l2_normalize(&e.mean_keepdim(0)?)?);
    }
    Ok(Tensor::cat(&rows, 0)?)
}

pub(crate) fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if storage::files::is_object(dir) {
        return storage::files::list_files(dir).map_err(io_err(dir));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Zero-shot top-1/top-5 accuracy on a labelled image set (`classes` are
/// its classes in label order).
pub fn zero_shot(
    model: &Clip,
    tok: &TextTokenizer,
    images: &LabelledImages,
    classes: &[ClassEntry],
    templates: &[String],
    batch: usize,
) -> Result<ZeroShotReport> {
    let text = class_embeddings(model, tok, classes, templates)?;
    require_finite(&text, "class (text)")?;
    let mut ranks_all = Vec::new();
    let mut per_class_ranks: Vec<Vec<usize>> = vec![Vec::new(); classes.len()];
    let mut unreadable = 0;
    images.for_each_chunk(batch.max(1) * 4, |chunk| {
        let bytes: Vec<&[u8]> = chunk.iter().map(|i| i.bytes.as_slice()).collect();
        let (emb, ok) = match embed_images(model, &bytes, batch) {
            Ok(x) => x,
            Err(_) => {
                for i in &chunk {
                    log::warn!("{}: cannot decode image; skipped", i.name);
                }
                unreadable += chunk.len();
                return Ok(());
            }
        };
        let mut truth = Vec::with_capacity(chunk.len());
        for (img, good) in chunk.iter().zip(&ok) {
            if *good {
                truth.push(img.label);
            } else {
                log::warn!("{}: cannot decode image; skipped", img.name);
                unreadable += 1;
            }
        }
        require_finite(&emb, "image")?;
        let scores = emb.matmul(&text.t()?)?.to_vec2::<f32>()?;
        for (r, &t) in ranks(&scores, &truth).into_iter().zip(&truth) {
            per_class_ranks[t].push(r);
            ranks_all.push(r);
        }
        Ok(())
    })?;
    let per_class: Vec<ClassResult> = classes
        .iter()
        .zip(&per_class_ranks)
        .map(|(c, r)| ClassResult {
            folder: c.folder.clone(),
            name: c.name.clone(),
            images: r.len(),
            top1: share(r, 1),
        })
        .collect();
    Ok(ZeroShotReport {
        classes: classes.len(),
        images: ranks_all.len(),
        unreadable_images: unreadable,
        templates: templates.len(),
        top1: share(&ranks_all, 1),
        top5: share(&ranks_all, 5),
        chance_top1: 1.0 / classes.len() as f64,
        mean_per_class_recall: mean_per_class_recall(&per_class),
        per_class,
    })
}

/// Image→text and text→image recall@1/5 over the first `max_pairs` usable
/// rows of `shards` (file order).
pub fn retrieval(
    model: &Clip,
    tok: &TextTokenizer,
    shards: &ShardSet,
    max_pairs: usize,
    batch: usize,
) -> Result<RetrievalReport> {
    let mut samples = Vec::new();
    for g in shards.parts() {
        for s in shards.samples(g)? {
            if samples.len() >= max_pairs {
                break;
            }
            samples.push(s?);
        }
    }
    samples.truncate(max_pairs);
    let bytes: Vec<&[u8]> = samples.iter().map(|s| s.jpg.as_slice()).collect();
    let (img, ok) = embed_images(model, &bytes, batch)?;
    let captions: Vec<String> = samples
        .iter()
        .zip(&ok)
        .filter(|(_, &g)| g)
        .map(|(s, _)| s.caption.clone())
        .collect();
    let n = captions.len();
    if n < 2 {
        return Err(Error::NoSamples("the retrieval shards".into()));
    }
    let txt = embed_texts(model, tok, &captions, batch)?;
    require_finite(&img, "image")?;
    require_finite(&txt, "text")?;
    let sim = img.matmul(&txt.t()?)?;
    let truth: Vec<usize> = (0..n).collect();
    let i2t = ranks(&sim.to_vec2::<f32>()?, &truth);
    let t2i = ranks(&sim.t()?.contiguous()?.to_vec2::<f32>()?, &truth);
    Ok(RetrievalReport {
        pairs: n,
        image_to_text_r1: share(&i2t, 1),
        image_to_text_r5: share(&i2t, 5),
        image_to_text_r10: share(&i2t, 10),
        text_to_image_r1: share(&t2i, 1),
        text_to_image_r5: share(&t2i, 5),
        text_to_image_r10: share(&t2i, 10),
    })
}

/// A zero-shot benchmark ready to run on any model: a labelled image set,
/// its classes and the prompt templates (loaded and checked once, so that a
/// training run finds a bad path before its first step, not at its first
/// evaluation).
#[derive(Debug, Clone)]
pub struct ZeroShotTask {
    /// The images (an ImageFolder tree, a table, or a bundled set).
    pub images: LabelledImages,
    /// Its classes.
    pub classes: Vec<ClassEntry>,
    /// Prompt templates.
    pub templates: Vec<String>,
}

impl ZeroShotTask {
    /// Loads the labelled images at `images` (see [`crate::labelled`]),
    /// their classes (named by `classes`, see [`load_classes`]) and the
    /// templates (see [`load_templates`]).
    ///
    /// With `dataset` (a bundled benchmark, see [`crate::prompts`]), the
    /// class ids in label order (an ImageFolder's sorted sub-folders, as
    /// torchvision numbers them; a table's integer labels) are its classes
    /// and take its class names, unless `classes` names them; its templates
    /// are used unless `templates` is given.
    pub fn load(
        images: &Path,
        classes: Option<&Path>,
        templates: Option<&Path>,
        dataset: Option<&str>,
    ) -> Result<Self> {
        Self::load_with(
            images,
            &TableColumns::default(),
            classes,
            templates,
            dataset,
        )
    }

    /// [`ZeroShotTask::load`] naming a table's image and label columns.
    pub fn load_with(
        images: &Path,
        columns: &TableColumns,
        classes: Option<&Path>,
        templates: Option<&Path>,
        dataset: Option<&str>,
    ) -> Result<Self> {
        let bundled = dataset.map(crate::prompts::dataset).transpose()?;
        let set = LabelledImages::open(images, columns, bundled.as_ref().map(|b| b.classes.len()))?;
        let mut entries = name_classes(set.class_ids(), classes)?;
        if let (Some(b), None) = (&bundled, classes) {
            if entries.len() != b.classes.len() {
                return Err(Error::Config(format!(
                    "{} has {} classes (sub-folders or labels), dataset {} has {} classes",
                    images.display(),
                    entries.len(),
                    b.name,
                    b.classes.len()
                )));
            }
            for (e, names) in entries.iter_mut().zip(&b.classes) {
                e.name = names.join(CLASS_NAME_SEPARATOR);
            }
        }
        let templates = match (templates, &bundled) {
            (None, Some(b)) => b.templates.clone(),
            _ => load_templates(templates)?,
        };
        Ok(ZeroShotTask {
            images: set,
            classes: entries,
            templates,
        })
    }

    /// Zero-shot accuracy of `model` ([`zero_shot`]).
    pub fn run(&self, model: &Clip, tok: &TextTokenizer, batch: usize) -> Result<ZeroShotReport> {
        zero_shot(
            model,
            tok,
            &self.images,
            &self.classes,
            &self.templates,
            batch,
        )
    }
}

/// Options of [`evaluate`].
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Checkpoint or run directory.
    pub checkpoint: PathBuf,
    /// Labelled images: an ImageFolder tree, a table or a bundled set (see
    /// [`crate::labelled`]).
    pub images: Option<PathBuf>,
    /// A table's image and label columns.
    pub columns: TableColumns,
    /// Folder → class name file.
    pub classes: Option<PathBuf>,
    /// Templates file.
    pub templates: Option<PathBuf>,
    /// A bundled benchmark whose class names and templates to use (see
    /// [`crate::prompts`]).
    pub dataset: Option<String>,
    /// Held-out shards for retrieval.
    pub shards: Vec<PathBuf>,
    /// Pairs used for retrieval.
    pub max_pairs: usize,
    /// Images per forward pass.
    pub batch_size: usize,
    /// Compute device.
    pub device: Device,
    /// The linear probe's image sets, if any.
    pub probe: Option<crate::probe_images::ProbeOptions>,
    /// A captioned image set for retrieval, if any.
    pub captioned: Option<CaptionedSet>,
}

/// A captioned image set in a Karpathy-split JSON.
#[derive(Debug, Clone)]
pub struct CaptionedSet {
    /// The JSON (`dataset_coco.json`, `dataset_flickr30k.json`).
    pub json: PathBuf,
    /// The directory its image paths are relative to.
    pub images: PathBuf,
    /// The split to rank (`test` in the papers).
    pub split: String,
    /// At most this many images (the first in file order).
    pub max_images: Option<usize>,
}

/// Loads a checkpoint to evaluate (a run directory means its newest; one on
/// object storage is copied locally first), with the name reports give it:
/// where it was read from.
pub(crate) fn load_for_eval(
    checkpoint: &Path,
    device: &Device,
) -> Result<(crate::checkpoint::Loaded, PathBuf)> {
    let (local, remote) = crate::mirror::local_checkpoint(checkpoint)?;
    let loaded = crate::checkpoint::load(&local, device)?;
    let named = remote.unwrap_or_else(|| loaded.dir.clone());
    Ok((loaded, named))
}

/// Loads the checkpoint and runs what the options ask for.
pub fn evaluate(opts: &EvalOptions) -> Result<EvalReport> {
    if opts.images.is_none()
        && opts.shards.is_empty()
        && opts.probe.is_none()
        && opts.captioned.is_none()
    {
        return Err(Error::Config(
            "nothing to evaluate: give --images, --shards, --retrieval-json and/or \
             --probe-train with --probe-test"
                .into(),
        ));
    }
    let (loaded, named) = load_for_eval(&opts.checkpoint, &opts.device)?;
    let zero_shot = match &opts.images {
        Some(dir) => {
            let task = ZeroShotTask::load_with(
                dir,
                &opts.columns,
                opts.classes.as_deref(),
                opts.templates.as_deref(),
                opts.dataset.as_deref(),
            )?;
            Some(task.run(&loaded.model, &loaded.tokenizer, opts.batch_size)?)
        }
        None => None,
    };
    let retrieval = if opts.shards.is_empty() {
        None
    } else {
        let shards = ShardSet::open(&opts.shards)?;
        Some(retrieval(
            &loaded.model,
            &loaded.tokenizer,
            &shards,
            opts.max_pairs,
            opts.batch_size,
        )?)
    };
    let linear_probe = match &opts.probe {
        Some(p) => Some(crate::probe_images::probe_folders(
            &loaded.model,
            &crate::probe_images::model_id(&opts.checkpoint, loaded.meta.step),
            p,
            opts.batch_size,
        )?),
        None => None,
    };
    let captioned_retrieval = match &opts.captioned {
        Some(c) => {
            let set = crate::captioned::load_karpathy(&c.json, &c.images, &c.split, c.max_images)?;
            Some(crate::captioned::captioned_retrieval(
                &loaded.model,
                &loaded.tokenizer,
                &set,
                opts.batch_size,
            )?)
        }
        None => None,
    };
    Ok(EvalReport {
        checkpoint: named,
        step: loaded.meta.step,
        zero_shot,
        retrieval,
        linear_probe,
        captioned_retrieval,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_count_ties_and_nan_against_the_model() {
        let s = vec![vec![0.9, 0.1, 0.5], vec![0.9, 0.1, 0.5]];
        assert_eq!(ranks(&s, &[0, 1]), vec![0, 2]);
        // All scores equal: last, not first.
        assert_eq!(ranks(&[vec![0.3; 4]], &[2]), vec![3]);
        // A NaN score (of the truth or of another column) ranks it down.
        assert_eq!(ranks(&[vec![f32::NAN, 0.1, 0.2]], &[0]), vec![2]);
        assert_eq!(ranks(&[vec![0.5, f32::NAN, 0.2]], &[0]), vec![1]);
        assert_eq!(ranks(&[vec![f32::NAN; 3]], &[1]), vec![2]);
        assert_eq!(share(&[0, 2], 1), 0.5);
        assert_eq!(share(&[0, 2], 5), 1.0);
    }

    #[test]
    fn classes_and_templates_files() {
        let d = tempfile::tempdir().unwrap();
        for f in ["b_dog", "a_cat"] {
            std::fs::create_dir(d.path().join(f)).unwrap();
        }
        let cf = d.path().join("classes.tsv");
        std::fs::write(&cf, "# names\na_cat\ttabby cat\n").unwrap();
        let c = load_classes(d.path(), Some(&cf)).unwrap();
        assert_eq!(c[0].folder, "a_cat");
        assert_eq!(c[0].name, "tabby cat");
        assert_eq!(c[1].name, "b dog");
        std::fs::write(&cf, "a_cat tabby\n").unwrap();
        let e = load_classes(d.path(), Some(&cf)).unwrap_err().to_string();
        assert!(e.contains("classes.tsv:1"), "{e}");
        let tf = d.path().join("t.txt");
        std::fs::write(&tf, "a {} photo\nno slot\n").unwrap();
        let e = load_templates(Some(&tf)).unwrap_err().to_string();
        assert!(e.contains("t.txt:2"), "{e}");
        assert_eq!(load_templates(None).unwrap().len(), DEFAULT_TEMPLATES.len());
    }

    #[test]
    fn class_files_that_would_fake_a_result_are_refused() {
        let d = tempfile::tempdir().unwrap();
        for f in ["a_cat", "b_dog", "c_fox"] {
            std::fs::create_dir(d.path().join(f)).unwrap();
        }
        let cf = d.path().join("classes.tsv");
        let err = |text: &str| {
            std::fs::write(&cf, text).unwrap();
            load_classes(d.path(), Some(&cf)).unwrap_err().to_string()
        };
        // Every folder mapped to one name.
        let e = err("a_cat\tanimal\nb_dog\tanimal\nc_fox\tanimal\n");
        assert!(
            e.contains("classes.tsv:2") && e.contains("already names"),
            "{e}"
        );
        let e = err("a_cat\tcat\n# c\na_cat\tkitten\n");
        assert!(
            e.contains("classes.tsv:3") && e.contains("first on line 1"),
            "{e}"
        );
        let e = err("a_cat\t  \n");
        assert!(
            e.contains("classes.tsv:1") && e.contains("empty class name"),
            "{e}"
        );
        let e = err("a_cat\tcat\textra\n");
        assert!(
            e.contains("classes.tsv:1") && e.contains("3 tab-separated"),
            "{e}"
        );
        let e = err("a_cat\tcat\nz_owl\towl\n");
        assert!(
            e.contains("classes.tsv:2") && e.contains("not a sub-folder"),
            "{e}"
        );
        let e = err("\tcat\n");
        assert!(e.contains("empty folder"), "{e}");
    }

    #[test]
    fn a_bundled_dataset_names_the_sorted_folders_in_label_order() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..10 {
            std::fs::create_dir(d.path().join(format!("{i:02}"))).unwrap();
        }
        let t = ZeroShotTask::load(d.path(), None, None, Some("cifar10")).unwrap();
        assert_eq!(t.classes[0].name, "airplane");
        assert_eq!(t.classes[9].folder, "09");
        assert_eq!(t.classes[9].name, "truck");
        assert_eq!(t.templates.len(), 18);
        // A templates file still wins.
        let tf = d.path().join("t.txt");
        std::fs::write(&tf, "{}\n").unwrap();
        let t = ZeroShotTask::load(d.path(), None, Some(&tf), Some("cifar10")).unwrap();
        assert_eq!(t.templates, ["{}"]);
        let e = ZeroShotTask::load(d.path(), None, None, Some("cifar100"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("has 10 classes") && e.contains("100 classes"),
            "{e}"
        );
    }

    #[test]
    fn mean_per_class_recall_weighs_classes_alike() {
        let c = |images, top1| ClassResult {
            folder: String::new(),
            name: String::new(),
            images,
            top1,
        };
        let r = mean_per_class_recall(&[c(90, 1.0), c(10, 0.0), c(0, 0.0)]);
        assert_eq!(r, 0.5);
    }

    #[test]
    fn non_finite_embeddings_are_an_error() {
        let ok = Tensor::new(&[[0.6f32, 0.8]], &candle_core::Device::Cpu).unwrap();
        require_finite(&ok, "image").unwrap();
        let bad = Tensor::new(&[[f32::NAN, 0.8]], &candle_core::Device::Cpu).unwrap();
        let e = require_finite(&bad, "image").unwrap_err().to_string();
        assert!(e.contains("non-finite") && e.contains("image"), "{e}");
    }
}
