use mqttspec::{HookContext, hook};

#[hook(after_read)]
async fn boolean(_ctx: &mut HookContext) -> bool {
    true
}

fn main() {}
