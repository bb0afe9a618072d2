//! The documentation renders as meant and holds together: the README stays a front door
//! (under 12 KiB), and in every Markdown file of the repository every table row sits in its
//! table (a row after a paragraph line renders as stray text), every relative link finds its
//! file, and every `#anchor` finds its heading in the file it points into.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

/// The README is a front door: what frontmon is, the two commands, a first event, where to
/// read on. Anything longer belongs in `docs/`.
const README_MAX_BYTES: u64 = 12 * 1024;

/// Directories holding no documentation of the project's own.
const SKIPPED_DIRS: [&str; 2] = ["target", "node_modules"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every Markdown file under `dir`, skipping build output, dependencies and hidden
/// directories (`.git`, the CI's scratch space).
fn markdown_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !name.starts_with('.') && !SKIPPED_DIRS.contains(&name.as_str()) {
                files.extend(markdown_files(&path));
            }
        } else if name.ends_with(".md") {
            files.push(path);
        }
    }
    files
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

/// The anchors of a Markdown text's headings; a repeated heading gets `-1`, `-2`… as on
/// GitHub.
fn anchors(text: &str) -> HashSet<String> {
    let mut found = HashSet::new();
    for (_, line) in prose(text) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let base = anchor(heading.trim_start_matches('#').trim());
        let mut candidate = base.clone();
        let mut repeat = 0;
        while found.contains(&candidate) {
            repeat += 1;
            candidate = format!("{base}-{repeat}");
        }
        found.insert(candidate);
    }
    found
}

/// A line without its inline code spans: a link written inside backticks is an example.
fn without_code_spans(line: &str) -> String {
    line.split('`').step_by(2).collect::<Vec<_>>().join("")
}

/// The targets of the inline links `[text](target)` on a line.
fn link_targets(line: &str) -> Vec<String> {
    without_code_spans(line)
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        // An optional title follows the target after a space.
        .map(|target| target.split(' ').next().unwrap_or_default().to_owned())
        .collect()
}

/// `path` without its `.` and `..` components, so that two spellings of one file compare
/// equal.
fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

/// Every problem in the Markdown files under `tree`, one line each (`file:line: what`).
fn problems(tree: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for file in markdown_files(tree) {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.strip_prefix(tree).unwrap().display().to_string();
        let lines = prose(&text);
        for (number, line) in &lines {
            for target in link_targets(line) {
                if let Some(problem) = broken(&file, &text, &target) {
                    problems.push(format!("{name}:{number}: {problem}"));
                }
            }
        }
        problems.extend(rows_outside_tables(&name, &lines));
    }
    problems
}

/// A table row after a line that is no row, and before no `|---` line, starts no table: it
/// renders as text.
fn rows_outside_tables(name: &str, lines: &[(usize, &str)]) -> Vec<String> {
    let is_row = |l: &str| l.starts_with('|');
    let mut problems = Vec::new();
    for (index, (number, line)) in lines.iter().enumerate() {
        let before = index.checked_sub(1).map_or("", |i| lines[i].1);
        let after = lines.get(index + 1).map_or("", |(_, l)| *l);
        let starts_a_table = after.starts_with("|---") || after.starts_with("| ---");
        if is_row(line) && !is_row(before) && !starts_a_table {
            problems.push(format!(
                "{name}:{number}: a table row outside a table: {line}"
            ));
        }
    }
    problems
}

/// What is wrong with a link from `file` (whose text is `text`) to `target`, if anything.
fn broken(file: &Path, text: &str, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (path, fragment) = target.split_once('#').unwrap_or((target, ""));
    let (linked, linked_text) = if path.is_empty() {
        (file.to_path_buf(), text.to_owned())
    } else {
        let linked = normalize(&file.parent().unwrap().join(path));
        if !linked.exists() {
            return Some(format!("no file {path} (link {target})"));
        }
        let linked_text = if linked.is_file() && path.ends_with(".md") {
            std::fs::read_to_string(&linked).unwrap()
        } else {
            String::new()
        };
        (linked, linked_text)
    };
    if fragment.is_empty() {
        return None;
    }
    if linked.extension().is_none_or(|extension| extension != "md") {
        return Some(format!(
            "#{fragment} points into a file that is not Markdown"
        ));
    }
    (!anchors(&linked_text).contains(fragment)).then(|| format!("no section for {target}"))
}

#[test]
fn the_readme_is_a_front_door() {
    let size = std::fs::metadata(root().join("README.md")).unwrap().len();
    assert!(
        size <= README_MAX_BYTES,
        "README.md is {size} bytes, over {README_MAX_BYTES}: move the detail into docs/"
    );
}

#[test]
fn every_markdown_file_renders_and_every_link_resolves() {
    let root = root();
    let files = markdown_files(&root);
    for expected in ["README.md", "docs/README.md", "CONTRIBUTING.md", "STYLE.md"] {
        assert!(
            files.contains(&root.join(expected)),
            "{expected} is not among the checked files: {files:?}"
        );
    }
    let problems = problems(&root);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_broken_link_or_a_stray_row_is_found() {
    let tree = std::env::temp_dir().join(format!("frontmon-doc-links-{}", uuid::Uuid::new_v4()));
    for (path, text) in [
        (
            "README.md",
            "# Toy\n\nSee [setup](docs/setup.md#install), [again](docs/setup.md#install-1),\n\
             [gone](docs/gone.md), [nowhere](docs/setup.md#nowhere), [here](#toy),\n\
             [missing](#missing), [web](https://example.com/#x) and `[code](#code)`.\n\n\
             ```md\n[fenced](#fenced)\n```\n\ntext\n| stray | row |\n",
        ),
        (
            "docs/setup.md",
            "# Setup\n\n## Install\n\n## Install\n\n[back](../README.md#toy)\n\n\
             | a | b |\n|---|---|\n| 1 | 2 |\n",
        ),
        ("target/ignored.md", "[ignored](nowhere.md)\n"),
    ] {
        let path = tree.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let found = problems(&tree);
    std::fs::remove_dir_all(&tree).unwrap();

    assert_eq!(
        found,
        [
            "README.md:4: no file docs/gone.md (link docs/gone.md)",
            "README.md:4: no section for docs/setup.md#nowhere",
            "README.md:5: no section for #missing",
            "README.md:12: a table row outside a table: | stray | row |",
        ]
        .map(String::from),
        "{found:#?}"
    );
}

#[test]
fn anchors_follow_github() {
    assert_eq!(anchor("Read API (processor)"), "read-api-processor");
    assert_eq!(anchor("`scripts/test`: the gate"), "scriptstest-the-gate");
    assert_eq!(
        anchor("Minified bundles (source maps)"),
        "minified-bundles-source-maps"
    );
    assert_eq!(
        anchors("# A\n## A\n```\n# B\n```\n## A\n"),
        HashSet::from(["a", "a-1", "a-2"].map(String::from))
    );
}
