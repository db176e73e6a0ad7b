//! AFL++ target `options`: see `src/targets.rs`.

#[path = "../src/targets.rs"]
mod targets;

fn main() {
    afl::fuzz!(|data: &[u8]| targets::options(data));
}
