use mqttspec::SpecEntity;

#[derive(SpecEntity)]
struct Wrapper<T> {
    id: i64,
    value: T,
}

// The stub impl keeps this from adding "not an entity" to the one error above.
fn meta() -> &'static mqttspec::EntityMeta {
    <Wrapper<String> as mqttspec::Entity>::META
}

fn main() {
    let _ = meta;
}
