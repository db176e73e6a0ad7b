use mqttspec::SpecEntity;

#[derive(SpecEntity)]
#[spec(tabel = "users")]
struct User {
    id: i64,
}

fn main() {}
