//! A native error's `stack` string, parsed into the exception a Sentry SDK would have sent
//! (type, value, frames innermost last), so that every stored error carries its frames in one
//! shape, `exceptions[].frames`, whether or not a source map resolved them.
//!
//! Grouping gets the same input either way: the frames parsed here are the ones grouping
//! parses from the stack string of an event without exceptions (the alerter's case).

use shared::event::{Detail, Event, Exception};
use shared::grouping::{native_type_and_value, stack_frames};

/// Gives a native error its exception, parsed from its `stack`; whether it did. Events
/// that already have exceptions (a Sentry SDK's), no stack, or are not errors are left as
/// they are.
pub fn parse(event: &mut Event) -> bool {
    if !matches!(event.detail, Detail::Error {}) || !event.exceptions.is_empty() {
        return false;
    }
    let Some(stack) = event.stack.as_deref() else {
        return false;
    };
    let message = event.message.as_deref().unwrap_or_default();
    let (kind, value) = native_type_and_value(message, Some(stack));
    let exception = Exception {
        kind: kind.map(str::to_owned),
        value: Some(value.to_owned()),
        frames: stack_frames(stack),
        ..Exception::default()
    };
    event.exceptions = vec![exception];
    true
}

/// `json` (an event without `exceptions`) with `exceptions` added in front, without
/// writing the rest out again; `None` where that cannot be done safely (the text already
/// names `exceptions` somewhere, or is not an object), and the event is written out whole.
pub fn prepend_exceptions(json: &str, exceptions: &[Exception]) -> Option<String> {
    // An `"exceptions": []` written out by some publisher: a second key would contradict it.
    if json.contains("\"exceptions\"") {
        return None;
    }
    let rest = json.trim_start().strip_prefix('{')?;
    let exceptions = serde_json::to_string(exceptions).ok()?;
    let separator = if rest.trim_start().starts_with('}') {
        ""
    } else {
        ","
    };
    Some(format!("{{\"exceptions\":{exceptions}{separator}{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::event::{EventId, ProjectId};

    fn native(stack: Option<&str>) -> Event {
        // Whole milliseconds, as events are written.
        let at = chrono::DateTime::from_timestamp_millis(1_750_000_000_000)
            .unwrap_or_else(|| panic!("a time"));
        let mut event = Event::new(
            EventId::new_random(),
            ProjectId::new(1).unwrap_or_else(|| panic!("a project id")),
            at,
            at,
            Detail::Error {},
        );
        event.message = Some("Cannot read properties of undefined (reading 'percent')".into());
        event.stack = stack.map(str::to_owned);
        event
    }

    const STACK: &str = "TypeError: Cannot read properties of undefined (reading 'percent')
    at i (https://shop.example/app.min.js:1:157)
    at Array.map (<anonymous>)
    at window.pay (https://shop.example/app.min.js:1:198)";

    #[test]
    fn a_stack_becomes_the_exception_a_sentry_sdk_would_send() {
        let mut event = native(Some(STACK));
        assert!(parse(&mut event));
        let [exception] = event.exceptions.as_slice() else {
            panic!("one exception: {:?}", event.exceptions);
        };
        assert_eq!(exception.kind.as_deref(), Some("TypeError"));
        assert_eq!(
            exception.value.as_deref(),
            Some("Cannot read properties of undefined (reading 'percent')")
        );
        // Innermost last, as Sentry SDKs send them; the minified positions as printed.
        let frames: Vec<_> = exception
            .frames
            .iter()
            .map(|f| (f.function.as_deref(), f.lineno, f.colno))
            .collect();
        assert_eq!(
            frames,
            [
                (Some("window.pay"), Some(1), Some(198)),
                (Some("Array.map"), None, None),
                (Some("i"), Some(1), Some(157)),
            ]
        );
        assert!(exception.raw_frames.is_empty());
        // Once per event.
        assert!(!parse(&mut event));
        assert_eq!(event.exceptions.len(), 1);
    }

    #[test]
    fn only_native_errors_with_a_stack_are_parsed() {
        let mut without_stack = native(None);
        assert!(!parse(&mut without_stack));
        assert!(without_stack.exceptions.is_empty());
        let mut sentry = native(Some(STACK));
        sentry.exceptions = vec![Exception::default()];
        assert!(!parse(&mut sentry));
        assert_eq!(sentry.exceptions, vec![Exception::default()]);
        let mut click = native(Some(STACK));
        click.detail = Detail::Click {
            selector: None,
            text: None,
        };
        assert!(!parse(&mut click));
        // A stack without a frame line still gives the exception its type and value.
        let mut bare = native(Some("TypeError: x"));
        assert!(parse(&mut bare));
        assert!(bare.exceptions[0].frames.is_empty());
    }

    #[test]
    fn the_exception_is_prepended_to_the_json_as_it_came() {
        let mut event = native(Some(STACK));
        let json = serde_json::to_string(&event).unwrap_or_else(|e| panic!("{e}"));
        assert!(parse(&mut event));
        let stored = prepend_exceptions(&json, &event.exceptions).expect("prepended");
        let read: Event = serde_json::from_str(&stored).unwrap_or_else(|e| panic!("{e}: {stored}"));
        assert_eq!(read, event);
        // An empty object, and one that already names `exceptions`.
        assert_eq!(
            prepend_exceptions("{ }", &[]).as_deref(),
            Some("{\"exceptions\":[] }")
        );
        assert_eq!(
            prepend_exceptions(r#"{"exceptions":[],"type":"error"}"#, &event.exceptions),
            None
        );
        assert_eq!(prepend_exceptions("[]", &event.exceptions), None);
    }
}
