use mqttspec::SpecEntity;

#[derive(SpecEntity)]
struct User {
    id: i64,
    #[spec(rename = "mail")]
    #[spec(rename = "email")]
    email_address: String,
}

fn main() {}
