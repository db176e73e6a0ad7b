use mqttspec::{HookContext, hook};

struct Plain;

#[hook(before_create, entity = Plain)]
async fn plain(_ctx: &mut HookContext) -> mqttspec::Result<()> {
    Ok(())
}

fn main() {}
