//! The decode memory budget: every decode first reserves, from one budget
//! shared by all decoding threads, the memory its image will take at peak
//! (estimated from the header: the decoded pixels at their own depth and
//! channel count, plus the 8-bit RGB copies the stage makes), and waits
//! while the others' reservations leave too little. An image whose estimate
//! exceeds the whole budget fails (`too_large`) before any pixel is decoded.
//! So decoding holds at most the budget, whatever the thread count.

use std::sync::{Condvar, Mutex};

/// Bytes shared by concurrent decodes.
#[derive(Debug)]
pub struct MemoryBudget {
    total: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

/// A reservation, given back when dropped.
#[derive(Debug)]
pub struct Reservation<'a> {
    budget: &'a MemoryBudget,
    bytes: u64,
}

impl MemoryBudget {
    /// A budget of `total` bytes.
    pub fn new(total: u64) -> Self {
        Self {
            total,
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// The whole budget.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Reserves `bytes`, waiting until they are free; `None` when they
    /// exceed the whole budget (they never would be).
    pub fn reserve(&self, bytes: u64) -> Option<Reservation<'_>> {
        if bytes > self.total {
            return None;
        }
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used + bytes > self.total {
            used = self.freed.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += bytes;
        Some(Reservation {
            budget: self,
            bytes,
        })
    }

    /// Bytes reserved now.
    pub fn used(&self) -> u64 {
        *self.used.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut used = self.budget.used.lock().unwrap_or_else(|e| e.into_inner());
        *used -= self.bytes;
        self.budget.freed.notify_all();
    }
}

/// The peak memory of decoding a `width × height` image whose decoder
/// yields `bytes_per_pixel` bytes per pixel: the decoded buffer, and up to
/// two 8-bit RGB copies alive with it (conversion, then rotation or colour
/// conversion).
pub fn decode_estimate(width: u32, height: u32, bytes_per_pixel: u64) -> u64 {
    let pixels = u64::from(width) * u64::from(height);
    pixels.saturating_mul(bytes_per_pixel + 6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn reservations_never_exceed_the_budget() {
        let budget = MemoryBudget::new(100);
        assert!(budget.reserve(101).is_none());
        let peak = AtomicU64::new(0);
        std::thread::scope(|s| {
            for i in 0..8u64 {
                let (budget, peak) = (&budget, &peak);
                s.spawn(move || {
                    for _ in 0..50 {
                        let r = budget.reserve(30 + i * 5).unwrap();
                        peak.fetch_max(budget.used(), Ordering::SeqCst);
                        drop(r);
                    }
                });
            }
        });
        assert!(peak.load(Ordering::SeqCst) <= 100);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn estimates_count_depth_and_channels() {
        // 9000x9000 16-bit RGBA: 8 bytes per pixel decoded.
        assert_eq!(decode_estimate(9000, 9000, 8), 81_000_000 * 14);
        assert_eq!(decode_estimate(10, 10, 3), 900);
    }
}
