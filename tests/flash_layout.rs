//! Where the bootloader and the partition table come from when flashing an ELF, end to end
//! against the simulator (`sim://?flash=FILE`, prepared by the test with our own tools):
//! without a configured bootloader the app goes into the app partition that the chip's own
//! table names; a blank chip gets an error naming the key to set; a layout whose app partition
//! differs from the chip's table is written only after a note naming both offsets; a bootloader
//! ELF is converted; an ESP-IDF build's files next to an ELF given by path (as `cargo run`
//! gives it) are used; and with the real ESP-IDF hello_world build the flash ends up holding
//! exactly ESP-IDF's own bootloader.bin, partition-table.bin and hello_world.bin.

use std::path::Path;

use cargo_esp32s3::exit;
use cargo_esp32s3::image::FlashParams;
use cargo_esp32s3::image::FlashSize;
use cargo_esp32s3::image::app::{AppImageOptions, elf_to_app_image};
use cargo_esp32s3::image::partition::PartitionTable;

#[path = "support/cli.rs"]
mod cli;
use cli::{Bench, Outcome};

#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;
use synthetic_elf::{synthetic_bootloader, synthetic_elf, synthetic_elf_with};

#[path = "support/testdata.rs"]
mod testdata;
use testdata::testdata;

/// Size of the simulated flash ([`Bench::new`]'s 8 MB).
const SIM_SIZE: usize = 8 << 20;

/// `flash ARGS... --port <the bench's chip>`.
fn run_flash(bench: &Bench, args: &[&str]) -> Outcome {
    let mut all = vec!["flash"];
    all.extend_from_slice(args);
    bench.on_chip(&all)
}

/// The chip's flash (erased when nothing was ever written).
fn flash_contents(bench: &Bench) -> Vec<u8> {
    let mut bytes = bench.flash_file().unwrap_or_default();
    bytes.resize(SIM_SIZE, 0xFF);
    bytes
}

/// Put a bootloader and a partition table on the chip with our own `flash --at`.
fn install_layout(bench: &Bench, csv: &str) {
    let bootloader = bench.write("installed/bootloader.bin", &synthetic_bootloader());
    let table = bench.write("installed/table.bin", &table_binary(csv));
    run_flash(
        bench,
        &["--at", "0x0", &bootloader, "--at", "0x8000", &table],
    )
    .succeeds();
}

fn table_binary(csv: &str) -> Vec<u8> {
    PartitionTable::from_csv(csv)
        .expect("test partition table")
        .to_binary()
}

/// A table whose factory app partition is at 0x20000 (the default one has it at 0x10000).
const FACTORY_AT_0X20000: &str = "\
nvs,      data, nvs,     0x9000,  0x6000
phy_init, data, phy,     0xf000,  0x1000
factory,  app,  factory, 0x20000, 0x100000
";

/// A table with no factory partition: the app goes to ota_0.
const OTA_ONLY: &str = "\
nvs,      data, nvs,     0x9000,  0x4000
otadata,  data, ota,     0xd000,  0x2000
phy_init, data, phy,     0xf000,  0x1000
ota_0,    app,  ota_0,   0x30000, 0x100000
ota_1,    app,  ota_1,   0x130000, 0x100000
";

/// The app image `flash` makes from the synthetic ELF for this 8 MB chip.
fn synthetic_app_image() -> Vec<u8> {
    image_for_8mb(&synthetic_elf())
}

/// The image `flash` makes from `elf` for this 8 MB chip.
fn image_for_8mb(elf: &[u8]) -> Vec<u8> {
    let options = AppImageOptions {
        flash: FlashParams {
            size: Some(FlashSize::S8Mb),
            ..FlashParams::default()
        },
        ..AppImageOptions::default()
    };
    elf_to_app_image(elf, &options).expect("app image").bytes
}

fn is_erased(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0xFF)
}

#[test]
fn without_a_bootloader_the_app_goes_where_the_chips_table_says() {
    // (table on the chip, target-app-partition flag, where the app must land, partition name)
    for (csv, target, offset, name) in [
        (FACTORY_AT_0X20000, None, 0x20000usize, "factory"),
        (OTA_ONLY, None, 0x30000, "ota_0"),
        (OTA_ONLY, Some("ota_1"), 0x130000, "ota_1"),
    ] {
        let bench = Bench::new();
        install_layout(&bench, csv);
        let before = flash_contents(&bench);
        let elf = bench.write("app.elf", &synthetic_elf());
        let mut args = vec![elf.as_str()];
        if let Some(target) = target {
            args.extend(["--target-app-partition", target]);
        }
        let out = run_flash(&bench, &args);
        out.succeeds();
        let app = synthetic_app_image();
        let flash = flash_contents(&bench);
        assert_eq!(
            &flash[offset..offset + app.len()],
            app.as_slice(),
            "app not at 0x{offset:x}; stderr:\n{}",
            out.stderr
        );
        // Nothing else changed: the bootloader, the table and the default app offset.
        assert_eq!(&flash[..offset], &before[..offset], "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!(
                "writing only the app, at 0x{offset:x} ({name} in the partition table on the chip)"
            )),
            "{}",
            out.stderr
        );
        // How full the partition is refers to the chip's partition too.
        out.stderr_has(&[&format!("app partition {name}: ")]);
    }
}

#[test]
fn a_blank_chip_without_a_bootloader_names_the_key_and_writes_nothing() {
    let bench = Bench::new();
    let elf = bench.write("app.elf", &synthetic_elf());
    let out = run_flash(&bench, &[&elf]);
    assert_eq!(out.code, Some(i32::from(exit::FAILURE)), "{}", out.stderr);
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| cli::is_error_line(l))
        .collect();
    assert_eq!(errors.len(), 1, "{}", out.stderr);
    let error = errors[0];
    for part in [
        "the chip has no bootloader at 0x0 (flash there starts ff ff ff ff)",
        "set `bootloader` in [package.metadata.esp32s3] (or pass --bootloader",
        "target/<triple>/<profile>/build/esp-idf-sys-*/out/build/bootloader/bootloader.bin",
        ".../partition_table/partition-table.bin",
        "nothing was written",
    ] {
        assert!(error.contains(part), "missing {part:?} in {error}");
    }
    assert!(is_erased(&flash_contents(&bench)));

    // Erasing everything and writing the app alone would never boot: refused up front.
    install_layout(&bench, FACTORY_AT_0X20000);
    let before = flash_contents(&bench);
    let out = run_flash(&bench, &[&elf, "--erase-all"]);
    assert_eq!(out.code, Some(i32::from(exit::USAGE)), "{}", out.stderr);
    out.stderr_has(&["--erase-all would erase the bootloader and partition table"]);
    assert_eq!(flash_contents(&bench), before);

    // A bootloader but no table: the table is named instead.
    let bench = Bench::new();
    let bootloader = bench.write("bl.bin", &synthetic_bootloader());
    run_flash(&bench, &["--at", "0x0", &bootloader]).succeeds();
    let out = run_flash(&bench, &[&elf]);
    assert_eq!(out.code, Some(i32::from(exit::FAILURE)), "{}", out.stderr);
    out.stderr_has(&[
        "the chip has no partition table at 0x8000 (no AA 50 entry there); set `bootloader`",
    ]);
}

#[test]
fn a_layout_moving_the_app_is_written_after_a_note_naming_both_offsets() {
    let bench = Bench::new();
    install_layout(&bench, FACTORY_AT_0X20000);
    let elf = bench.write("app.elf", &synthetic_elf());
    let bootloader = bench.write("bootloader.bin", &synthetic_bootloader());
    // Our layout: the default table, factory at 0x10000.
    let out = run_flash(&bench, &[&elf, "--bootloader", &bootloader]);
    out.succeeds();
    let note = "note: the partition table on the chip puts the app (factory) at 0x20000; the one being written puts it (factory) at 0x10000 and replaces it";
    let at = out
        .line_index(note)
        .unwrap_or_else(|| panic!("no note in:\n{}", out.stderr));
    let wrote = out.line_index("Wrote ").expect("a Wrote line");
    assert!(at < wrote, "the note comes after writing:\n{}", out.stderr);
    let flash = flash_contents(&bench);
    let app = synthetic_app_image();
    assert_eq!(&flash[0x10000..0x10000 + app.len()], app.as_slice());

    // Now the chip's table agrees: flashing the same layout again says nothing about it.
    let again = run_flash(&bench, &[&elf, "--bootloader", &bootloader]);
    again.succeeds();
    assert_eq!(again.notes(), Vec::<&str>::new(), "{}", again.stderr);

    // A merged image carrying its own table is compared the same way.
    let bench = Bench::new();
    install_layout(&bench, FACTORY_AT_0X20000);
    let merged = bench.path("merged.bin");
    bench
        .run(&[
            "save-image",
            &elf,
            &merged.display().to_string(),
            "--merge",
            "--bootloader",
            &bootloader,
        ])
        .succeeds();
    let out = run_flash(&bench, &[&merged.display().to_string()]);
    out.succeeds();
    assert!(out.line_index(note).is_some(), "{}", out.stderr);
}

#[test]
fn a_bootloader_elf_is_converted() {
    let bench = Bench::new();
    let elf = bench.write("app.elf", &synthetic_elf());
    // Any ESP32-S3 ELF converts the same way; the synthetic app without its descriptor (a
    // bootloader has none, and stays below the table at 0x8000) stands in for bootloader.elf.
    let bootloader_elf = bench.write("bootloader.elf", &synthetic_elf_with(None));
    run_flash(&bench, &[&elf, "--bootloader", &bootloader_elf]).succeeds();
    let flash = flash_contents(&bench);
    let bootloader = image_for_8mb(&synthetic_elf_with(None));
    assert_eq!(&flash[..bootloader.len()], bootloader.as_slice());
    let converted = synthetic_app_image();
    assert_eq!(&flash[0x8000..0x8002], &[0xAA, 0x50]);
    assert_eq!(
        &flash[0x10000..0x10000 + converted.len()],
        converted.as_slice()
    );
}

/// `cargo run` hands over the ELF's path in the target directory and may pass words after it:
/// an ESP-IDF build's bootloader and table next to it are used, the words are ignored.
#[test]
fn an_elf_in_a_target_dir_finds_the_esp_idf_build_and_ignores_run_args() {
    let bench = Bench::new();
    let profile = "target/xtensa-esp32s3-espidf/debug";
    let elf = bench.write(&format!("{profile}/demo"), &synthetic_elf());
    let idf = format!("{profile}/build/esp-idf-sys-0123abcd/out/build");
    bench.write(
        &format!("{idf}/bootloader/bootloader.bin"),
        &synthetic_bootloader(),
    );
    bench.write(
        &format!("{idf}/partition_table/partition-table.bin"),
        &table_binary(FACTORY_AT_0X20000),
    );
    let out = run_flash(&bench, &[&elf, "one", "two"]);
    out.succeeds();
    out.stderr_has(&["note: ignoring one two after the firmware file"]);
    // A second file is not a run argument: it is refused before anything is written.
    let other = bench.write("other.bin", &synthetic_bootloader());
    let two_files = run_flash(&bench, &[&elf, &other]);
    assert_eq!(
        two_files.code,
        Some(i32::from(exit::USAGE)),
        "{}",
        two_files.stderr
    );
    two_files.stderr_has(&["write several files with --at OFFSET FILE"]);

    let flash = flash_contents(&bench);
    assert_eq!(
        &flash[0x8000..0x8000 + 0x60],
        &table_binary(FACTORY_AT_0X20000)[..0x60]
    );
    assert_eq!(flash[0], 0xE9);
    let app = synthetic_app_image();
    assert_eq!(&flash[0x20000..0x20000 + app.len()], app.as_slice());
    assert!(is_erased(&flash[0x10000..0x20000]));
}

fn real(dir: &Path, name: &str) -> String {
    dir.join("firmware/esp-idf-hello_world-esp32s3")
        .join(name)
        .display()
        .to_string()
}

/// With ESP-IDF's bootloader.elf, its partition table and hello_world.elf, and the flash
/// settings of that build, the chip ends up holding exactly the three .bin files ESP-IDF made.
#[test]
fn real_hello_world_layout_matches_esp_idf_build() {
    let Some(dir) = testdata() else { return };
    let bench = Bench::new();
    let port = bench.sim("16MB");
    let out = bench.run(&[
        "flash",
        &real(&dir, "hello_world.elf"),
        "--bootloader",
        &real(&dir, "bootloader.elf"),
        "--partition-table",
        &real(&dir, "partition-table.bin"),
        "-m",
        "dio",
        "-f",
        "80m",
        "-s",
        "16mb",
        "--port",
        &port,
    ]);
    out.succeeds();
    let flash = std::fs::read(bench.path("flash.bin")).expect("flash file");
    for (offset, name) in [
        (0x0usize, "bootloader.bin"),
        (0x8000, "partition-table.bin"),
        (0x10000, "hello_world.bin"),
    ] {
        let golden = std::fs::read(real(&dir, name)).expect("testdata file");
        assert!(
            flash.get(offset..offset + golden.len()) == Some(golden.as_slice()),
            "{name} differs at 0x{offset:x}; stderr:\n{}",
            out.stderr
        );
    }

    // Without a bootloader, onto a chip whose table has factory at 0x20000: the real app goes
    // there.
    let bench = Bench::new();
    install_layout(&bench, FACTORY_AT_0X20000);
    let out = run_flash(&bench, &[&real(&dir, "hello_world.elf")]);
    out.succeeds();
    let flash = flash_contents(&bench);
    assert_eq!(flash[0x20000], 0xE9, "{}", out.stderr);
    assert!(is_erased(&flash[0x10000..0x20000]));
    out.stderr_has(&[
        "writing only the app, at 0x20000 (factory in the partition table on the chip)",
    ]);
}
