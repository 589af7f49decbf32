//! `ES03xx`: the codes of [`CargoError`] (`cargo metadata` and `cargo build`). It must not know
//! how cargo is run.

use crate::cargo::CargoError;

catalogue! {
    /// The code of a cargo error.
    pub(super) fn code(&CargoError);
    /// `ES03xx`: cargo.
    pub(super) const ENTRIES;
    wrappers {}
    CargoError::Spawn { .. } => ES0301 {
        example: CargoError::Spawn {
            program: "cargo".into(),
            source: std::io::ErrorKind::NotFound.into(),
        },
        cause: "cargo could not be started: it is not on PATH, or CARGO names a program that is not there.",
        fix: "Install Rust with rustup (for the ESP32-S3's Xtensa target, espup), or set CARGO to the cargo binary.",
    },
    CargoError::Metadata { .. } => ES0302 {
        example: CargoError::Metadata {
            manifest: "Cargo.toml".into(),
            detail: "error: failed to parse manifest at `/home/me/blinky/Cargo.toml`".into(),
        },
        cause: "`cargo metadata` failed: a broken Cargo.toml, a missing path dependency, or no network for a new dependency; cargo's own message follows.",
        fix: "Fix what cargo says (`cargo metadata --no-deps` shows it in full), then run again.",
    },
    CargoError::UnknownPackage { .. } => ES0303 {
        example: CargoError::UnknownPackage {
            spec: "blinki".into(),
            workspace: "/home/me/firmware".into(),
            members: "blinky, sensor".into(),
        },
        cause: "--package names no member of the workspace: a typo, or a package of another workspace.",
        fix: "Use one of the members the message lists.",
    },
    CargoError::BuildFailed { .. } => ES0304 {
        example: CargoError::BuildFailed { status: "exit status: 101".into() },
        cause: "`cargo build` failed; the compiler's errors are printed above this line.",
        fix: "Fix the errors above (they carry rustc's own codes, `error[E0308]` and so on) and run again.",
    },
    CargoError::Output(_) => ES0305 {
        example: CargoError::Output(std::io::ErrorKind::BrokenPipe.into()),
        cause: "Reading the output of `cargo build` failed: cargo was killed, or its pipe broke.",
        fix: "Run again; if it keeps happening, run `cargo build` by hand to see what cargo does.",
    },
    CargoError::NoExecutable => ES0306 {
        example: CargoError::NoExecutable,
        cause: "The build produced no executable: a library crate, or a workspace whose binary is in another package.",
        fix: "Build a package with a binary (`--package NAME`), or pick one with --bin NAME or --example NAME.",
    },
    CargoError::SeveralExecutables { .. } => ES0307 {
        example: CargoError::SeveralExecutables {
            names: vec!["blinky (bin)".into(), "sensor (bin)".into()],
        },
        cause: "The build produced more than one executable, and only one can be flashed.",
        fix: "Pick one with --bin NAME or --example NAME.",
    },
}
