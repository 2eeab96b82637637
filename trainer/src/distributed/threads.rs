//! Ranks as threads of one process, exchanging through shared memory: the
//! collectives of the tests, without an MPI launcher.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::{Collective, Comm};
use crate::Result;

/// What every rank deposited in the last complete round.
type Deposits = Arc<Vec<Vec<u8>>>;

#[derive(Debug)]
struct Round {
    generation: u64,
    slots: Vec<Option<Vec<u8>>>,
    filled: usize,
    result: Deposits,
}

#[derive(Debug)]
struct Group {
    size: usize,
    round: Mutex<Round>,
    turn: Condvar,
    duplicates: Mutex<Vec<Arc<Group>>>,
}

impl Group {
    fn new(size: usize) -> Arc<Self> {
        Arc::new(Group {
            size,
            round: Mutex::new(Round {
                generation: 0,
                slots: vec![None; size],
                filled: 0,
                result: Arc::default(),
            }),
            turn: Condvar::new(),
            duplicates: Mutex::default(),
        })
    }

    /// Every rank's `data`, in rank order, once every rank has called this.
    fn exchange(&self, rank: usize, data: Vec<u8>) -> Deposits {
        let mut r = self.round.lock().unwrap();
        let mine = r.generation;
        r.slots[rank] = Some(data);
        r.filled += 1;
        if r.filled == self.size {
            r.result = Arc::new(r.slots.iter_mut().map(|s| s.take().unwrap()).collect());
            r.filled = 0;
            r.generation += 1;
            self.turn.notify_all();
            return r.result.clone();
        }
        while r.generation == mine {
            r = self.turn.wait(r).unwrap();
        }
        r.result.clone()
    }
}

/// One rank's handle.
#[derive(Debug)]
struct ThreadComm {
    group: Arc<Group>,
    rank: usize,
    duplicated: AtomicUsize,
}

fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn to_f32(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

impl ThreadComm {
    /// The element-wise sum of every rank's `v`, added in rank order.
    fn sum(&self, v: &[f32]) -> Vec<f32> {
        let all = self.group.exchange(self.rank, to_bytes(v));
        let mut out = vec![0f32; v.len()];
        for d in all.iter() {
            for (o, x) in out.iter_mut().zip(to_f32(d)) {
                *o += x;
            }
        }
        out
    }
}

impl Collective for ThreadComm {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.group.size
    }
    fn all_gather_f32(&self, local: &[f32]) -> Result<Vec<f32>> {
        let all = self.group.exchange(self.rank, to_bytes(local));
        Ok(all.iter().flat_map(|d| to_f32(d)).collect())
    }
    fn all_gather_u64(&self, local: u64) -> Result<Vec<u64>> {
        let all = self.group.exchange(self.rank, local.to_le_bytes().to_vec());
        Ok(all
            .iter()
            .map(|d| u64::from_le_bytes(d[..8].try_into().unwrap()))
            .collect())
    }
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> Result<()> {
        let s = self.sum(buf);
        buf.copy_from_slice(&s);
        Ok(())
    }
    fn reduce_scatter_sum_f32(&self, buf: &[f32]) -> Result<Vec<f32>> {
        let block = buf.len() / self.group.size;
        let s = self.sum(buf);
        Ok(s[self.rank * block..(self.rank + 1) * block].to_vec())
    }
    fn broadcast_bytes(&self, bytes: &mut Vec<u8>) -> Result<()> {
        let all = self.group.exchange(self.rank, bytes.clone());
        *bytes = all[0].clone();
        Ok(())
    }
    fn duplicate(&self) -> Result<Box<dyn Collective>> {
        let k = self.duplicated.fetch_add(1, Ordering::SeqCst);
        let group = {
            let mut d = self.group.duplicates.lock().unwrap();
            while d.len() <= k {
                d.push(Group::new(self.group.size));
            }
            d[k].clone()
        };
        Ok(Box::new(ThreadComm {
            group,
            rank: self.rank,
            duplicated: AtomicUsize::new(0),
        }))
    }
    fn abort(&self, code: i32) -> ! {
        panic!("rank {} aborted with status {code}", self.rank)
    }
}

/// Runs `f` on `size` ranks, one thread each, and returns their results in
/// rank order.
pub fn run<T: Send>(size: usize, f: impl Fn(Comm) -> T + Sync) -> Vec<T> {
    let group = Group::new(size);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..size)
            .map(|rank| {
                let comm: Comm = Arc::new(ThreadComm {
                    group: group.clone(),
                    rank,
                    duplicated: AtomicUsize::new(0),
                });
                let f = &f;
                s.spawn(move || f(comm))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}
