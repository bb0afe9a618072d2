//! A Markdown table padded to line up in a terminal too, so the same output reads well where
//! it is printed and pastes as is into
//! docs/performance.md.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Self {
            columns: columns
                .iter()
                .map(|(name, align)| ((*name).to_owned(), *align))
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are empty, extra cells are dropped.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let mut cells: Vec<String> = cells.into_iter().map(Into::into).collect();
        cells.resize(self.columns.len(), String::new());
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                self.rows
                    .iter()
                    .map(|row| row[i].chars().count())
                    .chain([name.chars().count(), 3])
                    .max()
                    .unwrap_or(3)
            })
            .collect();
        let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
        let pad = |text: &str, width: usize, align: Align| {
            let fill = " ".repeat(width - text.chars().count());
            match align {
                Align::Left => format!("{text}{fill}"),
                Align::Right => format!("{fill}{text}"),
            }
        };
        let mut out = line(
            self.columns
                .iter()
                .zip(&widths)
                .map(|((name, align), width)| pad(name, *width, *align))
                .collect(),
        );
        out.push_str(&line(
            self.columns
                .iter()
                .zip(&widths)
                .map(|((_, align), width)| match align {
                    Align::Left => "-".repeat(*width),
                    Align::Right => format!("{}:", "-".repeat(width - 1)),
                })
                .collect(),
        ));
        for row in &self.rows {
            out.push_str(&line(
                row.iter()
                    .zip(&self.columns)
                    .zip(&widths)
                    .map(|((cell, (_, align)), width)| pad(cell, *width, *align))
                    .collect(),
            ));
        }
        out
    }
}

/// A whole number with thousands separators: 1234567 → "1,234,567".
pub fn thousands(value: f64) -> String {
    let rounded = value.round();
    let digits = format!("{}", rounded.abs() as u64);
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if rounded < 0.0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_numbers_align_right() {
        let mut table = Table::new(&[("scenario", Align::Left), ("msg/s", Align::Right)]);
        table.row(["ceiling", "17,001"]);
        table.row(["collector, batches of 20", "9"]);
        let rendered = table.render();
        let expected = "\
| scenario                 |  msg/s |
| ------------------------ | -----: |
| ceiling                  | 17,001 |
| collector, batches of 20 |      9 |
";
        assert_eq!(rendered, expected);
    }

    #[test]
    fn short_rows_are_padded_with_empty_cells() {
        let mut table = Table::new(&[("a", Align::Left), ("b", Align::Right)]);
        table.row(["only a"]);
        assert_eq!(table.render().lines().nth(2), Some("| only a |     |"));
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.6), "1,234,568");
        assert_eq!(thousands(-12_345.0), "-12,345");
    }
}
