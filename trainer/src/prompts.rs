//! The class names and prompt templates of the CLIP paper's zero-shot
//! benchmarks, bundled (text only; sources and licences in
//! `trainer/prompts/README.md`).

use crate::{Error, Result};

/// One benchmark's class names (in label order) and prompt templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundledDataset {
    /// The name `--dataset` takes.
    pub name: &'static str,
    /// One entry per class, in the dataset's label order; a class may have
    /// several names (their prompts are averaged together).
    pub classes: Vec<Vec<String>>,
    /// Templates with `{}` for the class name.
    pub templates: Vec<String>,
}

macro_rules! bundled {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../prompts/", $name, ".classes.txt")),
            include_str!(concat!("../prompts/", $name, ".templates.txt")),
        )
    };
}

const BUNDLED: &[(&str, &str, &str)] = &[
    bundled!("birdsnap"),
    bundled!("caltech101"),
    bundled!("cifar10"),
    bundled!("cifar100"),
    bundled!("clevrcounts"),
    bundled!("country211"),
    bundled!("describabletextures"),
    bundled!("eurosat"),
    bundled!("facialemotionrecognition2013"),
    bundled!("fgvcaircraft"),
    bundled!("flowers102"),
    bundled!("food101"),
    bundled!("gtsrb"),
    bundled!("hatefulmemes"),
    bundled!("imagenet"),
    bundled!("kinetics700"),
    bundled!("kitti"),
    bundled!("mnist"),
    bundled!("oxfordpets"),
    bundled!("pascalvoc2007"),
    bundled!("patchcamelyon"),
    bundled!("resisc45"),
    bundled!("sst2"),
    bundled!("stanfordcars"),
    bundled!("stl10"),
    bundled!("sun397"),
    bundled!("ucf101"),
];

/// Other names of some benchmarks (those of open_clip and CLIP_benchmark).
const ALIASES: &[(&str, &str)] = &[
    ("imagenet1k", "imagenet"),
    ("imagenet-1k", "imagenet"),
    ("dtd", "describabletextures"),
    ("fer2013", "facialemotionrecognition2013"),
    ("pets", "oxfordpets"),
    ("cars", "stanfordcars"),
    ("voc2007", "pascalvoc2007"),
    ("pcam", "patchcamelyon"),
    ("flowers", "flowers102"),
    ("aircraft", "fgvcaircraft"),
];

/// Names of the bundled benchmarks.
pub fn names() -> Vec<&'static str> {
    BUNDLED.iter().map(|b| b.0).collect()
}

/// The bundled benchmark called `name` (case-insensitive; aliases such as
/// `imagenet1k`, `dtd` or `fer2013` accepted).
pub fn dataset(name: &str) -> Result<BundledDataset> {
    let lower = name.to_ascii_lowercase();
    let key = ALIASES
        .iter()
        .find(|a| a.0 == lower)
        .map_or(lower.as_str(), |a| a.1);
    let Some(&(name, classes, templates)) = BUNDLED.iter().find(|b| b.0 == key) else {
        return Err(Error::Config(format!(
            "unknown dataset {name:?}; bundled: {}",
            names().join(", ")
        )));
    };
    Ok(BundledDataset {
        name,
        classes: classes
            .lines()
            .map(|l| l.split(" | ").map(str::to_string).collect())
            .collect(),
        templates: templates.lines().map(str::to_string).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_dataset_parses() {
        for n in names() {
            let d = dataset(n).unwrap();
            assert!(d.classes.len() >= 2, "{n}");
            assert!(
                d.classes.iter().flatten().all(|c| !c.trim().is_empty()),
                "{n}"
            );
            assert!(!d.templates.is_empty(), "{n}");
            assert!(
                d.templates.iter().all(|t| t.matches("{}").count() == 1),
                "{n}"
            );
        }
    }

    #[test]
    fn imagenet_is_clips_1000_classes_and_80_templates() {
        let d = dataset("ImageNet1k").unwrap();
        assert_eq!((d.classes.len(), d.templates.len()), (1000, 80));
        assert_eq!(d.classes[0], ["tench"]);
        assert_eq!(d.classes[999], ["toilet paper"]);
        assert_eq!(d.templates[0], "a bad photo of a {}.");
        let c = dataset("cifar10").unwrap();
        assert_eq!(c.classes[1], ["automobile"]);
        assert_eq!(c.templates.len(), 18);
        // Several names for one class.
        assert!(dataset("fer2013")
            .unwrap()
            .classes
            .iter()
            .any(|c| c.len() > 1));
        assert!(dataset("nope")
            .unwrap_err()
            .to_string()
            .contains("cifar100"));
    }
}
