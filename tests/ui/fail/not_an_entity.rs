struct Plain {
    id: i64,
}

fn main() {
    let _ = Plain { id: 1 }.id;
    let _ = mqttspec::EntityDef::of::<Plain>();
}
