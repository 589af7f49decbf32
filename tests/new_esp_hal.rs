//! `cargo esp32s3 new demo`: a `no_std` esp-hal crate for `xtensa-esp32s3-none-elf`. The test
//! checks the files that make it build for the chip (target, `build-std`, the runner, the esp
//! toolchain, esp-hal's linker script, the app descriptor, esp-println) and that `cargo metadata`
//! resolves its dependencies from crates.io.
//!
//! Not done here: compiling it. That needs Espressif's Xtensa toolchain (`espup install`), which
//! this machine does not have; the crate names it in `rust-toolchain.toml`, and `cargo metadata`
//! runs with the toolchain the tests run with (`RUSTUP_TOOLCHAIN`, which rustup sets for them).

use std::path::Path;

use cargo_esp32s3::exit;
use toml_edit::DocumentMut;

#[path = "support/cli.rs"]
mod cli;
use cli::Run;

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn toml(dir: &Path, path: &str) -> DocumentMut {
    read(dir, path)
        .parse()
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn new_makes_an_esp_hal_crate_whose_dependencies_resolve() {
    let temp = tempfile::tempdir().unwrap();
    let out = Run::new(temp.path(), &["esp32s3", "new", "demo"]).run();
    out.succeeds();
    out.stdout_has(&[
        "created src/bin/main.rs",
        "updated Cargo.toml ([package.metadata.esp32s3])",
        "created partitions.csv (partition table)",
    ]);
    let dir = temp.path().join("demo");

    // The manifest: the package, its binary, the esp-hal crates for the ESP32-S3, and the
    // settings table `init` writes.
    let manifest = toml(&dir, "Cargo.toml");
    assert_eq!(manifest["package"]["name"].as_str(), Some("demo"));
    assert_eq!(
        manifest["bin"][0]["path"].as_str(),
        Some("./src/bin/main.rs")
    );
    let deps = &manifest["dependencies"];
    for (name, features) in [
        ("esp-hal", &["esp32s3"][..]),
        ("esp-bootloader-esp-idf", &["esp32s3"]),
        ("esp-println", &["esp32s3"]),
        ("esp-backtrace", &["esp32s3", "panic-handler", "println"]),
    ] {
        let dep = &deps[name];
        assert!(dep["version"].as_str().is_some(), "{name} has a version");
        let list: Vec<&str> = dep["features"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has features"))
            .iter()
            .filter_map(|f| f.as_str())
            .collect();
        for feature in features {
            assert!(list.contains(feature), "{name} lacks {feature}: {list:?}");
        }
    }
    assert_eq!(
        manifest["package"]["metadata"]["esp32s3"]["chip"].as_str(),
        Some("esp32s3")
    );

    // What makes it build for the chip.
    let config = toml(&dir, ".cargo/config.toml");
    assert_eq!(
        config["build"]["target"].as_str(),
        Some("xtensa-esp32s3-none-elf")
    );
    assert_eq!(
        config["target"]["xtensa-esp32s3-none-elf"]["runner"].as_str(),
        Some("cargo esp32s3 flash --monitor")
    );
    let build_std: Vec<&str> = config["unstable"]["build-std"]
        .as_array()
        .expect("build-std")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(build_std, ["core"]);
    let rustflags: Vec<&str> = config["build"]["rustflags"]
        .as_array()
        .expect("rustflags")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        rustflags.contains(&"link-arg=-nostartfiles"),
        "{rustflags:?}"
    );
    assert_eq!(
        toml(&dir, "rust-toolchain.toml")["toolchain"]["channel"].as_str(),
        Some("esp")
    );
    assert!(read(&dir, "build.rs").contains("cargo:rustc-link-arg=-Tlinkall.x"));
    let main = read(&dir, "src/bin/main.rs");
    for part in [
        "#![no_std]",
        "#![no_main]",
        "use esp_backtrace as _;",
        "esp_bootloader_esp_idf::esp_app_desc!();",
        "#[main]",
        "esp_hal::init(",
        "println!(",
    ] {
        assert!(
            main.contains(part),
            "{part:?} not in src/bin/main.rs:\n{main}"
        );
    }
    assert!(read(&dir, "src/lib.rs").starts_with("#![no_std]"));
    assert!(dir.join("partitions.csv").is_file());

    // A second `init` changes nothing: the crate is set up already.
    let again = Run::new(&dir, &["esp32s3", "init"]).run();
    again.succeeds();
    again.stdout_has(&["Nothing to do"]);

    // Its dependencies resolve from crates.io (cargo metadata needs no Xtensa toolchain).
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let metadata = Run::program(&cargo, &dir, &["metadata", "--format-version", "1"])
        .limit(cli::BUILD_LIMIT)
        .run();
    if metadata.code != Some(i32::from(exit::SUCCESS)) {
        let offline = [
            "network",
            "resolve host",
            "failed to download",
            "failed to query",
            "spurious",
        ]
        .iter()
        .any(|s| metadata.stderr.contains(s));
        if offline {
            println!(
                "skipped: cargo metadata cannot reach crates.io:\n{}",
                metadata.stderr
            );
            return;
        }
        panic!("cargo metadata failed:\n{}", metadata.dump());
    }
    let value: serde_json::Value = serde_json::from_str(&metadata.stdout).expect("JSON");
    let packages: Vec<(&str, &str)> = value["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| Some((p["name"].as_str()?, p["version"].as_str()?)))
        .collect();
    for name in [
        "demo",
        "esp-hal",
        "esp-bootloader-esp-idf",
        "esp-println",
        "esp-backtrace",
        "esp32s3",
    ] {
        assert!(
            packages.iter().any(|(n, _)| *n == name),
            "{name} not resolved: {packages:?}"
        );
    }
}

#[test]
fn new_std_keeps_the_cargo_new_crate() {
    let temp = tempfile::tempdir().unwrap();
    let out = Run::new(temp.path(), &["esp32s3", "new", "app", "--std"]).run();
    out.succeeds();
    let dir = temp.path().join("app");
    assert!(dir.join("src/main.rs").is_file());
    assert!(!dir.join("rust-toolchain.toml").exists());
    assert!(read(&dir, "Cargo.toml").contains("[package.metadata.esp32s3]"));
    let bad = Run::new(temp.path(), &["esp32s3", "new", "9lives"]).run();
    bad.fails(exit::USAGE, &["\"9lives\" is not a crate name"]);
    assert!(!temp.path().join("9lives").exists());
}
