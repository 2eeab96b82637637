//! Data-parallel training: `N` processes (ranks) train one model, each on
//! its share of every batch.
//!
//! The design keeps one rule: **`N` ranks with a global batch of `B` pairs
//! compute the same step as one process with a batch of `B`.**
//!
//! - *Data* ([`crate::data::Loader::start_on`]): every rank follows the same
//!   seeded sample stream as a single process would; of each global batch of
//!   `B` stream samples, rank `r` decodes rows `r·B/N .. (r+1)·B/N` only, and
//!   reads only their images (the stream itself follows the shards'
//!   metadata: see [`crate::data::Images::Defer`]). A
//!   sample that cannot be decoded is replaced as in a single process: the
//!   ranks exchange how many they dropped, the next samples of the stream
//!   refill them in rank order, so the global batch holds the same samples
//!   as one process's (in another row order, which the contrastive loss does
//!   not see). The stream position (the resume point) is the same on every
//!   rank and does not depend on `N`: a run resumes with any number of ranks
//!   and the same data order.
//! - *Loss* ([`gradients`]): the image and text embeddings of all ranks are
//!   gathered; rank `r` computes open_clip's "local loss" over the global
//!   batch: its image rows against all texts and its text rows against all
//!   images, scaled by `(B/N)/B` so that the ranks' losses sum to the mean
//!   loss of the global batch. Its gradient with respect to *every* gathered
//!   embedding is then summed over the ranks (a reduce-scatter), each rank
//!   keeping the rows it embedded, and back-propagated through its own
//!   towers. This is the all-gather-with-gradient of open_clip's
//!   `--gather-with-grad --local-loss`, done as two backward passes because
//!   candle's backward pass cannot call a collective in its middle.
//! - *Gradients* ([`buckets`]): the parameter gradients are summed (not
//!   averaged: the local losses already sum to the global mean) over the
//!   ranks in flat buckets of bounded size, after the backward pass (candle
//!   offers no hook to start them during it). Every rank then takes the same
//!   optimizer step and holds the same weights, which [`state::checksum`]
//!   verifies.
//! - *State* ([`state`]): rank 0 alone reads and writes the run directory;
//!   it initialises or resumes the model and hands weights, optimizer state,
//!   tokenizer and stream position to the others.
//!
//! Collectives come from MPI (module `mpi`, with the `mpi` feature) behind the
//! [`Collective`] trait; [`Solo`] is the single process, and [`threads`] runs
//! ranks as threads of one process (for tests without an MPI launcher). The
//! embeddings and gradients go through the trait's tensor operations
//! ([`Collective::all_gather_tensor`], ...), which by default copy to host
//! memory and use the slice operations; with the `nccl` feature and a CUDA
//! device, [`World::bind_device`] swaps in a communicator (module `nccl`)
//! that runs them with NCCL on the GPU's memory, MPI keeping the rest.

pub mod buckets;
mod gradients;
#[cfg(feature = "mpi")]
pub mod mpi;
#[cfg(feature = "nccl")]
pub mod nccl;
pub mod state;
pub mod threads;

use std::sync::Arc;

use candle_core::{DType, Device, Tensor};

pub use gradients::{gradients, local_loss};

use crate::{Error, Result};

/// The collective operations data-parallel training needs, over a fixed
/// group of ranks. Every rank must call the same operations in the same
/// order with buffers of the same lengths.
pub trait Collective: Send + Sync + std::fmt::Debug {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn size(&self) -> usize;
    /// Every rank's `local` (the same length everywhere), concatenated in
    /// rank order.
    fn all_gather_f32(&self, local: &[f32]) -> Result<Vec<f32>>;
    /// Every rank's `local` value, in rank order.
    fn all_gather_u64(&self, local: u64) -> Result<Vec<u64>>;
    /// Replaces `buf` by its element-wise sum over the ranks.
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()>;
    /// The element-wise sum over the ranks of `buf` (`size()` blocks of
    /// equal length), block `rank()` of it.
    fn reduce_scatter_sum_f32(&self, buf: &[f32]) -> Result<Vec<f32>>;
    /// Replaces `bytes` by rank 0's on every rank.
    fn broadcast_bytes(&self, bytes: &mut Vec<u8>) -> Result<()>;
    /// Every rank's `local` (the same shape everywhere, at least one
    /// dimension), concatenated along dimension 0 in rank order: an f32
    /// tensor on `local`'s device.
    ///
    /// The default copies `local` to host memory and calls
    /// [`Collective::all_gather_f32`]; a communicator between GPUs keeps it
    /// on the device.
    fn all_gather_tensor(&self, local: &Tensor) -> Result<Tensor> {
        let mut dims = leading_dims(local, 1)?;
        dims[0] *= self.size();
        let all = self.all_gather_f32(&host_f32(local)?)?;
        Ok(Tensor::from_vec(all, dims, local.device())?)
    }
    /// The element-wise sum of every rank's `t` (the same shape everywhere):
    /// an f32 tensor of `t`'s shape on its device.
    ///
    /// The default goes through host memory and
    /// [`Collective::all_reduce_sum_f32`], like
    /// [`Collective::all_gather_tensor`].
    fn all_reduce_sum_tensor(&self, t: &Tensor) -> Result<Tensor> {
        let mut flat = host_f32(t)?;
        self.all_reduce_sum_f32(&mut flat)?;
        Ok(Tensor::from_vec(flat, t.shape(), t.device())?)
    }
    /// The element-wise sum over the ranks of `t` (the same shape
    /// everywhere, its dimension 0 a multiple of `size()`), block `rank()`
    /// of it along dimension 0: an f32 tensor of `1/size()` of `t`'s rows on
    /// `t`'s device.
    ///
    /// The default goes through host memory and
    /// [`Collective::reduce_scatter_sum_f32`], like
    /// [`Collective::all_gather_tensor`].
    fn reduce_scatter_sum_tensor(&self, t: &Tensor) -> Result<Tensor> {
        let dims = leading_dims(t, self.size())?;
        let mine = self.reduce_scatter_sum_f32(&host_f32(t)?)?;
        let mut out = dims;
        out[0] /= self.size();
        Ok(Tensor::from_vec(mine, out, t.device())?)
    }
    /// A communicator over the same ranks whose operations do not interleave
    /// with this one's, for another thread (every rank must call this, in the
    /// same order).
    fn duplicate(&self) -> Result<Box<dyn Collective>>;
    /// Ends the processes of every rank with exit status `code`.
    fn abort(&self, code: i32) -> !;
}

/// A shared handle to a communicator.
pub type Comm = Arc<dyn Collective>;

/// The single process: every collective is the identity.
#[derive(Debug, Clone, Copy, Default)]
pub struct Solo;

impl Collective for Solo {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_gather_f32(&self, local: &[f32]) -> Result<Vec<f32>> {
        Ok(local.to_vec())
    }
    fn all_gather_u64(&self, local: u64) -> Result<Vec<u64>> {
        Ok(vec![local])
    }
    fn all_reduce_sum_f32(&self, _buf: &mut [f32]) -> Result<()> {
        Ok(())
    }
    fn reduce_scatter_sum_f32(&self, buf: &[f32]) -> Result<Vec<f32>> {
        Ok(buf.to_vec())
    }
    fn broadcast_bytes(&self, _bytes: &mut Vec<u8>) -> Result<()> {
        Ok(())
    }
    fn all_gather_tensor(&self, local: &Tensor) -> Result<Tensor> {
        leading_dims(local, 1)?;
        Ok(local.to_dtype(DType::F32)?)
    }
    fn all_reduce_sum_tensor(&self, t: &Tensor) -> Result<Tensor> {
        Ok(t.to_dtype(DType::F32)?)
    }
    fn reduce_scatter_sum_tensor(&self, t: &Tensor) -> Result<Tensor> {
        leading_dims(t, 1)?;
        Ok(t.to_dtype(DType::F32)?)
    }
    fn duplicate(&self) -> Result<Box<dyn Collective>> {
        Ok(Box::new(Solo))
    }
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// `t`'s values as f32 in host memory, in row-major order.
fn host_f32(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

/// `t`'s dimensions, checked to have a first one that is a multiple of
/// `blocks` (a collective's precondition).
fn leading_dims(t: &Tensor, blocks: usize) -> Result<Vec<usize>> {
    match t.dims() {
        [d0, ..] if d0.is_multiple_of(blocks) => Ok(t.dims().to_vec()),
        dims => Err(Error::Distributed(format!(
            "a collective over dimension 0 of a tensor of shape {dims:?} in {blocks} blocks"
        ))),
    }
}

/// The single-process communicator as a shared handle.
pub fn solo() -> Comm {
    Arc::new(Solo)
}

/// Rows `[from, to)` of a global batch of `batch` rows that `rank` of `size`
/// holds.
pub fn rank_rows(batch: usize, rank: usize, size: usize) -> (usize, usize) {
    (rank * batch / size, (rank + 1) * batch / size)
}

/// This process's index among the ranks of its node, as the launcher tells
/// it (`OMPI_COMM_WORLD_LOCAL_RANK`, `MPI_LOCALRANKID`, `SLURM_LOCALID`).
pub fn local_rank() -> Option<usize> {
    [
        "OMPI_COMM_WORLD_LOCAL_RANK",
        "MPI_LOCALRANKID",
        "SLURM_LOCALID",
    ]
    .iter()
    .find_map(|v| std::env::var(v).ok()?.parse().ok())
}

/// The device name a rank of `comm` uses for `name`: `cuda` (no index) in a
/// job of several ranks becomes `cuda:LOCAL_RANK` unless
/// `CUDA_VISIBLE_DEVICES` shows this process a single GPU (one GPU bound per
/// task, as `srun --gpus-per-task=1` does); anything else is kept.
pub fn rank_device(name: &str, comm: &dyn Collective) -> String {
    let one_visible = std::env::var("CUDA_VISIBLE_DEVICES")
        .map(|v| v.split(',').filter(|d| !d.trim().is_empty()).count() == 1)
        .unwrap_or(false);
    match (name, comm.size() > 1, one_visible, local_rank()) {
        ("cuda", true, false, Some(local)) => format!("cuda:{local}"),
        _ => name.to_string(),
    }
}

/// The communicator of the job this process was started in: MPI's world
/// when the process was launched by `mpirun`/`mpiexec` or `srun` (and the
/// binary is built with the `mpi` feature), else [`Solo`]. Keep the returned
/// [`World`] alive until the end of the program (dropping it finalises MPI).
/// [`World::bind_device`] then picks this rank's device, and NCCL's
/// communicator in a job on GPUs (the `nccl` feature).
///
/// A process that its launcher says is one of `N` (Open MPI's or PMI's
/// world size, the tasks of a Slurm step, torchrun's `WORLD_SIZE`) fails
/// here unless the MPI world has those `N` ranks, rather than training the
/// same run directory `N` times over: a binary without the `mpi` feature
/// under `mpirun`, `srun` without an MPI plugin, or `torchrun`.
pub fn launch() -> Result<World> {
    #[cfg(feature = "mpi")]
    let world = if mpi::launched_by_mpi() {
        mpi::init()?
    } else {
        solo_world()
    };
    #[cfg(not(feature = "mpi"))]
    let world = solo_world();
    let declared = declared_size(|v| std::env::var(v).ok());
    match declared {
        Some((var, n)) if n != world.comm.size() => Err(crate::Error::Distributed(size_mismatch(
            var,
            n,
            world.comm.size(),
        ))),
        _ => Ok(world),
    }
}

/// The world of a process started alone.
fn solo_world() -> World {
    World {
        comm: solo(),
        #[cfg(feature = "mpi")]
        _universe: None,
    }
}

/// The number of processes the launcher says it started (when more than
/// one), and the variable that says so; `env` reads a variable.
fn declared_size(env: impl Fn(&str) -> Option<String>) -> Option<(&'static str, usize)> {
    let number = |v: &str| env(v)?.trim().parse::<usize>().ok();
    // A task of an `srun` step (the batch script itself has no step id).
    let slurm_step = number("SLURM_STEP_ID").is_some_and(|id| id < 0xffff_fff0);
    [
        "OMPI_COMM_WORLD_SIZE",
        "PMI_SIZE",
        "SLURM_STEP_NUM_TASKS",
        "WORLD_SIZE",
    ]
    .into_iter()
    .filter(|&v| v != "SLURM_STEP_NUM_TASKS" || slurm_step)
    .find_map(|v| Some((v, number(v)?)))
    .filter(|&(_, n)| n > 1)
}

/// What to say when the launcher started `n` processes (`var`) but the MPI
/// world has `size`.
fn size_mismatch(var: &str, n: usize, size: usize) -> String {
    let how = format!(
        "start the ranks with `mpirun -n {n}` or `srun --mpi=pmix -n {n}` (a binary built \
         with `--features mpi`), or start one process"
    );
    match var {
        "WORLD_SIZE" => format!(
            "started as one of {n} processes (WORLD_SIZE, as torchrun sets it), but witcurate's \
             ranks are MPI processes and this one sees {size}: {how}"
        ),
        "SLURM_STEP_NUM_TASKS" => format!(
            "started as one of {n} tasks of a Slurm step (SLURM_STEP_NUM_TASKS), but MPI sees \
             {size}: srun starts MPI ranks with `--mpi=pmix` (or `pmi2`); {how}"
        ),
        _ if cfg!(not(feature = "mpi")) => format!(
            "started as one of {n} processes ({var}), but this binary was built without the \
             `mpi` feature: build with `--features mpi`, or start one process"
        ),
        _ => format!("started as one of {n} processes ({var}), but MPI sees {size}: {how}"),
    }
}

impl World {
    /// This rank's compute device for the `--device` name `name` (see
    /// [`rank_device`]). In a job of several ranks on a CUDA device, with
    /// the `nccl` feature, the world's communicator becomes from here on one
    /// whose tensor collectives run with NCCL on that device (MPI hands out
    /// NCCL's id and keeps the other collectives); anything else keeps it.
    /// Every rank calls this once, with the same kind of device, before it
    /// clones [`World::comm`].
    pub fn bind_device(&mut self, name: &str) -> Result<Device> {
        let device = crate::device(&rank_device(name, self.comm.as_ref()))?;
        #[cfg(feature = "nccl")]
        if self.comm.size() > 1 && device.is_cuda() {
            self.comm = Arc::new(nccl::NcclComm::new(self.comm.clone(), &device)?);
            log::info!(
                "{} ranks: embeddings gathered and gradients summed over NCCL on the GPUs",
                self.comm.size()
            );
        }
        Ok(device)
    }
}

/// The job's communicator, and what keeps its runtime alive.
pub struct World {
    /// The communicator over every rank of the job.
    pub comm: Comm,
    #[cfg(feature = "mpi")]
    pub(crate) _universe: Option<::mpi::environment::Universe>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World").field("comm", &self.comm).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    #[test]
    fn tensor_collectives_equal_the_slice_ones() {
        let ranks = 3;
        let out = threads::run(ranks, |comm| {
            let d = &Device::Cpu;
            let r = comm.rank() as f32;
            let local: Vec<f32> = (0..6).map(|i| (10.0 * r + i as f32) * 0.37).collect();
            let t = Tensor::from_vec(local.clone(), (2, 3), d).unwrap();

            let gathered = comm.all_gather_tensor(&t).unwrap();
            assert_eq!(gathered.dims(), [2 * ranks, 3]);
            assert_eq!(values(&gathered), comm.all_gather_f32(&local).unwrap());

            // A bf16 input is summed as f32 values.
            let half = t.to_dtype(DType::BF16).unwrap();
            let summed = comm.all_reduce_sum_tensor(&half).unwrap();
            assert_eq!((summed.dtype(), summed.dims()), (DType::F32, &[2, 3][..]));
            let mut want = host_f32(&half).unwrap();
            comm.all_reduce_sum_f32(&mut want).unwrap();
            assert_eq!(values(&summed), want);

            let blocks: Vec<f32> = (0..4 * ranks * 2).map(|i| i as f32 * r + 0.25).collect();
            let b = Tensor::from_vec(blocks.clone(), (ranks * 2, 4), d).unwrap();
            let mine = comm.reduce_scatter_sum_tensor(&b).unwrap();
            assert_eq!(mine.dims(), [2, 4]);
            assert_eq!(values(&mine), comm.reduce_scatter_sum_f32(&blocks).unwrap());

            // Shapes a collective cannot take fail on every rank, before
            // any exchange.
            let odd = Tensor::zeros((4, 2), DType::F32, d).unwrap();
            assert!(comm.reduce_scatter_sum_tensor(&odd).is_err());
            let scalar = Tensor::new(1f32, d).unwrap();
            assert!(comm.all_gather_tensor(&scalar).is_err());
            values(&gathered)
        });
        // Every rank gathered the same rows.
        assert!(out.iter().all(|g| g == &out[0]));
    }

    #[test]
    fn bind_device_keeps_the_communicator_off_gpus() {
        let mut world = solo_world();
        assert!(matches!(world.bind_device("cpu").unwrap(), Device::Cpu));
        assert_eq!(format!("{:?}", world.comm), "Solo");
        assert!(world.bind_device("tpu").is_err());
    }

    #[test]
    fn solo_tensor_collectives_are_the_identity_in_f32() {
        let t = Tensor::new(&[[1f32, 2.5], [3.0, -4.0]], &Device::Cpu).unwrap();
        let h = t.to_dtype(DType::BF16).unwrap();
        for got in [
            Solo.all_gather_tensor(&h).unwrap(),
            Solo.all_reduce_sum_tensor(&h).unwrap(),
            Solo.reduce_scatter_sum_tensor(&h).unwrap(),
        ] {
            assert_eq!((got.dtype(), got.dims()), (DType::F32, &[2, 2][..]));
            assert_eq!(values(&got), values(&t));
        }
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn launchers_say_how_many_processes_they_started() {
        assert_eq!(declared_size(env(&[])), None);
        assert_eq!(
            declared_size(env(&[("OMPI_COMM_WORLD_SIZE", "4"), ("WORLD_SIZE", "2")])),
            Some(("OMPI_COMM_WORLD_SIZE", 4))
        );
        assert_eq!(
            declared_size(env(&[("WORLD_SIZE", "2"), ("RANK", "1")])),
            Some(("WORLD_SIZE", 2))
        );
        // One process is no job of several, whoever says so.
        assert_eq!(declared_size(env(&[("WORLD_SIZE", "1")])), None);
        // An srun step's tasks count; a batch script's allocation does not.
        assert_eq!(
            declared_size(env(&[
                ("SLURM_STEP_ID", "0"),
                ("SLURM_STEP_NUM_TASKS", "2")
            ])),
            Some(("SLURM_STEP_NUM_TASKS", 2))
        );
        assert_eq!(
            declared_size(env(&[("SLURM_NTASKS", "8"), ("SLURM_STEP_NUM_TASKS", "8")])),
            None
        );
        assert_eq!(
            declared_size(env(&[
                ("SLURM_STEP_ID", "4294967294"),
                ("SLURM_STEP_NUM_TASKS", "8")
            ])),
            None
        );
        let msg = size_mismatch("WORLD_SIZE", 2, 1);
        assert!(
            msg.contains("torchrun") && msg.contains("mpirun -n 2"),
            "{msg}"
        );
        let msg = size_mismatch("SLURM_STEP_NUM_TASKS", 2, 1);
        assert!(msg.contains("--mpi=pmix"), "{msg}");
    }

    #[test]
    fn rank_rows_cover_the_batch_once() {
        for (b, n) in [(8, 2), (12, 3), (5, 1)] {
            let mut next = 0;
            for r in 0..n {
                let (lo, hi) = rank_rows(b, r, n);
                assert_eq!(lo, next);
                next = hi;
            }
            assert_eq!(next, b);
        }
    }
}
