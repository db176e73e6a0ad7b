//! `#[hook(point, entity = Type, priority = N)]` on an async function.

use proc_macro2::TokenStream;

pub fn expand(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
