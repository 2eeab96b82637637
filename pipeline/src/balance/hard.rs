//! The hard cap: no entry ends up in more than t kept pairs.
//!
//! Rule: every kept pair counts for every entry it matches. Pairs that match
//! only entries with `count <= t` are always kept (those entries cannot
//! exceed t). The other pairs, the *candidates*, are visited in one global
//! order — by their rarest entry's count (ascending, so that pairs carrying
//! rare entries get the head entries' budget first), then by
//! [`pair_rank`]`(seed, uid)`, then by position — and a
//! candidate is kept when each of its entries with `count > t` has fewer than t
//! kept pairs so far. The order depends only on the pairs, their counts and the
//! seed, so the selection does not depend on partitioning or threads.
//!
//! Memory: the plan holds, per candidate, 24 bytes plus 4 bytes per capped
//! entry it matches, on one machine.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_schema::{Field, Schema, SchemaRef};
use rayon::prelude::*;

use super::caps::Caps;
use super::draw::pair_rank;
use crate::parts::{conform_columns, open_checked, required_nulls, Part, PartsError};
use crate::schema::{col, query_ids_type};

/// The rows of each matched part that the hard cap keeps among its candidates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HardPlan {
    /// Task → kept candidate rows (ascending). Rows that are not candidates
    /// are always kept.
    pub kept: HashMap<usize, Vec<u32>>,
    /// Number of candidates.
    pub candidates: u64,
}

struct Candidate {
    rarest: u64,
    rank: u64,
    task: u32,
    row: u32,
    heads: std::ops::Range<usize>,
}

/// The columns the plan reads from `matched/` parts.
fn plan_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(col::UID, arrow_schema::DataType::Utf8, false),
        Field::new(col::QUERY_IDS, query_ids_type(), false),
    ]))
}

/// Whether a row is a candidate: it matches an entry with `count > t` (its
/// own t: `caps.t(id)`).
pub fn is_candidate(ids: &[u32], counts: &[u64], caps: &Caps) -> bool {
    ids.iter()
        .any(|&id| counts.get(id as usize).copied().unwrap_or(0) > caps.t(id))
}

/// Reads every matched part (uid and query_ids only, in parallel) and
/// decides which candidates the hard cap keeps.
pub fn plan(
    parts: &[Part],
    counts: &[u64],
    caps: &Caps,
    seed: u64,
) -> Result<HardPlan, PartsError> {
    let schema = plan_schema();
    let per_part = parts
        .par_iter()
        .map(|part| collect_candidates(&part.path, part.task, &schema, counts, caps, seed))
        .collect::<Result<Vec<_>, _>>()?;
    let mut heads_all: Vec<u32> = Vec::new();
    let mut cands: Vec<Candidate> = Vec::new();
    for (mut cs, heads) in per_part {
        let base = heads_all.len();
        for c in &mut cs {
            c.heads = c.heads.start + base..c.heads.end + base;
        }
        heads_all.extend_from_slice(&heads);
        cands.append(&mut cs);
    }
    cands.par_sort_unstable_by_key(|c| (c.rarest, c.rank, c.task, c.row));
    let mut credit: HashMap<u32, u64> = HashMap::new();
    let mut kept: HashMap<usize, Vec<u32>> = HashMap::new();
    for c in &cands {
        let heads = &heads_all[c.heads.clone()];
        if heads
            .iter()
            .all(|id| credit.get(id).copied().unwrap_or(0) < caps.t(*id))
        {
            for id in heads {
                *credit.entry(*id).or_insert(0) += 1;
            }
            kept.entry(c.task as usize).or_default().push(c.row);
        }
    }
    for rows in kept.values_mut() {
        rows.sort_unstable();
    }
    Ok(HardPlan {
        kept,
        candidates: cands.len() as u64,
    })
}

fn collect_candidates(
    path: &Path,
    task: usize,
    schema: &SchemaRef,
    counts: &[u64],
    caps: &Caps,
    seed: u64,
) -> Result<(Vec<Candidate>, Vec<u32>), PartsError> {
    let (reader, _) = open_checked(path, schema, "matched")?;
    let mut cands = Vec::new();
    let mut heads = Vec::new();
    let mut row = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| PartsError::arrow(path, e))?;
        let cols = conform_columns(path, &batch, schema)?;
        let bad = required_nulls(&cols, schema);
        let uids = cols[0].as_string::<i32>();
        let lists = cols[1].as_list::<i32>();
        for i in 0..batch.num_rows() {
            let r = row + i;
            if bad.as_ref().is_some_and(|b| b[i]) {
                continue;
            }
            let ids_arr = lists.value(i);
            let ids = ids_arr.as_primitive::<UInt32Type>().values();
            if !is_candidate(ids, counts, caps) {
                continue;
            }
            let start = heads.len();
            let mut rarest = u64::MAX;
            for &id in ids.iter() {
                let c = counts.get(id as usize).copied().unwrap_or(0);
                rarest = rarest.min(c);
                if c > caps.t(id) {
                    heads.push(id);
                }
            }
            cands.push(Candidate {
                rarest,
                rank: pair_rank(seed, uids.value(i)),
                task: task as u32,
                row: r as u32,
                heads: start..heads.len(),
            });
        }
        row += batch.num_rows();
    }
    Ok((cands, heads))
}
