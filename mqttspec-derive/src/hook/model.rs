//! The validated model of a hook: its point, entity, priority and function. Every rule lives
//! here, apart from parsing, and every violation is collected so the user sees them all.

use darling::{Error, FromMeta};
use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;

use super::attr::{HookArgs, POINTS};

pub struct Hook {
    /// The `HookPoint` variant, spanned on the point's word.
    pub point: syn::Ident,
    pub entity: Option<syn::Path>,
    pub priority: Option<syn::Expr>,
    /// The path of the `mqttspec` crate (default `::mqttspec`).
    pub krate: syn::Path,
    pub function: syn::Ident,
    /// The declared return type, for spanning its errors.
    pub output: syn::Type,
}

impl Hook {
    pub fn from_tokens(args: TokenStream, function: &syn::ItemFn) -> Result<Self, Error> {
        let items = darling::ast::NestedMeta::parse_meta_list(args)?;
        let mut errors = Error::accumulator();
        let parsed = HookArgs::from_list(&items);
        let args_parsed = parsed.is_ok();
        let args = errors.handle(parsed).unwrap_or_default();
        let point = match args.points().as_slice() {
            [(variant, span)] => Some(syn::Ident::new(variant, *span)),
            [] => {
                // Only when the arguments parsed: a misspelt point is already reported.
                if args_parsed {
                    let names: Vec<_> = POINTS.iter().map(|(word, _)| *word).collect();
                    errors.push(Error::custom(format!(
                        "name the hook point: `#[hook(before_create)]`; one of: {}",
                        names.join(", ")
                    )));
                }
                None
            }
            [_, rest @ ..] => {
                for (_, span) in rest {
                    errors
                        .push(Error::custom("a hook runs at one point; write one `#[hook]` per point").with_span(span));
                }
                None
            }
        };
        check_signature(&function.sig, &mut errors);
        errors.finish()?;
        let output = match &function.sig.output {
            syn::ReturnType::Type(_, ty) => (**ty).clone(),
            syn::ReturnType::Default => unreachable!("checked"),
        };
        Ok(Hook {
            point: point.expect("errors finished"),
            entity: args.entity.map(|e| (*e).clone()),
            priority: args.priority,
            krate: args.krate.unwrap_or_else(|| syn::parse_quote!(::mqttspec)),
            function: function.sig.ident.clone(),
            output,
        })
    }
}

/// A hook is `async fn name(ctx: &mut HookContext) -> mqttspec::Result<()>`, not generic.
fn check_signature(sig: &syn::Signature, errors: &mut darling::error::Accumulator) {
    let mut fail = |span: Span, message: &str| errors.push(Error::custom(message).with_span(&span));
    if sig.asyncness.is_none() {
        fail(sig.fn_token.span(), "a hook is an `async fn(ctx: &mut HookContext) -> mqttspec::Result<()>`");
    }
    if !sig.generics.params.is_empty() {
        fail(sig.generics.span(), "a hook cannot be generic");
    }
    if sig.inputs.len() != 1 || matches!(sig.inputs.first(), Some(syn::FnArg::Receiver(_))) {
        let span = if sig.inputs.is_empty() { sig.ident.span() } else { sig.inputs.span() };
        fail(span, "a hook takes exactly one argument: `ctx: &mut HookContext`");
    } else if let Some(syn::FnArg::Typed(arg)) = sig.inputs.first() {
        let is_context = match &*arg.ty {
            syn::Type::Reference(r) if r.mutability.is_some() => match &*r.elem {
                syn::Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "HookContext"),
                _ => false,
            },
            _ => false,
        };
        if !is_context {
            fail(arg.ty.span(), "a hook's argument is `ctx: &mut HookContext`");
        }
    }
    if matches!(sig.output, syn::ReturnType::Default) {
        fail(sig.ident.span(), "a hook returns `mqttspec::Result<()>`");
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;
    use syn::parse_quote;

    use super::*;

    fn model(args: TokenStream, function: syn::ItemFn) -> Hook {
        Hook::from_tokens(args, &function).unwrap_or_else(|e| panic!("refused: {e}"))
    }

    /// Every message of a refused hook, one per line.
    fn errors(args: TokenStream, function: syn::ItemFn) -> String {
        match Hook::from_tokens(args, &function) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"),
        }
    }

    fn hook_fn() -> syn::ItemFn {
        parse_quote!(
            async fn stamp(ctx: &mut HookContext) -> mqttspec::Result<()> {
                Ok(())
            }
        )
    }

    #[test]
    fn a_valid_hook() {
        let hook = model(quote!(before_create, entity = User, priority = 10, crate = "app::mqttspec"), hook_fn());
        assert_eq!(hook.point, "BeforeCreate");
        assert_eq!(hook.entity.map(|p| quote!(#p).to_string()), Some("User".into()));
        let krate = &hook.krate;
        assert_eq!(quote!(#krate).to_string(), "app :: mqttspec");
        assert_eq!(hook.function, "stamp");
        let defaults = model(quote!(after_disconnect), hook_fn());
        let krate = &defaults.krate;
        assert_eq!(quote!(#krate).to_string(), quote!(::mqttspec).to_string());
        assert!(defaults.priority.is_none() && defaults.entity.is_none());
    }

    #[test]
    fn every_rule_at_once() {
        let duplicate = errors(quote!(before_create, priority = 1, priority = 2), hook_fn());
        assert!(duplicate.contains("Duplicate field `priority`"), "{duplicate}");
        let all = errors(
            quote!(before_create, after_create),
            parse_quote!(
                fn f<T>(a: u8, b: u8) {}
            ),
        );
        for expected in ["one point", "async fn", "cannot be generic", "exactly one argument", "returns"] {
            assert!(all.contains(expected), "{expected}: {all}");
        }
    }

    #[test]
    fn points_misspelt_or_missing() {
        let misspelt = errors(quote!(befor_create), hook_fn());
        assert!(misspelt.contains("befor_create") && misspelt.contains("before_create"), "{misspelt}");
        assert!(errors(quote!(priority = 1), hook_fn()).contains("name the hook point"));
        assert!(!errors(quote!(before_read, entity = 3), hook_fn()).is_empty());
    }
}
