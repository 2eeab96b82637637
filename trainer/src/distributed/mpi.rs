//! [`Collective`] over MPI (rsmpi): the processes `mpirun -n N` or `srun`
//! started.
//!
//! MPI is initialised with `MPI_THREAD_MULTIPLE` because the data loader's
//! thread exchanges its counts of dropped samples on a communicator of its
//! own ([`Collective::duplicate`]) while the training thread reduces
//! gradients on the world's.

use std::sync::Mutex;

use mpi::collective::SystemOperation;
use mpi::environment::Threading;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use super::{Collective, World};
use crate::{Error, Result};

/// Environment variables one of which a launcher sets in every process it
/// starts: Open MPI's `mpirun`, PMI-1/2 (MPICH's `mpiexec`, `srun
/// --mpi=pmi2`), PMIx (`srun --mpi=pmix`).
const LAUNCHER_VARS: [&str; 4] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"];

/// Whether this process was started by an MPI launcher.
pub fn launched_by_mpi() -> bool {
    LAUNCHER_VARS.iter().any(|v| std::env::var_os(v).is_some())
}

/// An MPI communicator. Every use takes the lock, so that one handle is never
/// in two collectives at once.
struct MpiComm {
    comm: Mutex<Handle>,
    rank: usize,
    size: usize,
}

/// The communicator handle.
struct Handle(SimpleCommunicator);

// SAFETY: MPI is initialised with MPI_THREAD_MULTIPLE (checked in `init`),
// under which any thread may call MPI; the handle is a plain value, and the
// mutex keeps two threads from using one communicator at once.
unsafe impl Send for Handle {}

impl std::fmt::Debug for MpiComm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiComm")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .finish()
    }
}

impl MpiComm {
    fn new(comm: SimpleCommunicator) -> Self {
        let (rank, size) = (comm.rank() as usize, comm.size() as usize);
        MpiComm {
            comm: Mutex::new(Handle(comm)),
            rank,
            size,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&SimpleCommunicator) -> T) -> T {
        let guard = self.comm.lock().unwrap_or_else(|e| e.into_inner());
        f(&guard.0)
    }
}

/// MPI counts are C ints.
fn count(n: usize) -> Result<()> {
    if n > i32::MAX as usize {
        return Err(Error::Distributed(format!(
            "a collective of {n} elements exceeds MPI's count limit"
        )));
    }
    Ok(())
}

impl Collective for MpiComm {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_gather_f32(&self, local: &[f32]) -> Result<Vec<f32>> {
        count(local.len() * self.size)?;
        let mut out = vec![0f32; local.len() * self.size];
        self.with(|c| c.all_gather_into(local, &mut out[..]));
        Ok(out)
    }

    fn all_gather_u64(&self, local: u64) -> Result<Vec<u64>> {
        let mut out = vec![0u64; self.size];
        self.with(|c| c.all_gather_into(&local, &mut out[..]));
        Ok(out)
    }

    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        count(buf.len())?;
        let send = buf.to_vec();
        self.with(|c| c.all_reduce_into(&send[..], buf, SystemOperation::sum()));
        Ok(())
    }

    fn reduce_scatter_sum_f32(&self, buf: &[f32]) -> Result<Vec<f32>> {
        count(buf.len())?;
        if !buf.len().is_multiple_of(self.size) {
            return Err(Error::Distributed(format!(
                "reduce-scatter of {} elements over {} ranks",
                buf.len(),
                self.size
            )));
        }
        let mut out = vec![0f32; buf.len() / self.size];
        self.with(|c| c.reduce_scatter_block_into(buf, &mut out[..], SystemOperation::sum()));
        Ok(out)
    }

    fn broadcast_bytes(&self, bytes: &mut Vec<u8>) -> Result<()> {
        let mut len = bytes.len() as u64;
        self.with(|c| c.process_at_rank(0).broadcast_into(&mut len));
        let len = usize::try_from(len).expect("fits in memory");
        count(len)?;
        bytes.resize(len, 0);
        self.with(|c| c.process_at_rank(0).broadcast_into(&mut bytes[..]));
        Ok(())
    }

    fn duplicate(&self) -> Result<Box<dyn Collective>> {
        Ok(Box::new(MpiComm::new(self.with(|c| c.duplicate()))))
    }

    fn abort(&self, code: i32) -> ! {
        // Not through the lock: another thread may hold it in a collective
        // that will never finish.
        SimpleCommunicator::world().abort(code)
    }
}

/// Initialises MPI and returns the world communicator.
pub fn init() -> Result<World> {
    let (universe, provided) = mpi::initialize_with_threading(Threading::Multiple)
        .ok_or_else(|| Error::Distributed("MPI is already initialised".into()))?;
    if provided < Threading::Multiple {
        return Err(Error::Distributed(format!(
            "the MPI library offers thread support {provided:?}, training needs Multiple \
             (MPI_THREAD_MULTIPLE)"
        )));
    }
    let comm = MpiComm::new(universe.world());
    Ok(World {
        comm: std::sync::Arc::new(comm),
        _universe: Some(universe),
    })
}
