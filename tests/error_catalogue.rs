//! The error catalogue (`src/catalogue/`) and `docs/errors.md`, which is rendered from it.
//!
//! The committed file must equal the rendering: every example message is in it, so a message
//! that changes makes the file stale and this test fails until the new text is committed (the
//! doc is the messages' snapshot). Then the catalogue's own rules: codes unique, well formed, in
//! their layer's hundred and never a retired one; every entry with an example that has its
//! code; wrappers carrying the code of the problem inside; and the binary printing
//! `error[CODE]: message` exactly as the catalogue shows it.
//!
//! `cargo xtask errors` (or `UPDATE_ERRORS_DOC=1 cargo test --test error_catalogue`) writes the
//! file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cargo_esp32s3::catalogue::{self, LAYERS, RETIRED, command_line};
use cargo_esp32s3::config::ConfigError;
use cargo_esp32s3::exit;
use cargo_esp32s3::flasher::FlashError;
use cargo_esp32s3::image::ImageError;
use cargo_esp32s3::image::partition::PartitionError;
use cargo_esp32s3::loader::LoaderError;
use cargo_esp32s3::monitor::MonitorError;
use cargo_esp32s3::monitor::defmt::DefmtError;
use cargo_esp32s3::transport::TransportError;

#[path = "support/cli.rs"]
mod cli;
use cli::Run;

fn doc_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/errors.md")
}

#[test]
fn docs_errors_md_is_rendered_from_the_catalogue() {
    let rendered = catalogue::markdown();
    let path = doc_path();
    if std::env::var_os("UPDATE_ERRORS_DOC").is_some_and(|v| !v.is_empty()) {
        std::fs::write(&path, &rendered).expect("write docs/errors.md");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != rendered {
        let first = committed
            .lines()
            .zip(rendered.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(rendered.lines().count()));
        panic!(
            "docs/errors.md is stale: an error message, code, cause or fix changed in \
             src/catalogue/ or in the error types. Run `cargo xtask errors` (or \
             `UPDATE_ERRORS_DOC=1 cargo test --test error_catalogue`), review the difference \
             and commit the file.\nFirst difference at line {}:\n  committed: {:?}\n  rendered:  {:?}",
            first + 1,
            committed.lines().nth(first).unwrap_or("(end of file)"),
            rendered.lines().nth(first).unwrap_or("(end of file)"),
        );
    }
    assert!(
        !rendered.contains("(undocumented)"),
        "an example ends with an exit code that the index does not describe"
    );
}

#[test]
fn codes_are_unique_well_formed_in_their_layer_and_never_retired_ones() {
    let mut seen = BTreeSet::new();
    let mut prefixes = BTreeSet::new();
    for layer in LAYERS {
        assert!(prefixes.insert(layer.prefix), "two layers {}", layer.prefix);
        assert!(!layer.entries.is_empty(), "{} has no codes", layer.prefix);
        for entry in layer.entries {
            let code = entry.code().as_str();
            assert!(
                code.len() == 6
                    && code.starts_with("ES")
                    && code[2..].bytes().all(|b| b.is_ascii_digit()),
                "{code} is not ES and four digits"
            );
            assert!(
                code.starts_with(layer.prefix),
                "{code} ({}) is in the layer {}xx",
                entry.name(),
                layer.prefix
            );
            assert!(seen.insert(code), "{code} is given twice");
            assert!(!RETIRED.contains(&code), "{code} is retired");
            assert_eq!(catalogue::entry(code).map(|e| e.name()), Some(entry.name()));
        }
    }
    let names: BTreeSet<&str> = catalogue::entries().map(|e| e.name()).collect();
    assert_eq!(
        names.len(),
        seen.len(),
        "a name has two codes (one variant, one code)"
    );
}

/// The type whose variants each layer's codes name (the command line's are its own kinds).
const LAYER_TYPES: &[(&str, &str)] = &[
    ("ES01", "ConfigError"),
    ("ES02", "ProjectError"),
    ("ES03", "CargoError"),
    ("ES04", "Error"),
    ("ES05", "ImageError"),
    ("ES06", "PartitionError"),
    ("ES07", "PlanError"),
    ("ES08", "TransportError"),
    ("ES09", "LoaderError"),
    ("ES10", "FlashError"),
    ("ES11", "BoardError"),
    ("ES12", "StoreError"),
    ("ES13", "MonitorError"),
    ("ES14", "DefmtError"),
    ("ES15", "SymbolsError"),
];

#[test]
fn every_entry_has_an_example_with_its_own_code_a_cause_and_a_fix() {
    for entry in catalogue::entries() {
        let code = entry.code();
        let message = entry.message();
        assert!(!message.is_empty(), "{code}: no example message");
        assert!(!message.contains('\n'), "{code}: not one line: {message:?}");
        for (what, text) in [("cause", entry.cause()), ("fix", entry.fix())] {
            assert!(
                text.len() > 10 && text.ends_with('.') && !text.contains('\n'),
                "{code}: the {what} is one or two sentences on one line: {text:?}"
            );
        }
        match entry.example() {
            Some(example) => {
                assert_eq!(
                    catalogue::code_of(&example),
                    code,
                    "the example of {code} ({}) has another code: the entry is under the wrong arm",
                    entry.name()
                );
                let prefix = &code.as_str()[..4];
                let (_, ty) = LAYER_TYPES
                    .iter()
                    .find(|(p, _)| *p == prefix)
                    .unwrap_or_else(|| panic!("no type for the layer {prefix}xx"));
                let (enum_name, variant) = entry
                    .name()
                    .split_once("::")
                    .unwrap_or_else(|| panic!("{code}: {:?} is not Type::Variant", entry.name()));
                assert_eq!(enum_name, *ty, "{code} names {}", entry.name());
                assert!(
                    !variant.is_empty() && variant.bytes().all(|b| b.is_ascii_alphanumeric()),
                    "{code}: {:?} is not Type::Variant",
                    entry.name()
                );
            }
            None => assert!(
                code.as_str().starts_with("ES00"),
                "{code}: only the command line's codes have text examples"
            ),
        }
    }
}

#[test]
fn wrappers_carry_the_code_of_the_problem_inside() {
    let code = |error: cargo_esp32s3::Error| catalogue::code_of(&error).as_str();
    let empty = || Box::new(ImageError::EmptyFile);
    let inner = code(ImageError::EmptyFile.into());
    for wrapped in [
        ImageError::InFile {
            file: "fw.bin".into(),
            source: empty(),
        },
        ImageError::AppFromElf {
            file: "fw".into(),
            source: empty(),
        },
        ImageError::BootloaderFromElf {
            file: "bl".into(),
            source: empty(),
        },
        ImageError::AppInPartition {
            partition: "factory".into(),
            source: empty(),
        },
        ImageError::InvalidBootloader { source: empty() },
        ImageError::BootloaderFlashParams { source: empty() },
    ] {
        assert_eq!(code(wrapped.into()), inner);
    }

    let table = code(PartitionError::EmptyTable.into());
    let in_csv = PartitionError::Csv {
        file: Some("partitions.csv".into()),
        line: 3,
        source: Box::new(PartitionError::EmptyTable),
    };
    assert_eq!(code(in_csv.clone().into()), table);
    assert_eq!(code(in_csv.clone().in_file("t.csv").into()), table);
    assert_eq!(code(ImageError::Partition(in_csv).into()), table);
    assert_eq!(
        code(
            ImageError::BadPartitionTable {
                offset: Some(0x8000),
                source: PartitionError::EmptyTable,
            }
            .into()
        ),
        table
    );

    // Every configuration problem is reported at once; the line carries the first one's code.
    let unknown = || ConfigError::UnknownKey {
        key: "baudrate".into(),
        file: "Cargo.toml".into(),
        suggestion: Some("baud"),
    };
    let bad = ConfigError::RevisionRange { min: 2, max: 1 };
    let first = code(unknown().into());
    assert_ne!(first, code(bad.into()));
    let several = ConfigError::Several {
        problems: vec![unknown(), ConfigError::RevisionRange { min: 2, max: 1 }],
    };
    assert_eq!(code(several.into()), first);
    // Never built empty, but its code is a real one all the same.
    let none = code(ConfigError::Several { problems: vec![] }.into());
    assert!(catalogue::entry(none).is_some(), "{none}");

    // A port problem is a port problem whichever layer passes it on.
    let gone = || TransportError::NotFound {
        port: "/dev/ttyUSB0".into(),
    };
    let port = code(gone().into());
    assert_eq!(code(LoaderError::Transport(gone()).into()), port);
    assert_eq!(
        code(FlashError::Loader(LoaderError::Transport(gone())).into()),
        port
    );
    assert_eq!(code(MonitorError::Transport(gone()).into()), port);
    assert_eq!(
        code(MonitorError::Defmt(DefmtError::NoTable).into()),
        catalogue::entries()
            .find(|e| e.name() == "DefmtError::NoTable")
            .map(|e| e.code().as_str())
            .expect("DefmtError::NoTable")
    );
}

#[test]
fn the_binary_prints_the_code_and_the_catalogued_example() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("taken")).expect("mkdir");
    let cases: [(catalogue::Code, &[&str]); 4] = [
        (command_line::USAGE, &["flash", "--frobnicate"]),
        (
            command_line::BAD_ARGUMENT,
            &["erase", "--region", "0x9100", "0x1000"],
        ),
        (command_line::REFUSED, &["new", "taken"]),
        (
            command_line::MONITOR_TIMEOUT,
            &["monitor", "--port", "sim://?mode=spi", "--timeout", "1"],
        ),
    ];
    for (code, args) in cases {
        let entry = catalogue::entry(code.as_str()).expect("catalogued");
        let line = Run::new(dir.path(), args)
            .run()
            .fails(entry.exit_code(), &[]);
        assert_eq!(
            line,
            format!("error[{code}]: {}", entry.message()),
            "{args:?}: the catalogue's example of {code} is not what the binary prints"
        );
    }

    // A library error, through the same renderer.
    let out = Run::new(dir.path(), &["image-info", "missing.bin"]).run();
    let line = out.fails(exit::FAILURE, &["missing.bin"]);
    assert!(line.starts_with("error[ES0401]: cannot read "), "{line}");
}

#[test]
fn the_readme_shows_a_catalogued_error_line() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let line = readme
        .lines()
        .find(|l| l.starts_with("error[ES"))
        .expect("the README's Error codes section shows an error line");
    let code = cli::error_code(line).expect("a code");
    let entry = catalogue::entry(code).expect("a catalogued code");
    assert_eq!(line, format!("error[{code}]: {}", entry.message()));
}
