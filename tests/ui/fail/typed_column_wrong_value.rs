use mqttspec::SpecEntity;

#[derive(SpecEntity)]
pub struct User {
    pub id: i64,
    pub age: i32,
}

fn main() {
    let _ = User::AGE.eq("eighteen");
}
