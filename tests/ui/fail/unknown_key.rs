use mqttspec::SpecEntity;

#[derive(SpecEntity)]
struct User {
    #[spec(primry_key)]
    id: i64,
}

fn main() {}
