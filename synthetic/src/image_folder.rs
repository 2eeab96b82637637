//! Held-out images for zero-shot evaluation: an ImageFolder tree, one folder
//! per class (`red_circle/0000.jpg`, ...), and `classes.tsv` mapping folder
//! names to class names (`red_circle<TAB>red circle`), as `witcurate eval`
//! reads them.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use image::ImageFormat;
use rand_chacha::ChaCha8Rng;

use crate::shapes::{self, COLOURS, SHAPES};
use crate::{io_err, Result};

/// Writes `per_class` images of `side × side` pixels for every class under
/// `dir`, drawing from `rng` class by class, and `dir/classes.tsv`; returns
/// the path of `classes.tsv`.
pub fn write(dir: &Path, per_class: usize, side: u32, rng: &mut ChaCha8Rng) -> Result<PathBuf> {
    let mut classes = String::new();
    for (c, (colour, _)) in COLOURS.iter().enumerate() {
        for (s, shape) in SHAPES.iter().enumerate() {
            let folder = format!("{colour}_{shape}");
            let _ = writeln!(classes, "{folder}\t{colour} {shape}");
            let sub = dir.join(&folder);
            fs::create_dir_all(&sub).map_err(io_err(&sub))?;
            for k in 0..per_class {
                let d = shapes::draw(rng, c, s, side, side);
                let path = sub.join(format!("{k:04}.jpg"));
                let bytes = shapes::encode(&d.image, ImageFormat::Jpeg)?;
                fs::write(&path, bytes).map_err(io_err(&path))?;
            }
        }
    }
    let path = dir.join("classes.tsv");
    fs::write(&path, classes).map_err(io_err(&path))?;
    Ok(path)
}

/// [`fn@write`] with a generator seeded by `seed`.
pub fn write_seeded(dir: &Path, per_class: usize, side: u32, seed: u64) -> Result<PathBuf> {
    write(dir, per_class, side, &mut shapes::rng_for(seed, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_folder_per_class_and_a_classes_file() {
        let dir = tempfile::tempdir().unwrap();
        let tsv = write_seeded(dir.path(), 2, 24, 1).unwrap();
        let text = fs::read_to_string(&tsv).unwrap();
        assert_eq!(text.lines().count(), shapes::classes().len());
        assert!(text.starts_with("red_circle\tred circle\n"));
        for (folder, _) in shapes::classes() {
            assert!(dir.path().join(&folder).join("0001.jpg").is_file());
        }
    }
}
