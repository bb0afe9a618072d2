//! The analytics screens' tables, built from the JSON answers: a row's first cell names a
//! page, a referrer or a browser (hostile text, escaped by the template), the others are
//! numbers shown with their exact value beside (`data-value`).

use serde_json::Value;

/// A number cell: as shown, and the JSON number it came from.
pub struct Cell {
    pub shown: String,
    pub exact: String,
    /// A CSS class (a rating), or empty.
    pub class: &'static str,
}

impl Cell {
    pub fn new(value: &Value, format: impl Fn(f64) -> String) -> Self {
        Self {
            shown: value.as_f64().map_or_else(|| "—".to_owned(), format),
            exact: if value.is_number() {
                value.to_string()
            } else {
                String::new()
            },
            class: "",
        }
    }

    pub fn rated(mut self, class: &'static str) -> Self {
        self.class = class;
        self
    }
}

/// A column: its heading, and how a row of the answer becomes its cell.
pub type Column<'a> = (&'static str, Box<dyn Fn(&Value) -> Cell + 'a>);

pub struct Row {
    pub name: String,
    pub cells: Vec<Cell>,
}

pub struct Table {
    /// The element id (the tests find a table by it).
    pub id: &'static str,
    pub title: &'static str,
    pub first: &'static str,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Row>,
    /// What would be listed, said when nothing is; empty: "nothing measured".
    pub empty: &'static str,
}

impl Table {
    /// One row per element of `answer[key]`: its `name_key` text, then each column's cell.
    pub fn of(
        id: &'static str,
        title: &'static str,
        first: &'static str,
        answer: &Value,
        key: &str,
        name_key: &str,
        columns: Vec<Column<'_>>,
    ) -> Self {
        let name = |row: &Value| super::figures::text(&row[name_key]);
        Self::named_by(id, title, first, answer, key, name, columns)
    }

    /// As [`Table::of`], the name of a row being what `name` makes of it (hostile text,
    /// clipped: [`super::figures::text`]).
    pub fn named_by(
        id: &'static str,
        title: &'static str,
        first: &'static str,
        answer: &Value,
        key: &str,
        name: impl Fn(&Value) -> String,
        columns: Vec<Column<'_>>,
    ) -> Self {
        let rows = answer[key]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|row| Row {
                name: name(row),
                cells: columns.iter().map(|(_, cell)| cell(row)).collect(),
            })
            .collect();
        Self {
            id,
            title,
            first,
            columns: columns.iter().map(|(label, _)| *label).collect(),
            rows,
            empty: "",
        }
    }

    /// Says `text` when there are no rows.
    pub fn when_empty(mut self, text: &'static str) -> Self {
        self.empty = text;
        self
    }
}
