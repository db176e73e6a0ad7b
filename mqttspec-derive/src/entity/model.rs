//! The validated model of an entity struct. Every semantic rule lives here, apart from parsing,
//! and every violation of one struct is collected so the user sees them all in one build.

use darling::{Error, FromDeriveInput};
use syn::spanned::Spanned;

use super::attr::{EntityAttrs, FieldAttrs};
use crate::names;

/// One column. What its Rust type means (class, nullability, range, SQL types) is not decided
/// here: the generated code asks the type's `mqttspec::FieldType` impl.
pub struct Column {
    pub ident: syn::Ident,
    pub vis: syn::Visibility,
    /// The typed column constant (`TENANT_ID` for `tenant_id`).
    pub constant: syn::Ident,
    pub ty: syn::Type,
    pub name: String,
    pub primary_key: bool,
    pub generated: bool,
    pub default_sql: Option<String>,
    pub read_only: bool,
    pub write_only: bool,
    pub filterable: Usable,
    pub sortable: Usable,
}

/// Whether a column may be filtered (or sorted) on.
pub enum Usable {
    /// Never (a `write_only` column).
    No,
    /// When its type has an ordering and equality in SQL (not JSON): decided by `FieldType::COLUMN`.
    ByType,
    /// Asked for explicitly; a const assertion at this span checks that the type allows it.
    Required(proc_macro2::Span),
    /// Turned off explicitly.
    Off,
}

pub struct Entity {
    pub ident: syn::Ident,
    /// The path of the `mqttspec` crate (default `::mqttspec`).
    pub krate: syn::Path,
    pub schema: String,
    pub table: String,
    pub name: String,
    pub columns: Vec<Column>,
    pub primary_key: usize,
    pub can_create: bool,
    pub can_update: bool,
    pub can_delete: bool,
}

impl Entity {
    pub fn from_input(input: &syn::DeriveInput) -> Result<Self, Error> {
        check_shape(input)?;
        let attrs = EntityAttrs::from_derive_input(input)?;
        if let Some(param) = attrs.generics.params.first() {
            // Field types would only repeat this error, so it stands alone.
            return Err(Error::custom("SpecEntity cannot be derived for a generic struct: an entity maps one table")
                .with_span(&param.span()));
        }
        let mut errors = Error::accumulator();
        let rename_all = attrs.rename_all.as_ref().and_then(|rule| {
            if names::apply_rule(rule, "x").is_none() {
                errors.push(
                    Error::custom(format!(
                        "unknown rename_all rule `{}`; expected one of: {}",
                        rule.as_str(),
                        names::RENAME_RULES.join(", ")
                    ))
                    .with_span(&rule.span()),
                );
                None
            } else {
                Some(rule.as_str().to_owned())
            }
        });
        let fields = attrs.data.take_struct().expect("shape checked").fields;
        let mut columns = Vec::with_capacity(fields.len());
        for field in &fields {
            if let Some(column) = errors.handle(column(field, rename_all.as_deref())) {
                columns.push(column);
            }
        }
        let primary_key = errors.handle(primary_key(&attrs.ident, &fields, &columns));
        for (i, column) in columns.iter().enumerate() {
            if columns[..i].iter().any(|c| c.name == column.name) {
                errors.push(
                    Error::custom(format!("two fields map to the column `{}`", column.name)).with_span(&column.ident),
                );
            }
        }
        for (name, value) in [("schema", &attrs.schema), ("table", &attrs.table), ("entity", &attrs.entity)] {
            if let Some(value) = value
                && value.trim().is_empty()
            {
                errors.push(Error::custom(format!("`{name}` cannot be empty")).with_span(&value.span()));
            }
        }
        errors.finish()?;
        let primary_key = primary_key.expect("errors finished");
        columns[primary_key].primary_key = true;
        let table =
            attrs.table.map(|t| t.as_str().to_owned()).unwrap_or_else(|| names::table_name(&attrs.ident.to_string()));
        let read_only = attrs.read_only.is_present();
        Ok(Entity {
            krate: attrs.krate.unwrap_or_else(|| syn::parse_quote!(::mqttspec)),
            ident: attrs.ident,
            schema: attrs.schema.map(|s| s.as_str().to_owned()).unwrap_or_else(|| "public".into()),
            name: attrs.entity.map(|e| e.as_str().to_owned()).unwrap_or_else(|| table.clone()),
            table,
            columns,
            primary_key,
            can_create: !read_only && !attrs.no_create.is_present(),
            can_update: !read_only && !attrs.no_update.is_present(),
            can_delete: !read_only && !attrs.no_delete.is_present(),
        })
    }
}

fn check_shape(input: &syn::DeriveInput) -> Result<(), Error> {
    let name = &input.ident;
    match &input.data {
        syn::Data::Struct(data) => match &data.fields {
            syn::Fields::Named(_) => Ok(()),
            syn::Fields::Unnamed(fields) => Err(Error::custom(format!(
                "SpecEntity needs named fields (they name the columns), but `{name}` is a tuple struct"
            ))
            .with_span(&fields.span())),
            syn::Fields::Unit => Err(Error::custom(format!(
                "SpecEntity needs named fields (they name the columns), but `{name}` is a unit struct"
            ))
            .with_span(name)),
        },
        syn::Data::Enum(data) => Err(Error::custom(format!(
            "SpecEntity can only be derived for a struct with named fields, but `{name}` is an enum"
        ))
        .with_span(&data.enum_token)),
        syn::Data::Union(data) => Err(Error::custom(format!(
            "SpecEntity can only be derived for a struct with named fields, but `{name}` is a union"
        ))
        .with_span(&data.union_token)),
    }
}

fn column(field: &FieldAttrs, rename_all: Option<&str>) -> Result<Column, Error> {
    let ident = field.ident.clone().expect("named fields");
    let mut errors = Error::accumulator();
    let field_name = ident.to_string();
    let field_name = field_name.strip_prefix("r#").unwrap_or(&field_name);
    let name = match &field.rename {
        Some(rename) => {
            if rename.trim().is_empty() {
                errors.push(Error::custom("`rename` cannot be empty").with_span(&rename.span()));
            }
            rename.as_str().to_owned()
        }
        None => {
            rename_all.and_then(|rule| names::apply_rule(rule, field_name)).unwrap_or_else(|| field_name.to_owned())
        }
    };
    let read_only = field.read_only.is_present();
    let write_only = field.write_only.is_present();
    if read_only && write_only {
        errors.push(
            Error::custom("a column cannot be both `read_only` and `write_only`").with_span(&field.write_only.span()),
        );
    }
    if write_only && field.primary_key.is_present() {
        errors.push(
            Error::custom("the primary key is always returned, so it cannot be `write_only`")
                .with_span(&field.write_only.span()),
        );
    }
    let usable =
        |key: &str, flag: &Option<darling::util::SpannedValue<bool>>, errors: &mut darling::error::Accumulator| {
            match flag {
                Some(flag) if **flag && write_only => {
                    errors.push(
                        Error::custom(format!("this column cannot be `{key}`: a `write_only` column is never exposed"))
                            .with_span(&flag.span()),
                    );
                    Usable::No
                }
                Some(flag) if **flag => Usable::Required(flag.span()),
                Some(_) => Usable::Off,
                None if write_only => Usable::No,
                None => Usable::ByType,
            }
        };
    let filterable = usable("filterable", &field.filterable, &mut errors);
    let sortable = usable("sortable", &field.sortable, &mut errors);
    errors.finish()?;
    let constant = names::apply_rule("SCREAMING_SNAKE_CASE", field_name).expect("a known rule");
    Ok(Column {
        vis: field.vis.clone(),
        constant: syn::Ident::new(&constant, ident.span()),
        ty: field.ty.clone(),
        name,
        primary_key: field.primary_key.is_present(),
        generated: field.generated.is_present() || field.default.is_some(),
        default_sql: field.default.as_ref().map(|d| d.as_str().to_owned()),
        read_only,
        write_only,
        filterable,
        sortable,
        ident,
    })
}

fn primary_key(struct_name: &syn::Ident, fields: &[FieldAttrs], columns: &[Column]) -> Result<usize, Error> {
    let marked: Vec<_> = fields.iter().enumerate().filter(|(_, f)| f.primary_key.is_present()).collect();
    match marked.as_slice() {
        [(i, _)] => Ok(*i),
        [] => columns.iter().position(|c| c.ident == "id").ok_or_else(|| {
            Error::custom(format!(
                "`{struct_name}` has no primary key: add a field named `id` or mark one with `#[spec(primary_key)]`"
            ))
            .with_span(struct_name)
        }),
        [_, rest @ ..] => {
            let mut errors = Error::accumulator();
            for (_, field) in rest {
                errors.push(
                    Error::custom("a second `primary_key`: an entity has exactly one primary key column")
                        .with_span(&field.primary_key.span()),
                );
            }
            errors.finish()?;
            unreachable!("at least one error was pushed")
        }
    }
}

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use super::*;

    fn errors(input: syn::DeriveInput) -> String {
        match Entity::from_input(&input) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"),
        }
    }

    #[test]
    fn names_keys_and_defaults() {
        let input: syn::DeriveInput = parse_quote! {
            #[spec(schema = "shop", rename_all = "camelCase", no_delete, crate = "app::mqttspec")]
            struct OrderLine {
                #[spec(primary_key, generated)]
                line_id: i64,
                unit_price: f64,
                #[spec(write_only)]
                secret: String,
                #[spec(sortable = false, rename = "kind")]
                r#type: String,
            }
        };
        let entity = Entity::from_input(&input).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (entity.schema.as_str(), entity.table.as_str(), entity.name.as_str()),
            ("shop", "order_lines", "order_lines")
        );
        let names: Vec<_> = entity.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["lineId", "unitPrice", "secret", "kind"]);
        let constants: Vec<_> = entity.columns.iter().map(|c| c.constant.to_string()).collect();
        assert_eq!(constants, ["LINE_ID", "UNIT_PRICE", "SECRET", "TYPE"]);
        assert_eq!(entity.primary_key, 0);
        assert!(entity.can_create && entity.can_update && !entity.can_delete);
        assert!(matches!(entity.columns[2].filterable, Usable::No), "write-only is never exposed");
        assert!(matches!(entity.columns[3].sortable, Usable::Off));
        assert!(matches!(entity.columns[1].filterable, Usable::ByType), "the type decides");
        let krate = &entity.krate;
        assert_eq!(quote::quote!(#krate).to_string(), "app :: mqttspec");
    }

    #[test]
    fn every_mistake_at_once() {
        let all = errors(parse_quote! {
            #[spec(rename_all = "Title Case", table = " ")]
            struct User {
                #[spec(primary_key)]
                a: i64,
                #[spec(primary_key, rename = "a")]
                b: i64,
                #[spec(read_only, write_only, filterable)]
                c: String,
            }
        });
        for expected in [
            "unknown rename_all rule",
            "`table` cannot be empty",
            "second `primary_key`",
            "two fields map to the column `a`",
            "both `read_only` and `write_only`",
            "cannot be `filterable`: a `write_only` column",
        ] {
            assert!(all.contains(expected), "{expected}: {all}");
        }
    }

    #[test]
    fn shapes_and_generics() {
        assert!(
            errors(parse_quote!(
                struct T(i64);
            ))
            .contains("tuple struct")
        );
        assert!(
            errors(parse_quote!(
                enum E {
                    A,
                }
            ))
            .contains("is an enum")
        );
        assert!(
            errors(parse_quote!(
                struct W<T> {
                    id: i64,
                    v: T,
                }
            ))
            .contains("generic struct")
        );
        assert!(
            errors(parse_quote!(
                struct N {
                    name: String,
                }
            ))
            .contains("no primary key")
        );
    }
}
