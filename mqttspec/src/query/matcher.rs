//! In-memory evaluation of a condition on a row, with the semantics of the SQL it renders to
//! (a comparison with NULL is false). Used to match changes against subscriptions.

use std::cmp::Ordering;

use super::{Condition, Operator, TextMatch};
use crate::value::{Value, fold_case};

impl Condition {
    /// Whether `row` (values in column order) satisfies the condition.
    pub fn matches(&self, row: &[Value]) -> bool {
        match self {
            Condition::Compare { column, op, value } => {
                let Some(ord) = row[*column].compare(value) else {
                    return false;
                };
                match op {
                    Operator::Eq => ord == Ordering::Equal,
                    Operator::Neq => ord != Ordering::Equal,
                    Operator::Gt => ord == Ordering::Greater,
                    Operator::Gte => ord != Ordering::Less,
                    Operator::Lt => ord == Ordering::Less,
                    _ => ord != Ordering::Greater,
                }
            }
            Condition::Like { column, pattern, case_insensitive } => match &row[*column] {
                Value::Text(text) if *case_insensitive => like(&fold_case(text), &fold_case(pattern)),
                Value::Text(text) => like(text, pattern),
                _ => false,
            },
            Condition::Text { column, kind, needle } => match &row[*column] {
                Value::Text(text) => {
                    let (text, needle) = (fold_case(text), fold_case(needle));
                    match kind {
                        TextMatch::Contains => text.contains(&needle),
                        TextMatch::StartsWith => text.starts_with(&needle),
                        TextMatch::EndsWith => text.ends_with(&needle),
                    }
                }
                _ => false,
            },
            Condition::In { column, values, negated } => {
                let value = &row[*column];
                if *value == Value::Null {
                    return values.is_empty() && *negated;
                }
                let found = values.iter().any(|v| value.compare(v) == Some(Ordering::Equal));
                found != *negated
            }
            Condition::Null { column, negated } => (row[*column] == Value::Null) != *negated,
            Condition::Between { column, low, high } => {
                let value = &row[*column];
                matches!(value.compare(low), Some(Ordering::Greater | Ordering::Equal))
                    && matches!(value.compare(high), Some(Ordering::Less | Ordering::Equal))
            }
            Condition::And(items) => items.iter().all(|c| c.matches(row)),
            Condition::Or(items) => items.iter().any(|c| c.matches(row)),
        }
    }
}

/// SQL LIKE: `%` any run, `_` one character, `\` escapes the next character.
fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(ch) = chars.next() {
        tokens.push(match ch {
            '%' => Token::Any,
            '_' => Token::One,
            '\\' => Token::Lit(chars.next().unwrap_or('\\')),
            c => Token::Lit(c),
        });
    }
    // Iterative wildcard matching with backtracking to the last `%`.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Token::Lit(c)) if *c == text[t] => (t, p) = (t + 1, p + 1),
            Some(Token::One) => (t, p) = (t + 1, p + 1),
            Some(Token::Any) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    (t, p) = (st + 1, sp + 1);
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(|tok| matches!(tok, Token::Any))
}

#[derive(Clone, Copy)]
enum Token {
    Any,
    One,
    Lit(char),
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_patterns() {
        assert!(like("alice", "a%"));
        assert!(like("alice", "%ic%"));
        assert!(like("alice", "_lice"));
        assert!(!like("alice", "A%"));
        assert!(like("100%", "100\\%"));
        assert!(!like("1000", "100\\%"));
        assert!(like("", "%"));
        assert!(!like("", "_"));
        assert!(like("abcabc", "%b%c"));
    }
}
