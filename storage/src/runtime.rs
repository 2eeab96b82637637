//! The one async runtime of the storage layer: object stores and http
//! clients are async; the stages read through blocking readers that hand
//! requests to this runtime and wait for the bytes.

use std::future::Future;
use std::sync::OnceLock;

/// The shared runtime (two worker threads: requests wait on the network,
/// not the CPU).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("storage-io")
            .enable_all()
            .build()
            .expect("the storage runtime starts")
    })
}

/// Runs `f` on the shared runtime and waits for it (from a thread that is
/// not one of the runtime's).
pub fn block_on<F: Future + Send + 'static>(f: F) -> F::Output
where
    F::Output: Send + 'static,
{
    let (tx, rx) = crossbeam_channel::bounded(1);
    runtime().spawn(async move {
        let _ = tx.send(f.await);
    });
    rx.recv().expect("the storage runtime runs its tasks")
}
