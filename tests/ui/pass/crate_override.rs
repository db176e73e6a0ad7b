//! An application that re-exports mqttspec names it with `crate = "..."`.
mod deps {
    pub use mqttspec;
}

use deps::mqttspec::{Entity, HookContext, SpecEntity, hook};

#[derive(SpecEntity)]
#[spec(crate = "deps::mqttspec", table = "notes")]
struct Note {
    id: i64,
    body: String,
}

#[hook(before_read, entity = Note, crate = "deps::mqttspec")]
async fn narrow(ctx: &mut HookContext) -> deps::mqttspec::Result<()> {
    ctx.filter(Note::BODY.neq("hidden"))
}

fn main() {
    assert_eq!(Note::META.table, "notes");
    let _ = narrow;
}
