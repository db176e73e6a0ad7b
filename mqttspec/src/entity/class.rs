//! Column classes as types (`FieldType::Class`), so that the compiler knows which operators a
//! typed column accepts.

use super::ColumnType;

/// A column class.
pub trait Class {
    /// Its runtime name.
    const TYPE: ColumnType;
}

/// Classes with equality: `eq`, `neq`, `in`, `not_in` (all but JSON).
#[diagnostic::on_unimplemented(message = "a `{Self}` column has no equality in SQL")]
pub trait Equality: Class {}

/// Classes with an order: `gt`, `gte`, `lt`, `lte`, `between`.
#[diagnostic::on_unimplemented(message = "a `{Self}` column has no order: `gt`, `lt` and `between` do not apply")]
pub trait Ordered: Equality {}

/// Text: `like`, `ilike`, `contains`, `starts_with`, `ends_with`.
#[diagnostic::on_unimplemented(message = "a `{Self}` column is not text: pattern operators do not apply")]
pub trait Pattern: Ordered {}

macro_rules! classes {
    ($($name:ident => $ty:ident: $($cap:ident),*;)*) => {$(
        #[doc = concat!("The `", stringify!($ty), "` class.")]
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl Class for $name {
            const TYPE: ColumnType = ColumnType::$ty;
        }
        $(impl $cap for $name {})*
    )*};
}

classes! {
    Integer => Integer: Equality, Ordered;
    Float => Float: Equality, Ordered;
    Boolean => Boolean: Equality;
    Text => Text: Equality, Ordered, Pattern;
    Timestamp => Timestamp: Equality, Ordered;
    Date => Date: Equality, Ordered;
    Uuid => Uuid: Equality;
    Json => Json: ;
}
