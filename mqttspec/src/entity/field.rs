//! How each supported Rust field type is decoded from each backend and converted to a [`Value`].

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::error::BoxDynError;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Postgres, Row, Sqlite};
use uuid::Uuid;

use crate::Value;
use crate::error::Error;

/// A Rust type that can be an entity field. Implemented for the supported column types and
/// `Option` of them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a supported column type",
    note = "supported: integers, f32, f64, bool, String, chrono::DateTime<Utc>, chrono::NaiveDate, uuid::Uuid, serde_json::Value, and Option of these"
)]
pub trait FieldType: Sized {
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
}

macro_rules! integer {
    ($($ty:ty => $pg:ty),*) => {$(
        impl FieldType for $ty {
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

integer!(i8 => i16, u8 => i16, i16 => i16, u16 => i32, i32 => i32, u32 => i64, i64 => i64, u64 => i64, isize => i64, usize => i64);

macro_rules! direct {
    ($ty:ty, $sqlite:ty, $variant:ident, |$raw:ident| $from_sqlite:expr) => {
        impl FieldType for $ty {
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

direct!(f64, f64, Float, |raw| Ok(raw));
direct!(bool, bool, Bool, |raw| Ok(raw));
direct!(String, String, Text, |raw| Ok(raw));
direct!(DateTime<Utc>, String, Timestamp, |raw| crate::value::parse_timestamp(&raw)
    .ok_or_else(|| format!("`{raw}` is not a timestamp").into()));
direct!(NaiveDate, String, Date, |raw| Ok(NaiveDate::parse_from_str(&raw, "%Y-%m-%d")?));
direct!(Uuid, String, Uuid, |raw| Ok(Uuid::parse_str(&raw)?));

impl FieldType for f32 {
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
}

/// Decodes column `index` of a SQLite row as field type `T` (called by generated code).
pub fn decode_sqlite<T: FieldType>(row: &SqliteRow, index: usize) -> Result<T, sqlx::Error> {
    let raw = row.try_get::<T::Sqlite, _>(index)?;
    T::from_sqlite(raw).map_err(|source| sqlx::Error::ColumnDecode { index: index.to_string(), source })
}

/// Decodes column `index` of a PostgreSQL row as field type `T` (called by generated code).
pub fn decode_postgres<T: FieldType>(row: &PgRow, index: usize) -> Result<T, sqlx::Error> {
    let raw = row.try_get::<T::Postgres, _>(index)?;
    T::from_postgres(raw).map_err(|source| sqlx::Error::ColumnDecode { index: index.to_string(), source })
}

/// Takes the next value of a row as field type `T` (called by generated code).
pub fn field_from_value<T: FieldType>(value: Option<Value>, column: &str) -> Result<T, Error> {
    let value = value.ok_or_else(|| Error::validation(format!("column `{column}`: missing value")))?;
    T::from_value(value).map_err(|reason| Error::invalid_column(column, reason))
}
