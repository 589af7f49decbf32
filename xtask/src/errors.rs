//! `cargo xtask errors`: write `docs/errors.md` from the error catalogue (`src/catalogue/`).
//!
//! The rendering is the library's (`cargo_esp32s3::catalogue::markdown`), which this crate does
//! not depend on, so the task runs the test that compares the file with it, asking it to write
//! the file instead (`UPDATE_ERRORS_DOC=1`). Nothing here knows what the file holds.

use crate::run::{self, Result};

/// Parses `cargo xtask errors` arguments (none).
pub fn parse(args: &[String]) -> Result<()> {
    match args.first() {
        None => Ok(()),
        Some(other) => Err(format!(
            "unknown argument `{other}` for `errors` (it takes none)"
        )),
    }
}

/// Writes `docs/errors.md`, then runs the catalogue's tests on it.
pub fn run() -> Result {
    let mut write = run::cargo();
    write
        .args([
            "test",
            "--quiet",
            "--test",
            "error_catalogue",
            "docs_errors_md_is_rendered_from_the_catalogue",
        ])
        .env("UPDATE_ERRORS_DOC", "1");
    run::run_inherit(write)?;
    let mut check = run::cargo();
    check.args(["test", "--quiet", "--test", "error_catalogue"]);
    run::run_inherit(check)?;
    println!("docs/errors.md is up to date; review `git diff docs/errors.md` and commit it");
    Ok(())
}
