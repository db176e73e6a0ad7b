//! The fuzz corpora (`fuzz/corpus/<target>/`, grown by `scripts/fuzz` with AFL++) replayed through
//! the same target functions on every test run: what a fuzzer once found stays fixed.

#[path = "../../fuzz/src/targets.rs"]
mod targets;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut inputs = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            panic!("{target}: {} fails (input: {:?})", path.display(), String::from_utf8_lossy(&data));
        }
        inputs += 1;
    }
    assert!(inputs >= 5, "{target}: only {inputs} inputs in {}", dir.display());
}

#[test]
fn envelope_corpus() {
    replay("envelope", targets::envelope);
}

#[test]
fn options_corpus() {
    replay("options", targets::options);
}

#[test]
fn cursor_corpus() {
    replay("cursor", targets::cursor);
}

#[test]
fn engine_corpus() {
    replay("engine", targets::engine);
}
