use mqttspec::SpecEntity;

#[derive(SpecEntity)]
pub struct User {
    pub id: i64,
    pub tenant_id: String,
}

fn main() {
    let _ = User::TENANT.eq("acme");
}
