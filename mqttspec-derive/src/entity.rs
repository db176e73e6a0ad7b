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
            let stub = expand::stub(&input.ident);
            quote::quote! { #compile_errors #stub }
        }
    }
}
