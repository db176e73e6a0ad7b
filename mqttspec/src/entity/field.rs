//! [`FieldType`]: everything mqttspec knows about a Rust field type, in one place — its column
//! class, nullability, accepted range, SQL type per dialect, decoding from each backend and
//! conversion to and from a [`Value`]. The derive only asks this trait.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::error::BoxDynError;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Postgres, Row, Sqlite};
use uuid::Uuid;

use super::ColumnType;
use super::class::{self, Class};
use crate::Value;
use crate::error::Error;

/// Column types of the generated `CREATE TABLE`, per dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlTypes {
    /// SQLite column type.
    pub sqlite: &'static str,
    /// PostgreSQL column type.
    pub postgres: &'static str,
}

/// A Rust type that can be an entity field: the single source of what a column of this type is.
///
/// Implemented for integers, `f32`, `f64`, `bool`, `String`, `chrono::DateTime<Utc>`,
/// `chrono::NaiveDate`, `uuid::Uuid`, `serde_json::Value` and `Option` of these. Type aliases work
/// as they are; a newtype or an enum becomes a field type with one line of [`field_type!`].
///
/// [`field_type!`]: crate::field_type
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a supported column type",
    label = "not a column type",
    note = "supported: integers, f32, f64, bool, String, chrono::DateTime<Utc> (timestamps are stored in UTC), chrono::NaiveDate, uuid::Uuid, serde_json::Value, and Option of these",
    note = "for a newtype or an enum, implement it with `mqttspec::field_type!(MyType(String));` or `mqttspec::field_type!(MyEnum as text);`"
)]
pub trait FieldType: Sized {
    /// The column class as a type: which operators typed conditions offer ([`class`]).
    ///
    /// [`class`]: super::class
    type Class: Class;
    /// The type without `Option`: what typed conditions compare with.
    type NonNull: FieldType;
    /// The column's class (`meta`, filter validation, parameter binding); follows `Class`.
    const COLUMN: ColumnType = <Self::Class as Class>::TYPE;
    /// Whether the column accepts NULL (`Option<T>`).
    const NULLABLE: bool = false;
    /// Smallest and largest accepted value of an integer column.
    const RANGE: (i64, i64) = (i64::MIN, i64::MAX);
    /// Column types of the generated `CREATE TABLE`.
    const SQL: SqlTypes;
    /// What sqlx decodes from SQLite.
    type Sqlite: for<'r> sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>;
    /// What sqlx decodes from PostgreSQL.
    type Postgres: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>;
    /// Converts the SQLite form.
    fn from_sqlite(raw: Self::Sqlite) -> Result<Self, BoxDynError>;
    /// Converts the PostgreSQL form.
    fn from_postgres(raw: Self::Postgres) -> Result<Self, BoxDynError>;
    /// The typed value.
    fn into_value(self) -> Value;
    /// Back from a typed value (for hooks that see the struct).
    fn from_value(value: Value) -> Result<Self, String>;
    /// Checks a client's non-NULL value beyond its column class (which is already checked), so
    /// that nothing is stored that could not be read back as `Self`.
    fn check(value: &Value) -> Result<(), String> {
        let _ = value;
        Ok(())
    }

    /// Decodes column `index` of a SQLite row (called by generated code).
    #[doc(hidden)]
    fn decode_sqlite_at(row: &SqliteRow, index: usize) -> Result<Self, sqlx::Error> {
        let raw = row.try_get::<Self::Sqlite, _>(index)?;
        Self::from_sqlite(raw).map_err(|source| sqlx::Error::ColumnDecode { index: index.to_string(), source })
    }

    /// Decodes column `index` of a PostgreSQL row (called by generated code).
    #[doc(hidden)]
    fn decode_postgres_at(row: &PgRow, index: usize) -> Result<Self, sqlx::Error> {
        let raw = row.try_get::<Self::Postgres, _>(index)?;
        Self::from_postgres(raw).map_err(|source| sqlx::Error::ColumnDecode { index: index.to_string(), source })
    }

    /// Takes the next value of a row (called by generated code).
    #[doc(hidden)]
    fn from_column_value(value: Option<Value>, column: &str) -> Result<Self, Error> {
        let value = value.ok_or_else(|| Error::validation(format!("column `{column}`: missing value")))?;
        Self::from_value(value).map_err(|reason| Error::invalid_column(column, reason))
    }
}

/// Makes a newtype or an enum a column type ([`FieldType`]) in one line.
///
/// - `field_type!(Email(String));` — a tuple struct around a column type is stored, filtered and
///   sent as that type.
/// - `field_type!(Status as text);` — a type with `Display` and `FromStr` (an enum, say) is stored
///   and sent as its `Display` text; a client's value that does not parse is refused.
///
/// ```
/// use mqttspec::{SpecEntity, field_type};
///
/// #[derive(Debug, Clone)]
/// pub struct Email(pub String);
/// field_type!(Email(String));
///
/// #[derive(Debug, Clone, Copy, PartialEq)]
/// pub enum Status { Active, Blocked }
/// impl std::fmt::Display for Status {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str(match self { Status::Active => "active", Status::Blocked => "blocked" })
///     }
/// }
/// impl std::str::FromStr for Status {
///     type Err = String;
///     fn from_str(s: &str) -> Result<Self, String> {
///         match s { "active" => Ok(Status::Active), "blocked" => Ok(Status::Blocked), _ => Err(format!("unknown status `{s}`")) }
///     }
/// }
/// field_type!(Status as text);
///
/// #[derive(Debug, Clone, SpecEntity)]
/// struct Account {
///     id: i64,
///     email: Email,
///     status: Option<Status>,
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! field_type {
    ($newtype:ident ( $inner:ty )) => {
        impl $crate::FieldType for $newtype {
            type Class = <$inner as $crate::FieldType>::Class;
            type NonNull = Self;
            const NULLABLE: bool = <$inner as $crate::FieldType>::NULLABLE;
            const RANGE: (i64, i64) = <$inner as $crate::FieldType>::RANGE;
            const SQL: $crate::SqlTypes = <$inner as $crate::FieldType>::SQL;
            type Sqlite = <$inner as $crate::FieldType>::Sqlite;
            type Postgres = <$inner as $crate::FieldType>::Postgres;
            fn from_sqlite(raw: Self::Sqlite) -> ::core::result::Result<Self, $crate::__private::BoxDynError> {
                <$inner as $crate::FieldType>::from_sqlite(raw).map($newtype)
            }
            fn from_postgres(raw: Self::Postgres) -> ::core::result::Result<Self, $crate::__private::BoxDynError> {
                <$inner as $crate::FieldType>::from_postgres(raw).map($newtype)
            }
            fn into_value(self) -> $crate::Value {
                <$inner as $crate::FieldType>::into_value(self.0)
            }
            fn from_value(value: $crate::Value) -> ::core::result::Result<Self, $crate::__private::String> {
                <$inner as $crate::FieldType>::from_value(value).map($newtype)
            }
            fn check(value: &$crate::Value) -> ::core::result::Result<(), $crate::__private::String> {
                <$inner as $crate::FieldType>::check(value)
            }
        }
    };
    ($ty:ty as text) => {
        impl $crate::FieldType for $ty {
            type Class = $crate::class::Text;
            type NonNull = Self;
            const SQL: $crate::SqlTypes = <$crate::__private::String as $crate::FieldType>::SQL;
            type Sqlite = $crate::__private::String;
            type Postgres = $crate::__private::String;
            fn from_sqlite(
                raw: $crate::__private::String,
            ) -> ::core::result::Result<Self, $crate::__private::BoxDynError> {
                $crate::__private::parse_text::<Self>(&raw).map_err(::core::convert::Into::into)
            }
            fn from_postgres(
                raw: $crate::__private::String,
            ) -> ::core::result::Result<Self, $crate::__private::BoxDynError> {
                $crate::__private::parse_text::<Self>(&raw).map_err(::core::convert::Into::into)
            }
            fn into_value(self) -> $crate::Value {
                $crate::Value::Text(::std::string::ToString::to_string(&self))
            }
            fn from_value(value: $crate::Value) -> ::core::result::Result<Self, $crate::__private::String> {
                match value {
                    $crate::Value::Text(text) => $crate::__private::parse_text::<Self>(&text),
                    other => ::core::result::Result::Err(::std::format!("expected text, got {other:?}")),
                }
            }
            fn check(value: &$crate::Value) -> ::core::result::Result<(), $crate::__private::String> {
                match value {
                    $crate::Value::Text(text) => $crate::__private::parse_text::<Self>(text).map(drop),
                    _ => ::core::result::Result::Ok(()),
                }
            }
        }
    };
}

/// Parses a text column of a `field_type!(T as text)` type (called by generated code).
#[doc(hidden)]
pub fn parse_text<T>(text: &str) -> Result<T, String>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| format!("`{}`: {e}", crate::value::clip(text)))
}

macro_rules! integer {
    ($($ty:ty => $pg:ty, $pg_sql:literal);*) => {$(
        impl FieldType for $ty {
            type Class = class::Integer;
            type NonNull = Self;
            // u64/usize above i64::MAX cannot be stored: both databases hold signed 64-bit integers.
            const RANGE: (i64, i64) = (
                if (<$ty>::MIN as i128) < i64::MIN as i128 { i64::MIN } else { <$ty>::MIN as i64 },
                if (<$ty>::MAX as i128) > i64::MAX as i128 { i64::MAX } else { <$ty>::MAX as i64 },
            );
            const SQL: SqlTypes = SqlTypes { sqlite: "INTEGER", postgres: $pg_sql };
            type Sqlite = i64;
            type Postgres = $pg;
            fn from_sqlite(raw: i64) -> Result<Self, BoxDynError> {
                Ok(<$ty>::try_from(raw)?)
            }
            fn from_postgres(raw: $pg) -> Result<Self, BoxDynError> {
                Ok(<$ty>::try_from(raw)?)
            }
            fn into_value(self) -> Value {
                // Every width fits i64 except u64/usize above i64::MAX, which validation never admits.
                Value::Int(i64::try_from(self).unwrap_or(i64::MAX))
            }
            fn from_value(value: Value) -> Result<Self, String> {
                match value {
                    Value::Int(n) => <$ty>::try_from(n).map_err(|e| e.to_string()),
                    other => Err(format!("expected an integer, got {other:?}")),
                }
            }
        }
    )*};
}

integer!(
    i8 => i16, "SMALLINT"; u8 => i16, "SMALLINT"; i16 => i16, "SMALLINT"; u16 => i32, "INTEGER";
    i32 => i32, "INTEGER"; u32 => i64, "BIGINT"; i64 => i64, "BIGINT"; u64 => i64, "BIGINT";
    isize => i64, "BIGINT"; usize => i64, "BIGINT"
);

macro_rules! direct {
    ($ty:ty, $column:ident, $sql:expr, $sqlite:ty, $variant:ident, |$raw:ident| $from_sqlite:expr) => {
        impl FieldType for $ty {
            type Class = class::$column;
            type NonNull = Self;
            const SQL: SqlTypes = $sql;
            type Sqlite = $sqlite;
            type Postgres = $ty;
            fn from_sqlite($raw: $sqlite) -> Result<Self, BoxDynError> {
                $from_sqlite
            }
            fn from_postgres(raw: $ty) -> Result<Self, BoxDynError> {
                Ok(raw)
            }
            fn into_value(self) -> Value {
                Value::$variant(self.into())
            }
            fn from_value(value: Value) -> Result<Self, String> {
                match value {
                    Value::$variant(v) => Ok(v),
                    other => Err(format!("expected {}, got {other:?}", stringify!($variant))),
                }
            }
        }
    };
}

const fn sql(sqlite: &'static str, postgres: &'static str) -> SqlTypes {
    SqlTypes { sqlite, postgres }
}

direct!(f64, Float, sql("REAL", "DOUBLE PRECISION"), f64, Float, |raw| Ok(raw));
direct!(bool, Boolean, sql("INTEGER", "BOOLEAN"), bool, Bool, |raw| Ok(raw));
direct!(String, Text, sql("TEXT", "TEXT"), String, Text, |raw| Ok(raw));
direct!(DateTime<Utc>, Timestamp, sql("TEXT", "TIMESTAMPTZ"), String, Timestamp, |raw| {
    crate::value::parse_timestamp(&raw).ok_or_else(|| format!("`{raw}` is not a timestamp").into())
});
direct!(NaiveDate, Date, sql("TEXT", "DATE"), String, Date, |raw| Ok(NaiveDate::parse_from_str(&raw, "%Y-%m-%d")?));
direct!(Uuid, Uuid, sql("TEXT", "UUID"), String, Uuid, |raw| Ok(Uuid::parse_str(&raw)?));

impl FieldType for f32 {
    type Class = class::Float;
    type NonNull = Self;
    const SQL: SqlTypes = sql("REAL", "REAL");
    type Sqlite = f64;
    type Postgres = f32;
    fn from_sqlite(raw: f64) -> Result<Self, BoxDynError> {
        Ok(raw as f32)
    }
    fn from_postgres(raw: f32) -> Result<Self, BoxDynError> {
        Ok(raw)
    }
    fn into_value(self) -> Value {
        Value::Float(self.into())
    }
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Float(v) => Ok(v as f32),
            Value::Int(v) => Ok(v as f32),
            other => Err(format!("expected a float, got {other:?}")),
        }
    }
}

impl FieldType for serde_json::Value {
    type Class = class::Json;
    type NonNull = Self;
    const SQL: SqlTypes = sql("TEXT", "JSONB");
    type Sqlite = String;
    type Postgres = sqlx::types::Json<serde_json::Value>;
    fn from_sqlite(raw: String) -> Result<Self, BoxDynError> {
        Ok(serde_json::from_str(&raw)?)
    }
    fn from_postgres(raw: sqlx::types::Json<serde_json::Value>) -> Result<Self, BoxDynError> {
        Ok(raw.0)
    }
    fn into_value(self) -> Value {
        Value::Json(self)
    }
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Json(v) => Ok(v),
            Value::Null => Ok(serde_json::Value::Null),
            other => Err(format!("expected JSON, got {other:?}")),
        }
    }
}

impl<T: FieldType> FieldType for Option<T> {
    type Class = T::Class;
    type NonNull = T;
    const NULLABLE: bool = {
        assert!(!T::NULLABLE, "`Option<Option<T>>` is not a column type: NULL is one state");
        true
    };
    const RANGE: (i64, i64) = T::RANGE;
    const SQL: SqlTypes = T::SQL;
    type Sqlite = Option<T::Sqlite>;
    type Postgres = Option<T::Postgres>;
    fn from_sqlite(raw: Self::Sqlite) -> Result<Self, BoxDynError> {
        raw.map(T::from_sqlite).transpose()
    }
    fn from_postgres(raw: Self::Postgres) -> Result<Self, BoxDynError> {
        raw.map(T::from_postgres).transpose()
    }
    fn into_value(self) -> Value {
        self.map_or(Value::Null, T::into_value)
    }
    fn from_value(value: Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
    fn check(value: &Value) -> Result<(), String> {
        T::check(value)
    }
}
