use mqttspec::SpecEntity;

#[derive(SpecEntity)]
#[spec(rename_all = "Title Case")]
struct User {
    #[spec(primary_key)]
    id: i64,
    #[spec(primary_key)]
    other: i64,
    tags: Vec<String>,
    #[spec(read_only, write_only)]
    secret: String,
}

fn uses_the_struct(user: User) -> i64 {
    user.id
}

fn main() {
    let _ = uses_the_struct;
}
