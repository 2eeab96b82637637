//! The state every rank starts from, and the check that the ranks' weights
//! stay identical.
//!
//! Rank 0 alone reads the run directory (a checkpoint to resume) or trains
//! the tokenizer and initialises the model; [`share`] hands the result to
//! the other ranks, which need no access to the run directory.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::Collective;
use crate::config::{ModelConfig, Precision, TrainConfig};
use crate::model::{Clip, Params};
use crate::optim::AdamW;
use crate::tokenizer::TextTokenizer;
use crate::{Error, Result};

/// Where a run starts: what rank 0 loaded or initialised.
#[derive(Debug)]
pub struct Start {
    /// The model (the same weights on every rank).
    pub model: Clip,
    /// The optimizer state.
    pub optimizer: AdamW,
    /// The trained tokenizer.
    pub tokenizer: TextTokenizer,
    /// The run's hyper-parameters (a resumed run's saved ones).
    pub train: TrainConfig,
    /// Steps already taken.
    pub start_step: u64,
    /// Stream samples already consumed.
    pub skip: u64,
    /// The loss of the last step taken, if any.
    pub resumed_loss: Option<f64>,
}

/// Everything of a [`Start`] but its tensors.
#[derive(Serialize, Deserialize)]
struct Header {
    model: ModelConfig,
    train: TrainConfig,
    start_step: u64,
    skip: u64,
    resumed_loss: Option<f64>,
    optimizer_steps: u64,
    tokenizer: String,
}

fn values(t: &Tensor, out: &mut Vec<u8>) -> Result<()> {
    for x in t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()? {
        out.extend_from_slice(&x.to_le_bytes());
    }
    Ok(())
}

/// The tensors of `params` and of the optimizer's moments, in order.
fn tensors(params: &Params, optimizer: &AdamW) -> Vec<(String, Tensor)> {
    let state = optimizer.state_map(params);
    let mut out = Vec::new();
    for p in params.iter() {
        out.push((p.name.clone(), p.var.as_tensor().clone()));
    }
    for prefix in ["exp_avg", "exp_avg_sq"] {
        for p in params.iter() {
            let key = format!("{prefix}.{}", p.name);
            out.push((key.clone(), state[&key].clone()));
        }
    }
    out
}

/// Rank 0's `start` on every rank (`start` is `Some` on rank 0 only): its
/// header as JSON, then every weight and moment as f32, in one broadcast
/// each. The other ranks build their model on `device` in `precision`.
pub fn share(
    comm: &dyn Collective,
    start: Option<Start>,
    device: &Device,
    precision: Precision,
) -> Result<Start> {
    if comm.size() == 1 {
        return start.ok_or_else(|| Error::Distributed("rank 0 has no start state".into()));
    }
    let mut header = Vec::new();
    let mut body = Vec::new();
    if let Some(s) = &start {
        let h = Header {
            model: s.model.config.clone(),
            train: s.train.clone(),
            start_step: s.start_step,
            skip: s.skip,
            resumed_loss: s.resumed_loss,
            optimizer_steps: s.optimizer.t,
            tokenizer: s.tokenizer.to_json()?,
        };
        header = serde_json::to_vec(&h).expect("serialisable");
        for (_, t) in tensors(&s.model.params, &s.optimizer) {
            values(&t, &mut body)?;
        }
    }
    comm.broadcast_bytes(&mut header)?;
    comm.broadcast_bytes(&mut body)?;
    if let Some(s) = start {
        return Ok(s);
    }
    let h: Header = serde_json::from_slice(&header)
        .map_err(|e| Error::Distributed(format!("unreadable start state from rank 0: {e}")))?;
    let model = Clip::with_precision(&h.model, device, h.train.seed, precision)?;
    let mut optimizer = AdamW::new(&model.params, &h.train)?;
    let mut at = 0usize;
    let mut map = HashMap::new();
    for (name, t) in tensors(&model.params, &optimizer) {
        let n = t.elem_count() * 4;
        let bytes = body.get(at..at + n).ok_or_else(|| {
            Error::Distributed(format!("start state from rank 0 ends before {name}"))
        })?;
        at += n;
        let v: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        map.insert(name, Tensor::from_vec(v, t.shape(), device)?);
    }
    for p in model.params.iter() {
        p.var.set(&map[&p.name])?;
    }
    optimizer.load_state(&model.params, &map, h.optimizer_steps)?;
    Ok(Start {
        model,
        optimizer,
        tokenizer: TextTokenizer::from_json(&h.tokenizer, h.model.context_length)?,
        train: h.train,
        start_step: h.start_step,
        skip: h.skip,
        resumed_loss: h.resumed_loss,
    })
}

/// A 64-bit hash of every weight's bits, in variable order.
pub fn checksum(params: &Params) -> Result<u64> {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for p in params.iter() {
        let mut bytes = Vec::new();
        values(p.var.as_tensor(), &mut bytes)?;
        h.update(p.name.as_bytes());
        h.update(&bytes);
    }
    Ok(h.digest())
}

/// Fails unless every rank holds bit-identical weights (`step`: for the
/// message).
pub fn verify_identical(comm: &dyn Collective, params: &Params, step: u64) -> Result<()> {
    if comm.size() == 1 {
        return Ok(());
    }
    let sums = comm.all_gather_u64(checksum(params)?)?;
    if sums.iter().any(|s| *s != sums[0]) {
        let list: Vec<String> = sums.iter().map(|s| format!("{s:016x}")).collect();
        return Err(Error::Distributed(format!(
            "the ranks' weights differ after step {step} (checksums by rank: {})",
            list.join(", ")
        )));
    }
    Ok(())
}
