//! The arguments of `#[hook(...)]` as a darling receiver: the point is a bare word, one flag per
//! point, so a misspelt point gets darling's "did you mean"; duplicates are rejected there too.

use darling::FromMeta;
use darling::util::{Flag, SpannedValue};

/// Generates the receiver and the table of points from one list, so they cannot disagree.
macro_rules! points {
    ($($point:ident => $variant:ident),* $(,)?) => {
        #[derive(FromMeta, Default)]
        pub struct HookArgs {
            $(pub $point: Flag,)*
            /// The entity's Rust type: `entity = User`.
            pub entity: Option<SpannedValue<syn::Path>>,
            /// Order within a point: higher runs first.
            pub priority: Option<syn::Expr>,
            /// Path of the `mqttspec` crate when it is re-exported: `crate = "my::mqttspec"`.
            #[darling(rename = "crate")]
            pub krate: Option<syn::Path>,
        }

        /// Every point: its attribute word and its `HookPoint` variant.
        pub const POINTS: &[(&str, &str)] = &[$((stringify!($point), stringify!($variant))),*];

        impl HookArgs {
            /// The points set, with their spans, in table order.
            pub fn points(&self) -> Vec<(&'static str, proc_macro2::Span)> {
                let mut set = Vec::new();
                $(if self.$point.is_present() {
                    set.push((stringify!($variant), self.$point.span()));
                })*
                set
            }
        }
    };
}

points! {
    before_handle => BeforeHandle,
    before_read => BeforeRead,
    after_read => AfterRead,
    before_create => BeforeCreate,
    after_create => AfterCreate,
    before_update => BeforeUpdate,
    after_update => AfterUpdate,
    before_delete => BeforeDelete,
    after_delete => AfterDelete,
    before_subscribe => BeforeSubscribe,
    after_subscribe => AfterSubscribe,
    before_unsubscribe => BeforeUnsubscribe,
    after_unsubscribe => AfterUnsubscribe,
    before_connect => BeforeConnect,
    after_connect => AfterConnect,
    before_disconnect => BeforeDisconnect,
    after_disconnect => AfterDisconnect,
}
