//! `witcurate`: build CLIP-style (image, alt-text) training data at web scale,
//! and train on it. This binary only parses flags and calls the library crates.

use std::process::ExitCode;

use clap::Parser;

mod cli;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tells the allocator to keep the memory it frees for the next allocation
/// instead of returning it to the operating system (mimalloc's
/// `purge_delay` = -1), for every command. A training step frees and
/// allocates the same large buffers every step, and a crawl task the same
/// batch buffers every batch; returned memory comes back as fresh pages that
/// the kernel must zero, which cost a quarter of a CPU training step and
/// three times the system time of a match task. The process keeps its
/// high-water mark, which both reach in their first step or task anyway.
fn keep_freed_memory() {
    // `mi_option_purge_delay` in mimalloc's `mi_option_e` (the Rust binding
    // has no name for it).
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets a process-wide option; mimalloc allows it at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// Turns transparent huge pages off for this process, for `vocab`
/// (`PR_SET_THP_DISABLE`; mimalloc reserves its memory, asking for huge
/// pages, before `main`). Its memory is many transient buffers (decoded dump
/// streams, page batches) and growing count tables, and a fresh huge page is
/// zeroed whole, 2 MiB at a time, however little of it is used. On the
/// `.bz2` benchmark this lowered peak memory from about 220 to 155 MiB and
/// system time from 0.01-0.5 s (varying with the kernel's supply of huge
/// pages) to about 0.1 s (docs/benchmarks.md).
fn avoid_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE only sets a flag of the process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() -> ExitCode {
    keep_freed_memory();
    let args = cli::Cli::parse();
    if matches!(args.command, cli::Command::Vocab(_)) {
        avoid_huge_pages();
    }
    cli::init_logging(&args.global);
    if let Err(e) = cli::init_threads(&args.global) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
