//! A blocking reader of a remote file (an object, or an http(s) URL) that
//! survives a dropped connection.
//!
//! The bytes arrive on the storage runtime and are handed over a bounded
//! channel (at most [`CHANNEL_CHUNKS`] chunks wait), so memory does not grow
//! with the file. When the connection drops, or stalls past the read
//! timeout, the reader asks again for the rest — an http `Range: bytes=N-`
//! request with `If-Range: ETAG`, or an object GET of range `N..` with
//! `If-Match: ETAG` — from the first byte not yet received, after a backoff.
//! The version pin means that a file replaced mid-read fails instead of
//! mixing two versions. After [`RetryPolicy::tries`] failed attempts in a
//! row, the read fails with an error naming the URL and the byte offset;
//! the caller classifies that input as failed and goes on with the others.

use std::io::{self, Read};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::{bounded, Sender};
use futures_util::{Stream, StreamExt};
use object_store::{GetOptions, GetRange, ObjectStore};
use tokio::sync::mpsc;

use super::runtime::runtime;
use super::store::{object_path, store_for};
use super::url::ObjectUrl;
use super::StorageError;

/// How many chunks may wait between the network and the reader.
pub const CHANNEL_CHUNKS: usize = 32;

/// How hard a reader tries before giving up on an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in a row without a byte received before the read fails.
    pub tries: u32,
    /// The first backoff; it doubles after each failed attempt.
    pub first_backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            tries: 6,
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// Why an attempt to open failed.
enum OpenError {
    /// Will not get better (404, 403, the file changed): fail now.
    Permanent(String),
    /// May get better (a network error, 5xx, 429): try again.
    Transient(String),
}

/// An opened body, from byte `offset`.
struct Opened {
    stream: ByteStream,
    /// The version of the file, to pin the next attempts to.
    etag: Option<String>,
    /// The file's size, when the response says.
    size: Option<u64>,
    /// Bytes at the start of `stream` to drop (a server that ignored Range).
    skip: u64,
}

enum Source {
    Http {
        url: String,
    },
    Object {
        url: ObjectUrl,
        store: Arc<dyn ObjectStore>,
    },
}

fn http_client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(120))
            .user_agent(concat!("witcurate/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the http client builds")
    })
}

impl Source {
    fn name(&self) -> String {
        match self {
            Source::Http { url } => url.clone(),
            Source::Object { url, .. } => url.to_string(),
        }
    }

    async fn open(&self, offset: u64, etag: Option<&str>) -> Result<Opened, OpenError> {
        match self {
            Source::Http { url } => open_http(url, offset, etag).await,
            Source::Object { url, store } => open_object_at(url, store, offset, etag).await,
        }
    }
}

async fn open_http(url: &str, offset: u64, etag: Option<&str>) -> Result<Opened, OpenError> {
    let mut req = http_client().get(url);
    if offset > 0 {
        req = req.header(reqwest::header::RANGE, format!("bytes={offset}-"));
        if let Some(e) = etag {
            req = req.header(reqwest::header::IF_RANGE, e);
        }
    }
    let resp = req
        .send()
        .await
        .map_err(|e| OpenError::Transient(format!("request failed: {e}")))?;
    let status = resp.status();
    if !status.is_success() {
        let msg = format!("HTTP status {status}");
        let lasting = status.is_client_error()
            && status != reqwest::StatusCode::REQUEST_TIMEOUT
            && status != reqwest::StatusCode::TOO_MANY_REQUESTS;
        return Err(if lasting {
            OpenError::Permanent(msg)
        } else {
            OpenError::Transient(msg)
        });
    }
    let header = |n: reqwest::header::HeaderName| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let new_etag = header(reqwest::header::ETAG);
    let mut skip = 0;
    let mut size = resp.content_length();
    if offset > 0 {
        if status == reqwest::StatusCode::PARTIAL_CONTENT {
            let start = header(reqwest::header::CONTENT_RANGE).and_then(|r| {
                r.strip_prefix("bytes ")?
                    .split('-')
                    .next()?
                    .parse::<u64>()
                    .ok()
            });
            if start != Some(offset) {
                return Err(OpenError::Permanent(format!(
                    "asked for bytes from {offset}, the server sent a range starting at {start:?}"
                )));
            }
            size = size.map(|s| s + offset);
        } else if etag.is_some() && new_etag.as_deref() != etag {
            return Err(OpenError::Permanent(
                "the file changed while it was being read (its ETag differs)".into(),
            ));
        } else {
            // The server ignored the Range header: read past what we have.
            skip = offset;
        }
    }
    let stream = resp
        .bytes_stream()
        .map(|r| r.map_err(|e| e.to_string()))
        .boxed();
    Ok(Opened {
        stream,
        etag: new_etag,
        size,
        skip,
    })
}

async fn open_object_at(
    url: &ObjectUrl,
    store: &Arc<dyn ObjectStore>,
    offset: u64,
    etag: Option<&str>,
) -> Result<Opened, OpenError> {
    let opts = GetOptions {
        range: (offset > 0).then_some(GetRange::Offset(offset)),
        if_match: if offset > 0 {
            etag.map(str::to_string)
        } else {
            None
        },
        ..Default::default()
    };
    let result = store
        .get_opts(&object_path(url), opts)
        .await
        .map_err(|e| match e {
            object_store::Error::NotFound { .. } => OpenError::Permanent("no such object".into()),
            object_store::Error::Precondition { .. } => OpenError::Permanent(
                "the object changed while it was being read (its ETag differs)".into(),
            ),
            e => OpenError::Transient(e.to_string()),
        })?;
    let size = Some(result.meta.size);
    let new_etag = result.meta.e_tag.clone();
    let stream = result
        .into_stream()
        .map(|r| r.map_err(|e| e.to_string()))
        .boxed();
    Ok(Opened {
        stream,
        etag: new_etag,
        size,
        skip: 0,
    })
}

/// The reader of one remote file.
pub struct ResumableReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    chunk: Bytes,
    pos: usize,
    done: bool,
    resumes: Arc<AtomicU64>,
}

impl ResumableReader {
    /// Times the connection was resumed so far.
    pub fn resumes(&self) -> Arc<AtomicU64> {
        self.resumes.clone()
    }
}

/// Opens `url` (http or https) for reading; returns once the first response
/// is a success, or fails with its error.
pub fn open_url(url: &str, policy: RetryPolicy) -> Result<ResumableReader, StorageError> {
    start(
        Source::Http {
            url: url.to_string(),
        },
        policy,
    )
}

/// Opens the object at `url` for reading.
pub fn open_object(url: &ObjectUrl, policy: RetryPolicy) -> Result<ResumableReader, StorageError> {
    let store = store_for(url)?;
    start(
        Source::Object {
            url: url.clone(),
            store,
        },
        policy,
    )
}

fn start(source: Source, policy: RetryPolicy) -> Result<ResumableReader, StorageError> {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let (head_tx, head_rx) = bounded(1);
    let resumes = Arc::new(AtomicU64::new(0));
    let name = source.name();
    runtime().spawn(pump(source, policy, tx, head_tx, resumes.clone()));
    match head_rx.recv() {
        Ok(Ok(())) => Ok(ResumableReader {
            rx,
            chunk: Bytes::new(),
            pos: 0,
            done: false,
            resumes,
        }),
        Ok(Err(message)) => Err(StorageError::Request { url: name, message }),
        Err(_) => Err(StorageError::Request {
            url: name,
            message: "the reading task stopped".into(),
        }),
    }
}

/// Ends a read with `message`: as the reader's next error once bytes were
/// handed over, else as the answer to the open.
async fn fail(
    started: bool,
    tx: &mpsc::Sender<io::Result<Bytes>>,
    head_tx: &Sender<Result<(), String>>,
    message: String,
) {
    if started {
        let _ = tx.send(Err(io::Error::other(message))).await;
    } else {
        let _ = head_tx.send(Err(message));
    }
}

/// Moves the file's bytes into `tx`, resuming after failures.
async fn pump(
    source: Source,
    policy: RetryPolicy,
    tx: mpsc::Sender<io::Result<Bytes>>,
    head_tx: Sender<Result<(), String>>,
    resumes: Arc<AtomicU64>,
) {
    let mut offset = 0u64;
    let mut etag: Option<String> = None;
    let mut size: Option<u64> = None;
    let mut failed = 0u32;
    let mut started = false;
    let mut last_error;
    loop {
        if size.is_some_and(|s| offset >= s) {
            return; // every byte arrived; only the end was lost
        }
        match source.open(offset, etag.as_deref()).await {
            Ok(mut opened) => {
                if !started {
                    started = true;
                    if head_tx.send(Ok(())).is_err() {
                        return;
                    }
                }
                etag = etag.or(opened.etag.take());
                size = size.or(opened.size);
                let mut skip = opened.skip;
                let mut ended = true;
                last_error = String::new();
                while let Some(item) = opened.stream.next().await {
                    match item {
                        Ok(mut bytes) => {
                            if skip > 0 {
                                let n = skip.min(bytes.len() as u64);
                                skip -= n;
                                bytes = bytes.slice(n as usize..);
                                if bytes.is_empty() {
                                    continue;
                                }
                            }
                            offset += bytes.len() as u64;
                            failed = 0;
                            if tx.send(Ok(bytes)).await.is_err() {
                                return; // the reader went away
                            }
                        }
                        Err(e) => {
                            last_error = e;
                            ended = false;
                            break;
                        }
                    }
                }
                if ended {
                    if let Some(s) = size.filter(|s| offset < *s) {
                        last_error = format!("the body ended at byte {offset} of {s}");
                    } else {
                        return;
                    }
                }
            }
            Err(OpenError::Permanent(message)) => {
                let message = if started {
                    format!("resuming at byte {offset}: {message}")
                } else {
                    message
                };
                return fail(started, &tx, &head_tx, message).await;
            }
            Err(OpenError::Transient(message)) => last_error = message,
        }
        failed += 1;
        if failed >= policy.tries {
            let message =
                format!("gave up after {failed} attempts in a row at byte {offset}: {last_error}");
            return fail(started, &tx, &head_tx, message).await;
        }
        if started {
            resumes.fetch_add(1, Ordering::Relaxed);
            log::warn!(
                "{}: connection lost at byte {offset} ({last_error}); resuming",
                source.name()
            );
        }
        let backoff = policy
            .first_backoff
            .saturating_mul(1 << (failed - 1).min(16))
            .min(policy.max_backoff);
        tokio::time::sleep(backoff).await;
    }
}

impl Read for ResumableReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.chunk.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                None => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::AtomicUsize;

    /// How the test server misbehaves.
    #[derive(Clone, Copy)]
    enum Mode {
        /// The first `n` responses are cut after `cut` body bytes.
        Cut { n: usize, cut: usize },
        /// Like `Cut`, and Range headers are ignored (200 with the whole body).
        CutNoRange { n: usize, cut: usize },
        /// Like `Cut`, and the ETag changes after the first response.
        CutThenChange { cut: usize },
    }

    /// Serves `body` on 127.0.0.1 with Range support; returns the URL and the
    /// number of requests served.
    fn serve(body: Vec<u8>, mode: Mode) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/file.warc.gz", listener.local_addr().unwrap());
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let i = count.fetch_add(1, Ordering::SeqCst);
                let body = body.clone();
                std::thread::spawn(move || respond(&mut conn, &body, mode, i));
            }
        });
        (url, served)
    }

    fn respond(conn: &mut TcpStream, body: &[u8], mode: Mode, i: usize) {
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut range_start = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("range: bytes=") {
                range_start = v.trim().trim_end_matches('-').parse::<usize>().ok();
            }
        }
        let (cut_first, n, honour_range) = match mode {
            Mode::Cut { n, cut } => (cut, n, true),
            Mode::CutNoRange { n, cut } => (cut, n, false),
            Mode::CutThenChange { cut } => (cut, 1, true),
        };
        let etag = match mode {
            Mode::CutThenChange { .. } if i > 0 => "\"v2\"",
            _ => "\"v1\"",
        };
        let (status, start) = match range_start {
            Some(s) if honour_range && etag == "\"v1\"" => ("206 Partial Content", s),
            _ => ("200 OK", 0),
        };
        let part = &body[start..];
        let mut head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nETag: {etag}\r\nConnection: close\r\n",
            part.len()
        );
        if start > 0 {
            head += &format!(
                "Content-Range: bytes {start}-{}/{}\r\n",
                body.len() - 1,
                body.len()
            );
        }
        head += "\r\n";
        let _ = conn.write_all(head.as_bytes());
        let send = if i < n {
            cut_first.min(part.len())
        } else {
            part.len()
        };
        let _ = conn.write_all(&part[..send]);
        let _ = conn.flush();
        // Dropping the stream mid-body is the dropped connection.
    }

    fn body() -> Vec<u8> {
        (0..300_000u32).map(|i| (i % 251) as u8).collect()
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            tries: 4,
            first_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
        }
    }

    #[test]
    fn a_dropped_connection_resumes_from_the_last_byte() {
        let (url, served) = serve(body(), Mode::Cut { n: 2, cut: 70_000 });
        let mut r = open_url(&url, fast()).unwrap();
        let resumes = r.resumes();
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got, body());
        assert_eq!(resumes.load(Ordering::Relaxed), 2);
        assert_eq!(served.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_server_without_ranges_is_read_past_what_arrived() {
        let (url, _) = serve(body(), Mode::CutNoRange { n: 1, cut: 50_000 });
        let mut got = Vec::new();
        open_url(&url, fast())
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, body());
    }

    #[test]
    fn a_file_that_changes_mid_read_fails_instead_of_mixing_versions() {
        let (url, _) = serve(body(), Mode::CutThenChange { cut: 40_000 });
        let mut got = Vec::new();
        let err = open_url(&url, fast())
            .unwrap()
            .read_to_end(&mut got)
            .unwrap_err()
            .to_string();
        assert!(err.contains("changed while it was being read"), "{err}");
        assert_eq!(got.len(), 40_000);
    }

    #[test]
    fn retries_are_bounded_and_name_the_offset() {
        let (url, served) = serve(body(), Mode::Cut { n: 100, cut: 0 });
        let mut got = Vec::new();
        let err = open_url(&url, fast())
            .unwrap()
            .read_to_end(&mut got)
            .unwrap_err()
            .to_string();
        assert!(err.contains("4 attempts in a row at byte 0"), "{err}");
        assert_eq!(served.load(Ordering::SeqCst), 4);
    }
}
