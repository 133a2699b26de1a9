//! How the operator CLI shows answers: aligned tables for people (a list as rows, one object
//! as `field  value` lines), or the API's JSON untouched for scripts (`-o json`).

use serde_json::Value;

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// The API's JSON, pretty-printed, for scripts.
    Json,
}

/// A value as one table cell: strings bare, lists joined with `,`, nothing as `-`.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(|i| !i.is_object()) => {
            let joined: Vec<String> = items.iter().map(cell).collect();
            if joined.is_empty() {
                "-".into()
            } else {
                joined.join(",")
            }
        }
        other => other.to_string(),
    }
}

/// The value at a dotted path (`country.iso_code2`).
fn at<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(value, |v, key| &v[key])
}

/// Rows of `columns` (header, dotted field path), left-aligned.
pub fn table(items: &[Value], columns: &[(&str, &str)]) -> String {
    let rows: Vec<Vec<String>> =
        items.iter().map(|item| columns.iter().map(|(_, path)| cell(at(item, path))).collect()).collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (header, _))| {
            rows.iter().map(|r| r[i].chars().count()).chain([header.len()]).max().unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> =
            cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}", w = *w)).collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(columns.iter().map(|(h, _)| (*h).to_owned()).collect())];
    out.extend(rows.into_iter().map(line));
    out.join("\n")
}

/// One object as `field  value` lines, nested objects and lists of objects as compact JSON.
pub fn record(value: &Value) -> String {
    let Some(object) = value.as_object() else { return cell(value) };
    let width = object.keys().map(String::len).max().unwrap_or(0);
    object.iter().map(|(k, v)| format!("{k:<width$}  {}", cell(v))).collect::<Vec<_>>().join("\n")
}

/// Prints `value` as `format` says; `human` renders it for people.
pub fn print(format: Format, value: &Value, human: impl FnOnce(&Value) -> String) {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(value).unwrap_or_default()),
        Format::Table => println!("{}", human(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_and_show_nothing_as_a_dash() {
        let items = [
            json!({"id": "a", "name": "web", "tags": ["x", "y"], "dc": {"name": "ams"}}),
            json!({"id": "bbb", "name": null, "tags": [], "dc": {"name": "lon"}}),
        ];
        let text = table(&items, &[("ID", "id"), ("NAME", "name"), ("TAGS", "tags"), ("DC", "dc.name")]);
        assert_eq!(text, "ID   NAME  TAGS  DC\na    web   x,y   ams\nbbb  -     -     lon");
        assert_eq!(record(&json!({"id": "a", "scopes": ["s1"]})), "id      a\nscopes  s1");
    }
}
