//! Typed columns: `#[derive(SpecEntity)]` gives each field a constant (`User::TENANT_ID`) whose
//! conditions (`User::TENANT_ID.eq(t)`) are checked by the compiler — the column exists, the
//! value has the column's type, the operator suits the column's class — and become the same
//! validated [`Condition`] a client's `options.filters` become.

use std::marker::PhantomData;

use super::{Condition, MAX_IN_VALUES, Operator, TextMatch};
use crate::entity::{Entity, FieldType, class};
use crate::error::{Error, Result};
use crate::value::Value;

/// One column of entity `E`, whose Rust field type is `T`.
pub struct Column<E, T> {
    index: usize,
    name: &'static str,
    _types: PhantomData<fn() -> (E, T)>,
}

impl<E, T> Clone for Column<E, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E, T> Copy for Column<E, T> {}

impl<E, T> std::fmt::Debug for Column<E, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Column").field("name", &self.name).field("index", &self.index).finish()
    }
}

/// A condition on rows of entity `E`, built from its typed columns; combine with
/// [`and`](Self::and) and [`or`](Self::or).
///
/// What the types cannot rule out (a NUL character in a text value, a LIKE pattern ending in a
/// lone `\`, an `in` list longer than [`MAX_IN_VALUES`]) is reported when the filter is used,
/// as a `validation_error` naming the column.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter<E> {
    condition: Result<Condition, (&'static str, String)>,
    _entity: PhantomData<fn() -> E>,
}

impl<E> Filter<E> {
    fn new(condition: Condition) -> Self {
        Self { condition: Ok(condition), _entity: PhantomData }
    }

    fn invalid(column: &'static str, reason: impl Into<String>) -> Self {
        Self { condition: Err((column, reason.into())), _entity: PhantomData }
    }

    /// Both conditions.
    pub fn and(self, other: Filter<E>) -> Self {
        match (self.condition, other.condition) {
            (Ok(a), Ok(b)) => Self::new(a.and(b)),
            (Err(e), _) | (_, Err(e)) => Self { condition: Err(e), _entity: PhantomData },
        }
    }

    /// Either condition.
    pub fn or(self, other: Filter<E>) -> Self {
        match (self.condition, other.condition) {
            (Ok(a), Ok(b)) => Self::new(a.or(b)),
            (Err(e), _) | (_, Err(e)) => Self { condition: Err(e), _entity: PhantomData },
        }
    }

    /// The condition, as the engine runs it; `validation_error` for a value the types let
    /// through but the database would refuse.
    pub fn into_condition(self) -> Result<Condition> {
        self.condition.map_err(|(column, reason)| Error::invalid_column(column, reason))
    }
}

/// A value the column's type admits but SQL does not: text with NUL.
fn sql_safe(value: &Value) -> Option<&'static str> {
    matches!(value, Value::Text(t) if t.contains('\0')).then_some(crate::value::NUL_IN_TEXT)
}

/// A value usable as an operand for a column whose non-NULL type is `T`: `T` itself, and `&str`
/// for text.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a value of this column's type `{T}`",
    label = "expected a `{T}` here"
)]
pub trait Operand<T> {
    /// The value as the engine binds it.
    fn into_operand(self) -> Value;
}

impl<T: FieldType> Operand<T> for T {
    fn into_operand(self) -> Value {
        self.into_value()
    }
}

impl Operand<String> for &str {
    fn into_operand(self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl Operand<String> for &String {
    fn into_operand(self) -> Value {
        Value::Text(self.clone())
    }
}

impl<E, T> Column<E, T> {
    /// The column at `index` of `E`'s metadata, named `name` (called by generated code).
    #[doc(hidden)]
    pub const fn new(index: usize, name: &'static str) -> Self {
        Self { index, name, _types: PhantomData }
    }

    /// The column's name on the wire.
    pub const fn name(self) -> &'static str {
        self.name
    }

    /// The column's index in the entity's metadata.
    pub const fn index(self) -> usize {
        self.index
    }

    /// `IS NULL`.
    pub fn is_null(self) -> Filter<E> {
        Filter::new(Condition::Null { column: self.index, negated: false })
    }

    /// `IS NOT NULL`.
    pub fn is_not_null(self) -> Filter<E> {
        Filter::new(Condition::Null { column: self.index, negated: true })
    }
}

impl<E: Entity, T: FieldType> Column<E, T>
where
    T::Class: class::Equality,
{
    fn compare(self, op: Operator, value: impl Operand<T::NonNull>) -> Filter<E> {
        let value = value.into_operand();
        match sql_safe(&value) {
            Some(reason) => Filter::invalid(self.name, reason),
            None => Filter::new(Condition::Compare { column: self.index, op, value }),
        }
    }

    fn list<V: Operand<T::NonNull>>(self, values: impl IntoIterator<Item = V>, negated: bool) -> Filter<E> {
        let values: Vec<Value> = values.into_iter().map(Operand::into_operand).collect();
        if values.len() > MAX_IN_VALUES {
            return Filter::invalid(self.name, format!("at most {MAX_IN_VALUES} values in a list"));
        }
        match values.iter().find_map(sql_safe) {
            Some(reason) => Filter::invalid(self.name, reason),
            None => Filter::new(Condition::In { column: self.index, values, negated }),
        }
    }

    /// `= value`.
    pub fn eq(self, value: impl Operand<T::NonNull>) -> Filter<E> {
        self.compare(Operator::Eq, value)
    }

    /// `<> value`.
    pub fn neq(self, value: impl Operand<T::NonNull>) -> Filter<E> {
        self.compare(Operator::Neq, value)
    }

    /// `IN (values)`.
    pub fn is_in<V: Operand<T::NonNull>>(self, values: impl IntoIterator<Item = V>) -> Filter<E> {
        self.list(values, false)
    }

    /// `NOT IN (values)`.
    pub fn not_in<V: Operand<T::NonNull>>(self, values: impl IntoIterator<Item = V>) -> Filter<E> {
        self.list(values, true)
    }
}

impl<E: Entity, T: FieldType> Column<E, T>
where
    T::Class: class::Ordered,
{
    /// `> value`.
    pub fn gt(self, value: impl Operand<T::NonNull>) -> Filter<E> {
        self.compare(Operator::Gt, value)
    }

    /// `>= value`.
    pub fn gte(self, value: impl Operand<T::NonNull>) -> Filter<E> {
        self.compare(Operator::Gte, value)
    }

    /// `< value`.
    pub fn lt(self, value: impl Operand<T::NonNull>) -> Filter<E> {
        self.compare(Operator::Lt, value)
    }

    /// `<= value`.
    pub fn lte(self, value: impl Operand<T::NonNull>) -> Filter<E> {
        self.compare(Operator::Lte, value)
    }

    /// `BETWEEN low AND high` (inclusive).
    pub fn between(self, low: impl Operand<T::NonNull>, high: impl Operand<T::NonNull>) -> Filter<E> {
        let (low, high) = (low.into_operand(), high.into_operand());
        match sql_safe(&low).or(sql_safe(&high)) {
            Some(reason) => Filter::invalid(self.name, reason),
            None => Filter::new(Condition::Between { column: self.index, low, high }),
        }
    }
}

impl<E: Entity, T: FieldType> Column<E, T>
where
    T::Class: class::Pattern,
{
    fn text(self, kind: TextMatch, needle: &str) -> Filter<E> {
        if let Some(reason) = super::filter::pattern_problem(needle) {
            return Filter::invalid(self.name, reason);
        }
        Filter::new(Condition::Text { column: self.index, kind, needle: needle.to_owned() })
    }

    fn pattern(self, pattern: &str, case_insensitive: bool) -> Filter<E> {
        if let Some(reason) = super::filter::pattern_problem(pattern) {
            return Filter::invalid(self.name, reason);
        }
        if pattern.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1 {
            return Filter::invalid(self.name, "a pattern cannot end with an unescaped `\\`");
        }
        Filter::new(Condition::Like { column: self.index, pattern: pattern.to_owned(), case_insensitive })
    }

    /// SQL `LIKE` (case-sensitive; `%`, `_`, `\` escapes).
    pub fn like(self, pattern: &str) -> Filter<E> {
        self.pattern(pattern, false)
    }

    /// SQL `LIKE`, case-insensitive.
    pub fn ilike(self, pattern: &str) -> Filter<E> {
        self.pattern(pattern, true)
    }

    /// Contains `needle` (literal, case-insensitive).
    pub fn contains(self, needle: &str) -> Filter<E> {
        self.text(TextMatch::Contains, needle)
    }

    /// Starts with `needle` (literal, case-insensitive).
    pub fn starts_with(self, needle: &str) -> Filter<E> {
        self.text(TextMatch::StartsWith, needle)
    }

    /// Ends with `needle` (literal, case-insensitive).
    pub fn ends_with(self, needle: &str) -> Filter<E> {
        self.text(TextMatch::EndsWith, needle)
    }
}
