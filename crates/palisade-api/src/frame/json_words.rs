//! serde's error messages in the words of JSON, not of Rust: a client that sent `[]` where an
//! object belongs reads `expected an object`, never `expected struct CreateOrganizationRequest
//! with 2 elements` (the name of a type of ours tells it nothing, and tells an attacker how the
//! server is built). Every face runs the messages it shows through [`json_words`].

/// Rust's names for integer and float types, as JSON says them.
fn number_word(word: &str) -> Option<&'static str> {
    match word {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => {
            Some("an integer")
        }
        "f32" | "f64" => Some("a number"),
        _ => None,
    }
}

/// `message` with `struct Name [with N elements]` as `an object`, `enum Name` as `one of the
/// documented values`, and integer and float type names as `an integer` and `a number`.
pub fn json_words(message: &str) -> String {
    // An array where an object belongs is an invalid length to serde; to a client, a wrong type.
    if message.starts_with("invalid length") && message.contains("expected struct") {
        return "invalid type: array, expected an object".into();
    }
    let words: Vec<&str> = message.split(' ').collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut i = 0;
    while let Some(word) = words.get(i) {
        // Punctuation that follows a word (`u32,` `Name)`), kept after its replacement.
        let end = word.trim_end_matches([',', ';', ':', ')', '.']).len();
        let (core, tail) = word.split_at(end);
        match core {
            "struct" | "enum" if i + 1 < words.len() => {
                let name = words[i + 1];
                let name_end = name.trim_end_matches([',', ';', ':', ')', '.']).len();
                let mut tail = name[name_end..].to_owned();
                i += 2;
                // `with 2 elements`: the struct's size, gone with its name.
                if core == "struct" && words.get(i) == Some(&"with") {
                    if let Some(count) = words.get(i + 2) {
                        let count_end = count.trim_end_matches([',', ';', ':', ')', '.']).len();
                        tail = count[count_end..].to_owned();
                        i += 3;
                    }
                }
                let said = if core == "struct" { "an object" } else { "one of the documented values" };
                out.push(format!("{said}{tail}"));
                continue;
            }
            _ => match number_word(core) {
                Some(said) => out.push(format!("{said}{tail}")),
                None => out.push((*word).to_owned()),
            },
        }
        i += 1;
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::json_words;

    #[test]
    fn rust_type_names_become_json_words() {
        assert_eq!(
            json_words("invalid length 0, expected struct CreateOrganizationRequest with 2 elements"),
            "invalid type: array, expected an object"
        );
        assert_eq!(
            json_words("invalid type: sequence, expected struct CountryWire"),
            "invalid type: sequence, expected an object"
        );
        assert_eq!(
            json_words("invalid type: string \"x\", expected u32"),
            "invalid type: string \"x\", expected an integer"
        );
        assert_eq!(
            json_words("invalid value: integer `-1`, expected u16, at the end"),
            "invalid value: integer `-1`, expected an integer, at the end"
        );
        assert_eq!(json_words("expected enum VersionWire"), "expected one of the documented values");
        assert_eq!(
            json_words("invalid type: floating point `1.5`, expected f64"),
            "invalid type: floating point `1.5`, expected a number"
        );
        // Messages without type names are left alone.
        let plain = "unknown field `x`, expected one of `name`, `sub_domain`";
        assert_eq!(json_words(plain), plain);
    }
}
