//! Query language: filters, options, cursors, their SQL rendering and in-memory matching.

mod column;
mod cursor;
mod filter;
mod matcher;
mod options;
mod sql;
#[cfg(test)]
mod tests;

pub use column::{Column, Filter, Operand};
pub use cursor::Cursor;
pub use filter::{Condition, Operator, TextMatch, operators_for};
pub use options::{CountMode, QueryOptions, SortKey};
pub(crate) use sql::SqlBuilder;

/// At most this many values in an `in` / `not_in` list.
pub const MAX_IN_VALUES: usize = 1000;
/// Groups nest at most this deep.
pub const MAX_FILTER_DEPTH: usize = 8;
/// Longest pattern or text of `like`, `ilike`, `contains`, `starts_with`, `ends_with`, in bytes:
/// escaped, it stays below SQLite's LIKE limit (50,000 bytes), and the matcher's work is bounded.
pub const MAX_PATTERN_BYTES: usize = 20_000;
/// At most this many conditions in one filter set.
pub const MAX_CONDITIONS: usize = 64;
