//! [`Collective`] over NCCL between the GPUs of an MPI job: the tensor
//! collectives (embeddings, gradients) run on the GPU's memory with NCCL,
//! the rest (counts, checksums, the run state rank 0 hands out) over MPI.
//!
//! The communicator is built the standard way: MPI started the ranks; rank 0
//! asks NCCL for a unique id, MPI broadcasts it, and every rank joins NCCL's
//! communicator with it on its own GPU. NCCL runs its collectives on the
//! CUDA stream of candle's device, so they are ordered with the kernels that
//! produce and consume their tensors without any synchronisation of the host.

use std::sync::Mutex;

use candle_core::cuda::cudarc::nccl::{Comm as NcclHandle, Id, ReduceOp};
use candle_core::{CudaStorage, CustomOp1, DType, Device, Layout, Shape, Tensor};

use super::{leading_dims, Collective, Comm};
use crate::{Error, Result};

/// Length of NCCL's unique id (`ncclUniqueId`), in bytes.
const ID_BYTES: usize = 128;

/// A communicator whose tensor collectives run with NCCL on one CUDA device,
/// its other operations on the MPI communicator it was built from.
pub struct NcclComm {
    /// MPI: the host collectives, [`Collective::duplicate`] and
    /// [`Collective::abort`].
    host: Comm,
    /// Every use takes the lock, so that one NCCL communicator never has
    /// two threads enqueueing on it at once.
    nccl: Mutex<Handle>,
    /// The device (and CUDA stream) NCCL runs on.
    device: Device,
}

/// NCCL's communicator handle.
struct Handle(NcclHandle);

// SAFETY: an NCCL communicator may be used from any thread as long as two
// threads do not call it at once, which the mutex around it ensures.
unsafe impl Send for Handle {}

impl std::fmt::Debug for NcclComm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NcclComm")
            .field("rank", &self.host.rank())
            .field("size", &self.host.size())
            .field("device", &self.device.location())
            .finish()
    }
}

/// An NCCL failure as the crate's error.
fn nccl_error(what: &str, e: impl std::fmt::Debug) -> Error {
    Error::Distributed(format!("NCCL {what}: {e:?}"))
}

impl NcclComm {
    /// Joins the ranks of `host` (every one of them calls this) in an NCCL
    /// communicator on `device`, this rank's CUDA device.
    pub fn new(host: Comm, device: &Device) -> Result<Self> {
        let Device::Cuda(cuda) = device else {
            return Err(Error::Distributed(format!(
                "NCCL needs a CUDA device, not {:?}",
                device.location()
            )));
        };
        let mut id = Vec::new();
        if host.rank() == 0 {
            let fresh = Id::new().map_err(|e| nccl_error("unique id", e))?;
            id = fresh.internal().iter().map(|&c| c as u8).collect();
        }
        host.broadcast_bytes(&mut id)?;
        let internal: [std::ffi::c_char; ID_BYTES] = id
            .iter()
            .map(|&b| b as std::ffi::c_char)
            .collect::<Vec<_>>()
            .try_into()
            .map_err(|v: Vec<_>| {
                Error::Distributed(format!(
                    "NCCL's unique id from rank 0 has {} bytes, not {ID_BYTES}",
                    v.len()
                ))
            })?;
        let stream = cuda.cuda_stream();
        // NCCL sets itself up on the thread's current device.
        stream
            .context()
            .bind_to_thread()
            .map_err(|e| nccl_error("device", e))?;
        let comm = NcclHandle::from_rank(stream, host.rank(), host.size(), Id::uninit(internal))
            .map_err(|e| nccl_error("communicator", e))?;
        Ok(NcclComm {
            host,
            nccl: Mutex::new(Handle(comm)),
            device: device.clone(),
        })
    }

    /// Runs the collective `kind` on `t` (as a contiguous f32 tensor) with
    /// the NCCL communicator; `t` must be on a CUDA device.
    fn run(&self, kind: Kind, t: &Tensor) -> Result<Tensor> {
        let t = t.to_dtype(DType::F32)?.contiguous()?;
        let guard = self.nccl.lock().unwrap_or_else(|e| e.into_inner());
        let op = NcclOp {
            comm: &guard.0,
            kind,
            size: self.host.size(),
        };
        Ok(t.apply_op1_no_bwd(&op)?)
    }

    /// Whether `t` goes through NCCL: a non-empty tensor on a CUDA device
    /// (anything else takes MPI's host path).
    fn on_gpu(t: &Tensor) -> bool {
        t.device().is_cuda() && t.elem_count() > 0
    }
}

/// Which collective an [`NcclOp`] runs.
#[derive(Debug, Clone, Copy)]
enum Kind {
    AllGather,
    AllReduceSum,
    ReduceScatterSum,
}

/// One NCCL collective as a candle operation: it reads its input's CUDA
/// storage and returns a new tensor on the same device.
struct NcclOp<'a> {
    comm: &'a NcclHandle,
    kind: Kind,
    size: usize,
}

impl CustomOp1 for NcclOp<'_> {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::AllGather => "nccl-all-gather",
            Kind::AllReduceSum => "nccl-all-reduce-sum",
            Kind::ReduceScatterSum => "nccl-reduce-scatter-sum",
        }
    }

    fn cpu_fwd(
        &self,
        _storage: &candle_core::CpuStorage,
        _layout: &Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, Shape)> {
        candle_core::bail!("{} runs on CUDA tensors only", self.name())
    }

    fn cuda_fwd(
        &self,
        storage: &CudaStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("{} needs a contiguous tensor", self.name())
        };
        let input = storage.as_cuda_slice::<f32>()?.slice(start..end);
        let n = end - start;
        let mut dims = layout.dims().to_vec();
        let out_len = match self.kind {
            Kind::AllGather => {
                dims[0] *= self.size;
                n * self.size
            }
            Kind::AllReduceSum => n,
            Kind::ReduceScatterSum => {
                dims[0] /= self.size;
                n / self.size
            }
        };
        let device = &storage.device;
        // SAFETY: NCCL writes every element of `out` before anything reads
        // it (the collective is enqueued on the stream ahead of any use).
        let mut out = unsafe { device.alloc::<f32>(out_len)? };
        let done = match self.kind {
            Kind::AllGather => self.comm.all_gather(&input, &mut out),
            Kind::AllReduceSum => self.comm.all_reduce(&input, &mut out, &ReduceOp::Sum),
            Kind::ReduceScatterSum => self.comm.reduce_scatter(&input, &mut out, &ReduceOp::Sum),
        };
        done.map_err(|e| candle_core::Error::Msg(format!("{}: {e:?}", self.name())))?;
        Ok((
            CudaStorage::wrap_cuda_slice(out, device.clone()),
            Shape::from(dims),
        ))
    }
}

impl Collective for NcclComm {
    fn rank(&self) -> usize {
        self.host.rank()
    }
    fn size(&self) -> usize {
        self.host.size()
    }
    fn all_gather_f32(&self, local: &[f32]) -> Result<Vec<f32>> {
        self.host.all_gather_f32(local)
    }
    fn all_gather_u64(&self, local: u64) -> Result<Vec<u64>> {
        self.host.all_gather_u64(local)
    }
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        self.host.all_reduce_sum_f32(buf)
    }
    fn reduce_scatter_sum_f32(&self, buf: &[f32]) -> Result<Vec<f32>> {
        self.host.reduce_scatter_sum_f32(buf)
    }
    fn broadcast_bytes(&self, bytes: &mut Vec<u8>) -> Result<()> {
        self.host.broadcast_bytes(bytes)
    }
    fn all_gather_tensor(&self, local: &Tensor) -> Result<Tensor> {
        if !Self::on_gpu(local) {
            return self.host.all_gather_tensor(local);
        }
        leading_dims(local, 1)?;
        self.run(Kind::AllGather, local)
    }
    fn all_reduce_sum_tensor(&self, t: &Tensor) -> Result<Tensor> {
        if !Self::on_gpu(t) {
            return self.host.all_reduce_sum_tensor(t);
        }
        self.run(Kind::AllReduceSum, t)
    }
    fn reduce_scatter_sum_tensor(&self, t: &Tensor) -> Result<Tensor> {
        if !Self::on_gpu(t) {
            return self.host.reduce_scatter_sum_tensor(t);
        }
        leading_dims(t, self.size())?;
        self.run(Kind::ReduceScatterSum, t)
    }
    fn duplicate(&self) -> Result<Box<dyn Collective>> {
        // For the data loader's counts: host collectives only.
        self.host.duplicate()
    }
    fn abort(&self, code: i32) -> ! {
        self.host.abort(code)
    }
}
