//! `#[hook(point, entity = Type, priority = N)]` on an async function: checks the signature and
//! registers the function with `inventory`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;

const POINTS: [&str; 17] = [
    "before_handle",
    "before_read",
    "after_read",
    "before_create",
    "after_create",
    "before_update",
    "after_update",
    "before_delete",
    "after_delete",
    "before_subscribe",
    "after_subscribe",
    "before_unsubscribe",
    "after_unsubscribe",
    "before_connect",
    "after_connect",
    "before_disconnect",
    "after_disconnect",
];

pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let function = match syn::parse2::<syn::ItemFn>(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let e = syn::Error::new(Span::call_site(), "`#[hook]` goes on an `async fn(ctx: &mut HookContext)`");
            let e = e.to_compile_error();
            return quote!(#e #item);
        }
    };
    match registration(args, &function) {
        Ok(registration) => quote!(#function #registration),
        Err(errors) => {
            let errors = errors.to_compile_error();
            quote!(#function #errors)
        }
    }
}

fn registration(args: TokenStream, function: &syn::ItemFn) -> syn::Result<TokenStream> {
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    let metas = Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated.parse2(args)?;
    let mut point: Option<syn::Ident> = None;
    let mut entity: Option<syn::Path> = None;
    let mut priority: Option<syn::Expr> = None;
    for meta in metas {
        match meta {
            syn::Meta::Path(path) if path.get_ident().is_some() => {
                let ident = path.get_ident().expect("checked").clone();
                let name = ident.to_string();
                if point.is_some() {
                    push(syn::Error::new(ident.span(), "a hook runs at one point; write one `#[hook]` per point"));
                } else if POINTS.contains(&name.as_str()) {
                    point = Some(ident);
                } else {
                    let hint = closest(&name).map(|p| format!("; did you mean `{p}`?")).unwrap_or_default();
                    push(syn::Error::new(ident.span(), format!("unknown hook point `{name}`{hint}")));
                    point = Some(format_ident!("before_handle"));
                }
            }
            syn::Meta::NameValue(nv) if nv.path.is_ident("entity") => {
                if entity.is_some() {
                    push(syn::Error::new(nv.path.span(), "duplicate `entity`"));
                }
                match nv.value {
                    syn::Expr::Path(p) => entity = Some(p.path),
                    other => {
                        push(syn::Error::new(other.span(), "`entity` names the entity's Rust type: `entity = User`"))
                    }
                }
            }
            syn::Meta::NameValue(nv) if nv.path.is_ident("priority") => {
                if priority.is_some() {
                    push(syn::Error::new(nv.path.span(), "duplicate `priority`"));
                }
                priority = Some(nv.value);
            }
            other => push(syn::Error::new(
                other.span(),
                "expected a hook point (`before_create`, ...), `entity = Type` or `priority = N`",
            )),
        }
    }
    let sig = &function.sig;
    if sig.asyncness.is_none() {
        push(syn::Error::new(
            sig.fn_token.span(),
            "a hook is an `async fn(ctx: &mut HookContext) -> mqttspec::Result<()>`",
        ));
    }
    if !sig.generics.params.is_empty() {
        push(syn::Error::new(sig.generics.span(), "a hook cannot be generic"));
    }
    if sig.inputs.len() != 1 || matches!(sig.inputs.first(), Some(syn::FnArg::Receiver(_))) {
        push(syn::Error::new(
            if sig.inputs.is_empty() { sig.ident.span() } else { sig.inputs.span() },
            "a hook takes exactly one argument: `ctx: &mut HookContext`",
        ));
    }
    if let Some(syn::FnArg::Typed(arg)) = sig.inputs.first().filter(|_| sig.inputs.len() == 1) {
        let is_context = match &*arg.ty {
            syn::Type::Reference(r) if r.mutability.is_some() => match &*r.elem {
                syn::Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "HookContext"),
                _ => false,
            },
            _ => false,
        };
        if !is_context {
            push(syn::Error::new(arg.ty.span(), "a hook's argument is `ctx: &mut HookContext`"));
        }
    }
    if matches!(sig.output, syn::ReturnType::Default) {
        push(syn::Error::new(sig.ident.span(), "a hook returns `mqttspec::Result<()>`"));
    }
    let Some(point) = point else {
        push(syn::Error::new(
            Span::call_site(),
            format!("name the hook point: `#[hook(before_create)]`; one of: {}", POINTS.join(", ")),
        ));
        return Err(errors.expect("pushed"));
    };
    if let Some(errors) = errors {
        return Err(errors);
    }
    let variant =
        format_ident!("{}", point.to_string().split('_').map(capitalize).collect::<String>(), span = point.span());
    let name = &sig.ident;
    let entity = match entity {
        Some(path) => quote_spanned! {path.span()=>
            ::core::option::Option::Some(::mqttspec::EntityDef::of::<#path> as fn() -> ::mqttspec::EntityDef)
        },
        None => quote!(::core::option::Option::None),
    };
    let priority = priority.map_or_else(|| quote!(0), |p| quote!(#p));
    let output = match &sig.output {
        syn::ReturnType::Type(_, ty) => ty,
        syn::ReturnType::Default => unreachable!("checked"),
    };
    let call = quote_spanned! {output.span()=>
        ::std::boxed::Box::pin(#name(ctx)) as ::mqttspec::__private::BoxFuture<'a, ::mqttspec::Result<()>>
    };
    Ok(quote! {
        #[doc(hidden)]
        const _: () = {
            fn __mqttspec_hook<'a>(
                ctx: &'a mut ::mqttspec::HookContext,
            ) -> ::mqttspec::__private::BoxFuture<'a, ::mqttspec::Result<()>> {
                #call
            }
            ::mqttspec::__private::inventory::submit! {
                ::mqttspec::__private::HookRegistration {
                    point: ::mqttspec::HookPoint::#variant,
                    entity: #entity,
                    priority: #priority,
                    name: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name)),
                    func: __mqttspec_hook,
                }
            }
        };
    })
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// The known point nearest to a misspelling (edit distance ≤ 3).
fn closest(name: &str) -> Option<&'static str> {
    POINTS.iter().map(|p| (distance(name, p), *p)).filter(|(d, _)| *d <= 3).min().map(|(_, p)| p)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            previous = current;
        }
    }
    row[b.len()]
}
