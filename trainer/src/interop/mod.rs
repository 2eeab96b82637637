//! Models other tools load, and other tools' models for witcurate's
//! evaluation.
//!
//! - [`open_clip`]: export a checkpoint as an open_clip model directory
//!   (state dict, model config, tokenizer) and import an open_clip ViT CLIP
//!   (OpenAI's weights among them) as a checkpoint `witcurate eval` reads;
//! - [`token_order`]: the renumbering that gives the end-of-text token the
//!   highest id, where open_clip's text pooling looks for it.
//!
//! The mapping is exact: the same image and token ids give the same
//! embeddings in both tools up to float rounding (the round trip through
//! open_clip is checked by `tests/cli_open_clip.rs`).

pub mod open_clip;
pub mod token_order;
