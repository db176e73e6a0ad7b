//! `#[derive(SpecEntity)]`: parse (darling receivers) → check (a validated model) → expand.

mod attr;
mod expand;
mod model;

use darling::FromDeriveInput;
use proc_macro2::TokenStream;

pub fn expand(input: syn::DeriveInput) -> TokenStream {
    match model::Entity::from_input(&input) {
        Ok(entity) => expand::entity(&entity),
        Err(errors) => {
            let compile_errors = errors.write_errors();
            // A stub impl keeps uses of the struct from cascading into "not an entity" errors.
            // Its field types are still checked, so an unsupported one is reported in this build too.
            let krate = attr::EntityAttrs::from_derive_input(&input).ok().and_then(|a| a.krate);
            let krate = krate.unwrap_or_else(|| syn::parse_quote!(::mqttspec));
            let stub = expand::stub(&input, &krate, &field_types(&input));
            quote::quote! { #compile_errors #stub }
        }
    }
}

/// The types of a struct's named fields (none for any other shape).
fn field_types(input: &syn::DeriveInput) -> Vec<syn::Type> {
    match &input.data {
        syn::Data::Struct(syn::DataStruct { fields: syn::Fields::Named(fields), .. }) => {
            fields.named.iter().map(|f| f.ty.clone()).collect()
        }
        _ => Vec::new(),
    }
}
