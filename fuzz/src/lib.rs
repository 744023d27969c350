//! The fuzz targets' bodies, one plain function per target, shared with the
//! corpus replay test (`tests/fuzz_corpus.rs` compiles the same file).

pub mod targets;
