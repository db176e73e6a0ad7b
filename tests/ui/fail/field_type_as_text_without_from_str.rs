use mqttspec::field_type;

pub struct Color;

impl std::fmt::Display for Color {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("red")
    }
}

field_type!(Color as text);

fn main() {}
