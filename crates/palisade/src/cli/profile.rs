//! The CLI's profile: where an operator keeps the server and the token they use, so that
//! `palisade org list` needs neither flag. A TOML file at `$PALISADE_PROFILE`, else
//! `$XDG_CONFIG_HOME/palisade/cli.toml`, else `~/.config/palisade/cli.toml`, with any of `url`,
//! `token`, `org` and `output`. Its values are the defaults: a flag or an environment variable
//! (`PALISADE_URL`, `PALISADE_TOKEN`, `PALISADE_ORG`) overrides them. A profile holding a token
//! that others may read is refused, as ssh refuses such a key.

use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::toml_defaults;

/// The profile's keys, and the argument each stands for.
const KEYS: &[(&str, &str)] = &[("url", "url"), ("token", "token"), ("org", "org"), ("output", "format")];

/// Where the profile is looked for.
pub fn path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PALISADE_PROFILE") {
        return Some(PathBuf::from(path));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(config.join("palisade").join("cli.toml"))
}

/// `command` with the profile's values as the defaults of the arguments they stand for (in
/// every subcommand that has them); unchanged when there is no profile.
pub fn apply(command: clap::Command, file: &Path) -> anyhow::Result<clap::Command> {
    let Some(settings) = toml_defaults::read(file)? else { return Ok(command) };
    let mut command = command;
    for (key, value) in settings {
        let Some((_, id)) = KEYS.iter().find(|(k, _)| *k == key) else {
            let keys: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
            bail!("the profile {}: unknown key `{key}`; keys are: {}", file.display(), keys.join(", "));
        };
        if key == "token" && readable_by_others(file) {
            bail!("the profile {} holds a token and others may read it: chmod 600 {0}", file.display());
        }
        command = toml_defaults::with_default(command, id, value);
    }
    Ok(command)
}

#[cfg(unix)]
fn readable_by_others(file: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(file).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

#[cfg(not(unix))]
fn readable_by_others(_: &Path) -> bool {
    false
}
