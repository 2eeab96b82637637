//! The sum of every rank's gradients, in flat buckets of bounded size.
//!
//! The gradients (one tensor per variable, in [`crate::model::Params`]
//! order) are laid end to end, as f32, and summed over the ranks `bucket`
//! elements at a time, one all-reduce ([`Collective::all_reduce_sum_tensor`])
//! per bucket: a few large messages instead of one per variable (hundreds,
//! most of them small), and no message larger than the bucket. A bucket is
//! built on the gradients' device, so with NCCL it never leaves the GPU. The
//! sum, not the mean: each rank's loss is already its share of the global
//! batch's mean loss.

use candle_core::{DType, Tensor};

use super::Collective;
use crate::Result;

/// Default bucket: 2²² f32 elements (16 MiB), the size of PyTorch DDP's
/// buckets (25 MB) rounded down to a power of two.
pub const DEFAULT_BUCKET_ELEMENTS: usize = 1 << 22;

/// Every rank's `grads` summed element-wise, as tensors of the same shapes,
/// dtypes and devices; at most `bucket` elements per all-reduce.
pub fn all_reduce_sum(
    comm: &dyn Collective,
    grads: &[Tensor],
    bucket: usize,
) -> Result<Vec<Tensor>> {
    if comm.size() == 1 {
        return Ok(grads.to_vec());
    }
    let bucket = bucket.max(1);
    let flat = grads
        .iter()
        .map(|g| Ok(g.to_dtype(DType::F32)?.flatten_all()?))
        .collect::<Result<Vec<_>>>()?;
    // The summed pieces of each gradient, in order, and the pieces (gradient,
    // values) of the bucket being filled.
    let mut summed: Vec<Vec<Tensor>> = vec![Vec::new(); grads.len()];
    let mut pending: Vec<(usize, Tensor)> = Vec::new();
    let mut flush = |pending: &mut Vec<(usize, Tensor)>| -> Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let parts: Vec<&Tensor> = pending.iter().map(|(_, t)| t).collect();
        let sum = comm.all_reduce_sum_tensor(&Tensor::cat(&parts, 0)?)?;
        let mut at = 0;
        for (i, piece) in pending.drain(..) {
            let n = piece.elem_count();
            summed[i].push(sum.narrow(0, at, n)?);
            at += n;
        }
        Ok(())
    };
    let mut filled = 0;
    for (i, f) in flat.iter().enumerate() {
        let n = f.elem_count();
        let mut at = 0;
        while at < n {
            let take = (bucket - filled).min(n - at);
            pending.push((i, f.narrow(0, at, take)?));
            at += take;
            filled += take;
            if filled == bucket {
                flush(&mut pending)?;
                filled = 0;
            }
        }
    }
    flush(&mut pending)?;
    grads
        .iter()
        .zip(summed)
        .map(|(g, pieces)| {
            if pieces.is_empty() {
                return Ok(g.zeros_like()?);
            }
            Ok(Tensor::cat(&pieces, 0)?
                .reshape(g.shape())?
                .to_dtype(g.dtype())?)
        })
        .collect()
}

/// Elements each rank sends (and receives) to all-reduce `elements` values
/// with the ring algorithm over `ranks`: `2·(N−1)/N` of them.
pub fn ring_all_reduce_traffic(elements: usize, ranks: usize) -> f64 {
    if ranks <= 1 {
        return 0.0;
    }
    2.0 * (ranks - 1) as f64 / ranks as f64 * elements as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distributed::threads;
    use candle_core::Device;

    #[test]
    fn buckets_sum_every_element_whatever_their_size() {
        let out = threads::run(3, |comm| {
            let r = comm.rank() as f32;
            let d = &Device::Cpu;
            let grads = vec![
                Tensor::from_vec(vec![r, 1.0, 2.0], 3, d).unwrap(),
                Tensor::from_vec(vec![10.0 * r; 6], (2, 3), d).unwrap(),
                Tensor::new(r + 0.5, d).unwrap(),
            ];
            // A bucket of 4 splits the second tensor across two buckets.
            let summed = all_reduce_sum(comm.as_ref(), &grads, 4).unwrap();
            summed
                .iter()
                .map(|t| {
                    (
                        t.dims().to_vec(),
                        t.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        });
        for got in &out {
            assert_eq!(got[0], (vec![3], vec![3.0, 3.0, 6.0]));
            assert_eq!(got[1], (vec![2, 3], vec![30.0; 6]));
            assert_eq!(got[2], (vec![], vec![4.5]));
        }
    }

    #[test]
    fn buckets_keep_dtypes_and_empty_gradients() {
        let out = threads::run(2, |comm| {
            let d = &Device::Cpu;
            let r = comm.rank() as f32 + 1.0;
            let grads = vec![
                Tensor::from_vec(vec![r, 2.0 * r], 2, d)
                    .unwrap()
                    .to_dtype(DType::BF16)
                    .unwrap(),
                Tensor::zeros((0, 3), DType::F32, d).unwrap(),
                Tensor::from_vec(vec![r; 5], 5, d).unwrap(),
            ];
            all_reduce_sum(comm.as_ref(), &grads, 3).unwrap()
        });
        for got in &out {
            assert_eq!(got[0].dtype(), DType::BF16);
            assert_eq!(
                got[0]
                    .to_dtype(DType::F32)
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap(),
                [3.0, 6.0]
            );
            assert_eq!(got[1].dims(), [0, 3]);
            assert_eq!(got[2].to_vec1::<f32>().unwrap(), [3.0; 5]);
        }
    }

    #[test]
    fn ring_traffic_is_twice_the_data_at_scale() {
        assert_eq!(ring_all_reduce_traffic(100, 1), 0.0);
        assert_eq!(ring_all_reduce_traffic(100, 2), 100.0);
        assert_eq!(ring_all_reduce_traffic(100, 4), 150.0);
    }
}
