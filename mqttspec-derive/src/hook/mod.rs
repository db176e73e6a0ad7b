//! `#[hook(point, entity = Type, priority = N)]` on an async function: parse the arguments
//! (darling, `attr`) → check them and the signature into a model (`model`) → register the
//! function with `inventory` (`expand`).

mod attr;
mod expand;
mod model;

use proc_macro2::{Span, TokenStream};
use quote::quote;

pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let function = match syn::parse2::<syn::ItemFn>(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let e = syn::Error::new(Span::call_site(), "`#[hook]` goes on an `async fn(ctx: &mut HookContext)`");
            let e = e.to_compile_error();
            return quote!(#e #item);
        }
    };
    match model::Hook::from_tokens(args, &function) {
        Ok(hook) => {
            let registration = expand::registration(&hook);
            quote!(#function #registration)
        }
        Err(errors) => {
            let errors = errors.write_errors();
            quote!(#function #errors)
        }
    }
}
