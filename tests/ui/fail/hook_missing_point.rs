use mqttspec::{HookContext, hook};

#[hook(priority = 1)]
async fn nowhere(_ctx: &mut HookContext) -> mqttspec::Result<()> {
    Ok(())
}

fn main() {}
