//! Handlers are thin: each makes at most one core call (design invariant 4, "authorization by
//! lookup"). The core call that finds an object is the one that authorizes it and acts on it, so
//! a handler that needed a second call would be composing lookups and actions the core should
//! make in one transaction. This test reads the faces' source and counts, per function, the
//! calls made on the core (`….core.method(`), so a handler that grows a second call fails here.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The functions of a source file: (name, body up to the next function).
fn functions(text: &str) -> Vec<(String, &str)> {
    let starts: Vec<usize> = text.match_indices("fn ").map(|(i, _)| i).collect();
    starts
        .iter()
        .enumerate()
        .filter(|(_, &i)| i == 0 || !text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
        .map(|(n, &i)| {
            let end = starts.get(n + 1).copied().unwrap_or(text.len());
            let name: String =
                text[i + 3..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            (name, &text[i..end])
        })
        .collect()
}

/// Calls on the core in `body`: `core` then `.`, a method name and `(`, whitespace allowed
/// between (chains split over lines).
fn core_calls(body: &str) -> Vec<String> {
    let mut calls = Vec::new();
    for (i, _) in body.match_indices("core") {
        let before = body[..i].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // palisade_core, …
        }
        let rest = body[i + 4..].trim_start();
        let Some(rest) = rest.strip_prefix('.') else { continue };
        let rest = rest.trim_start();
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if !name.is_empty() && rest[name.len()..].trim_start().starts_with('(') {
            calls.push(name);
        }
    }
    calls
}

#[test]
fn one_core_call_per_handler() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for face in ["katapult", "defined", "hostway", "native"] {
        sources(&root.join(face), &mut files);
    }
    assert!(files.len() > 20, "the faces' sources were not found under {}", root.display());
    let mut handlers = 0;
    let mut offenders = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (name, body) in functions(&text) {
            let calls = core_calls(body);
            handlers += usize::from(!calls.is_empty());
            if calls.len() > 1 {
                offenders.push(format!("{}: fn {name} calls {calls:?}", file.display()));
            }
        }
    }
    assert!(handlers > 60, "only {handlers} functions call the core: the scan is not seeing the handlers");
    assert!(offenders.is_empty(), "handlers making more than one core call:\n{}", offenders.join("\n"));
}

#[test]
fn the_scan_counts_chained_and_split_calls() {
    let text = "fn a() { ctx.core.one(x).await?; }\nfn b() { state\n        .core\n        .two(y)\n        .await?; s.core.three(); }\nfn c() { palisade_core::core.x; }";
    let found: Vec<(String, Vec<String>)> =
        functions(text).into_iter().map(|(n, body)| (n, core_calls(body))).collect();
    assert_eq!(
        found,
        vec![
            ("a".to_owned(), vec!["one".to_owned()]),
            ("b".to_owned(), vec!["two".to_owned(), "three".to_owned()]),
            ("c".to_owned(), vec![]),
        ]
    );
}
