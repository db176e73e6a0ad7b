use mqttspec::{HookContext, hook};

#[hook(before_read)]
async fn two(_ctx: &mut HookContext, _extra: u32) -> mqttspec::Result<()> {
    Ok(())
}

fn main() {}
