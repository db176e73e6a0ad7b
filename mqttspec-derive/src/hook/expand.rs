//! Code generation: a `fn` with the registry's signature that boxes the hook's future, and its
//! `inventory` registration, wrapped in `const _: () = { ... };`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::model::Hook;

pub fn registration(hook: &Hook) -> TokenStream {
    let Hook { point, entity, priority, krate, function, output } = hook;
    let entity = match entity {
        Some(path) => quote_spanned! {path.span()=>
            ::core::option::Option::Some(#krate::EntityDef::of::<#path> as fn() -> #krate::EntityDef)
        },
        None => quote!(::core::option::Option::None),
    };
    let priority = priority.as_ref().map_or_else(|| quote!(0), |p| quote!(#p));
    let call = quote_spanned! {output.span()=>
        ::std::boxed::Box::pin(#function(ctx)) as #krate::__private::BoxFuture<'a, #krate::Result<()>>
    };
    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all)]
        const _: () = {
            fn __mqttspec_hook<'a>(
                ctx: &'a mut #krate::HookContext,
            ) -> #krate::__private::BoxFuture<'a, #krate::Result<()>> {
                #call
            }
            #krate::__private::inventory::submit! {
                #krate::__private::HookRegistration {
                    point: #krate::HookPoint::#point,
                    entity: #entity,
                    priority: #priority,
                    name: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#function)),
                    func: __mqttspec_hook,
                }
            }
        };
    }
}
