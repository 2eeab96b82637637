//! Giving the end-of-text token the highest id.
//!
//! open_clip's CLIP pools the text tower at `text.argmax(dim=-1)`: CLIP's
//! end-of-text token has the highest id of its vocabulary, so the highest
//! id in a row is where the caption ends. witcurate's trained tokenizer puts
//! its special tokens first (`<pad>` 0, `<|startoftext|>` 1,
//! `<|endoftext|>` 2), so an export swaps the end-of-text id with the last
//! row of the token table, in the table and in the tokenizer alike. A swap
//! is its own inverse and changes no embedding: each token keeps its row.

use candle_core::Tensor;
use serde_json::Value;

use crate::Result;

/// The swap of the end-of-text id with the last id of a vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EotLast {
    eot: u32,
    last: u32,
}

impl EotLast {
    /// The swap for end-of-text id `eot` in a table of `vocab_size` rows.
    pub fn new(eot: u32, vocab_size: usize) -> Self {
        EotLast {
            eot,
            last: vocab_size.saturating_sub(1) as u32,
        }
    }

    /// Whether nothing moves (the end-of-text id is already the last).
    pub fn is_identity(&self) -> bool {
        self.eot == self.last
    }

    /// The new id of `id`.
    pub fn map(&self, id: u32) -> u32 {
        if id == self.eot {
            self.last
        } else if id == self.last {
            self.eot
        } else {
            id
        }
    }

    /// The token table `[vocab, width]` with its rows moved to their new ids.
    pub fn permute_rows(&self, table: &Tensor) -> Result<Tensor> {
        if self.is_identity() {
            return Ok(table.clone());
        }
        let rows = table.dim(0)? as u32;
        let idx: Vec<u32> = (0..rows).map(|i| self.map(i)).collect();
        let idx = Tensor::from_vec(idx, rows as usize, table.device())?;
        Ok(table.index_select(&idx, 0)?)
    }

    /// Renumbers a `tokenizer.json` (the `tokenizers` format): the model's
    /// vocabulary, the added tokens and the post-processor's special tokens.
    pub fn apply_to_tokenizer_json(&self, json: &mut Value) {
        let remap = |v: &mut Value| {
            if let Some(id) = v.as_u64() {
                *v = Value::from(self.map(id as u32));
            }
        };
        if let Some(vocab) = json
            .pointer_mut("/model/vocab")
            .and_then(Value::as_object_mut)
        {
            vocab.values_mut().for_each(remap);
        }
        if let Some(added) = json.get_mut("added_tokens").and_then(Value::as_array_mut) {
            for t in added {
                if let Some(id) = t.get_mut("id") {
                    remap(id);
                }
            }
        }
        if let Some(specials) = json
            .pointer_mut("/post_processor/special_tokens")
            .and_then(Value::as_object_mut)
        {
            for s in specials.values_mut() {
                if let Some(ids) = s.get_mut("ids").and_then(Value::as_array_mut) {
                    ids.iter_mut().for_each(remap);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::{TextTokenizer, EOT};
    use candle_core::Device;

    #[test]
    fn the_swap_moves_rows_and_ids_together() {
        let caps: Vec<String> = (0..100)
            .map(|i| format!("a photo of a blue square {i}"))
            .collect();
        let tok = TextTokenizer::train(caps.iter(), 280, 10).unwrap();
        let v = tok.vocab_size();
        let swap = EotLast::new(tok.eot_id(), v);
        assert!(!swap.is_identity());
        let mut json: Value = serde_json::from_str(&tok.to_json().unwrap()).unwrap();
        swap.apply_to_tokenizer_json(&mut json);
        let moved = TextTokenizer::from_json(&json.to_string(), 10).unwrap();
        assert_eq!(moved.eot_id(), v as u32 - 1);
        assert_eq!(moved.max_id(), v as u32 - 1);
        assert_eq!(moved.pad_id(), tok.pad_id());
        assert_eq!(moved.sot_id(), tok.sot_id());
        let a = tok.encode("a photo of a blue square 7").unwrap();
        let b = moved.encode("a photo of a blue square 7").unwrap();
        assert_eq!(a.eot, b.eot);
        let mapped: Vec<u32> = a.ids.iter().map(|&i| swap.map(i)).collect();
        assert_eq!(b.ids, mapped);
        assert_eq!(moved.decode(&b.ids).unwrap(), tok.decode(&a.ids).unwrap());
        // Rows follow their tokens.
        let table = Tensor::arange(0f32, v as f32, &Device::Cpu)
            .unwrap()
            .reshape((v, 1))
            .unwrap();
        let rows = swap.permute_rows(&table).unwrap();
        let rows = rows.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (new, old) in b.ids.iter().zip(&a.ids) {
            assert_eq!(rows[*new as usize], *old as f32);
        }
        assert_eq!(json["added_tokens"][2]["content"], EOT);
    }
}
