use mqttspec::{HookContext, hook};

#[hook(before_create, priority = 1, priority = 2)]
async fn ordered(_ctx: &mut HookContext) -> mqttspec::Result<()> {
    Ok(())
}

fn main() {}
