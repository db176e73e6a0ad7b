//! Procedural macros of [mqttspec](https://docs.rs/mqttspec).
//!
//! Use them through the `mqttspec` crate, which re-exports them together with everything the
//! generated code needs: `#[derive(mqttspec::SpecEntity)]` and `#[mqttspec::hook(...)]`.

mod entity;
mod hook;
mod names;

use proc_macro::TokenStream;

/// Generates column metadata, SQL statements, row decoding and registration for an entity
/// struct. See the `mqttspec` crate documentation for the `#[spec(...)]` attributes.
#[proc_macro_derive(SpecEntity, attributes(spec))]
pub fn derive_spec_entity(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    entity::expand(input).into()
}

/// Registers an async function as a lifecycle hook: `#[hook(before_create, entity = User, priority = 10)]`.
#[proc_macro_attribute]
pub fn hook(args: TokenStream, item: TokenStream) -> TokenStream {
    hook::expand(args.into(), item.into()).into()
}
