//! [`run_stage`]: the one runner every stage runs on.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use xxhash_rust::xxh3::Xxh3;

use super::record::{self, Completion, ReduceRecord, TaskRecord};
use super::{guard, progress, Phase, RunOptions, Stage, StageContext, StageError, StageOutcome};
use crate::run_dir::RunDir;
use crate::storage::files;
use crate::task::Counters;

/// `reduce-started.json`: which task records the running reduce summarises
/// (its partial outputs may be kept by a rerun over the same records).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ReduceStarted {
    tasks_fingerprint: String,
}

/// Where a stage stands in a run directory.
#[derive(Debug, Clone, Default)]
pub struct StageState {
    /// Every task of the stage.
    pub tasks: Vec<usize>,
    /// The records of the tasks that are done, by task (same order as `tasks`).
    pub done: Vec<Option<TaskRecord>>,
    /// The generation of the upstream stage (None: no upstream).
    pub upstream: Option<String>,
}

impl StageState {
    /// Tasks not done.
    pub fn pending(&self) -> Vec<usize> {
        self.tasks
            .iter()
            .zip(&self.done)
            .filter(|(_, d)| d.is_none())
            .map(|(t, _)| *t)
            .collect()
    }

    /// The records of every task, when all are done.
    pub fn all_records(&self) -> Option<Vec<TaskRecord>> {
        self.done.iter().cloned().collect()
    }
}

/// The upstream's generation, or an error saying what is missing.
fn upstream_generation<S: Stage>(run: &RunDir, stage: &S) -> Result<Option<String>, StageError> {
    let Some(up) = stage.upstream() else {
        return Ok(None);
    };
    let path = run.completion(up);
    match record::read::<Completion>(&path)? {
        Some(c) => Ok(Some(c.generation)),
        None => {
            let records = task_record_files(run, up).len();
            let detail = if matches!(files::kind(&run.stage(up)), Ok(Some(_))) {
                format!(
                    "{records} of its tasks have finished and {} is missing",
                    path.display()
                )
            } else {
                "it has not been run".to_string()
            };
            Err(StageError::UpstreamIncomplete {
                stage: S::NAME.to_string(),
                upstream: up.to_string(),
                run: run.root().to_path_buf(),
                detail,
            })
        }
    }
}

fn is_record(path: &std::path::Path) -> bool {
    let n = path.file_name().unwrap_or_default().to_string_lossy();
    n.starts_with("task-") && n.ends_with(".json")
}

/// Where `stage` stands in `run`: its tasks and which are done. Fails when
/// the upstream stage has not completed.
pub fn stage_state<S: Stage>(run: &RunDir, stage: &S) -> Result<StageState, StageError> {
    let upstream = upstream_generation(run, stage)?;
    let tasks = stage.tasks(run).map_err(|e| StageError::Stage {
        stage: S::NAME.into(),
        source: e,
    })?;
    let done = tasks
        .iter()
        .map(|&t| done_record(run, stage, t, &upstream))
        .collect();
    Ok(StageState {
        tasks,
        done,
        upstream,
    })
}

/// The task's record when the task is done: the record exists, names the
/// current upstream generation, and every output exists.
fn done_record<S: Stage>(
    run: &RunDir,
    stage: &S,
    task: usize,
    upstream: &Option<String>,
) -> Option<TaskRecord> {
    let path = run.task_record(S::NAME, task);
    let rec: TaskRecord = match record::read(&path) {
        Ok(Some(r)) => r,
        Ok(None) => return None,
        Err(e) => {
            log::warn!("{e}; the task is redone");
            return None;
        }
    };
    if rec.upstream != *upstream || rec.task != task {
        return None;
    }
    stage
        .task_outputs(run, task)
        .iter()
        .all(|p| files::exists(p))
        .then_some(rec)
}

/// Records the stage's parameters (the guard) and every setting (for
/// executors). With `force`, first removes the stage's outputs and records.
pub fn prepare<S: Stage>(run: &RunDir, stage: &S, force: bool) -> Result<(), StageError> {
    if force {
        reset(run, stage)?;
    }
    take_guard(run, stage)
}

fn take_guard<S: Stage>(run: &RunDir, stage: &S) -> Result<(), StageError> {
    let dir = run.stage(S::NAME);
    files::create_dir_all(&dir).map_err(|e| StageError::io(&dir, e))?;
    guard::take(S::NAME, &run.params(S::NAME), &stage.guarded())?;
    record::write(&run.job(S::NAME), stage.params())?;
    Ok(())
}

/// Removes everything the stage wrote.
fn reset<S: Stage>(run: &RunDir, stage: &S) -> Result<(), StageError> {
    log::info!(
        "{}: --force: removing the stage's outputs and records",
        S::NAME
    );
    let mut dirs = stage.output_dirs(run);
    dirs.push(run.stage(S::NAME));
    dirs.push(run.task_records(S::NAME));
    for d in dirs {
        remove_file(&d)?;
    }
    for f in stage.reduce_outputs(run) {
        remove_file(&f)?;
    }
    Ok(())
}

/// Removes an output: a file, or a directory with what it holds.
fn remove_file(path: &std::path::Path) -> Result<(), StageError> {
    files::remove_all(path).map_err(|e| StageError::io(path, e))
}

/// The fingerprint of the task records a reduce summarises: what they say
/// of the outputs (task, upstream, counters), not how long they took, so that
/// the same inputs give the same fingerprint in every run.
fn fingerprint(records: &[TaskRecord]) -> String {
    let mut h = Xxh3::new();
    for r in records {
        let what = (r.task, &r.upstream, &r.counters);
        h.update(&serde_json::to_vec(&what).expect("records serialise"));
        h.update(b"\n");
    }
    format!("{:016x}", h.digest())
}

/// Runs `stage` in `run` as `opts` asks: the guard, the upstream check, the
/// pending tasks of the slice, the reduce when every task is done, and the
/// completion record. Failed tasks do not stop the others; they are named in
/// the error at the end.
pub fn run_stage<S: Stage>(
    run: &RunDir,
    stage: &S,
    opts: &RunOptions,
) -> Result<StageOutcome, StageError> {
    let name = S::NAME;
    if opts.force {
        reset(run, stage)?;
    }
    // The upstream check and the task list first: a stage that cannot start
    // (bad input, upstream incomplete) records no parameters.
    let state = stage_state(run, stage)?;
    take_guard(run, stage)?;
    let tasks_dir = run.task_records(name);
    let mut dirs = stage.output_dirs(run);
    dirs.push(tasks_dir.clone());
    dirs.push(run.stage(name));
    for d in &dirs {
        files::create_dir_all(d).map_err(|e| StageError::io(d, e))?;
        let n = files::clean_stale_temps(d)?;
        if n > 0 {
            log::info!(
                "{name}: removed {n} unfinished files of an earlier run in {}",
                d.display()
            );
        }
    }
    // Reduce outputs outside those directories sit beside other stages'
    // files (the run directory's top): only their own temporaries go.
    for f in stage.reduce_outputs(run) {
        if !f.parent().is_some_and(|p| dirs.iter().any(|d| d == p)) {
            files::clean_stale_temps_of(&f)?;
        }
    }

    let mut outcome = StageOutcome {
        tasks_total: state.tasks.len(),
        ..Default::default()
    };
    let pending = state.pending();
    if !pending.is_empty() {
        // The stage is about to change: nothing downstream may trust it.
        remove_file(&run.completion(name))?;
    }
    remove_stale_tasks(run, stage, &state.tasks)?;
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());

    if opts.phase != Phase::Reduce {
        let mine: Vec<usize> = pending
            .iter()
            .copied()
            .filter(|&t| opts.slice.includes(t))
            .collect();
        outcome.tasks_skipped = state
            .tasks
            .iter()
            .filter(|&&t| opts.slice.includes(t))
            .count()
            - mine.len();
        for &t in &mine {
            // Outputs of a record that no longer holds (upstream changed).
            if files::exists(&run.task_record(name, t)) {
                remove_file(&run.task_record(name, t))?;
                for f in stage.task_outputs(run, t) {
                    remove_file(&f)?;
                }
            }
        }
        if !mine.is_empty() {
            let bar = progress::bar(name, stage.progress_unit(), opts.progress);
            let ctx = StageContext {
                run,
                progress: &bar,
            };
            let started = Instant::now();
            let ran: Mutex<(usize, Counters)> = Mutex::new((0, Counters::default()));
            let done = |task: usize, result: super::TaskResult| {
                let result = result.and_then(|d| {
                    let rec = TaskRecord {
                        stage: name.to_string(),
                        task,
                        seconds: d.seconds,
                        upstream: state.upstream.clone(),
                        counters: d.counters,
                    };
                    record::write(&run.task_record(name, task), &rec)?;
                    Ok(rec)
                });
                match result {
                    Ok(rec) => {
                        let mut r = ran.lock().expect("not poisoned");
                        r.0 += 1;
                        r.1.merge(&rec.counters);
                    }
                    Err(e) => {
                        log::error!("{name}: task {task}: {e}");
                        failures
                            .lock()
                            .expect("not poisoned")
                            .push(format!("task {task}: {e}"));
                    }
                }
            };
            let started_ok = stage.run_tasks(&ctx, &mine, &done);
            bar.finish_and_clear();
            outcome.task_seconds = started.elapsed().as_secs_f64();
            let (n, counters) = ran.into_inner().expect("not poisoned");
            outcome.tasks_run = n;
            outcome.counters = counters;
            if let Err(e) = started_ok {
                return Err(StageError::Stage {
                    stage: name.into(),
                    source: e,
                });
            }
        }
    }

    let failures = failures.into_inner().expect("not poisoned");
    if !failures.is_empty() {
        return Err(StageError::TasksFailed {
            stage: name.into(),
            failed: failures.len(),
            attempted: failures.len() + outcome.tasks_run,
            list: failures.into_iter().take(20).collect(),
        });
    }

    // Every task done (this slice's and the others')?
    let records: Vec<Option<TaskRecord>> = state
        .tasks
        .iter()
        .map(|&t| done_record(run, stage, t, &state.upstream))
        .collect();
    let missing: Vec<usize> = state
        .tasks
        .iter()
        .zip(&records)
        .filter(|(_, r)| r.is_none())
        .map(|(t, _)| *t)
        .collect();
    if !missing.is_empty() {
        if opts.phase == Phase::Reduce {
            return Err(StageError::TasksMissing {
                stage: name.into(),
                missing: missing.len(),
                total: state.tasks.len(),
                first: missing[0],
            });
        }
        if stage.has_reduce() {
            log::info!(
                "{name}: the reduce waits for {} tasks of other slices",
                missing.len()
            );
        }
        outcome.reduce_waiting = Some(missing.len());
        return Ok(outcome);
    }
    let records: Vec<TaskRecord> = records.into_iter().map(|r| r.expect("done")).collect();
    let tasks_fingerprint = fingerprint(&records);

    // The generation names this completed state: the parameters, the
    // upstream state read, the task records and the reduce's counters.
    let mut generation = Xxh3::new();
    generation.update(&serde_json::to_vec(&stage.guarded()).expect("parameters serialise"));
    generation.update(tasks_fingerprint.as_bytes());
    if stage.has_reduce() {
        if opts.phase == Phase::Tasks {
            return Ok(outcome);
        }
        let existing: Option<ReduceRecord> =
            record::read(&run.reduce_record(name)).unwrap_or_else(|e| {
                log::warn!("{e}; the reduce is redone");
                None
            });
        let outputs_exist = stage.reduce_outputs(run).iter().all(|p| files::exists(p));
        let reduce = match existing {
            Some(r) if r.tasks_fingerprint == tasks_fingerprint && outputs_exist => r,
            _ => {
                remove_file(&run.completion(name))?;
                remove_file(&run.reduce_record(name))?;
                let started: Option<ReduceStarted> =
                    record::read(&run.reduce_started(name)).unwrap_or(None);
                if started.as_ref().map(|s| s.tasks_fingerprint.as_str())
                    != Some(tasks_fingerprint.as_str())
                {
                    // Outputs of a reduce over other task outputs go first.
                    for f in stage.reduce_outputs(run) {
                        remove_file(&f)?;
                    }
                    let started = ReduceStarted {
                        tasks_fingerprint: tasks_fingerprint.clone(),
                    };
                    record::write(&run.reduce_started(name), &started)?;
                }
                let bar = progress::bar(name, stage.progress_unit(), opts.progress);
                let ctx = StageContext {
                    run,
                    progress: &bar,
                };
                let t0 = Instant::now();
                let counters = stage.reduce(&ctx, &records);
                bar.finish_and_clear();
                let counters = counters.map_err(|e| StageError::Stage {
                    stage: name.into(),
                    source: format!("reduce: {e}").into(),
                })?;
                let rec = ReduceRecord {
                    stage: name.into(),
                    seconds: t0.elapsed().as_secs_f64(),
                    tasks: records.len(),
                    tasks_fingerprint: tasks_fingerprint.clone(),
                    counters,
                };
                record::write(&run.reduce_record(name), &rec)?;
                outcome.reduced = Some(rec.clone());
                rec
            }
        };
        generation.update(&serde_json::to_vec(&reduce.counters).expect("counters serialise"));
    }

    let completion = Completion {
        stage: name.into(),
        generation: format!("{:016x}", generation.digest()),
        tasks: records.len(),
    };
    let recorded: Option<Completion> = record::read(&run.completion(name)).unwrap_or(None);
    if recorded.as_ref() != Some(&completion) {
        record::write(&run.completion(name), &completion)?;
    }
    outcome.complete = true;
    Ok(outcome)
}

/// Removes the records and outputs of tasks that are no longer tasks of the
/// stage (the upstream output they came from shrank).
fn remove_stale_tasks<S: Stage>(
    run: &RunDir,
    stage: &S,
    tasks: &[usize],
) -> Result<(), StageError> {
    let current: std::collections::BTreeSet<usize> = tasks.iter().copied().collect();
    for path in task_record_files(run, S::NAME) {
        let task = path
            .file_stem()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("task-"))
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(task) = task.filter(|t| !current.contains(t)) {
            log::info!(
                "{}: task {task} is gone from the input; its outputs are removed",
                S::NAME
            );
            for f in stage.task_outputs(run, task) {
                remove_file(&f)?;
            }
            remove_file(&path)?;
        }
    }
    Ok(())
}

/// Paths of every task record of `stage` present in `run`, ascending.
pub fn task_record_files(run: &RunDir, stage: &str) -> Vec<PathBuf> {
    match files::list_files(&run.task_records(stage)) {
        Ok(paths) => paths.into_iter().filter(|p| is_record(p)).collect(),
        Err(e) => {
            log::warn!("{}: {e}", run.task_records(stage).display());
            Vec::new()
        }
    }
}
