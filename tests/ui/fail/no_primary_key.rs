use mqttspec::SpecEntity;

#[derive(SpecEntity)]
struct User {
    user_id: i64,
    name: String,
}

fn main() {}
