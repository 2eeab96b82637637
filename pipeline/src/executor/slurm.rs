//! The Slurm executor: each stage becomes a job array
//! (`sbatch --array=...%max_parallel`), its reduce a job that depends on the
//! array (`afterok`), and the next stage depends on that. Dependants of a
//! failed job are cancelled (`--kill-on-invalid-dep=yes`) rather than left
//! pending forever. Only slices without a completion marker are submitted, so
//! rerunning the same command resubmits exactly the missing work.
//!
//! Scripts and logs live under `RUN/slurm/STAGE/`: `tasks.sh`, `reduce.sh`,
//! `logs/ARRAYID_INDEX.out`, `logs/reduce-JOBID.out`.

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{ExecutorError, StageJob};
use crate::run_dir::RunDir;
use crate::task::write_atomically;

/// Slurm options (flags and the `[slurm]` config section).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlurmConfig {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time` (e.g. `04:00:00`).
    pub time: Option<String>,
    /// `--cpus-per-task`.
    pub cpus_per_task: Option<u32>,
    /// `--mem` (e.g. `8G`).
    pub mem: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// Most array elements running at once (`%N` of `--array`).
    pub max_parallel: Option<usize>,
    /// Further `sbatch` arguments, passed as they are.
    pub extra_args: Vec<String>,
}

/// What was submitted for one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmittedStage {
    /// Stage name.
    pub name: String,
    /// The array job, when any slice was pending.
    pub array_job: Option<String>,
    /// Slices submitted.
    pub slices: Vec<usize>,
    /// Number of slices the stage's tasks are split into.
    pub task_count: usize,
    /// The reduce job, when the stage has one.
    pub reduce_job: Option<String>,
    /// Where the logs go.
    pub log_dir: PathBuf,
}

/// A task that did not complete, with where to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedTask {
    /// Stage name.
    pub stage: String,
    /// Slice index, or `None` for the reduce.
    pub slice: Option<usize>,
    /// Slurm's state for it (`FAILED`, `CANCELLED`, `TIMEOUT`, ...), when known.
    pub state: String,
    /// Its log file.
    pub log: PathBuf,
}

/// `--array` spec of `indices` (ascending): ranges joined by commas, e.g. `0-3,5,7-9`.
pub fn array_spec(indices: &[usize]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < indices.len() {
        let start = indices[i];
        let mut end = start;
        while i + 1 < indices.len() && indices[i + 1] == end + 1 {
            i += 1;
            end = indices[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}-{end}");
        }
        i += 1;
    }
    out
}

/// Quotes one argument for a POSIX shell.
pub fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// The batch script of a stage's array: runs slice `$SLURM_ARRAY_TASK_ID`.
pub fn tasks_script(job: &StageJob) -> String {
    let mut s = String::from("#!/bin/bash\nset -euo pipefail\nexec");
    for a in &job.task_argv {
        let _ = write!(s, " {}", shell_quote(a));
    }
    let _ = writeln!(
        s,
        " --task-index \"$SLURM_ARRAY_TASK_ID\" --task-count {}",
        job.task_count
    );
    s
}

/// The batch script of a stage's reduce.
pub fn reduce_script(argv: &[String]) -> String {
    let mut s = String::from("#!/bin/bash\nset -euo pipefail\nexec");
    for a in argv {
        let _ = write!(s, " {}", shell_quote(a));
    }
    s.push('\n');
    s
}

fn run_command(cmd: &mut Command) -> Result<String, ExecutorError> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|source| ExecutorError::Spawn {
        command: shown.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(ExecutorError::Command {
            command: shown,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn sbatch_common(cfg: &SlurmConfig, name: &str) -> Command {
    let mut cmd = Command::new("sbatch");
    cmd.arg("--parsable")
        .arg(format!("--job-name=witcurate-{name}"));
    if let Some(p) = &cfg.partition {
        cmd.arg(format!("--partition={p}"));
    }
    if let Some(t) = &cfg.time {
        cmd.arg(format!("--time={t}"));
    }
    if let Some(c) = cfg.cpus_per_task {
        cmd.arg(format!("--cpus-per-task={c}"));
    }
    if let Some(m) = &cfg.mem {
        cmd.arg(format!("--mem={m}"));
    }
    if let Some(a) = &cfg.account {
        cmd.arg(format!("--account={a}"));
    }
    cmd.args(&cfg.extra_args);
    cmd
}

fn parse_job_id(command: &str, out: &str) -> Result<String, ExecutorError> {
    // `--parsable` prints `JOBID` or `JOBID;CLUSTER`.
    let id = out.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ExecutorError::Parse {
            command: command.to_string(),
            output: out.to_string(),
        });
    }
    Ok(id)
}

/// Submits `stages` in order, each depending on the one before. Stages with
/// nothing pending and a finished reduce are skipped.
pub fn submit_chain(
    run: &RunDir,
    stages: &[StageJob],
    cfg: &SlurmConfig,
) -> Result<Vec<SubmittedStage>, ExecutorError> {
    let mut previous: Option<String> = None;
    let mut submitted = Vec::new();
    for job in stages {
        let dir = run.slurm(&job.name);
        let log_dir = dir.join("logs");
        fs::create_dir_all(&log_dir).map_err(|e| crate::task::TaskError::io(&log_dir, e))?;
        let reduce_done = job.reduce_done;
        let mut stage = SubmittedStage {
            name: job.name.clone(),
            array_job: None,
            slices: job.pending.clone(),
            task_count: job.task_count,
            reduce_job: None,
            log_dir: log_dir.clone(),
        };
        if !job.pending.is_empty() {
            let script = dir.join("tasks.sh");
            write_atomically(&script, tasks_script(job).as_bytes())?;
            let mut spec = array_spec(&job.pending);
            if let Some(max) = cfg.max_parallel {
                let _ = write!(spec, "%{max}");
            }
            let mut cmd = sbatch_common(cfg, &job.name);
            cmd.arg(format!("--array={spec}"))
                .arg(format!("--output={}", log_dir.join("%A_%a.out").display()));
            if let Some(dep) = &previous {
                cmd.arg(format!("--dependency=afterok:{dep}"))
                    .arg("--kill-on-invalid-dep=yes");
            }
            cmd.arg(&script);
            let shown = format!("{cmd:?}");
            let id = parse_job_id(&shown, &run_command(&mut cmd)?)?;
            log::info!(
                "slurm: {} array job {id} ({} of {} slices)",
                job.name,
                job.pending.len(),
                job.task_count
            );
            previous = Some(id.clone());
            stage.array_job = Some(id);
        }
        if let Some(reduce) = &job.reduce_argv {
            if !reduce_done || !job.pending.is_empty() {
                let script = dir.join("reduce.sh");
                write_atomically(&script, reduce_script(reduce).as_bytes())?;
                let mut cmd = sbatch_common(cfg, &format!("{}-reduce", job.name));
                cmd.arg(format!(
                    "--output={}",
                    log_dir.join("reduce-%j.out").display()
                ));
                if let Some(dep) = &previous {
                    cmd.arg(format!("--dependency=afterok:{dep}"))
                        .arg("--kill-on-invalid-dep=yes");
                }
                cmd.arg(&script);
                let shown = format!("{cmd:?}");
                let id = parse_job_id(&shown, &run_command(&mut cmd)?)?;
                log::info!("slurm: {} reduce job {id}", job.name);
                previous = Some(id.clone());
                stage.reduce_job = Some(id);
            }
        }
        submitted.push(stage);
    }
    Ok(submitted)
}

/// Job ids of everything submitted.
pub fn job_ids(stages: &[SubmittedStage]) -> Vec<String> {
    stages
        .iter()
        .flat_map(|s| s.array_job.iter().chain(s.reduce_job.iter()).cloned())
        .collect()
}

/// Blocks until none of `jobs` is pending or running any more.
pub fn wait_for(
    jobs: &[String],
    poll: Duration,
    timeout: Option<Duration>,
) -> Result<(), ExecutorError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    loop {
        let out = run_command(
            Command::new("squeue")
                .arg("-h")
                .arg("-o")
                .arg("%i %T")
                .arg(format!("--jobs={}", jobs.join(","))),
        );
        let live = match out {
            Ok(out) => out.lines().any(|l| !l.trim().is_empty()),
            // squeue errors on job ids that have left the controller's memory.
            Err(ExecutorError::Command { .. }) => false,
            Err(e) => return Err(e),
        };
        if !live {
            return Ok(());
        }
        if let Some(t) = timeout {
            if started.elapsed() > t {
                return Err(ExecutorError::Failed(format!(
                    "timed out after {}s waiting for Slurm jobs {}",
                    t.as_secs(),
                    jobs.join(",")
                )));
            }
        }
        std::thread::sleep(poll);
    }
}

/// Parses `scontrol -o show job` output into (array task id, state) pairs.
pub fn parse_scontrol_states(out: &str) -> Vec<(Option<usize>, String)> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut task = None;
            let mut state = String::new();
            for field in line.split_whitespace() {
                if let Some(v) = field.strip_prefix("ArrayTaskId=") {
                    task = v.parse().ok();
                } else if let Some(v) = field.strip_prefix("JobState=") {
                    state = v.to_string();
                }
            }
            (task, state)
        })
        .collect()
}

/// Slurm's state of each element of job `id` (empty once Slurm forgot it).
pub fn job_states(id: &str) -> Vec<(Option<usize>, String)> {
    match run_command(Command::new("scontrol").args(["-o", "show", "job", id])) {
        Ok(out) => parse_scontrol_states(&out),
        Err(_) => Vec::new(),
    }
}

/// After the jobs left the queue: the slices (and reduces) that did not
/// complete, by `slice_done(stage, slice)` and `reduce_done(stage)`, with
/// Slurm's state and the log to read.
pub fn failures(
    stages: &[SubmittedStage],
    slice_done: &dyn Fn(&str, usize) -> bool,
    reduce_done: &dyn Fn(&str) -> bool,
) -> Vec<FailedTask> {
    let mut failed = Vec::new();
    for stage in stages {
        if let Some(array) = &stage.array_job {
            let states = job_states(array);
            for &slice in &stage.slices {
                if !slice_done(&stage.name, slice) {
                    let state = states
                        .iter()
                        .find(|(t, _)| *t == Some(slice))
                        .map(|(_, s)| s.clone())
                        .unwrap_or_else(|| "UNKNOWN".into());
                    failed.push(FailedTask {
                        stage: stage.name.clone(),
                        slice: Some(slice),
                        state,
                        log: stage.log_dir.join(format!("{array}_{slice}.out")),
                    });
                }
            }
        }
        if let Some(reduce) = &stage.reduce_job {
            if !reduce_done(&stage.name) {
                let state = job_states(reduce)
                    .first()
                    .map(|(_, s)| s.clone())
                    .unwrap_or_else(|| "UNKNOWN".into());
                failed.push(FailedTask {
                    stage: stage.name.clone(),
                    slice: None,
                    state,
                    log: stage.log_dir.join(format!("reduce-{reduce}.out")),
                });
            }
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_specs_compress_ranges() {
        assert_eq!(array_spec(&[0, 1, 2, 3, 5, 7, 8, 9]), "0-3,5,7-9");
        assert_eq!(array_spec(&[4]), "4");
        assert_eq!(array_spec(&[]), "");
    }

    #[test]
    fn scripts_quote_arguments() {
        let job = StageJob {
            name: "extract".into(),
            task_count: 4,
            pending: vec![0, 1, 2, 3],
            task_argv: vec![
                "/bin/witcurate".into(),
                "crawl".into(),
                "extract".into(),
                "--input".into(),
                "/data/a b's.warc".into(),
            ],
            reduce_argv: None,
            reduce_done: false,
        };
        let s = tasks_script(&job);
        assert!(s.contains(r#"'/data/a b'\''s.warc'"#), "{s}");
        assert!(s.contains("--task-index \"$SLURM_ARRAY_TASK_ID\" --task-count 4"));
        assert_eq!(shell_quote("plain-arg_1.x"), "plain-arg_1.x");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn scontrol_states_are_read() {
        let out = "JobId=11 ArrayJobId=10 ArrayTaskId=1 JobName=x JobState=FAILED Reason=x\n\
                   JobId=10 ArrayJobId=10 ArrayTaskId=0 JobState=COMPLETED\n";
        assert_eq!(
            parse_scontrol_states(out),
            vec![(Some(1), "FAILED".into()), (Some(0), "COMPLETED".into())]
        );
    }

    #[test]
    fn job_ids_are_parsed() {
        assert_eq!(parse_job_id("sbatch", "123\n").unwrap(), "123");
        assert_eq!(parse_job_id("sbatch", "123;cluster\n").unwrap(), "123");
        assert!(parse_job_id("sbatch", "Submitted batch job 5").is_err());
    }
}
