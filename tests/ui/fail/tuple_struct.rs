use mqttspec::SpecEntity;

#[derive(SpecEntity)]
struct User(i64, String);

fn main() {}
