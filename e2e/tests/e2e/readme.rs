//! The README renders as meant: every table row sits in its table (a row after a paragraph
//! line renders as stray text), and every link to a section of it finds that section.

use std::collections::HashSet;
use std::path::Path;

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(path).unwrap()
}

/// The lines outside fenced code blocks, numbered from 1.
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            lines.push((index + 1, line));
        }
    }
    lines
}

/// GitHub's anchor for a heading: lowercase, spaces to hyphens, punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_table_row_is_inside_its_table() {
    let text = readme();
    let lines = prose(&text);
    for pair in lines.windows(3) {
        let [(_, before), (number, line), (_, after)] = pair else {
            continue;
        };
        let is_row = |l: &str| l.starts_with('|');
        let starts_a_table = after.starts_with("|---") || after.starts_with("| ---");
        if is_row(line) && !is_row(before) && !starts_a_table {
            panic!("README.md:{number}: a table row outside a table: {line}");
        }
    }
}

#[test]
fn every_link_to_a_section_finds_it() {
    let text = readme();
    let lines = prose(&text);
    let anchors: HashSet<String> = lines
        .iter()
        .filter_map(|(_, line)| line.strip_prefix('#'))
        .map(|heading| anchor(heading.trim_start_matches('#').trim()))
        .collect();
    for (number, line) in &lines {
        for link in line.split("](#").skip(1) {
            let target = link.split(')').next().unwrap_or_default();
            assert!(
                anchors.contains(target),
                "README.md:{number}: no section for #{target}"
            );
        }
    }
}
