//! Filters: parsed from the JSON of `options.filters`, validated against the entity's columns,
//! and turned into a typed condition tree. Nothing reaches SQL without passing through here.

use serde_json::Value as Json;

use super::{MAX_CONDITIONS, MAX_FILTER_DEPTH, MAX_IN_VALUES};
use crate::entity::{ColumnMeta, ColumnType, EntityDef};
use crate::error::{Error, Result};
use crate::value::{Value, clip, json_kind};

/// A filter operator (canonical names; symbolic aliases are accepted on input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `eq`, `=`
    Eq,
    /// `neq`, `!=`, `<>`
    Neq,
    /// `gt`, `>`
    Gt,
    /// `gte`, `>=`
    Gte,
    /// `lt`, `<`
    Lt,
    /// `lte`, `<=`
    Lte,
    /// SQL LIKE, case-sensitive
    Like,
    /// SQL LIKE, case-insensitive
    Ilike,
    /// value in a list
    In,
    /// value not in a list
    NotIn,
    /// IS NULL
    IsNull,
    /// IS NOT NULL
    IsNotNull,
    /// inclusive range `[low, high]`
    Between,
    /// case-insensitive substring
    Contains,
    /// case-insensitive prefix
    StartsWith,
    /// case-insensitive suffix
    EndsWith,
}

impl Operator {
    const ALL: [Operator; 16] = [
        Self::Eq,
        Self::Neq,
        Self::Gt,
        Self::Gte,
        Self::Lt,
        Self::Lte,
        Self::Like,
        Self::Ilike,
        Self::In,
        Self::NotIn,
        Self::IsNull,
        Self::IsNotNull,
        Self::Between,
        Self::Contains,
        Self::StartsWith,
        Self::EndsWith,
    ];

    /// Parses a canonical name (case-insensitive) or a symbolic alias.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "eq" | "=" | "==" => Self::Eq,
            "neq" | "ne" | "!=" | "<>" => Self::Neq,
            "gt" | ">" => Self::Gt,
            "gte" | ">=" => Self::Gte,
            "lt" | "<" => Self::Lt,
            "lte" | "<=" => Self::Lte,
            "like" => Self::Like,
            "ilike" => Self::Ilike,
            "in" => Self::In,
            "not_in" | "nin" => Self::NotIn,
            "is_null" | "isnull" => Self::IsNull,
            "is_not_null" | "isnotnull" | "not_null" => Self::IsNotNull,
            "between" => Self::Between,
            "contains" => Self::Contains,
            "starts_with" => Self::StartsWith,
            "ends_with" => Self::EndsWith,
            _ => return None,
        })
    }

    /// The canonical name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Neq => "neq",
            Self::Gt => "gt",
            Self::Gte => "gte",
            Self::Lt => "lt",
            Self::Lte => "lte",
            Self::Like => "like",
            Self::Ilike => "ilike",
            Self::In => "in",
            Self::NotIn => "not_in",
            Self::IsNull => "is_null",
            Self::IsNotNull => "is_not_null",
            Self::Between => "between",
            Self::Contains => "contains",
            Self::StartsWith => "starts_with",
            Self::EndsWith => "ends_with",
        }
    }

    /// Whether the operator applies to a column of this type.
    pub fn suits(self, ty: ColumnType) -> bool {
        use ColumnType::*;
        use Operator::*;
        match self {
            IsNull | IsNotNull => true,
            Eq | Neq | In | NotIn => ty != Json,
            Gt | Gte | Lt | Lte | Between => matches!(ty, Integer | Float | Text | Timestamp | Date),
            Like | Ilike | Contains | StartsWith | EndsWith => ty == Text,
        }
    }
}

/// The canonical operators a column accepts (for `meta`).
pub fn operators_for(column: &ColumnMeta) -> Vec<&'static str> {
    Operator::ALL.iter().filter(|op| op.suits(column.ty)).map(|op| op.as_str()).collect()
}

/// The case-insensitive substring tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextMatch {
    /// anywhere
    Contains,
    /// at the start
    StartsWith,
    /// at the end
    EndsWith,
}

/// A validated condition tree over one entity's columns (columns by index).
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `eq`/`neq`/`gt`/`gte`/`lt`/`lte` against a typed value.
    Compare {
        /// column index
        column: usize,
        /// one of the six comparison operators
        op: Operator,
        /// the typed operand
        value: Value,
    },
    /// `like` / `ilike` with an SQL pattern (`\` escapes).
    Like {
        /// column index
        column: usize,
        /// the pattern
        pattern: String,
        /// `ilike`
        case_insensitive: bool,
    },
    /// `contains` / `starts_with` / `ends_with`, literal and case-insensitive.
    Text {
        /// column index
        column: usize,
        /// which test
        kind: TextMatch,
        /// the literal text
        needle: String,
    },
    /// `in` / `not_in`.
    In {
        /// column index
        column: usize,
        /// the typed list
        values: Vec<Value>,
        /// `not_in`
        negated: bool,
    },
    /// `is_null` / `is_not_null`.
    Null {
        /// column index
        column: usize,
        /// `is_not_null`
        negated: bool,
    },
    /// Inclusive range.
    Between {
        /// column index
        column: usize,
        /// lower bound
        low: Value,
        /// upper bound
        high: Value,
    },
    /// All of (true when empty).
    And(Vec<Condition>),
    /// Any of (false when empty).
    Or(Vec<Condition>),
}

impl Condition {
    /// The condition that matches every row.
    pub const fn all() -> Self {
        Condition::And(Vec::new())
    }

    /// Whether this matches every row without a test.
    pub fn is_trivially_true(&self) -> bool {
        matches!(self, Condition::And(items) if items.iter().all(Condition::is_trivially_true))
    }

    /// `self AND other`, flattening nested ANDs.
    pub fn and(self, other: Condition) -> Condition {
        Condition::And(self.joined(other, true))
    }

    /// `self OR other`, flattening nested ORs.
    pub fn or(self, other: Condition) -> Condition {
        Condition::Or(self.joined(other, false))
    }

    /// The items of `self` and `other` under AND (`all`) or OR, each group of the same kind opened.
    fn joined(self, other: Condition, all: bool) -> Vec<Condition> {
        let items = |c: Condition| match (c, all) {
            (Condition::And(items), true) | (Condition::Or(items), false) => items,
            (c, _) => vec![c],
        };
        let mut joined = items(self);
        joined.extend(items(other));
        joined
    }

    /// Parses and validates the JSON of `options.filters` (an array).
    pub fn parse_filters(def: &EntityDef, json: &Json) -> Result<Condition> {
        let mut parser = Parser { def, conditions: 0 };
        let items = json
            .as_array()
            .ok_or_else(|| Error::validation(format!("options.filters must be an array, got {}", json_kind(json))))?;
        parser.list(items, 1)
    }

    /// Validates one `column` / `operator` / `value` triple (what a hook adds, for instance).
    pub fn parse_one(def: &EntityDef, column: &str, operator: &str, value: &Json) -> Result<Condition> {
        Parser { def, conditions: 0 }.filter(column, operator, Some(value))
    }
}

struct Parser<'a> {
    def: &'a EntityDef,
    conditions: usize,
}

enum Logic {
    And,
    Or,
}

impl Parser<'_> {
    /// A top-level list or an `and` group: consecutive OR-ed items form one group, groups are AND-ed.
    fn list(&mut self, items: &[Json], depth: usize) -> Result<Condition> {
        let mut groups: Vec<Vec<Condition>> = Vec::new();
        for item in items {
            let (condition, logic) = self.item(item, depth, true)?;
            match (logic, groups.last_mut()) {
                (Logic::Or, Some(group)) => group.push(condition),
                _ => groups.push(vec![condition]),
            }
        }
        let mut anded: Vec<Condition> = groups
            .into_iter()
            .map(|mut g| if g.len() == 1 { g.pop().expect("one") } else { Condition::Or(g) })
            .collect();
        Ok(if anded.len() == 1 { anded.pop().expect("one") } else { Condition::And(anded) })
    }

    fn item(&mut self, item: &Json, depth: usize, logic_allowed: bool) -> Result<(Condition, Logic)> {
        let object = item
            .as_object()
            .ok_or_else(|| Error::validation(format!("a filter must be an object, got {}", json_kind(item))))?;
        let logic = match object.get("logic_operator") {
            None | Some(Json::Null) => Logic::And,
            Some(_) if !logic_allowed => {
                return Err(Error::validation("members of an `or` group cannot carry `logic_operator`"));
            }
            Some(Json::String(s)) if s.eq_ignore_ascii_case("and") => Logic::And,
            Some(Json::String(s)) if s.eq_ignore_ascii_case("or") => Logic::Or,
            Some(other) => {
                return Err(Error::validation(format!(
                    "logic_operator must be \"AND\" or \"OR\", got {}",
                    describe(other)
                )));
            }
        };
        let group = |key: &str| object.get(key);
        if group("or").is_some() && group("and").is_some() {
            return Err(Error::validation("a filter group is either `or` or `and`, not both"));
        }
        if (group("or").is_some() || group("and").is_some())
            && let Some(stray) = object.keys().find(|k| !matches!(k.as_str(), "or" | "and" | "logic_operator"))
        {
            return Err(Error::validation(format!(
                "a filter group holds only `or`/`and` and `logic_operator`, not `{}`",
                crate::value::clip(stray)
            )));
        }
        if let Some(members) = group("or") {
            let members = self.group_members(members, depth, "or")?;
            let mut parsed = Vec::with_capacity(members.len());
            for member in members {
                parsed.push(self.item(member, depth + 1, false)?.0);
            }
            return Ok((Condition::Or(parsed), logic));
        }
        if let Some(members) = group("and") {
            let members = self.group_members(members, depth, "and")?;
            return Ok((self.list(members, depth + 1)?, logic));
        }
        let column = match object.get("column") {
            Some(Json::String(c)) => c.as_str(),
            Some(other) => {
                return Err(Error::validation(format!("filter `column` must be a string, got {}", json_kind(other))));
            }
            None => return Err(Error::validation("a filter needs `column` (or is an `or`/`and` group)")),
        };
        let operator = match object.get("operator") {
            Some(Json::String(o)) => o.as_str(),
            Some(other) => {
                return Err(Error::invalid_column(
                    column,
                    format!("`operator` must be a string, got {}", json_kind(other)),
                ));
            }
            None => return Err(Error::invalid_column(column, "filter needs `operator`")),
        };
        Ok((self.filter(column, operator, object.get("value"))?, logic))
    }

    fn group_members<'j>(&self, members: &'j Json, depth: usize, key: &str) -> Result<&'j [Json]> {
        if depth >= MAX_FILTER_DEPTH {
            return Err(Error::validation(format!("filter groups nest at most {MAX_FILTER_DEPTH} deep")));
        }
        members.as_array().map(Vec::as_slice).ok_or_else(|| {
            Error::validation(format!("an `{key}` group holds an array of filters, got {}", json_kind(members)))
        })
    }

    fn filter(&mut self, column_name: &str, operator: &str, value: Option<&Json>) -> Result<Condition> {
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return Err(Error::validation(format!("at most {MAX_CONDITIONS} filter conditions")));
        }
        let shown = clip(column_name);
        let (index, column) = self
            .def
            .column(column_name)
            .filter(|(_, c)| !c.write_only)
            .ok_or_else(|| Error::invalid_column(&shown, "no such column"))?;
        if !column.filterable {
            return Err(Error::invalid_column(column.name, "column is not filterable"));
        }
        let mut op = Operator::parse(operator)
            .ok_or_else(|| Error::invalid_column(column.name, format!("unknown operator `{}`", clip(operator))))?;
        let value = value.unwrap_or(&Json::Null);
        // `eq null` means `is_null` (and `neq null`, `is_not_null`).
        if value.is_null() {
            match op {
                Operator::Eq => op = Operator::IsNull,
                Operator::Neq => op = Operator::IsNotNull,
                _ => {}
            }
        }
        if !op.suits(column.ty) {
            return Err(Error::invalid_column(
                column.name,
                format!("operator `{}` does not apply to a {} column", op.as_str(), column.ty.as_str()),
            ));
        }
        let typed = |json: &Json| -> Result<Value> {
            match column.parse_json(json) {
                Ok(Value::Null) => Err(Error::invalid_column(
                    column.name,
                    format!("operator `{}` needs a non-null value", op.as_str()),
                )),
                Ok(v) => Ok(v),
                Err(reason) => Err(Error::invalid_column(column.name, reason)),
            }
        };
        let text = |json: &Json| -> Result<String> {
            let text = json.as_str().ok_or_else(|| {
                Error::invalid_column(
                    column.name,
                    format!("operator `{}` needs a string, got {}", op.as_str(), json_kind(json)),
                )
            })?;
            if let Some(reason) = pattern_problem(text) {
                return Err(Error::invalid_column(column.name, reason));
            }
            Ok(text.to_owned())
        };
        Ok(match op {
            Operator::Eq | Operator::Neq | Operator::Gt | Operator::Gte | Operator::Lt | Operator::Lte => {
                Condition::Compare { column: index, op, value: typed(value)? }
            }
            Operator::IsNull | Operator::IsNotNull => {
                Condition::Null { column: index, negated: op == Operator::IsNotNull }
            }
            Operator::Like | Operator::Ilike => {
                let pattern = text(value)?;
                if pattern.ends_with('\\') && pattern.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1 {
                    return Err(Error::invalid_column(column.name, "a pattern cannot end with an unescaped `\\`"));
                }
                Condition::Like { column: index, pattern, case_insensitive: op == Operator::Ilike }
            }
            Operator::Contains | Operator::StartsWith | Operator::EndsWith => {
                let kind = match op {
                    Operator::Contains => TextMatch::Contains,
                    Operator::StartsWith => TextMatch::StartsWith,
                    _ => TextMatch::EndsWith,
                };
                Condition::Text { column: index, kind, needle: text(value)? }
            }
            Operator::In | Operator::NotIn => {
                let list = value.as_array().ok_or_else(|| {
                    Error::invalid_column(
                        column.name,
                        format!("operator `{}` needs an array, got {}", op.as_str(), json_kind(value)),
                    )
                })?;
                if list.len() > MAX_IN_VALUES {
                    return Err(Error::invalid_column(
                        column.name,
                        format!("`{}` takes at most {MAX_IN_VALUES} values, got {}", op.as_str(), list.len()),
                    ));
                }
                let values = list.iter().map(typed).collect::<Result<Vec<_>>>()?;
                Condition::In { column: index, values, negated: op == Operator::NotIn }
            }
            Operator::Between => match value.as_array().map(Vec::as_slice) {
                Some([low, high]) => Condition::Between { column: index, low: typed(low)?, high: typed(high)? },
                _ => return Err(Error::invalid_column(column.name, "`between` needs an array [low, high]")),
            },
        })
    }
}

fn describe(json: &Json) -> String {
    match json {
        Json::String(s) => format!("\"{}\"", clip(s)),
        other => json_kind(other).to_owned(),
    }
}

/// Why a pattern operator's text is refused (NUL, or longer than [`MAX_PATTERN_BYTES`]).
pub(super) fn pattern_problem(text: &str) -> Option<String> {
    if text.contains('\0') {
        return Some(crate::value::NUL_IN_TEXT.to_owned());
    }
    (text.len() > super::MAX_PATTERN_BYTES)
        .then(|| format!("a pattern of {} bytes is longer than {} bytes", text.len(), super::MAX_PATTERN_BYTES))
}
