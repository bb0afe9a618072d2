//! Sentry envelopes, the format `@sentry/browser` sends: parsed here from the public
//! description of the format, tolerant of what SDKs really send.
//!
//! ```text
//! {"event_id":"…","dsn":"…","sent_at":"…"}\n        envelope header: one line of JSON
//! {"type":"event","length":41}\n                      item header: one line of JSON
//! {"message":"hello world","level":"error"}\n         payload: `length` bytes exactly, or
//! {"type":"client_report"}\n                           without `length`, up to the next newline
//! {"discarded_events":[]}                              (the final newline is optional)
//! ```
//!
//! Items are borrowed slices of the body: nothing is copied until an item is used. Unknown item
//! types are kept like any other (the caller skips them), so a newer SDK's items never stop
//! the ones after them.

use serde::Deserialize;

/// The most items one envelope may hold; browser SDKs send one to three.
pub const MAX_ITEMS: usize = 100;

#[derive(Debug, Default, Deserialize)]
pub struct EnvelopeHeader {
    pub event_id: Option<String>,
    pub dsn: Option<String>,
    pub sent_at: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ItemHeader {
    #[serde(rename = "type")]
    kind: String,
    length: Option<u64>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Item<'a> {
    /// `event`, `transaction`, `session`, `client_report`, `attachment`, … as sent.
    pub kind: String,
    pub payload: &'a [u8],
}

#[derive(Debug)]
pub struct Envelope<'a> {
    pub header: EnvelopeHeader,
    pub items: Vec<Item<'a>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("empty envelope")]
    Empty,
    #[error("invalid envelope header: {0}")]
    Header(String),
    #[error("invalid header of item {index}: {reason}")]
    ItemHeader { index: usize, reason: String },
    #[error("item {index} declares {length} bytes but only {remaining} follow")]
    LengthBeyondBody {
        index: usize,
        length: u64,
        remaining: usize,
    },
    #[error("more than {MAX_ITEMS} items")]
    TooManyItems,
}

/// Splits `body` into its header and items.
pub fn parse(body: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(EnvelopeError::Empty);
    }
    let (header_line, mut rest) = split_line(body);
    let header: EnvelopeHeader =
        serde_json::from_slice(header_line).map_err(|e| EnvelopeError::Header(e.to_string()))?;

    let mut items = Vec::new();
    loop {
        // Blank lines between items carry nothing; tolerate them as SDKs' trailing newlines.
        while let [b'\n' | b'\r', tail @ ..] = rest {
            rest = tail;
        }
        if rest.is_empty() {
            break;
        }
        let index = items.len();
        if index == MAX_ITEMS {
            return Err(EnvelopeError::TooManyItems);
        }
        let (header_line, after_header) = split_line(rest);
        let item: ItemHeader =
            serde_json::from_slice(header_line).map_err(|e| EnvelopeError::ItemHeader {
                index,
                reason: e.to_string(),
            })?;
        let payload = match item.length {
            Some(length) => {
                let remaining = after_header.len();
                let end = usize::try_from(length)
                    .ok()
                    .filter(|&end| end <= remaining)
                    .ok_or(EnvelopeError::LengthBeyondBody {
                        index,
                        length,
                        remaining,
                    })?;
                let (payload, tail) = after_header.split_at(end);
                rest = tail.strip_prefix(b"\n").unwrap_or(tail);
                payload
            }
            None => {
                let (payload, tail) = split_line(after_header);
                rest = tail;
                payload
            }
        };
        items.push(Item {
            kind: item.kind,
            payload,
        });
    }
    Ok(Envelope { header, items })
}

/// The bytes up to the first newline (without it, nor a `\r` before it), and what follows it.
fn split_line(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&b| b == b'\n') {
        Some(at) => {
            let line = &bytes[..at];
            (line.strip_suffix(b"\r").unwrap_or(line), &bytes[at + 1..])
        }
        None => (bytes, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds<'a>(envelope: &'a Envelope<'_>) -> Vec<&'a str> {
        envelope
            .items
            .iter()
            .map(|item| item.kind.as_str())
            .collect()
    }

    #[test]
    fn items_with_and_without_length() {
        let body = b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"dsn\":\"https://e12d836b15bb49d7bbf99e64295d995b@sentry.io/42\"}\n\
{\"type\":\"attachment\",\"length\":10,\"content_type\":\"text/plain\",\"filename\":\"hello.txt\"}\n\
\xef\xbb\xbfHello\r\n\n\
{\"type\":\"event\",\"length\":41,\"content_type\":\"application/json\",\"filename\":\"application.log\"}\n\
{\"message\":\"hello world\",\"level\":\"error\"}\n";
        let envelope = parse(body).expect("valid");
        assert_eq!(
            envelope.header.event_id.as_deref(),
            Some("9ec79c33ec9942ab8353589fcb2e04dc")
        );
        assert_eq!(kinds(&envelope), ["attachment", "event"]);
        assert_eq!(envelope.items[0].payload, b"\xef\xbb\xbfHello\r\n");
        assert_eq!(
            envelope.items[1].payload,
            br#"{"message":"hello world","level":"error"}"#
        );

        let implicit = b"{}\n{\"type\":\"session\"}\n{\"started\":\"2020-02-07T14:16:00Z\"}\n{\"type\":\"client_report\"}\n{}";
        let envelope = parse(implicit).expect("valid");
        assert_eq!(kinds(&envelope), ["session", "client_report"]);
        assert_eq!(envelope.items[1].payload, b"{}");
    }

    #[test]
    fn header_only_and_empty_payloads_are_valid() {
        assert!(parse(b"{}").expect("valid").items.is_empty());
        assert!(parse(b"{}\n").expect("valid").items.is_empty());
        let envelope = parse(
            b"{}\n{\"type\":\"attachment\",\"length\":0}\n{\"type\":\"event\",\"length\":2}\n{}",
        )
        .expect("valid");
        assert_eq!(envelope.items[0].payload, b"");
        assert_eq!(envelope.items[1].payload, b"{}");
    }

    #[test]
    fn unknown_item_types_do_not_stop_the_rest() {
        let envelope =
            parse(b"{}\n{\"type\":\"hologram\",\"length\":3}\nabc\n{\"type\":\"event\"}\n{}")
                .expect("valid");
        assert_eq!(kinds(&envelope), ["hologram", "event"]);
    }

    #[test]
    fn malformed_envelopes_say_what_is_wrong() {
        assert_eq!(parse(b"").unwrap_err(), EnvelopeError::Empty);
        assert!(matches!(
            parse(b"not json\n").unwrap_err(),
            EnvelopeError::Header(_)
        ));
        assert!(matches!(
            parse(b"{}\n{\"length\":2}\n{}").unwrap_err(),
            EnvelopeError::ItemHeader { index: 0, .. }
        ));
        assert_eq!(
            parse(b"{}\n{\"type\":\"event\",\"length\":99}\n{}").unwrap_err(),
            EnvelopeError::LengthBeyondBody {
                index: 0,
                length: 99,
                remaining: 2
            }
        );
        assert!(matches!(
            parse(b"{}\n{\"type\":\"event\",\"length\":-1}\n{}").unwrap_err(),
            EnvelopeError::ItemHeader { index: 0, .. }
        ));
        assert!(matches!(
            parse(b"{}\n{\"type\":\"event\",\"length\":18446744073709551615}\n{}").unwrap_err(),
            EnvelopeError::LengthBeyondBody { .. }
        ));
        let many: Vec<u8> = std::iter::once(&b"{}\n"[..])
            .chain(std::iter::repeat_n(
                &b"{\"type\":\"x\",\"length\":0}\n\n"[..],
                MAX_ITEMS + 1,
            ))
            .flatten()
            .copied()
            .collect();
        assert_eq!(parse(&many).unwrap_err(), EnvelopeError::TooManyItems);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic sweep; the proptest suite goes further.
        let seeds: [&[u8]; 6] = [
            b"{}\n{\"type\":\"event\",\"length\":5}\nab",
            b"\n\n\n",
            b"{}\r\n\r\n",
            b"{}\n{",
            b"{\"x\":1}\n{\"type\":\"a\"}",
            b"\xff\xfe",
        ];
        for seed in seeds {
            for cut in 0..=seed.len() {
                let _ = parse(&seed[..cut]);
            }
        }
    }
}
