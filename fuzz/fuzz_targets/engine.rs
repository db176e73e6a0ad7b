//! AFL++ target `engine`: see `src/targets.rs`.

#[path = "../src/targets.rs"]
mod targets;

fn main() {
    afl::fuzz!(|data: &[u8]| targets::engine(data));
}
