use mqttspec::{HookContext, hook};

#[hook(before_create)]
fn not_async(_ctx: &mut HookContext) -> mqttspec::Result<()> {
    Ok(())
}

fn main() {}
