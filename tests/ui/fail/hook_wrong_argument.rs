use mqttspec::hook;

#[hook(before_read)]
async fn wrong(_ctx: String) -> mqttspec::Result<()> {
    Ok(())
}

fn main() {}
