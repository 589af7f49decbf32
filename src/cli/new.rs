//! `new NAME`: a `no_std` esp-hal crate for `xtensa-esp32s3-none-elf`, in the layout esp-generate
//! writes for a minimal app (`src/bin/main.rs` with the app descriptor, `src/lib.rs`, `build.rs`
//! with esp-hal's linker script, `.cargo/config.toml` with the target, `build-std` and the
//! runner, `rust-toolchain.toml` naming the esp toolchain), from the files in
//! `templates/esp-hal/`, then set up like `init` (metadata, partition table). `new --std` keeps
//! the `cargo new` crate (see `init.rs`).
//!
//! The files are planned whole before anything is written, and nothing is written into a folder
//! that exists.

use std::path::{Path, PathBuf};

use super::CliError;
use super::init::{self, NewArgs};

const MANIFEST: &str = include_str!("../../templates/esp-hal/Cargo.toml.in");
const CARGO_CONFIG: &str = include_str!("../../templates/esp-hal/cargo-config.toml");
const TOOLCHAIN: &str = include_str!("../../templates/esp-hal/rust-toolchain.toml");
const BUILD_RS: &str = include_str!("../../templates/esp-hal/build.rs");
const MAIN_RS: &str = include_str!("../../templates/esp-hal/main.rs");
const LIB_RS: &str = include_str!("../../templates/esp-hal/lib.rs");
const GITIGNORE: &str = include_str!("../../templates/esp-hal/gitignore");
/// Where the templates take the crate's name.
const NAME_PLACEHOLDER: &str = "{{name}}";

/// The files of a new esp-hal crate called `name`, relative to its folder.
pub fn esp_hal_files(name: &str) -> Vec<(PathBuf, String)> {
    [
        ("Cargo.toml", MANIFEST),
        (".cargo/config.toml", CARGO_CONFIG),
        ("rust-toolchain.toml", TOOLCHAIN),
        ("build.rs", BUILD_RS),
        ("src/bin/main.rs", MAIN_RS),
        ("src/lib.rs", LIB_RS),
        (".gitignore", GITIGNORE),
    ]
    .into_iter()
    .map(|(path, text)| (PathBuf::from(path), text.replace(NAME_PLACEHOLDER, name)))
    .collect()
}

/// A name Cargo takes for a package (and its binary): ASCII letters, digits, `-` and `_`, not
/// starting with a digit.
fn check_name(name: &str) -> super::Result<()> {
    let ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(CliError::BadArgument(format!(
            "{name:?} is not a crate name; use ASCII letters, digits, - and _, starting with a letter (blinky, my_sensor)"
        )))
    }
}

/// `new NAME`: write the esp-hal crate, then set it up as `init` does.
pub fn run_esp_hal(args: NewArgs) -> super::Result<()> {
    let dir = PathBuf::from(&args.name);
    if dir.exists() {
        return Err(CliError::Refused(format!(
            "{} already exists; choose another name, or run `cargo esp32s3 init --path {}` to set up the crate there",
            args.name, args.name
        )));
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| args.name.clone());
    check_name(&name)?;
    write_files(&dir, &esp_hal_files(&name))?;
    for (path, _) in esp_hal_files(&name) {
        outln!("{:>9} {}", "created", path.display());
    }
    init::setup(&dir, &args.setup)?;
    outln!(
        "Created the esp-hal crate {name}: `cd {}` and `cargo run --release` builds, flashes and monitors it (needs the esp toolchain: `espup install`)",
        dir.display()
    );
    Ok(())
}

fn write_files(dir: &Path, files: &[(PathBuf, String)]) -> super::Result<()> {
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| cargo_esp32s3::Error::file("create", parent, e))?;
        }
        std::fs::write(&path, text).map_err(|e| cargo_esp32s3::Error::file("write", &path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_name_the_crate_and_the_chip() {
        let files = esp_hal_files("blinky");
        let text = |p: &str| {
            files
                .iter()
                .find(|(path, _)| path == Path::new(p))
                .map(|(_, t)| t.clone())
                .unwrap_or_else(|| panic!("no {p}"))
        };
        assert!(text("Cargo.toml").contains("name = \"blinky\""));
        assert!(!files.iter().any(|(_, t)| t.contains(NAME_PLACEHOLDER)));
        assert!(text("src/bin/main.rs").contains("esp_bootloader_esp_idf::esp_app_desc!();"));
        assert!(text("src/lib.rs").starts_with("#![no_std]"));
        assert!(text(".cargo/config.toml").contains("build-std = [\"core\"]"));
        assert!(text("rust-toolchain.toml").contains("channel = \"esp\""));
        for bad in ["1abc", "a b", "", "ünïcode"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        check_name("my-app_2").unwrap();
    }
}
