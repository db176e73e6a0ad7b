use mqttspec::{HookContext, SpecEntity, hook};

#[derive(SpecEntity)]
struct User {
    id: i64,
}

#[hook(before_create, entity = Usr)]
async fn typo(_ctx: &mut HookContext) -> mqttspec::Result<()> {
    Ok(())
}

fn main() {}
