//! Writes seed inputs for every target into `fuzz/corpus/<target>/`, made
//! from real exchanges in this fuzz build (quiche's `fuzzing` feature: the
//! packets are plaintext, so they mean something to the targets).
//! `make fuzz-corpus` runs it.

use std::path::PathBuf;

fn main() {
    let root: PathBuf = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let seeds = filo_sim::fuzz::seeds(&filo_fuzz::reset_rng);
    for (target, name, bytes) in &seeds {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        std::fs::write(dir.join(name), bytes).expect("write seed");
        println!("{target}/{name}: {} bytes", bytes.len());
    }
}
