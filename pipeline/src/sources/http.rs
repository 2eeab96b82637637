//! Streaming http(s) downloads as a blocking [`Read`].
//!
//! A GET runs on a small tokio runtime in its own thread and hands the body's
//! chunks over a bounded channel, so the reader sees the bytes as they arrive
//! and at most a few chunks are buffered: no temporary copy of the file.
//! Failures before the body starts (connection refused, a non-2xx status) are
//! retried a few times with backoff, then reported; a connection lost in the
//! middle of a body is an I/O error of the reader, which fails the task (it
//! is rerun on resume).

use std::io::{self, Read};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver};

use super::SourceError;

/// How many chunks may wait between the network and the reader.
const CHANNEL_CHUNKS: usize = 32;
/// Tries of the initial request.
const TRIES: u32 = 3;

/// The body of a GET, read as it arrives.
pub struct HttpBody {
    rx: Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
    done: bool,
}

/// Starts a GET of `url` and returns its body once the response status is
/// known to be a success.
pub fn get(url: &str) -> Result<HttpBody, SourceError> {
    let (tx, rx) = bounded::<io::Result<Vec<u8>>>(CHANNEL_CHUNKS);
    let (head_tx, head_rx) = bounded::<Result<(), String>>(1);
    let owned = url.to_string();
    thread::Builder::new()
        .name("http-get".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = head_tx.send(Err(format!("cannot start the http runtime: {e}")));
                    return;
                }
            };
            runtime.block_on(async move {
                let client = match reqwest::Client::builder()
                    .connect_timeout(Duration::from_secs(30))
                    .read_timeout(Duration::from_secs(120))
                    .user_agent(concat!("witcurate/", env!("CARGO_PKG_VERSION")))
                    .build()
                {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = head_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let mut last_error = String::new();
                let mut response = None;
                for attempt in 0..TRIES {
                    if attempt > 0 {
                        tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                    }
                    match client.get(&owned).send().await {
                        Ok(r) if r.status().is_success() => {
                            response = Some(r);
                            break;
                        }
                        Ok(r) => {
                            last_error = format!("HTTP status {}", r.status());
                            // Client errors (404, 403) will not get better.
                            if r.status().is_client_error() {
                                break;
                            }
                        }
                        Err(e) => last_error = format!("request failed: {e}"),
                    }
                }
                let Some(mut response) = response else {
                    let _ = head_tx.send(Err(last_error));
                    return;
                };
                if head_tx.send(Ok(())).is_err() {
                    return;
                }
                loop {
                    match response.chunk().await {
                        Ok(Some(bytes)) => {
                            if tx.send(Ok(bytes.into())).is_err() {
                                return; // the reader went away
                            }
                        }
                        Ok(None) => return,
                        Err(e) => {
                            let _ = tx
                                .send(Err(io::Error::other(format!("download interrupted: {e}"))));
                            return;
                        }
                    }
                }
            });
        })
        .map_err(|e| SourceError::Http {
            url: url.to_string(),
            message: format!("cannot start a download thread: {e}"),
        })?;
    match head_rx.recv() {
        Ok(Ok(())) => Ok(HttpBody {
            rx,
            chunk: Vec::new(),
            pos: 0,
            done: false,
        }),
        Ok(Err(message)) => Err(SourceError::Http {
            url: url.to_string(),
            message,
        }),
        Err(_) => Err(SourceError::Http {
            url: url.to_string(),
            message: "the download thread stopped".into(),
        }),
    }
}

impl Read for HttpBody {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.chunk.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = (self.chunk.len() - self.pos).min(out.len());
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
