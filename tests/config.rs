//! Configuration: precedence at every level, validation messages, chip and target refusal, paths
//! relative to the declaring manifest; pure tests on JSON values and a fake environment, plus a
//! few runs of the binary on a temporary Cargo project.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cargo_esp32s3::config::{self, ConfigError, FlagValues, Settings, Sources};
use cargo_esp32s3::exit;
use cargo_esp32s3::image::{FlashMode, FlashSize};
use cargo_esp32s3::reset::{After, Before, ResetSequence};
use serde_json::{Value, json};

#[path = "support/cli.rs"]
mod cli;
use cli::Run;

#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;
use synthetic_elf::{synthetic_bootloader, synthetic_elf};

const PACKAGE: &str = "/proj/app/Cargo.toml";
const WORKSPACE: &str = "/proj/Cargo.toml";

/// The inputs of one resolution; every field defaults to "not given".
#[derive(Default)]
struct Case {
    flags: FlagValues,
    env: Vec<(&'static str, &'static str)>,
    package: Option<Value>,
    workspace: Option<Value>,
}

fn resolve(case: Case) -> Result<Settings, ConfigError> {
    let env: HashMap<String, String> = case
        .env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |name: &str| env.get(name).cloned();
    config::resolve(&Sources {
        flags: case.flags,
        env: &lookup,
        package: case
            .package
            .map(|table| (PathBuf::from(PACKAGE), json!({ "esp32s3": table }))),
        workspace: case
            .workspace
            .map(|table| (PathBuf::from(WORKSPACE), json!({ "esp32s3": table }))),
    })
}

fn ok(case: Case) -> Settings {
    match resolve(case) {
        Ok(settings) => settings,
        Err(e) => panic!("expected settings, got error: {e}"),
    }
}

/// The error message, which must be one line.
fn err(case: Case) -> String {
    match resolve(case) {
        Ok(settings) => panic!("expected an error, got {settings:?}"),
        Err(e) => {
            let message = e.to_string();
            assert!(!message.contains('\n'), "not one line: {message}");
            assert!(!message.ends_with('.'), "trailing dot: {message}");
            message
        }
    }
}

fn assert_contains(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "message lacks {part:?}:\n  {message}"
        );
    }
}

#[test]
fn nothing_set_gives_the_defaults() {
    assert_eq!(ok(Case::default()), Settings::default());
    // Metadata without our table is no configuration either.
    let settings = config::resolve(&Sources {
        flags: FlagValues::default(),
        env: &|_| None,
        package: Some((PACKAGE.into(), json!({ "docs": { "rs": true } }))),
        workspace: Some((WORKSPACE.into(), Value::Null)),
    });
    assert_eq!(settings.ok(), Some(Settings::default()));
}

#[test]
fn precedence_flag_env_package_workspace_default() {
    // Each level set for baud; take away the top one at a time.
    let flags = FlagValues {
        baud: Some("921600".into()),
        ..FlagValues::default()
    };
    let env = vec![("ESP32S3_BAUD", "230400")];
    let package = json!({ "baud": 1_500_000 });
    let workspace = json!({ "baud": "2000000" });
    let all = Case {
        flags: flags.clone(),
        env: env.clone(),
        package: Some(package.clone()),
        workspace: Some(workspace.clone()),
    };
    assert_eq!(ok(all).baud, 921_600);
    let no_flag = Case {
        env: env.clone(),
        package: Some(package.clone()),
        workspace: Some(workspace.clone()),
        ..Case::default()
    };
    assert_eq!(ok(no_flag).baud, 230_400);
    let no_env = Case {
        package: Some(package.clone()),
        workspace: Some(workspace.clone()),
        ..Case::default()
    };
    assert_eq!(ok(no_env).baud, 1_500_000);
    let workspace_only = Case {
        workspace: Some(workspace),
        ..Case::default()
    };
    assert_eq!(ok(workspace_only).baud, 2_000_000);
    assert_eq!(ok(Case::default()).baud, config::DEFAULT_BAUD);
}

#[test]
fn precedence_is_per_key() {
    let settings = ok(Case {
        flags: FlagValues {
            port: Some("/dev/ttyACM0".into()),
            ..FlagValues::default()
        },
        env: vec![
            ("ESP32S3_FLASH_MODE", "qio"),
            ("ESP32S3_PORT", "/dev/ttyUSB9"),
        ],
        package: Some(json!({ "flash-size": "8MB", "port": "/dev/ttyUSB1", "after": "no-reset" })),
        workspace: Some(
            json!({ "flash-size": "16MB", "before": "usb_reset", "monitor-baud": 74880 }),
        ),
    });
    assert_eq!(settings.port.as_deref(), Some("/dev/ttyACM0"));
    assert_eq!(settings.flash_mode, Some(FlashMode::Qio));
    assert_eq!(settings.flash_size, Some(FlashSize::S8Mb));
    assert_eq!(settings.before, Before::UsbReset);
    assert_eq!(settings.after, After::NoReset);
    assert_eq!(settings.monitor_baud, 74_880);
    assert_eq!(settings.baud, config::DEFAULT_BAUD);
}

#[test]
fn every_key_from_metadata() {
    let settings = ok(Case {
        package: Some(json!({
            "chip": "esp32s3",
            "port": "sim://",
            "baud": 921600,
            "monitor-baud": "115200",
            "flash-mode": "dout",
            "flash-freq": "80m",
            "flash-size": "16mb",
            "partition-table": "partitions.csv",
            "partition-table-offset": "0x9000",
            "target-app-partition": "ota_0",
            "bootloader": "boot/bootloader.bin",
            "min-chip-rev": "0.2",
            "max-chip-rev": 199,
            "before": "no-reset",
            "after": "watchdog-reset",
            "target": "xtensa-esp32s3-espidf",
            "stub": "stub/esp32s3.json",
            "connect-attempts": 0,
            "skip-unchanged": false,
            "verify": false,
            "reset-sequence": "D0|R1|W0.2|D1|R0|W0.1|D0",
            "hard-reset-sequence": "R1|W0.3|R0",
            "monitor-exit-key": "ctrl+x",
        })),
        ..Case::default()
    });
    let app = Path::new("/proj/app");
    assert_eq!(
        settings,
        Settings {
            port: Some("sim://".into()),
            baud: 921_600,
            auto_baud: false,
            baud_memory: None,
            monitor_baud: 115_200,
            flash_mode: Some(FlashMode::Dout),
            flash_freq: Some(cargo_esp32s3::image::FlashFreq::F80m),
            flash_size: Some(FlashSize::S16Mb),
            keep_flash_size: false,
            partition_table: Some(app.join("partitions.csv")),
            partition_table_offset: 0x9000,
            target_app_partition: Some("ota_0".into()),
            bootloader: Some(app.join("boot/bootloader.bin")),
            min_chip_rev: 2,
            max_chip_rev: 199,
            before: Before::NoReset,
            after: After::WatchdogReset,
            target: Some("xtensa-esp32s3-espidf".into()),
            stub: Some(app.join("stub/esp32s3.json")),
            stub_auto: false,
            connect_attempts: 0,
            skip_unchanged: false,
            verify: false,
            reset_sequence: Some(ResetSequence::parse("D0|R1|W0.2|D1|R0|W0.1|D0").unwrap()),
            hard_reset_sequence: Some(ResetSequence::parse("R1|W0.3|R0").unwrap()),
            ignore_app_descriptor: false,
            force: false,
            erase_all: false,
            monitor_exit_key: cargo_esp32s3::config::ControlKey::parse("Ctrl+X").unwrap(),
        }
    );
}

#[test]
fn paths_are_relative_to_the_manifest_that_declared_them() {
    let settings = ok(Case {
        package: Some(json!({ "bootloader": "bl.bin" })),
        workspace: Some(
            json!({ "partition-table": "conf/parts.csv", "bootloader": "ignored.bin", "stub": "/abs/stub.json" }),
        ),
        ..Case::default()
    });
    assert_eq!(settings.bootloader, Some(PathBuf::from("/proj/app/bl.bin")));
    assert_eq!(
        settings.partition_table,
        Some(PathBuf::from("/proj/conf/parts.csv"))
    );
    assert_eq!(settings.stub, Some(PathBuf::from("/abs/stub.json")));
    // Flags and variables stay relative to the current directory, as typed.
    let settings = ok(Case {
        flags: FlagValues {
            bootloader: Some("here.bin".into()),
            ..FlagValues::default()
        },
        env: vec![("ESP32S3_PARTITION_TABLE", "t.csv")],
        package: Some(json!({ "bootloader": "bl.bin", "partition-table": "p.csv" })),
        ..Case::default()
    });
    assert_eq!(settings.bootloader, Some(PathBuf::from("here.bin")));
    assert_eq!(settings.partition_table, Some(PathBuf::from("t.csv")));
}

#[test]
fn env_values_parse_like_flags_and_empty_means_unset() {
    let settings = ok(Case {
        env: vec![
            ("ESP32S3_BAUD", "0x1C200"),
            ("ESP32S3_CONNECT_ATTEMPTS", "3"),
            ("ESP32S3_VERIFY", "no"),
            ("ESP32S3_SKIP_UNCHANGED", "off"),
            ("ESP32S3_MIN_CHIP_REV", "v0.1"),
            ("ESP32S3_PORT", ""),
            ("ESP32S3_STUB", "stub.json"),
        ],
        package: Some(json!({ "port": "/dev/ttyUSB0" })),
        ..Case::default()
    });
    assert_eq!(settings.baud, 115_200);
    assert_eq!(settings.connect_attempts, 3);
    assert!(!settings.verify);
    assert!(!settings.skip_unchanged);
    assert_eq!(settings.min_chip_rev, 1);
    assert_eq!(settings.port.as_deref(), Some("/dev/ttyUSB0"));
    assert_eq!(settings.stub, Some(PathBuf::from("stub.json")));
}

#[test]
fn flags_for_skip_and_verify_override_metadata() {
    let settings = ok(Case {
        flags: FlagValues {
            skip_unchanged: Some(false),
            verify: Some(false),
            ..FlagValues::default()
        },
        package: Some(json!({ "skip-unchanged": true, "verify": true })),
        ..Case::default()
    });
    assert!(!settings.skip_unchanged && !settings.verify);
}

#[test]
fn keep_and_detect_override_lower_levels_back_to_unset() {
    let settings = ok(Case {
        flags: FlagValues {
            flash_size: Some("detect".into()),
            flash_mode: Some("keep".into()),
            ..FlagValues::default()
        },
        package: Some(json!({ "flash-size": "8MB", "flash-mode": "qio" })),
        ..Case::default()
    });
    assert_eq!(settings.flash_size, None);
    assert_eq!(settings.flash_mode, None);
}

#[test]
fn unknown_keys_are_errors_with_the_closest_key() {
    for (key, suggestion) in [
        ("flash_mode", Some("flash-mode")),
        ("bootlaoder", Some("bootloader")),
        ("baudrate", Some("baud")),
        ("partition-table-ofset", Some("partition-table-offset")),
        ("colour", None),
    ] {
        let message = err(Case {
            package: Some(json!({ key: "x" })),
            ..Case::default()
        });
        assert_contains(
            &message,
            &[
                &format!("unknown key {key:?}"),
                "/proj/app/Cargo.toml [package.metadata.esp32s3]",
                "known keys: chip, port, baud",
            ],
        );
        match suggestion {
            Some(s) => assert_contains(&message, &[&format!("did you mean {s:?}?")]),
            None => assert!(!message.contains("did you mean"), "{message}"),
        }
    }
    // In the workspace table the message names the workspace manifest.
    let message = err(Case {
        workspace: Some(json!({ "prot": "/dev/ttyUSB0" })),
        ..Case::default()
    });
    assert_contains(
        &message,
        &[
            "/proj/Cargo.toml [workspace.metadata.esp32s3]",
            "did you mean \"port\"?",
        ],
    );
}

#[test]
fn bad_values_name_the_key_the_source_and_the_accepted_values() {
    let table = "in /proj/app/Cargo.toml [package.metadata.esp32s3]";
    for (table_json, expected) in [
        (
            json!({ "baud": 0 }),
            vec!["invalid value 0 for baud", table, "from 9600 to 5000000"],
        ),
        (
            json!({ "reset-sequence": "D0|R2|W0.1" }),
            vec![
                "invalid value \"D0|R2|W0.1\" for reset-sequence",
                table,
                "esptool's reset notation",
                "step \"R2\" needs 0 or 1",
            ],
        ),
        (
            json!({ "hard-reset-sequence": 5 }),
            vec!["invalid value 5 for hard-reset-sequence", "W<seconds>"],
        ),
        (
            json!({ "baud": "fast" }),
            vec!["\"fast\" for baud", "such as 115200"],
        ),
        (
            json!({ "flash-mode": "qoi" }),
            vec!["\"qoi\" for flash-mode", "one of qio, qout, dio, dout"],
        ),
        (
            json!({ "flash-freq": "60m" }),
            vec!["flash-freq", "20m, 26m, 40m, 80m"],
        ),
        (
            json!({ "flash-size": "3MB" }),
            vec!["flash-size", "1MB, 2MB, 4MB"],
        ),
        // A number is megabytes (`flash-size = 8` is 8 MB), so only sizes that exist pass.
        (
            json!({ "flash-size": 3 }),
            vec!["invalid value 3 for flash-size"],
        ),
        (
            json!({ "partition-table-offset": "0x8100" }),
            vec!["partition-table-offset", "multiple of 0x1000"],
        ),
        (
            json!({ "partition-table-offset": 0 }),
            vec!["partition-table-offset"],
        ),
        (
            json!({ "min-chip-rev": 0.2 }),
            vec!["invalid value 0.2 for min-chip-rev", "\"MAJOR.MINOR\""],
        ),
        (json!({ "max-chip-rev": "1" }), vec!["max-chip-rev"]),
        (
            json!({ "before": "reset" }),
            vec![
                "before",
                "default-reset, usb-reset, no-reset, no-reset-no-sync",
            ],
        ),
        (
            json!({ "after": "hard" }),
            vec!["after", "hard-reset, soft-reset, no-reset, watchdog-reset"],
        ),
        (
            json!({ "connect-attempts": -1 }),
            vec!["connect-attempts", "non-negative integer"],
        ),
        (
            json!({ "verify": "yes" }),
            vec!["invalid value \"yes\" for verify", "true or false"],
        ),
        (json!({ "port": 3 }), vec!["port", "serial port name"]),
        (json!({ "bootloader": "" }), vec!["bootloader", "path"]),
    ] {
        let message = err(Case {
            package: Some(table_json.clone()),
            ..Case::default()
        });
        assert_contains(&message, &expected);
        assert_contains(&message, &[table]);
    }
    // Flags and variables name themselves.
    let message = err(Case {
        flags: FlagValues {
            flash_size: Some("3mb".into()),
            ..FlagValues::default()
        },
        ..Case::default()
    });
    assert_contains(&message, &["invalid value \"3mb\" for --flash-size", "4MB"]);
    let message = err(Case {
        env: vec![("ESP32S3_BAUD", "fast")],
        ..Case::default()
    });
    assert_contains(&message, &["invalid value \"fast\" for ESP32S3_BAUD"]);
}

#[test]
fn baud_rates_outside_what_the_rom_uart_can_do_are_refused_from_every_source() {
    let range = "9600 to 5000000";
    // (flag, variable, metadata) sources for one key; each is checked alone.
    for (value, accepted) in [
        ("12", false),
        ("9599", false),
        ("9600", true),
        ("5000000", true),
        ("5000001", false),
        ("921600", true),
    ] {
        for key in ["baud", "monitor-baud"] {
            let variable = if key == "baud" {
                "ESP32S3_BAUD"
            } else {
                "ESP32S3_MONITOR_BAUD"
            };
            let flag = format!("--{key}");
            let number: u64 = value.parse().expect("test value is a number");
            let cases = [
                (
                    Case {
                        flags: if key == "baud" {
                            FlagValues {
                                baud: Some(value.into()),
                                ..FlagValues::default()
                            }
                        } else {
                            FlagValues {
                                monitor_baud: Some(value.into()),
                                ..FlagValues::default()
                            }
                        },
                        ..Case::default()
                    },
                    flag.clone(),
                ),
                (
                    Case {
                        env: vec![(variable, value)],
                        ..Case::default()
                    },
                    variable.to_string(),
                ),
                (
                    Case {
                        package: Some(json!({ key: number })),
                        ..Case::default()
                    },
                    format!("{key} in /proj/app/Cargo.toml [package.metadata.esp32s3]"),
                ),
            ];
            for (case, source) in cases {
                match resolve(case) {
                    Ok(settings) => {
                        assert!(accepted, "{key}={value} from {source} was accepted");
                        let got = if key == "baud" {
                            settings.baud
                        } else {
                            settings.monitor_baud
                        };
                        assert_eq!(u64::from(got), number, "{key} from {source}");
                    }
                    Err(error) => {
                        assert!(!accepted, "{key}={value} from {source}: {error}");
                        let message = error.to_string();
                        assert_contains(
                            &message,
                            &["invalid value ", value, &format!(" for {source}:"), range],
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn overridden_metadata_is_still_validated() {
    let message = err(Case {
        flags: FlagValues {
            flash_mode: Some("dio".into()),
            ..FlagValues::default()
        },
        workspace: Some(json!({ "flash-mode": "fast" })),
        ..Case::default()
    });
    assert_contains(&message, &["flash-mode", "[workspace.metadata.esp32s3]"]);
}

#[test]
fn the_table_must_be_a_table() {
    let result = config::resolve(&Sources {
        flags: FlagValues::default(),
        env: &|_| None,
        package: Some((PACKAGE.into(), json!({ "esp32s3": "yes" }))),
        workspace: None,
    });
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert_contains(&message, &["[package.metadata.esp32s3]", "must be a table"]);
}

#[test]
fn other_chips_are_refused() {
    let message = err(Case {
        package: Some(json!({ "chip": "esp32c3" })),
        ..Case::default()
    });
    assert_eq!(
        message,
        "chip = \"esp32c3\" in /proj/app/Cargo.toml [package.metadata.esp32s3]: this tool is for the ESP32-S3 only; use espflash for other chips"
    );
    for spelling in ["esp32s3", "ESP32-S3", "esp32_s3"] {
        ok(Case {
            package: Some(json!({ "chip": spelling })),
            ..Case::default()
        });
    }
}

#[test]
fn targets_for_other_chips_are_refused_wherever_they_come_from() {
    for (case, origin, chip) in [
        (
            Case {
                package: Some(json!({ "target": "riscv32imc-unknown-none-elf" })),
                ..Case::default()
            },
            "target in /proj/app/Cargo.toml [package.metadata.esp32s3]",
            "ESP32-C3",
        ),
        (
            Case {
                env: vec![("ESP32S3_TARGET", "xtensa-esp32-none-elf")],
                ..Case::default()
            },
            "ESP32S3_TARGET",
            "the ESP32,",
        ),
        (
            Case {
                flags: FlagValues {
                    target: Some("xtensa-esp32s2-espidf".into()),
                    ..FlagValues::default()
                },
                ..Case::default()
            },
            "--target",
            "ESP32-S2",
        ),
    ] {
        let message = err(case);
        assert_contains(
            &message,
            &[origin, chip, "ESP32-S3 only", "xtensa-esp32s3-none-elf"],
        );
    }
    assert_eq!(
        ok(Case {
            env: vec![("ESP32S3_TARGET", "xtensa-esp32s3-none-elf")],
            ..Case::default()
        })
        .target
        .as_deref(),
        Some("xtensa-esp32s3-none-elf")
    );
}

#[test]
fn revision_range_must_not_be_empty() {
    let message = err(Case {
        package: Some(json!({ "min-chip-rev": "0.3", "max-chip-rev": "0.2" })),
        ..Case::default()
    });
    assert_eq!(
        message,
        "min-chip-rev v0.3 is above max-chip-rev v0.2; lower min-chip-rev or raise max-chip-rev"
    );
}

// ---------------------------------------------------------------------------------------------
// End to end: the binary on a temporary Cargo project (no chip, no cross compiler needed).

/// A package directory with `[package.metadata.esp32s3]` set to `metadata` (TOML lines).
fn project(metadata: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    let manifest = format!(
        "[package]\nname = \"fw\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[package.metadata.esp32s3]\n{metadata}\n"
    );
    std::fs::write(dir.path().join("Cargo.toml"), manifest).expect("write Cargo.toml");
    std::fs::create_dir_all(dir.path().join("src")).expect("mkdir src");
    std::fs::write(dir.path().join("src/main.rs"), "fn main() {}\n").expect("write main.rs");
    dir
}

#[test]
fn end_to_end_metadata_paths_and_flash_size_reach_the_merged_image() {
    let dir = project("flash-size = \"2MB\"\nflash-freq = \"80m\"\nbootloader = \"boot/bl.bin\"");
    std::fs::create_dir_all(dir.path().join("boot")).expect("mkdir boot");
    std::fs::write(dir.path().join("boot/bl.bin"), synthetic_bootloader()).expect("bootloader");
    std::fs::write(dir.path().join("fw.elf"), synthetic_elf()).expect("elf");
    // Run from a subdirectory: `boot/bl.bin` must be found relative to Cargo.toml, not the CWD.
    let out = Run::new(
        &dir.path().join("src"),
        &[
            "esp32s3",
            "save-image",
            "--merge",
            "../fw.elf",
            "../out.bin",
        ],
    )
    .run();
    out.succeeds();
    assert_contains(
        &out.stdout,
        &["merged image:", "default table for 2MB flash"],
    );
    let merged = std::fs::read(dir.path().join("out.bin")).expect("merged image");
    // Bootloader at 0: 2 MB (code 1) and 80 MHz (0xF) patched into header byte 3.
    assert_eq!(merged.get(3), Some(&0x1F));
    // Table at 0x8000, app at 0x10000 with the same flash settings.
    assert_eq!(merged.get(0x8000..0x8002), Some(&[0xAA, 0x50][..]));
    assert_eq!(merged.get(0x10000), Some(&0xE9));
    assert_eq!(merged.get(0x10003), Some(&0x1F));
}

#[test]
fn end_to_end_flags_beat_metadata() {
    let dir = project("flash-size = \"2MB\"");
    std::fs::write(dir.path().join("fw.elf"), synthetic_elf()).expect("elf");
    Run::new(
        dir.path(),
        &["save-image", "--flash-size", "16MB", "fw.elf", "app.bin"],
    )
    .env("ESP32S3_FLASH_SIZE", "8MB")
    .run()
    .succeeds();
    let app = std::fs::read(dir.path().join("app.bin")).expect("app image");
    assert_eq!(app.get(3).map(|b| b >> 4), Some(FlashSize::S16Mb.code()));
    // Without the flag the variable wins over the metadata.
    Run::new(dir.path(), &["save-image", "fw.elf", "app.bin"])
        .env("ESP32S3_FLASH_SIZE", "8MB")
        .run()
        .succeeds();
    let app = std::fs::read(dir.path().join("app.bin")).expect("app image");
    assert_eq!(app.get(3).map(|b| b >> 4), Some(FlashSize::S8Mb.code()));
}

#[test]
fn end_to_end_config_errors_are_one_line_with_exit_code_3() {
    for (metadata, expected) in [
        ("flash_mode = \"dio\"", "did you mean \"flash-mode\"?"),
        (
            "chip = \"esp32c3\"",
            "this tool is for the ESP32-S3 only; use espflash for other chips",
        ),
        ("target = \"riscv32imc-unknown-none-elf\"", "ESP32-C3"),
        ("baud = \"fast\"", "invalid value \"fast\" for baud"),
    ] {
        let dir = project(metadata);
        std::fs::write(dir.path().join("fw.elf"), synthetic_elf()).expect("elf");
        let out = Run::new(dir.path(), &["save-image", "fw.elf", "app.bin"]).run();
        let line = out.fails(
            exit::CONFIG,
            &[expected, "Cargo.toml [package.metadata.esp32s3]"],
        );
        // Nothing else on stderr, and the line is the report's start.
        assert_eq!(out.stderr.lines().count(), 1, "{metadata}: {}", out.dump());
        assert!(line.starts_with("error[ES01"), "{line}");
    }
}

#[test]
fn end_to_end_works_outside_any_cargo_project() {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("fw.elf"), synthetic_elf()).expect("elf");
    Run::new(dir.path(), &["save-image", "fw.elf", "app.bin"])
        .env("ESP32S3_FLASH_MODE", "qio")
        .run()
        .succeeds();
    let app = std::fs::read(dir.path().join("app.bin")).expect("app image");
    assert_eq!(app.get(2), Some(&FlashMode::Qio.code()));
}

#[test]
fn end_to_end_save_image_overwrites_images_only() {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("fw.elf"), synthetic_elf()).expect("elf");
    std::fs::write(dir.path().join("notes.txt"), "keep").expect("notes");
    let save = |output: &str, force: bool| {
        let args = ["save-image", "fw.elf", output, "--force"];
        let args = if force { &args[..] } else { &args[..3] };
        Run::new(dir.path(), args).run()
    };
    // An earlier image is replaced; a file that is not an image is kept unless --force.
    save("app.bin", false).succeeds();
    save("app.bin", false).succeeds();
    save("notes.txt", false).fails(
        exit::FAILURE,
        &["notes.txt exists and is not an ESP image", "--force"],
    );
    assert_eq!(
        std::fs::read(dir.path().join("notes.txt")).ok().as_deref(),
        Some(&b"keep"[..])
    );
    save("notes.txt", true).succeeds();
    // The input itself is never the output.
    save("fw.elf", true).fails(exit::FAILURE, &["is the input ELF"]);
}
