//! The `#[spec(...)]` attributes as darling receivers. darling rejects unknown keys with a
//! "did you mean" hint and duplicate keys, spanned on the offending token.

use darling::util::{Flag, SpannedValue};
use darling::{FromDeriveInput, FromField};

#[derive(FromDeriveInput)]
#[darling(attributes(spec), supports(struct_named))]
pub struct EntityAttrs {
    pub ident: syn::Ident,
    pub generics: syn::Generics,
    pub data: darling::ast::Data<darling::util::Ignored, FieldAttrs>,
    /// Database schema (PostgreSQL); default `public`.
    pub schema: Option<SpannedValue<String>>,
    /// Table name; default the snake_case plural of the struct name.
    pub table: Option<SpannedValue<String>>,
    /// Entity name on the wire; default the table name.
    pub entity: Option<SpannedValue<String>>,
    /// Column naming rule applied to field names.
    pub rename_all: Option<SpannedValue<String>>,
    /// Only `read`, `meta` and `subscribe` are allowed.
    pub read_only: Flag,
    pub no_create: Flag,
    pub no_update: Flag,
    pub no_delete: Flag,
    /// Path of the `mqttspec` crate when it is re-exported: `crate = "my::mqttspec"`.
    #[darling(rename = "crate")]
    pub krate: Option<syn::Path>,
}

#[derive(FromField)]
#[darling(attributes(spec))]
pub struct FieldAttrs {
    pub ident: Option<syn::Ident>,
    pub vis: syn::Visibility,
    pub ty: syn::Type,
    pub primary_key: Flag,
    pub rename: Option<SpannedValue<String>>,
    /// Set by the database (autoincrement, default): may be left out on create.
    pub generated: Flag,
    /// SQL default used by the generated `CREATE TABLE`; implies `generated`.
    pub default: Option<SpannedValue<String>>,
    /// Returned but never written by clients.
    pub read_only: Flag,
    /// Written but never returned (a password hash, say).
    pub write_only: Flag,
    pub filterable: Option<SpannedValue<bool>>,
    pub sortable: Option<SpannedValue<bool>>,
}
