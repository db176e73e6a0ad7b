//! `#[derive(SpecEntity)]`: parse (darling receivers) → check (a validated model) → expand.

mod attr;
mod expand;
mod model;

use proc_macro2::TokenStream;

pub fn expand(input: syn::DeriveInput) -> TokenStream {
    match model::Entity::from_input(&input) {
        Ok(entity) => expand::entity(&entity),
        Err(errors) => {
            let compile_errors = errors.write_errors();
            // A stub impl keeps uses of the struct from cascading into "not an entity" errors.
            let stub = input.generics.params.is_empty().then(|| expand::stub(&input.ident));
            quote::quote! { #compile_errors #stub }
        }
    }
}
