//! Reading the stages' records (`RUN/_stages/STAGE/`, written by the stage
//! runner, [`crate::stage::record`]): the counters of every task record
//! summed by name, the reduce record's counters, the seconds of both, and
//! whether the stage completed.

use std::collections::BTreeMap;
use std::path::Path;

use super::counters::{self, STAGES};
use super::model::{Counter, CounterClass, StageRecords};
use crate::run_dir::RunDir;
use crate::stage::record::{self, Completion, ReduceRecord, TaskRecord};
use crate::stage::task_record_files;
use crate::task::Counters;

/// The stage whose completed outputs `stage` reads.
fn upstream(stage: &str) -> Option<&'static str> {
    match stage {
        "match" => Some("extract"),
        "balance" => Some("match"),
        "download" => Some("balance"),
        _ => None,
    }
}

/// The records of every stage of `run` that has any, by stage.
pub fn read_all(run: &Path) -> BTreeMap<String, StageRecords> {
    let dir = RunDir::new(run);
    STAGES
        .iter()
        .filter_map(|s| read_stage(&dir, s).map(|r| (s.to_string(), r)))
        .collect()
}

/// The records of `stage` in `run`; `None` when it has none. A record that
/// cannot be read is logged, named under `problems` and left out.
pub fn read_stage(run: &RunDir, stage: &str) -> Option<StageRecords> {
    let rel = |p: &Path| {
        p.strip_prefix(run.root())
            .unwrap_or(p)
            .display()
            .to_string()
    };
    let problem = |out: &mut StageRecords, message: String| {
        log::warn!("{}: {message}", run.root().display());
        out.problems.push(message);
    };
    let files = task_record_files(run, stage);
    let reduce_path = run.reduce_record(stage);
    let completion_path = run.completion(stage);
    if files.is_empty()
        && !crate::storage::files::exists(&reduce_path)
        && !crate::storage::files::exists(&completion_path)
    {
        return None;
    }
    let mut out = StageRecords::default();
    let upstream_generation = upstream(stage)
        .and_then(|up| {
            record::read::<Completion>(&run.completion(up))
                .ok()
                .flatten()
        })
        .map(|c| c.generation);
    let mut tasks = Counters::default();
    let mut stale = 0u64;
    for path in &files {
        let rec: TaskRecord = match record::read(path) {
            Ok(Some(r)) => r,
            // Removed since it was listed (a task being redone).
            Ok(None) => continue,
            Err(e) => {
                problem(&mut out, format!("{}: not a task record ({e})", rel(path)));
                continue;
            }
        };
        if rec.stage != stage || run.task_record(stage, rec.task) != *path {
            problem(
                &mut out,
                format!(
                    "{}: the record of task {} of stage {}, not of this file",
                    rel(path),
                    rec.task,
                    rec.stage
                ),
            );
            continue;
        }
        if let (Some(read), Some(now)) = (&rec.upstream, &upstream_generation) {
            if read != now {
                stale += 1;
            }
        }
        out.task_records += 1;
        out.task_seconds += rec.seconds;
        tasks.merge(&rec.counters);
    }
    if stale > 0 {
        problem(
            &mut out,
            format!(
                "{stale} {stage} task records were made from an earlier output of the {} stage \
                 (the next run of {stage} redoes them); they are counted",
                upstream(stage).unwrap_or("upstream")
            ),
        );
    }
    out.tasks = named(stage, &tasks);
    match record::read::<ReduceRecord>(&reduce_path) {
        Ok(Some(r)) => {
            if r.tasks as u64 != out.task_records {
                let message = format!(
                    "{}: summarises {} task records; {} are present",
                    rel(&reduce_path),
                    r.tasks,
                    out.task_records
                );
                problem(&mut out, message);
            }
            out.reduce_seconds = Some(r.seconds);
            out.reduce = Some(named(stage, &r.counters));
        }
        Ok(None) => {}
        Err(e) => problem(
            &mut out,
            format!("{}: not a reduce record ({e})", rel(&reduce_path)),
        ),
    }
    match record::read::<Completion>(&completion_path) {
        Ok(c) => out.complete_tasks = c.map(|c| c.tasks as u64),
        Err(e) => problem(
            &mut out,
            format!("{}: not a completion record ({e})", rel(&completion_path)),
        ),
    }
    let all = out.tasks.iter().chain(out.reduce.iter().flatten());
    for c in all {
        match c.kind {
            CounterClass::Fault => out.failures += c.value,
            CounterClass::Skip => out.filtered += c.value,
            CounterClass::Measure => {}
        }
    }
    Some(out)
}

/// `counters` with their kinds and labels, by name.
fn named(stage: &str, counters: &Counters) -> Vec<Counter> {
    counters
        .0
        .iter()
        .map(|(name, value)| Counter {
            name: name.clone(),
            kind: counters::class(name),
            label: counters::label(stage, name),
            value: *value,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(stage: &str, task: usize, counters: &[(&str, u64)]) -> TaskRecord {
        TaskRecord {
            stage: stage.into(),
            task,
            seconds: 0.5,
            upstream: None,
            counters: Counters(counters.iter().map(|(k, v)| (k.to_string(), *v)).collect()),
        }
    }

    #[test]
    fn sums_task_counters_by_name_and_reads_the_reduce() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        assert!(read_stage(&run, "extract").is_none());
        let w = |t: &TaskRecord| record::write(&run.task_record(&t.stage, t.task), t).unwrap();
        w(&task(
            "extract",
            0,
            &[("records", 7), ("pairs", 4), ("fault_x", 1)],
        ));
        w(&task(
            "extract",
            1,
            &[("records", 3), ("skip_text_too_short", 2), ("fault_x", 2)],
        ));
        // A record in the wrong file, and one that is not JSON.
        record::write(
            &run.task_record("extract", 5),
            &task("extract", 2, &[("records", 100)]),
        )
        .unwrap();
        std::fs::write(run.task_record("extract", 3), b"{").unwrap();
        record::write(
            &run.reduce_record("extract"),
            &ReduceRecord {
                stage: "extract".into(),
                seconds: 0.25,
                tasks: 2,
                tasks_fingerprint: "f".into(),
                counters: Counters(
                    [
                        ("unique_pairs".to_string(), 3),
                        ("skip_duplicate".into(), 1),
                    ]
                    .into(),
                ),
            },
        )
        .unwrap();
        let r = read_stage(&run, "extract").unwrap();
        assert_eq!(r.task_records, 2);
        assert_eq!(r.task_seconds, 1.0);
        assert_eq!(r.reduce_seconds, Some(0.25));
        assert_eq!(r.task("records"), Some(10));
        assert_eq!(r.task("pairs"), Some(4));
        assert_eq!(r.task("rows"), None);
        assert_eq!(r.reduced("unique_pairs"), Some(3));
        assert_eq!(r.failures, 3);
        assert_eq!(r.filtered, 3);
        assert_eq!(r.complete_tasks, None);
        assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
        assert!(
            r.problems[0].contains("task-00003.json"),
            "{:?}",
            r.problems
        );
        assert!(
            r.problems[1].contains("task-00005.json"),
            "{:?}",
            r.problems
        );
        let fault = r.tasks.iter().find(|c| c.name == "fault_x").unwrap();
        assert_eq!((fault.kind, fault.value), (CounterClass::Fault, 3));
    }
}
