//! `palisade serve --config FILE`: the server's settings from a TOML file, beside flags and
//! environment variables. Each key is a flag's long name (`listen`, `database-url`; `_` for
//! `-` also reads), each value what the flag takes (a list for a comma-separated flag such as
//! `trusted-proxies`). The file's values stand in for the built-in defaults, so the order is
//! **flag > environment > file > default**: the file is where a deployment writes its
//! settings, a flag or a variable what one start overrides. Unknown keys are refused, naming
//! the valid ones. `--print-config` shows every setting's value and where it came from.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::parser::ValueSource;
use palisade::toml_defaults;

/// The subcommand a configuration file configures.
const SERVE: &str = "serve";
/// Settings never shown, only whether they are set.
const SECRETS: &[&str] = &["admin_token", "metrics_token"];

/// The file named by `--config FILE` / `--config=FILE` on the `serve` command line, or by
/// `PALISADE_CONFIG` (read before clap parses, since the file changes what it parses with).
pub fn named(args: &[String]) -> Option<PathBuf> {
    if args.get(1).map(String::as_str) != Some(SERVE) {
        return None;
    }
    let mut rest = args.iter().skip(2);
    while let Some(arg) = rest.next() {
        if arg == "--config" {
            return rest.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("PALISADE_CONFIG").map(PathBuf::from)
}

/// `command` with the file's settings as the `serve` subcommand's defaults; the ids it set.
pub fn apply(command: clap::Command, file: &Path) -> anyhow::Result<(clap::Command, BTreeSet<String>)> {
    let settings = toml_defaults::read(file)?.with_context(|| format!("{}: no such file", file.display()))?;
    let mut serve = command.find_subcommand(SERVE).cloned().context("no serve command")?;
    let known: Vec<String> = serve
        .get_arguments()
        .filter(|a| a.get_long().is_some() && !matches!(a.get_id().as_str(), "config" | "print_config"))
        .map(|a| a.get_id().to_string())
        .collect();
    let mut set = BTreeSet::new();
    for (key, value) in settings {
        let id = key.replace('-', "_");
        if !known.contains(&id) {
            let valid: Vec<String> = known.iter().map(|k| k.replace('_', "-")).collect();
            bail!("{}: unknown setting `{key}`; settings are: {}", file.display(), valid.join(", "));
        }
        serve = toml_defaults::with_default(serve, &id, value);
        set.insert(id);
    }
    Ok((command.mut_subcommand(SERVE, |_| serve), set))
}

/// Every `serve` setting as `key = value  # where it came from`, secrets hidden.
pub fn describe(command: &clap::Command, matches: &clap::ArgMatches, from_file: &BTreeSet<String>) -> String {
    let Some(serve) = command.find_subcommand(SERVE) else { return String::new() };
    let mut lines = Vec::new();
    for arg in serve.get_arguments().filter(|a| a.get_long().is_some()) {
        let id = arg.get_id().as_str();
        if matches!(id, "config" | "print_config" | "help") {
            continue;
        }
        let values: Vec<String> = matches
            .get_raw(id)
            .map(|v| v.map(|s| s.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let shown = if values.is_empty() {
            "(not set)".to_owned()
        } else if SECRETS.contains(&id) {
            "\"[redacted]\"".to_owned()
        } else if id == "database_url" {
            format!("{:?}", palisade::redact_url(&values.join(",")))
        } else {
            format!("{:?}", values.join(","))
        };
        let source = match matches.value_source(id) {
            Some(ValueSource::CommandLine) => "flag",
            Some(ValueSource::EnvVariable) => "environment",
            Some(ValueSource::DefaultValue) if from_file.contains(id) => "file",
            Some(ValueSource::DefaultValue) => "default",
            _ => "not set",
        };
        lines.push(format!("{} = {shown}  # {source}", id.replace('_', "-")));
    }
    lines.join("\n")
}
