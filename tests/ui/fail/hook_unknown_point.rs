use mqttspec::{HookContext, hook};

#[hook(befor_create)]
async fn typo(_ctx: &mut HookContext) -> mqttspec::Result<()> {
    Ok(())
}

fn main() {}
