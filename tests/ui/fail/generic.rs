use mqttspec::SpecEntity;

#[derive(SpecEntity)]
struct Wrapper<T> {
    id: i64,
    value: T,
}

fn main() {}
