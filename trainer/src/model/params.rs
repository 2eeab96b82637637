//! Named trainable variables.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};

use crate::rng::Rng;
use crate::{Error, Result};

/// How a variable starts.
#[derive(Debug, Clone, Copy)]
pub enum Init {
    /// Normal with mean 0 and this standard deviation.
    Normal(f64),
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// Every element this value.
    Const(f64),
}

/// One trainable variable.
#[derive(Debug)]
pub struct Param {
    /// Stable name (the key in `model.safetensors`).
    pub name: String,
    /// The variable.
    pub var: Var,
    /// Whether AdamW's decoupled weight decay applies (matrices only; never
    /// gains, biases, embeddings or the temperature).
    pub decay: bool,
}

/// The model's variables in creation order, initialised from a seeded
/// generator so that initialisation is reproducible on every device.
#[derive(Debug)]
pub struct Params {
    entries: Vec<Param>,
    device: Device,
    rng: Rng,
    compute: DType,
}

impl Params {
    /// An empty store whose initial values derive from `seed`.
    pub fn new(device: &Device, seed: u64) -> Self {
        Params {
            entries: Vec::new(),
            device: device.clone(),
            rng: Rng::derive(seed, &[0x1417]),
            compute: DType::F32,
        }
    }

    /// The same, with matrix products in `compute` (the variables stay f32;
    /// see [`crate::config::Precision`]).
    pub fn with_compute_dtype(mut self, compute: DType) -> Self {
        self.compute = compute;
        self
    }

    /// The dtype the layers created from this store compute their matrix
    /// products in.
    pub fn compute_dtype(&self) -> DType {
        self.compute
    }

    /// The device the variables live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Creates a variable and returns its tensor (which follows later updates
    /// of the variable).
    pub fn add(&mut self, name: &str, shape: &[usize], init: Init, decay: bool) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = match init {
            Init::Normal(std) => (0..n).map(|_| (self.rng.normal() * std) as f32).collect(),
            Init::Zeros => vec![0.0; n],
            Init::Ones => vec![1.0; n],
            Init::Const(c) => vec![c as f32; n],
        };
        let t = Tensor::from_vec(values, shape, &self.device)?;
        let var = Var::from_tensor(&t)?;
        let tensor = var.as_tensor().clone();
        self.entries.push(Param {
            name: name.to_string(),
            var,
            decay,
        });
        Ok(tensor)
    }

    /// All variables in creation order.
    pub fn iter(&self) -> impl Iterator<Item = &Param> {
        self.entries.iter()
    }

    /// Number of variables.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no variables.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of scalar parameters.
    pub fn numel(&self) -> usize {
        self.entries.iter().map(|p| p.var.elem_count()).sum()
    }

    /// The variable called `name`.
    pub fn get(&self, name: &str) -> Option<&Param> {
        self.entries.iter().find(|p| p.name == name)
    }

    /// Name → current value, for saving.
    pub fn to_map(&self) -> HashMap<String, Tensor> {
        self.entries
            .iter()
            .map(|p| (p.name.clone(), p.var.as_tensor().clone()))
            .collect()
    }

    /// Overwrites every variable with the same-named tensor of `map`; fails
    /// (naming the variable) on a missing tensor or a shape mismatch.
    pub fn load_map(&self, map: &HashMap<String, Tensor>) -> Result<()> {
        for p in &self.entries {
            let t = map
                .get(&p.name)
                .ok_or_else(|| Error::Config(format!("weights lack tensor {:?}", p.name)))?;
            if t.dims() != p.var.dims() {
                return Err(Error::Config(format!(
                    "tensor {:?} has shape {:?}, the model expects {:?}",
                    p.name,
                    t.dims(),
                    p.var.dims()
                )));
            }
            p.var
                .set(&t.to_dtype(DType::F32)?.to_device(&self.device)?)?;
        }
        Ok(())
    }
}
