use mqttspec::{HookContext, hook};

#[hook(after_read)]
async fn nothing(_ctx: &mut HookContext) {}

fn main() {}
