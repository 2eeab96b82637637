//! The linear probe agrees with scikit-learn's (the CLIP paper's probe) on
//! real features: the handwritten digits bundled with scikit-learn, split,
//! swept and refit the same way by `tests/py/probe_reference.py` in the
//! tools venv (`scripts/setup.sh`).

use std::path::{Path, PathBuf};

use trainer::probe::{linear_probe, Features};

fn read_csv(path: &Path) -> Features {
    let text = std::fs::read_to_string(path).unwrap();
    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut dim = 0;
    for line in text.lines() {
        let mut fields = line.split(',');
        labels.push(fields.next().unwrap().parse::<usize>().unwrap());
        let row: Vec<f32> = fields.map(|v| v.parse().unwrap()).collect();
        dim = row.len();
        values.extend(row);
    }
    Features {
        dim,
        values,
        labels,
    }
}

#[test]
fn probe_matches_scikit_learn_on_real_digits_within_a_point() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv-tools/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(&python)
        .arg(root.join("tests/py/probe_reference.py"))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "the scikit-learn reference failed");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("reference.json")).unwrap())
            .unwrap();
    let train = read_csv(&dir.path().join("train.csv"));
    let test = read_csv(&dir.path().join("test.csv"));
    assert_eq!(train.len() as u64, reference["train"].as_u64().unwrap());
    let r = linear_probe(&train, &test, 10).unwrap();
    let want = reference["top1"].as_f64().unwrap();
    assert!(
        (r.top1 - want).abs() <= 0.01,
        "witcurate {:.4} (C {}) vs scikit-learn {want:.4} (C {})",
        r.top1,
        r.c,
        reference["c"]
    );
    // Far above chance (10 %): the features are real digits.
    assert!(r.top1 > 0.9, "{}", r.top1);
}
