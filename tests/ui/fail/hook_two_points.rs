use mqttspec::{HookContext, hook};

#[hook(before_create, after_create)]
async fn twice(_ctx: &mut HookContext) -> mqttspec::Result<()> {
    Ok(())
}

fn main() {}
