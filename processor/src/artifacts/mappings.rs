//! A source map's `mappings`, decoded to find the first place where they are broken.
//!
//! The `sourcemap` crate reads a digit outside Base64 as if it were one (31, with more
//! digits to come) and lets running values go negative or past 32 bits (wrapped to `u32`):
//! such a map parses, and resolves frames to lines that do not exist. So every segment is
//! decoded here as the spec writes it, with the running values the crate keeps, and the
//! first fault is named with where it is: the generated line and segment, and the byte of
//! the `mappings` string, all counted from 1.

use std::fmt;

/// Where the mappings are broken, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingsError {
    /// The generated line (1 + the `;` before it).
    pub line: usize,
    /// The segment within its line (1 + the `,` before it on the line).
    pub segment: usize,
    /// The byte of `mappings` where the fault is.
    pub byte: usize,
    pub fault: Fault,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Not one of `A-Z a-z 0-9 + /`.
    Digit(char),
    /// The segment ends on a digit that says more follow.
    CutShort,
    /// More than 32 bits.
    TooLarge,
    /// A segment of 2, 3 or 6+ fields.
    Fields(usize),
    /// A running value below 0 or past what the resolver holds.
    OutOfRange { what: &'static str, value: i64 },
    /// A source or name index past the end of `sources` or `names`.
    Index {
        what: &'static str,
        index: i64,
        len: usize,
    },
}

impl fmt::Display for MappingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mappings invalid at generated line {}, segment {} (byte {} of \"mappings\"): {}",
            self.line, self.segment, self.byte, self.fault
        )
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Digit(digit) => write!(f, "invalid base64 VLQ digit {digit:?}"),
            Fault::CutShort => {
                f.write_str("a VLQ value cut short (its last digit says more follow)")
            }
            Fault::TooLarge => f.write_str("a VLQ value larger than 32 bits"),
            Fault::Fields(count) => write!(f, "a segment of {count} fields (1, 4 or 5 expected)"),
            Fault::OutOfRange { what, value } => write!(f, "{what} {value} is out of range"),
            Fault::Index { what, index, len } => {
                write!(
                    f,
                    "{what} index {index} is out of range (\"{what}s\" has {len})"
                )
            }
        }
    }
}

/// The largest running value: the resolver keeps them as `u32`, `u32::MAX` meaning "none".
const MAX_VALUE: i64 = u32::MAX as i64 - 1;
/// Seven digits carry 35 bits: enough for any 32-bit value, none more.
const MAX_DIGITS: usize = 7;

/// Checks every segment of `mappings` against a map with `sources` sources and `names`
/// names.
pub fn check(mappings: &str, sources: usize, names: usize) -> Result<(), MappingsError> {
    // Running values, as the resolver keeps them: the column restarts on each line, the
    // others run on through the whole map.
    let (mut source, mut source_line, mut source_column, mut name) = (0i64, 0i64, 0i64, 0i64);
    let mut start = 0;
    for (line_index, line) in mappings.split(';').enumerate() {
        let mut column = 0i64;
        for (segment_index, segment) in line.split(',').enumerate() {
            let at = |byte: usize, fault: Fault| MappingsError {
                line: line_index + 1,
                segment: segment_index + 1,
                byte: byte + 1,
                fault,
            };
            // Empty segments (`AAAA,,AAAA`, a trailing `,`) carry nothing; the resolver
            // skips them, and so does this.
            if !segment.is_empty() {
                let mut fields = [0i64; 5];
                let count = decode(segment, &mut fields)
                    .map_err(|(offset, fault)| at(start + offset, fault))?;
                if !matches!(count, 1 | 4 | 5) {
                    return Err(at(start, Fault::Fields(count)));
                }
                column =
                    running(column + fields[0], "generated column").map_err(|f| at(start, f))?;
                if count >= 4 {
                    source =
                        index(source + fields[1], "source", sources).map_err(|f| at(start, f))?;
                    source_line = running(source_line + fields[2], "original line")
                        .map_err(|f| at(start, f))?;
                    source_column = running(source_column + fields[3], "original column")
                        .map_err(|f| at(start, f))?;
                }
                if count == 5 {
                    name = index(name + fields[4], "name", names).map_err(|f| at(start, f))?;
                }
            }
            start += segment.len() + 1;
        }
    }
    Ok(())
}

fn running(value: i64, what: &'static str) -> Result<i64, Fault> {
    if (0..=MAX_VALUE).contains(&value) {
        Ok(value)
    } else {
        Err(Fault::OutOfRange { what, value })
    }
}

fn index(value: i64, what: &'static str, len: usize) -> Result<i64, Fault> {
    if value >= 0 && usize::try_from(value).is_ok_and(|at| at < len) {
        Ok(value)
    } else {
        Err(Fault::Index {
            what,
            index: value,
            len,
        })
    }
}

/// Decodes one segment's values into `fields`; how many it has (counting those past 5, which
/// are not kept), or the offset in `segment` of what is wrong.
fn decode(segment: &str, fields: &mut [i64; 5]) -> Result<usize, (usize, Fault)> {
    let mut count = 0;
    let mut value: i64 = 0;
    let mut digits = 0;
    let mut value_start = 0;
    for (offset, byte) in segment.bytes().enumerate() {
        let Some(digit) = base64(byte) else {
            let digit = segment[offset..]
                .chars()
                .next()
                .unwrap_or(char::REPLACEMENT_CHARACTER);
            return Err((offset, Fault::Digit(digit)));
        };
        if digits == 0 {
            value_start = offset;
        }
        if digits == MAX_DIGITS {
            return Err((value_start, Fault::TooLarge));
        }
        value |= i64::from(digit & 0b1_1111) << (5 * digits);
        digits += 1;
        if digit & 0b10_0000 == 0 {
            // The lowest bit is the sign.
            let magnitude = value >> 1;
            if magnitude > i64::from(i32::MAX) {
                return Err((value_start, Fault::TooLarge));
            }
            if let Some(field) = fields.get_mut(count) {
                *field = if value & 1 == 1 {
                    -magnitude
                } else {
                    magnitude
                };
            }
            count += 1;
            value = 0;
            digits = 0;
        }
    }
    if digits > 0 {
        return Err((value_start, Fault::CutShort));
    }
    Ok(count)
}

fn base64(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(mappings: &str, sources: usize, names: usize) -> (usize, usize, usize, Fault) {
        let error = check(mappings, sources, names).expect_err(mappings);
        (error.line, error.segment, error.byte, error.fault)
    }

    #[test]
    fn good_mappings_pass() {
        for mappings in [
            "",
            ";;",
            "AAAA",
            "AAAA,SAASA",
            // Two lines, a name, a source switch and back, negative deltas.
            "AAAA,SAASA;ACAA,CAACC,GAAG;ADCA,CAACD",
            // Empty segments and lines are skipped, as the resolver does.
            "AAAA,,CAAC,;;;",
            // One-field segments: generated code with no original.
            "A,C,E",
            // Large but 32-bit values: column 1,000,000.
            "gkh9B",
        ] {
            assert_eq!(check(mappings, 2, 2), Ok(()), "{mappings}");
        }
    }

    #[test]
    fn a_digit_outside_base64_is_named_with_its_line_segment_and_byte() {
        assert_eq!(fault("AAAA;AAAA,AA!A", 1, 0), (2, 2, 13, Fault::Digit('!')));
        assert_eq!(fault("AAAA,AAé", 1, 0), (1, 2, 8, Fault::Digit('é')));
        assert_eq!(fault("AA AA", 1, 0), (1, 1, 3, Fault::Digit(' ')));
        let error = check("AAAA;AAAA,AA!A", 1, 0).expect_err("broken");
        assert_eq!(
            error.to_string(),
            "mappings invalid at generated line 2, segment 2 (byte 13 of \"mappings\"): invalid base64 VLQ digit '!'"
        );
    }

    #[test]
    fn values_cut_short_or_too_large_are_refused() {
        // `g` is 32: a continuation digit with nothing after it.
        assert_eq!(fault("AAAA,AAAg", 1, 0), (1, 2, 9, Fault::CutShort));
        assert_eq!(fault("AAAA,gggggggA", 1, 0), (1, 2, 6, Fault::TooLarge));
        // Seven digits, but past 2^31.
        assert_eq!(fault("ggggggE", 1, 0), (1, 1, 1, Fault::TooLarge));
    }

    #[test]
    fn segments_have_1_4_or_5_fields() {
        assert_eq!(fault("AAAA;AA", 1, 0), (2, 1, 6, Fault::Fields(2)));
        assert_eq!(fault("AAA", 1, 0), (1, 1, 1, Fault::Fields(3)));
        assert_eq!(fault("AAAAAA", 1, 1), (1, 1, 1, Fault::Fields(6)));
    }

    #[test]
    fn sources_and_names_are_within_their_arrays() {
        // Source 1 of 1.
        assert_eq!(
            fault("AAAA,ACAA", 1, 0),
            (
                1,
                2,
                6,
                Fault::Index {
                    what: "source",
                    index: 1,
                    len: 1
                }
            )
        );
        // A name with no names.
        assert_eq!(
            fault("AAAAA", 1, 0),
            (
                1,
                1,
                1,
                Fault::Index {
                    what: "name",
                    index: 0,
                    len: 0
                }
            )
        );
        // Running below 0: source -1.
        assert!(matches!(
            fault("AAAA,ADAA", 2, 0).3,
            Fault::Index { index: -1, .. }
        ));
        let error = check("AAAAC", 1, 1).expect_err("name 1 of 1");
        assert!(
            error
                .to_string()
                .ends_with("name index 1 is out of range (\"names\" has 1)"),
            "{error}"
        );
    }

    #[test]
    fn running_values_stay_at_or_above_zero() {
        // Column -1 on the first line; the column restarts on each line.
        assert_eq!(
            fault("D", 0, 0),
            (
                1,
                1,
                1,
                Fault::OutOfRange {
                    what: "generated column",
                    value: -1
                }
            )
        );
        assert_eq!(check("C;D", 0, 0).map_err(|e| e.line), Err(2));
        // The original line runs on across lines: 0, then 1, then -1.
        assert_eq!(check("AAAA;AACA;AAFA", 1, 0).map_err(|e| e.line), Err(3));
        assert_eq!(
            check("AAAD", 1, 0).map_err(|e| e.fault),
            Err(Fault::OutOfRange {
                what: "original column",
                value: -1
            })
        );
    }
}
