//! A real S3-compatible server for tests: moto's server (from the tools venv
//! that `scripts/setup.sh` makes), started on 127.0.0.1 and stopped on drop;
//! and a TCP proxy that cuts responses, for dropped-connection tests.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A running moto server.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl S3Server {
    /// Starts the server; fails (does not skip) when the venv lacks moto.
    pub fn start() -> Self {
        let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-tools/bin/moto_server");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/setup.sh (it installs moto's S3 server)",
            bin.display()
        );
        let port = free_port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.endpoint.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Creates `bucket` (an unsigned CreateBucket, which moto accepts).
    pub fn create_bucket(&self, bucket: &str) {
        let mut c = TcpStream::connect(("127.0.0.1", self.port())).unwrap();
        write!(
            c,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port()
        )
        .unwrap();
        let mut reply = String::new();
        c.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    }

    /// The environment a `witcurate` process needs to reach the server at
    /// `endpoint` (this one, or a proxy in front of it).
    pub fn env(endpoint: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", endpoint.into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a [`cutting_proxy`] saw.
#[derive(Clone, Default)]
pub struct ProxyLog {
    /// Responses cut.
    pub cut: Arc<AtomicUsize>,
    /// Requests that asked for a byte range (`Range: bytes=`).
    pub ranged: Arc<AtomicUsize>,
}

/// A proxy on 127.0.0.1 in front of `upstream_port` that cuts the first
/// `cuts` connections whose responses pass `after` bytes, after `after`
/// bytes (the connection is shut down mid-body). Returns its endpoint and
/// what it saw.
pub fn cutting_proxy(upstream_port: u16, after: usize, cuts: usize) -> (String, ProxyLog) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let log = ProxyLog::default();
    let done = log.cut.clone();
    let ranged = log.ranged.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
                continue;
            };
            let (mut c_read, mut u_write) =
                (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            let ranged = ranged.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 << 10];
                loop {
                    let n = match c_read.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let text = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                    ranged.fetch_add(text.matches("\r\nrange: bytes=").count(), Ordering::SeqCst);
                    if u_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = u_write.shutdown(Shutdown::Write);
            });
            let done = done.clone();
            std::thread::spawn(move || {
                let (mut u_read, mut c_write) = (upstream, client);
                let mut buf = [0u8; 16 << 10];
                let mut sent = 0usize;
                loop {
                    let n = match u_read.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if sent + n > after && done.load(Ordering::SeqCst) < cuts {
                        done.fetch_add(1, Ordering::SeqCst);
                        let _ = c_write.write_all(&buf[..after.saturating_sub(sent)]);
                        let _ = c_write.shutdown(Shutdown::Both);
                        let _ = u_read.shutdown(Shutdown::Both);
                        return;
                    }
                    if c_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    sent += n;
                }
                let _ = c_write.shutdown(Shutdown::Write);
            });
        }
    });
    (endpoint, log)
}

/// A plain http server on 127.0.0.1 serving `files` (URL path → bytes) with
/// `Range: bytes=N-` support and a fixed ETag, one connection per request.
/// Returns its port.
pub fn static_http(files: std::collections::HashMap<String, Vec<u8>>) -> u16 {
    slow_http(files, Duration::ZERO)
}

/// [`static_http`] answering each request after `delay`.
pub fn slow_http(files: std::collections::HashMap<String, Vec<u8>>, delay: Duration) -> u16 {
    use std::io::{BufRead, BufReader};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let files = Arc::new(files);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let files = files.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut first = String::new();
                let _ = reader.read_line(&mut first);
                let path = first.split(' ').nth(1).unwrap_or("/").to_string();
                let mut start = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                        start = v.trim().trim_end_matches('-').parse().unwrap_or(0);
                    }
                }
                std::thread::sleep(delay);
                let Some(body) = files.get(&path) else {
                    let _ = conn.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                };
                let head = if start > 0 {
                    format!(
                        "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{}/{}\r\n",
                        body.len() - 1,
                        body.len()
                    )
                } else {
                    "HTTP/1.1 200 OK\r\n".to_string()
                };
                let _ = conn.write_all(
                    format!(
                        "{head}Content-Length: {}\r\nETag: \"fixed\"\r\nConnection: close\r\n\r\n",
                        body.len() - start
                    )
                    .as_bytes(),
                );
                let _ = conn.write_all(&body[start..]);
            });
        }
    });
    port
}
