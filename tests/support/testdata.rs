//! The shared real-file testdata for the golden tests: where it is, and reading one file of it.
//!
//! `$ESP32S3_TESTDATA`, else `<crate root>/../shared/testdata`; when neither exists the golden
//! tests say so and pass, so that a fresh clone's `cargo test` runs without it.
// Each test file uses what it needs of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The shared testdata folder, or `None` (after saying so) when it is not there.
pub fn testdata() -> Option<PathBuf> {
    let dir = std::env::var_os("ESP32S3_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata"));
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: testdata not found (set ESP32S3_TESTDATA)");
        None
    }
}

/// One file of the testdata; a missing file is a broken testdata folder, so it panics.
pub fn read(dir: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Where MicroPython's offset-0 image is in the testdata folder.
pub const MICROPYTHON: &str = "firmware/micropython/ESP32_GENERIC_S3-20250911-v1.26.1.bin";

/// MicroPython's offset-0 image, or `None` when the testdata is not there (after saying so).
pub fn micropython() -> Option<Vec<u8>> {
    testdata().and_then(|dir| std::fs::read(dir.join(MICROPYTHON)).ok())
}
