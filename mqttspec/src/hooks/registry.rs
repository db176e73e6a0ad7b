//! The hooks of a server, by point, in priority order; running them catches panics and maps
//! their errors onto wire codes.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{HookContext, HookPoint};
use crate::entity::EntityDef;
use crate::error::{Error, ErrorCode, Result};

/// A hook: an async function of the context.
pub trait Hook: Send + Sync + 'static {
    /// Runs the hook.
    fn call<'a>(&'a self, ctx: &'a mut HookContext) -> BoxFuture<'a, Result<()>>;
}

impl<F> Hook for F
where
    F: for<'a> Fn(&'a mut HookContext) -> BoxFuture<'a, Result<()>> + Send + Sync + 'static,
{
    fn call<'a>(&'a self, ctx: &'a mut HookContext) -> BoxFuture<'a, Result<()>> {
        self(ctx)
    }
}

/// Makes a closure a [`Hook`] without writing `Box::pin`:
/// `hook_fn!(|ctx| async move { ctx.set_field("origin", json!("api")); Ok(()) })`, or
/// `hook_fn!(move |ctx| async move { ... })` to capture.
///
/// (The future borrows the context for as long as it runs, and must be `Send` to run on the
/// server's tasks: stable Rust cannot say that of an async closure yet, so the macro boxes it.)
#[macro_export]
macro_rules! hook_fn {
    (move |$ctx:ident| $body:expr) => {
        $crate::hooks::hook_fn(move |$ctx| ::std::boxed::Box::pin($body))
    };
    (|$ctx:ident| $body:expr) => {
        $crate::hooks::hook_fn(|$ctx| ::std::boxed::Box::pin($body))
    };
}

/// Helps a closure become a [`Hook`]: `hook_fn(|ctx| Box::pin(async move { ... Ok(()) }))`
/// (the [`hook_fn!`](crate::hook_fn!) macro writes the `Box::pin`).
pub fn hook_fn<F>(f: F) -> F
where
    F: for<'a> Fn(&'a mut HookContext) -> BoxFuture<'a, Result<()>> + Send + Sync + 'static,
{
    f
}

/// A hook with its options by name, for [`ServerBuilder::add_hook`](crate::ServerBuilder::add_hook):
/// `HookSpec::new(HookPoint::AfterCreate, f).entity::<User>().priority(10).name("audit")`.
pub struct HookSpec {
    point: HookPoint,
    entity: Option<EntityDef>,
    priority: i32,
    name: String,
    hook: Arc<dyn Hook>,
}

impl HookSpec {
    /// A hook at `point`, for every entity, priority 0, named after the point.
    pub fn new(point: HookPoint, hook: impl Hook) -> Self {
        Self { point, entity: None, priority: 0, name: format!("{point}"), hook: Arc::new(hook) }
    }

    /// Runs for entity `E` only.
    pub fn entity<E: crate::Entity>(mut self) -> Self {
        self.entity = Some(EntityDef::of::<E>());
        self
    }

    /// Order within the point: higher runs first (default 0); equal priorities run in name order.
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// The name in logs and in the order of equal priorities.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

impl std::fmt::Debug for HookSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookSpec").field("point", &self.point).field("name", &self.name).finish_non_exhaustive()
    }
}

/// Submitted by `#[hook(...)]`; the server collects them.
#[doc(hidden)]
pub struct HookRegistration {
    pub point: HookPoint,
    pub entity: Option<fn() -> EntityDef>,
    pub priority: i32,
    pub name: &'static str,
    pub func: for<'a> fn(&'a mut HookContext) -> BoxFuture<'a, Result<()>>,
}

inventory::collect!(HookRegistration);

struct FnHook(for<'a> fn(&'a mut HookContext) -> BoxFuture<'a, Result<()>>);

impl Hook for FnHook {
    fn call<'a>(&'a self, ctx: &'a mut HookContext) -> BoxFuture<'a, Result<()>> {
        (self.0)(ctx)
    }
}

#[derive(Clone)]
struct Entry {
    name: String,
    entity: Option<EntityDef>,
    priority: i32,
    hook: Arc<dyn Hook>,
}

/// Hooks by point. Within a point, higher `priority` runs first; equal priorities run in name order.
#[derive(Clone, Default)]
pub struct HookRegistry {
    by_point: HashMap<HookPoint, Vec<Entry>>,
}

impl std::fmt::Debug for HookRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (point, entries) in &self.by_point {
            map.entry(point, &entries.iter().map(|e| e.name.as_str()).collect::<Vec<_>>());
        }
        map.finish()
    }
}

impl HookRegistry {
    /// Every hook declared with `#[hook(...)]` in the program.
    pub fn discovered() -> Self {
        let mut registry = Self::default();
        for r in inventory::iter::<HookRegistration>() {
            registry.add(r.point, r.entity.map(|e| e()), r.priority, r.name, FnHook(r.func));
        }
        registry
    }

    /// Adds every hook of `other` (each keeps its point, entity, priority and name).
    pub fn extend(&mut self, other: &HookRegistry) {
        for (point, entries) in &other.by_point {
            let mine = self.by_point.entry(*point).or_default();
            mine.extend(entries.iter().cloned());
            mine.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.name.cmp(&b.name)));
        }
    }

    /// Adds a hook described by a [`HookSpec`].
    pub fn add_spec(&mut self, spec: HookSpec) {
        let entries = self.by_point.entry(spec.point).or_default();
        entries.push(Entry { name: spec.name, entity: spec.entity, priority: spec.priority, hook: spec.hook });
        entries.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.name.cmp(&b.name)));
    }

    /// Adds a hook for one point, optionally restricted to one entity.
    pub fn add(&mut self, point: HookPoint, entity: Option<EntityDef>, priority: i32, name: &str, hook: impl Hook) {
        let entries = self.by_point.entry(point).or_default();
        entries.push(Entry { name: name.to_owned(), entity, priority, hook: Arc::new(hook) });
        entries.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.name.cmp(&b.name)));
    }

    /// Whether any hook is registered for this point.
    pub fn has(&self, point: HookPoint) -> bool {
        self.by_point.get(&point).is_some_and(|e| !e.is_empty())
    }

    /// Runs the hooks of `ctx.point()` that apply to its entity, in order, until one fails.
    /// A hook error keeps `forbidden`, `validation_error`, `unauthorized` and `not_found`;
    /// any other becomes `hook_error`; a panic becomes `internal_error`.
    pub async fn run(&self, ctx: &mut HookContext) -> Result<()> {
        let Some(entries) = self.by_point.get(&ctx.point) else {
            return Ok(());
        };
        for entry in entries {
            if let (Some(only), Some(entity)) = (&entry.entity, &ctx.entity) {
                if !only.same(entity) {
                    continue;
                }
            } else if entry.entity.is_some() {
                continue;
            }
            let point = ctx.point;
            // Both parts are user code: the call that makes the future (a `hook_fn` closure's
            // body before its `async` block) and the future itself.
            let call = &mut *ctx;
            let make = move || {
                let call = call; // moved out: the closure is FnOnce, and the future may keep the borrow
                entry.hook.call(call)
            };
            let outcome = match std::panic::catch_unwind(AssertUnwindSafe(make)) {
                Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
                Err(panic) => Err(panic),
            };
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(map_hook_error(error, &entry.name, point)),
                Err(panic) => {
                    let what = crate::error::panic_message(&*panic);
                    tracing::error!(hook = %entry.name, %point, panic = %what, "hook panicked");
                    return Err(Error::new(ErrorCode::InternalError, "internal error")
                        .with_source(format!("hook `{}` panicked: {what}", entry.name)));
                }
            }
        }
        Ok(())
    }
}

fn map_hook_error(error: Error, name: &str, point: HookPoint) -> Error {
    tracing::debug!(hook = %name, %point, error = %error, "hook refused");
    match error.code() {
        ErrorCode::Forbidden | ErrorCode::ValidationError | ErrorCode::Unauthorized | ErrorCode::NotFound => error,
        _ => {
            let message = error.message().to_owned();
            Error::new(ErrorCode::HookError, message).with_source(error)
        }
    }
}
