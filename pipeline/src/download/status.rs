//! Failure classes: every sample that does not become an image becomes a row
//! whose `status` is one of these, with a detail message.

use std::fmt;

/// Why a sample failed. The `status` column holds [`FailureClass::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureClass {
    /// The URL does not parse, has no host, or is not http(s).
    InvalidUrl,
    /// The host resolves only to loopback/private/link-local/special addresses.
    ForbiddenAddress,
    /// The host name did not resolve.
    DnsError,
    /// Connection refused/reset or another transport error.
    NetworkError,
    /// The total deadline of a request passed.
    Timeout,
    /// A non-success HTTP status (the code is kept).
    Http(u16),
    /// A redirect points to a URL already visited.
    RedirectLoop,
    /// More redirects than allowed.
    TooManyRedirects,
    /// The body (or its announced length) exceeds the maximum.
    BodyTooLarge,
    /// `X-Robots-Tag` forbids use (noai, noimageai, noindex, noimageindex).
    RobotsOptOut,
    /// The bytes are not an image format we decode (checked by magic bytes).
    NotAnImage,
    /// The image header or pixel data could not be decoded.
    DecodeError,
    /// The smallest side is below `--min-image-size`.
    TooSmall,
    /// More pixels than `--max-pixels` (decompression-bomb guard).
    TooLarge,
    /// The aspect ratio exceeds `--max-aspect-ratio`.
    AspectRatio,
    /// Re-encoding the resized image failed.
    EncodeError,
    /// The downloaded bytes' hash differs from the one in the input
    /// (`--verify-hash`).
    HashMismatch,
    /// The sample's bounding boxes (`--bbox-col`) do not parse.
    InvalidBbox,
}

impl FailureClass {
    /// The name written to the `status` column and counted in the stats.
    pub fn as_str(&self) -> std::borrow::Cow<'static, str> {
        use FailureClass::*;
        let s = match self {
            InvalidUrl => "invalid_url",
            ForbiddenAddress => "forbidden_address",
            DnsError => "dns_error",
            NetworkError => "network_error",
            Timeout => "timeout",
            Http(code) => return format!("http_{code}").into(),
            RedirectLoop => "redirect_loop",
            TooManyRedirects => "too_many_redirects",
            BodyTooLarge => "body_too_large",
            RobotsOptOut => "robots_opt_out",
            NotAnImage => "not_an_image",
            DecodeError => "decode_error",
            TooSmall => "too_small",
            TooLarge => "too_large",
            AspectRatio => "aspect_ratio",
            EncodeError => "encode_error",
            HashMismatch => "hash_mismatch",
            InvalidBbox => "invalid_bbox",
        };
        s.into()
    }

    /// Whether trying again later may succeed (timeouts, transport errors,
    /// 429 and 5xx gateway/availability codes).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            FailureClass::Timeout
                | FailureClass::NetworkError
                | FailureClass::Http(408 | 429 | 500 | 502 | 503 | 504)
        )
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// A classified failure of one sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The class (the `status` column).
    pub class: FailureClass,
    /// Human-readable detail (the `error_message` column).
    pub message: String,
}

impl Failure {
    /// Builds a failure.
    pub fn new(class: FailureClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.class, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_retryability() {
        assert_eq!(FailureClass::Http(404).as_str(), "http_404");
        assert_eq!(FailureClass::RobotsOptOut.as_str(), "robots_opt_out");
        assert!(FailureClass::Http(429).is_retryable());
        assert!(FailureClass::Http(503).is_retryable());
        assert!(!FailureClass::Http(404).is_retryable());
        assert!(!FailureClass::NotAnImage.is_retryable());
        assert!(FailureClass::Timeout.is_retryable());
    }
}
