use mqttspec::{HookContext, SpecEntity, hook};

#[derive(SpecEntity)]
struct Note {
    id: i64,
    body: String,
}

#[hook(before_create)]
async fn everywhere(_ctx: &mut HookContext) -> mqttspec::Result<()> {
    Ok(())
}

#[hook(after_read, entity = Note, priority = -3)]
async fn notes_only(ctx: &mut HookContext) -> mqttspec::Result<()> {
    if let Some(note) = ctx.record::<Note>() {
        let _ = (note.id, note.body);
    }
    Ok(())
}

fn main() {}
