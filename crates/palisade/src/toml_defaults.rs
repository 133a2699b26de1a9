//! Settings files read as clap defaults: the server's `--config` file and the CLI's profile.
//! A file's values become the defaults of the arguments they name, so a flag or an environment
//! variable still wins over them, and they over the built-in defaults, by clap's own order.

use std::path::Path;

use anyhow::{bail, Context};

/// A string, number or boolean as a flag would take it.
fn scalar(value: &toml_edit::Value) -> Option<String> {
    match value {
        toml_edit::Value::String(s) => Some(s.value().clone()),
        toml_edit::Value::Integer(i) => Some(i.value().to_string()),
        toml_edit::Value::Boolean(b) => Some(b.value().to_string()),
        _ => None,
    }
}

/// The file's top-level keys with their values as a flag takes them (a list joined with `,`);
/// `None` when there is no such file.
pub fn read(file: &Path) -> anyhow::Result<Option<Vec<(String, String)>>> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    let document: toml_edit::DocumentMut =
        text.parse().with_context(|| format!("{} is not valid TOML", file.display()))?;
    let mut settings = Vec::new();
    for (key, item) in document.iter() {
        let value = match item.as_value() {
            Some(toml_edit::Value::Array(items)) => {
                items.iter().map(scalar).collect::<Option<Vec<_>>>().map(|v| v.join(","))
            }
            Some(value) => scalar(value),
            None => None,
        };
        let Some(value) = value else {
            bail!("{}: `{key}` must be a string, a number, a boolean or a list of those", file.display());
        };
        settings.push((key.to_owned(), value));
    }
    Ok(Some(settings))
}

/// `command` with `value` as the default of argument `id` wherever it is declared (it and its
/// subcommands'), no longer required since it now has a value.
pub fn with_default(command: clap::Command, id: &str, value: String) -> clap::Command {
    // Defaults are `'static` to clap; a few strings live as long as the process anyway.
    let value: &'static str = Box::leak(value.into_boxed_str());
    set(command, id, value)
}

fn set(command: clap::Command, id: &str, value: &'static str) -> clap::Command {
    let mut command = command;
    if command.get_arguments().any(|a| a.get_id() == id) {
        command = command.mut_arg(id, |a| a.default_value(value).required(false));
    }
    let names: Vec<String> = command.get_subcommands().map(|s| s.get_name().to_owned()).collect();
    for name in names {
        command = command.mut_subcommand(name, |sub| set(sub, id, value));
    }
    command
}
