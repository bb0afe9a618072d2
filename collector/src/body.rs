//! Reading a request body within bounds: its size (declared, streamed and inflated), the time
//! it takes to arrive, and the memory all bodies together hold; and making sure a body we
//! stopped reading cannot keep its connection open.

use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use futures::{FutureExt, StreamExt};

use crate::budget::Reservation;
use crate::error::IngestError;

/// How long the body may take to arrive once the head has: a client that sends a byte a
/// second, or declares more than it sends, is answered 408 and disconnected instead of
/// holding a connection and its buffer forever. Real bodies are small (`sendBeacon` caps them
/// at 64 KiB) and sent right after the head; 1 MiB in 10 s is 100 KiB/s.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Inflated bytes produced per step, so the budget is checked as a gzip body grows. Small:
/// the step buffer is held (and reserved) by every gzip request in flight, and a typical
/// gzip'd batch inflates to a few tens of kilobytes (64 KiB here made 256 concurrent
/// batches spend the whole budget and be shed).
const INFLATE_STEP: usize = 8 * 1024;

/// Reads at most `limit` bytes within [`BODY_TIMEOUT`], and at most `limit` bytes again once
/// decompressed: a small gzip body must not inflate into unbounded memory. What is buffered
/// is reserved from the shared budget first.
pub async fn read(
    request: &HttpRequest,
    payload: &mut web::Payload,
    limit: usize,
    reservation: &mut Reservation,
) -> Result<Vec<u8>, IngestError> {
    let encoding = match header_str(request, header::CONTENT_ENCODING.as_str())
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e != "identity")
    {
        None => None,
        Some(name) => Some(Encoding::parse(&name).ok_or(IngestError::UnsupportedEncoding(name))?),
    };
    // Refused before a byte of the body is read.
    let declared =
        header_str(request, header::CONTENT_LENGTH.as_str()).and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(IngestError::TooLarge { limit });
    }
    let body = tokio::time::timeout(
        BODY_TIMEOUT,
        read_limited(payload, limit, declared, reservation),
    )
    .await
    .map_err(|_| IngestError::BodyTimeout {
        secs: BODY_TIMEOUT.as_secs(),
    })??;
    match encoding {
        None => Ok(body),
        Some(encoding) => inflate(encoding, &body, limit, reservation),
    }
}

/// The `Content-Encoding`s we undo. Browsers' `CompressionStream` makes gzip and deflate;
/// some SDKs and proxies send brotli.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    Gzip,
    /// HTTP's `deflate` is zlib-wrapped (RFC 9110).
    Deflate,
    Brotli,
}

impl Encoding {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "gzip" | "x-gzip" => Some(Encoding::Gzip),
            "deflate" => Some(Encoding::Deflate),
            "br" => Some(Encoding::Brotli),
            _ => None,
        }
    }

    // The one place decoders are built (clippy.toml): `inflate` caps what they produce.
    #[allow(clippy::disallowed_types)]
    fn decoder<'a>(self, body: &'a [u8]) -> Box<dyn Read + 'a> {
        match self {
            Encoding::Gzip => Box::new(flate2::read::GzDecoder::new(body)),
            Encoding::Deflate => Box::new(flate2::read::ZlibDecoder::new(body)),
            // The window buffer is the decoder's; 4 KiB of input read at a time.
            Encoding::Brotli => Box::new(brotli_decompressor::Decompressor::new(body, 4096)),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
            Encoding::Brotli => "brotli",
        }
    }
}

/// The body as streamed (chunked or not), refused with 413 as soon as it passes `limit`.
async fn read_limited(
    payload: &mut web::Payload,
    limit: usize,
    declared: Option<usize>,
    reservation: &mut Reservation,
) -> Result<Vec<u8>, IngestError> {
    // Allocated up front but only reserved as it fills: untouched pages cost no memory, and a
    // head that declares a megabyte and sends nothing must not hold a megabyte of budget.
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| {
            IngestError::UnreadableBody(match error {
                PayloadError::Incomplete(_) => "the body ended before its declared end".into(),
                other => other.to_string(),
            })
        })?;
        if body.len() + chunk.len() > limit {
            return Err(IngestError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
        reservation
            .cover(body.len())
            .map_err(|_| IngestError::Busy)?;
    }
    Ok(body)
}

fn inflate(
    encoding: Encoding,
    body: &[u8],
    limit: usize,
    reservation: &mut Reservation,
) -> Result<Vec<u8>, IngestError> {
    let invalid = |error: std::io::Error| {
        IngestError::UnreadableBody(format!("invalid {}: {error}", encoding.name()))
    };
    let mut decoder = encoding.decoder(body);
    let mut inflated = Vec::new();
    let mut step = vec![0; INFLATE_STEP];
    loop {
        let read = decoder.read(&mut step).map_err(invalid)?;
        if read == 0 {
            return Ok(inflated);
        }
        if inflated.len() + read > limit {
            return Err(IngestError::TooLarge { limit });
        }
        inflated.extend_from_slice(&step[..read]);
        reservation
            .cover(body.len() + inflated.len() + INFLATE_STEP)
            .map_err(|_| IngestError::Busy)?;
    }
}

/// The answer to a request whose body was not read to its end (refused before or while it
/// arrived) closes the connection after it.
///
/// actix-web closes such a connection by itself only while the payload is still held when
/// the answer is sent: a dropped chunked payload is instead drained, with no time limit, for
/// as long as the client keeps the body open. So the unread payload rides along with the
/// answer's body and is dropped once the answer is written; actix then discards what the
/// client still sends for `client_disconnect_timeout`, and closes.
pub fn close_if_unread(response: HttpResponse, mut payload: web::Payload) -> HttpResponse {
    // `Some(None)`: the end of the body, already reached.
    if matches!(payload.next().now_or_never(), Some(None)) {
        return response;
    }
    let (response, body) = response.into_parts();
    match body.try_into_bytes() {
        Ok(answer) => response.set_body(BoxBody::new(Unread {
            answer: Some(answer),
            _payload: payload,
        })),
        Err(body) => response.set_body(body),
    }
}

struct Unread {
    answer: Option<Bytes>,
    _payload: web::Payload,
}

impl MessageBody for Unread {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.answer.as_ref().map_or(0, |answer| answer.len() as u64))
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Poll::Ready(self.get_mut().answer.take().map(Ok))
    }
}

/// A header's value as text; `None` when it is absent or not visible ASCII.
pub(crate) fn header_str<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}
