//! Code generation: the `Entity` impl (metadata, row decoding, value conversion) and the
//! `inventory` registration, wrapped in `const _: () = { ... };`. Everything a field's Rust type
//! implies comes from `<T as FieldType>`; SQL text is built by the runtime from the metadata.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::model::{Column, Entity, Usable};

pub fn entity(entity: &Entity) -> TokenStream {
    let ident = &entity.ident;
    let krate = &entity.krate;
    let Entity { schema, table, name, primary_key, can_create, can_update, can_delete, .. } = entity;
    let rust_name = ident.to_string();
    let columns = entity.columns.iter().map(column_meta);
    let checks = entity.columns.iter().flat_map(usable_checks);
    let constants = entity.columns.iter().enumerate().map(|(i, c)| {
        let Column { vis, constant, ty, name, .. } = c;
        let doc = format!(
            "The typed column `{name}`: conditions on it (`{ident}::{constant}.eq(..)`) are checked by the compiler."
        );
        quote! {
            #[doc = #doc]
            #[allow(dead_code)]
            #vis const #constant: __ms::Column<#ident, #ty> = __ms::Column::new(#i, #name);
        }
    });
    let indexes: Vec<_> = (0..entity.columns.len()).collect();
    let names: Vec<_> = entity.columns.iter().map(|c| &c.name).collect();
    // Every use of a field's type goes through `<T as FieldType>` spanned on the type, so an
    // unsupported type is one error there, not one per use.
    let decode = |backend: TokenStream| {
        entity.columns.iter().enumerate().map(move |(i, c)| {
            let field = &c.ident;
            let field_type = field_type(c);
            quote! { #field: #field_type::#backend(row, #i)? }
        })
    };
    let decode_sqlite = decode(quote!(decode_sqlite_at));
    let decode_postgres = decode(quote!(decode_postgres_at));
    let from_values = entity.columns.iter().map(|c| {
        let field = &c.ident;
        let name = &c.name;
        let field_type = field_type(c);
        quote! { #field: #field_type::from_column_value(values.next(), #name)? }
    });
    let into_values = entity.columns.iter().map(|c| {
        let field = &c.ident;
        let field_type = field_type(c);
        quote! { #field_type::into_value(self.#field) }
    });
    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all)]
        const _: () = {
            use #krate::__private as __ms;

            #[automatically_derived]
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
                };

                fn sql() -> &'static __ms::EntitySql {
                    static SQL: __ms::OnceLock<__ms::EntitySql> = __ms::OnceLock::new();
                    SQL.get_or_init(|| __ms::EntitySql::new(<Self as __ms::Entity>::META))
                }

                fn decode_sqlite(row: &__ms::SqliteRow) -> ::core::result::Result<Self, __ms::sqlx::Error> {
                    ::core::result::Result::Ok(Self { #(#decode_sqlite),* })
                }

                fn decode_postgres(row: &__ms::PgRow) -> ::core::result::Result<Self, __ms::sqlx::Error> {
                    ::core::result::Result::Ok(Self { #(#decode_postgres),* })
                }

                fn into_values(self) -> __ms::Vec<__ms::Value> {
                    __ms::vec![#(#into_values),*]
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

            #(#checks)*

            #[automatically_derived]
            impl #ident {
                #(#constants)*
            }

            __ms::inventory::submit! {
                __ms::EntityRegistration(__ms::EntityDef::of::<#ident>())
            }
        };
    }
}

/// Const assertions for `filterable` / `sortable` asked for explicitly: the field type must have
/// an ordering and equality in SQL. Spanned on the flag, so the error points at it.
fn usable_checks(c: &Column) -> Vec<TokenStream> {
    let field_type = field_type(c);
    [("filterable", &c.filterable), ("sortable", &c.sortable)]
        .into_iter()
        .filter_map(|(key, usable)| match usable {
            Usable::Required(span) => {
                let message =
                    format!("this column cannot be `{key}`: JSON columns have no ordering or equality in SQL");
                Some(quote_spanned! {*span=>
                    const _: () = ::core::assert!(__ms::ColumnType::orderable(#field_type::COLUMN), #message);
                })
            }
            _ => None,
        })
        .collect()
}

/// Emitted next to the compile errors so that uses of the struct elsewhere do not cascade into
/// "trait `Entity` is not implemented" errors.
pub fn stub(input: &syn::DeriveInput, krate: &syn::Path, field_types: &[syn::Type]) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let bounds = match where_clause {
        Some(w) => quote!(#w, Self: ::core::marker::Send + ::core::marker::Sync + 'static),
        None => quote!(where Self: ::core::marker::Send + ::core::marker::Sync + 'static),
    };
    // Only a non-generic struct's field types can be checked here: a generic one's depend on
    // its parameters.
    let field_types = if input.generics.params.is_empty() { field_types } else { &[] };
    let checks = field_types.iter().map(|ty| {
        quote_spanned! {ty.span()=> const _: __ms::ColumnType = <#ty as __ms::FieldType>::COLUMN; }
    });
    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all)]
        const _: () = {
            use #krate::__private as __ms;
            #[automatically_derived]
            impl #impl_generics __ms::Entity for #ident #ty_generics #bounds {
                const META: &'static __ms::EntityMeta = &__ms::STUB_META;
                fn sql() -> &'static __ms::EntitySql { ::core::unreachable!() }
                fn decode_sqlite(_: &__ms::SqliteRow) -> ::core::result::Result<Self, __ms::sqlx::Error> { ::core::unreachable!() }
                fn decode_postgres(_: &__ms::PgRow) -> ::core::result::Result<Self, __ms::sqlx::Error> { ::core::unreachable!() }
                fn into_values(self) -> __ms::Vec<__ms::Value> { ::core::unreachable!() }
                fn from_values(_: __ms::Vec<__ms::Value>) -> ::core::result::Result<Self, __ms::Error> { ::core::unreachable!() }
                fn column_index(_: &str) -> ::core::option::Option<usize> { ::core::unreachable!() }
            }
            #(#checks)*
        };
    }
}

/// `<T as FieldType>` for a column's type, spanned on the type.
fn field_type(c: &Column) -> TokenStream {
    let ty = &c.ty;
    quote_spanned!(ty.span()=> <#ty as __ms::FieldType>)
}

fn column_meta(c: &Column) -> TokenStream {
    let Column { name, primary_key, generated, read_only, write_only, .. } = c;
    let field = c.ident.to_string();
    let ty = &c.ty;
    let rust_type = quote!(#ty).to_string().replace(' ', "");
    let default_sql = match &c.default_sql {
        Some(d) => quote!(::core::option::Option::Some(#d)),
        None => quote!(::core::option::Option::None),
    };
    let field_type = field_type(c);
    let usable = |usable: &Usable| match usable {
        Usable::No | Usable::Off => quote!(false),
        Usable::Required(_) => quote!(true),
        Usable::ByType => quote!(__ms::ColumnType::orderable(#field_type::COLUMN)),
    };
    let (filterable, sortable) = (usable(&c.filterable), usable(&c.sortable));
    quote! {
        __ms::ColumnMeta {
            name: #name,
            field: #field,
            rust_type: #rust_type,
            ty: #field_type::COLUMN,
            min: #field_type::RANGE.0,
            max: #field_type::RANGE.1,
            nullable: #field_type::NULLABLE,
            primary_key: #primary_key,
            generated: #generated,
            default_sql: #default_sql,
            read_only: #read_only,
            write_only: #write_only,
            filterable: #filterable,
            sortable: #sortable,
            sql: #field_type::SQL,
            check: #field_type::check,
        }
    }
}
