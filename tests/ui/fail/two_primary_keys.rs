use mqttspec::SpecEntity;

#[derive(SpecEntity)]
struct User {
    #[spec(primary_key)]
    id: i64,
    #[spec(primary_key)]
    email: String,
}

fn main() {}
