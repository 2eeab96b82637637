//! The bundled CLIP trainer: reads `shards/*.parquet`, trains a CLIP model with
//! the paper's recipe and evaluates it zero-shot.
