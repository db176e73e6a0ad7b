//! Name conversions: `rename_all` rules and the default table name.

/// Splits a Rust identifier (snake_case or PascalCase) into lower-case words.
fn words(ident: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for ch in ident.chars() {
        if ch == '_' {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            prev_lower = false;
            continue;
        }
        if ch.is_uppercase() && prev_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        prev_lower = ch.is_lowercase() || ch.is_ascii_digit();
        current.extend(ch.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The `rename_all` rules, named as serde names them.
pub const RENAME_RULES: &[&str] =
    &["snake_case", "camelCase", "PascalCase", "lowercase", "UPPERCASE", "SCREAMING_SNAKE_CASE", "kebab-case"];

/// Applies a `rename_all` rule; `None` when the rule is unknown.
pub fn apply_rule(rule: &str, ident: &str) -> Option<String> {
    let w = words(ident);
    Some(match rule {
        "snake_case" => w.join("_"),
        "camelCase" => w.iter().enumerate().map(|(i, s)| if i == 0 { s.clone() } else { capitalize(s) }).collect(),
        "PascalCase" => w.iter().map(|s| capitalize(s)).collect(),
        "lowercase" => w.concat(),
        "UPPERCASE" => w.concat().to_uppercase(),
        "SCREAMING_SNAKE_CASE" => w.join("_").to_uppercase(),
        "kebab-case" => w.join("-"),
        _ => return None,
    })
}

/// The default table name: the snake_case plural of the struct name (`SensorReading` → `sensor_readings`).
pub fn table_name(struct_name: &str) -> String {
    let snake = words(struct_name).join("_");
    pluralize(&snake)
}

fn pluralize(word: &str) -> String {
    let ends = |s: &str| word.ends_with(s);
    if ends("s") || ends("x") || ends("z") || ends("ch") || ends("sh") {
        format!("{word}es")
    } else if ends("y") && !matches!(word.chars().rev().nth(1), Some('a' | 'e' | 'i' | 'o' | 'u')) {
        format!("{}ies", &word[..word.len() - 1])
    } else {
        format!("{word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        assert_eq!(table_name("User"), "users");
        assert_eq!(table_name("SensorReading"), "sensor_readings");
        assert_eq!(table_name("Category"), "categories");
        assert_eq!(table_name("Address"), "addresses");
        assert_eq!(table_name("Day"), "days");
        assert_eq!(table_name("HTTPLog"), "httplogs");
    }

    #[test]
    fn rules() {
        assert_eq!(apply_rule("camelCase", "created_at").unwrap(), "createdAt");
        assert_eq!(apply_rule("PascalCase", "created_at").unwrap(), "CreatedAt");
        assert_eq!(apply_rule("SCREAMING_SNAKE_CASE", "created_at").unwrap(), "CREATED_AT");
        assert_eq!(apply_rule("kebab-case", "created_at").unwrap(), "created-at");
        assert!(apply_rule("Title Case", "x").is_none());
    }
}
