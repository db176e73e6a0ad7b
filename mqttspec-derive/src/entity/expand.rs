//! Code generation: the `Entity` impl (metadata, fixed SQL per dialect, row decoding, value
//! conversion) and the `inventory` registration, wrapped in `const _: () = { ... };`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::model::{Class, Column, Entity};
use crate::names::quote_ident;

pub fn entity(entity: &Entity) -> TokenStream {
    let ident = &entity.ident;
    let Entity { schema, table, name, primary_key, can_create, can_update, can_delete, .. } = entity;
    let rust_name = ident.to_string();
    let columns = entity.columns.iter().map(column_meta);
    let sqlite = statements(entity, Dialect::Sqlite);
    let postgres = statements(entity, Dialect::Postgres);
    let idents: Vec<_> = entity.columns.iter().map(|c| &c.ident).collect();
    let indexes: Vec<_> = (0..entity.columns.len()).collect();
    let names: Vec<_> = entity.columns.iter().map(|c| &c.name).collect();
    let decode = |backend: TokenStream| {
        entity.columns.iter().enumerate().map(move |(i, c)| {
            let ty = &c.ty;
            let field = &c.ident;
            quote_spanned! {ty.span()=> #field: __ms::#backend::<#ty>(row, #i)? }
        })
    };
    let decode_sqlite = decode(quote!(decode_sqlite));
    let decode_postgres = decode(quote!(decode_postgres));
    let from_values = entity.columns.iter().map(|c| {
        let ty = &c.ty;
        let field = &c.ident;
        let name = &c.name;
        quote_spanned! {ty.span()=> #field: __ms::field_from_value::<#ty>(values.next(), #name)? }
    });
    quote! {
        #[doc(hidden)]
        const _: () = {
            use ::mqttspec::__private as __ms;

            impl __ms::Entity for #ident {
                const META: &'static __ms::EntityMeta = &__ms::EntityMeta {
                    rust_name: #rust_name,
                    schema: #schema,
                    table: #table,
                    name: #name,
                    columns: &[#(#columns),*],
                    primary_key: #primary_key,
                    operations: __ms::Operations {
                        create: #can_create,
                        update: #can_update,
                        delete: #can_delete,
                    },
                    sqlite: #sqlite,
                    postgres: #postgres,
                };

                fn decode_sqlite(row: &__ms::SqliteRow) -> ::core::result::Result<Self, __ms::sqlx::Error> {
                    ::core::result::Result::Ok(Self { #(#decode_sqlite),* })
                }

                fn decode_postgres(row: &__ms::PgRow) -> ::core::result::Result<Self, __ms::sqlx::Error> {
                    ::core::result::Result::Ok(Self { #(#decode_postgres),* })
                }

                fn into_values(self) -> __ms::Vec<__ms::Value> {
                    __ms::vec![#(__ms::FieldType::into_value(self.#idents)),*]
                }

                fn from_values(values: __ms::Vec<__ms::Value>) -> ::core::result::Result<Self, __ms::Error> {
                    let mut values = values.into_iter();
                    ::core::result::Result::Ok(Self { #(#from_values),* })
                }

                fn column_index(name: &str) -> ::core::option::Option<usize> {
                    match name {
                        #(#names => ::core::option::Option::Some(#indexes),)*
                        _ => ::core::option::Option::None,
                    }
                }
            }

            __ms::inventory::submit! {
                __ms::EntityRegistration(__ms::EntityDef::of::<#ident>())
            }
        };
    }
}

/// Emitted next to the compile errors so that uses of the struct elsewhere do not cascade into
/// "trait `Entity` is not implemented" errors.
pub fn stub(ident: &syn::Ident) -> TokenStream {
    quote! {
        #[doc(hidden)]
        const _: () = {
            use ::mqttspec::__private as __ms;
            impl __ms::Entity for #ident {
                const META: &'static __ms::EntityMeta = &__ms::STUB_META;
                fn decode_sqlite(_: &__ms::SqliteRow) -> ::core::result::Result<Self, __ms::sqlx::Error> { ::core::unreachable!() }
                fn decode_postgres(_: &__ms::PgRow) -> ::core::result::Result<Self, __ms::sqlx::Error> { ::core::unreachable!() }
                fn into_values(self) -> __ms::Vec<__ms::Value> { ::core::unreachable!() }
                fn from_values(_: __ms::Vec<__ms::Value>) -> ::core::result::Result<Self, __ms::Error> { ::core::unreachable!() }
                fn column_index(_: &str) -> ::core::option::Option<usize> { ::core::unreachable!() }
            }
        };
    }
}

fn column_meta(c: &Column) -> TokenStream {
    let Column { name, nullable, primary_key, generated, read_only, write_only, filterable, sortable, .. } = c;
    let field = c.ident.to_string();
    let ty = &c.ty;
    let rust_type = quote!(#ty).to_string().replace(' ', "");
    let quoted = quote_ident(name);
    let (min, max) = match c.class {
        Class::Integer { min, max, .. } => (min, max),
        _ => (0, 0),
    };
    let class = match c.class {
        Class::Integer { .. } => quote!(Integer),
        Class::Float { .. } => quote!(Float),
        Class::Boolean => quote!(Boolean),
        Class::Text => quote!(Text),
        Class::Timestamp => quote!(Timestamp),
        Class::Date => quote!(Date),
        Class::Uuid => quote!(Uuid),
        Class::Json => quote!(Json),
    };
    let default_sql = match &c.default_sql {
        Some(d) => quote!(::core::option::Option::Some(#d)),
        None => quote!(::core::option::Option::None),
    };
    let (sqlite_type, pg_type) = sql_types(c);
    quote! {
        __ms::ColumnMeta {
            name: #name,
            field: #field,
            rust_type: #rust_type,
            ty: __ms::ColumnType::#class,
            min: #min,
            max: #max,
            nullable: #nullable,
            primary_key: #primary_key,
            generated: #generated,
            default_sql: #default_sql,
            read_only: #read_only,
            write_only: #write_only,
            filterable: #filterable,
            sortable: #sortable,
            quoted: #quoted,
            sql_type_sqlite: #sqlite_type,
            sql_type_postgres: #pg_type,
        }
    }
}

/// Column types of the generated `CREATE TABLE` per dialect.
fn sql_types(c: &Column) -> (&'static str, &'static str) {
    match c.class {
        Class::Integer { pg, .. } => ("INTEGER", pg),
        Class::Float { pg } => ("REAL", pg),
        Class::Boolean => ("INTEGER", "BOOLEAN"),
        Class::Text => ("TEXT", "TEXT"),
        Class::Timestamp => ("TEXT", "TIMESTAMPTZ"),
        Class::Date => ("TEXT", "DATE"),
        Class::Uuid => ("TEXT", "UUID"),
        Class::Json => ("TEXT", "JSONB"),
    }
}

#[derive(Clone, Copy)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// The statements that do not depend on the request, per dialect.
fn statements(entity: &Entity, dialect: Dialect) -> TokenStream {
    let table = match dialect {
        Dialect::Sqlite => quote_ident(&entity.table),
        Dialect::Postgres => format!("{}.{}", quote_ident(&entity.schema), quote_ident(&entity.table)),
    };
    let p1 = match dialect {
        Dialect::Sqlite => "?1",
        Dialect::Postgres => "$1",
    };
    let columns = entity.columns.iter().map(|c| quote_ident(&c.name)).collect::<Vec<_>>().join(", ");
    let pk = quote_ident(&entity.columns[entity.primary_key].name);
    let select = format!("SELECT {columns} FROM {table}");
    let select_by_pk = format!("{select} WHERE {pk} = {p1}");
    let delete_by_pk = format!("DELETE FROM {table} WHERE {pk} = {p1}");
    let returning = format!(" RETURNING {columns}");
    let count = format!("SELECT COUNT(*) FROM {table}");
    let insert_into = format!("INSERT INTO {table}");
    let update = format!("UPDATE {table} SET ");
    quote! {
        __ms::Statements {
            table: #table,
            columns: #columns,
            select: #select,
            select_by_pk: #select_by_pk,
            delete_by_pk: #delete_by_pk,
            returning: #returning,
            count: #count,
            insert_into: #insert_into,
            update: #update,
        }
    }
}
