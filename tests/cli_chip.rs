//! The chip commands end to end against the simulator (`--port "sim://?flash=<file>"`, whose flash
//! lives in a file so that it persists from one run of the binary to the next): flash then read
//! back the same bytes, a second flash skips every region, erase leaves 0xFF, board-info prints
//! the familiar lines, and every failure prints exactly one `error:` line with a non-zero exit.

use cargo_esp32s3::exit;
use cargo_esp32s3::image::FlashSize;
use cargo_esp32s3::image::partition::PartitionTable;

#[path = "support/cli.rs"]
mod cli;
use cli::Bench;

#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;
use synthetic_elf::{app_image, synthetic_bootloader, synthetic_elf};

#[path = "support/testdata.rs"]
mod testdata;

/// MicroPython's offset-0 image when the test data is there, else a synthetic one.
fn merged_firmware() -> Vec<u8> {
    testdata::micropython().unwrap_or_else(synthetic_elf::synthetic_offset0_image)
}

/// A small ESP32-S3 app image.
fn synthetic_app() -> Vec<u8> {
    app_image(9, 0)
}

/// Put the synthetic bootloader and the default 8 MB table (factory app at 0x10000) on the
/// bench's chip with `flash --at`; the table.
fn install_bootloader_and_table(bench: &Bench) -> PartitionTable {
    bench.write("bl.bin", &synthetic_bootloader());
    let table = PartitionTable::default_for_flash(FlashSize::S8Mb.bytes());
    bench.write("pt.bin", &table.to_binary());
    bench
        .on_chip(&["flash", "--at", "0x0", "bl.bin", "--at", "0x8000", "pt.bin"])
        .succeeds();
    table
}

#[test]
fn flash_then_read_back_then_skip_then_erase() {
    // The firmware's header says 4 MB: on a 4 MB chip it is written exactly as it is (a larger
    // chip's size would be written into its bootloader header, see tests/refusals.rs).
    let bench = Bench::with_size("4MB");
    let firmware = merged_firmware();
    std::fs::write(bench.path("firmware.bin"), &firmware).expect("write firmware");

    let first = bench.on_chip(&["flash", "firmware.bin"]);
    first.succeeds();
    first.stderr_has(&["merged image"]);
    first.stderr_has(&["goes to 0x0"]);
    assert!(
        first
            .stderr
            .contains(&format!("Wrote {} bytes (", firmware.len())),
        "{}",
        first.stderr
    );
    first.stderr_has(&["Hash of data verified."]);

    assert_eq!(bench.read_flash(0, firmware.len()), firmware);

    // The flash holds it already: nothing is written again.
    let second = bench.on_chip(&["flash", "firmware.bin"]);
    second.succeeds();
    assert!(
        second
            .stderr
            .contains(&format!("Skipped 0x0..0x{:x} (unchanged)", firmware.len())),
        "{}",
        second.stderr
    );
    assert!(!second.stderr.contains("Wrote "), "{}", second.stderr);

    // --no-skip writes it anyway.
    let forced = bench.on_chip(&["flash", "--no-skip", "firmware.bin"]);
    forced.succeeds();
    forced.stderr_has(&["Wrote "]);

    let erase = bench.on_chip(&["erase"]);
    erase.succeeds();
    erase.stderr_has(&["Erasing the whole flash"]);
    let erased = bench.read_flash(0, firmware.len());
    assert_eq!(erased.len(), firmware.len());
    assert!(erased.iter().all(|&b| b == 0xFF), "flash not erased");
}

#[test]
fn erase_a_region_and_a_partition_only() {
    // A 4 MB chip for the 4 MB firmware: written exactly as it is.
    let bench = Bench::with_size("4MB");
    let firmware = merged_firmware();
    std::fs::write(bench.path("firmware.bin"), &firmware).expect("write firmware");
    bench.on_chip(&["flash", "firmware.bin"]).succeeds();

    bench
        .on_chip(&["erase", "--region", "0x1000", "4K"])
        .succeeds();
    let head = bench.read_flash(0, 0x3000);
    assert_eq!(head.get(..0x1000), firmware.get(..0x1000));
    assert!(
        head.get(0x1000..0x2000)
            .is_some_and(|s| s.iter().all(|&b| b == 0xFF))
    );
    assert_eq!(head.get(0x2000..0x3000), firmware.get(0x2000..0x3000));

    // The table on the chip says where nvs is (0x9000, 24 KiB in both firmwares).
    let outcome = bench.on_chip(&["erase", "--partition", "nvs"]);
    outcome.succeeds();
    assert!(
        outcome.stderr.contains("Erasing partition nvs (0x9000"),
        "{}",
        outcome.stderr
    );
    let table = bench.read_flash(0x8000, 0x1000);
    assert_eq!(table.get(..0xC00), firmware.get(0x8000..0x8C00));
    let nvs = bench.read_flash(0x9000, 0x6000);
    assert!(nvs.iter().all(|&b| b == 0xFF));

    let line = bench
        .on_chip(&["erase", "--partition", "nope"])
        .fails(exit::USAGE, &[]);
    assert!(line.contains("no partition \"nope\""), "{line}");
    assert!(line.contains("nvs"), "{line}");
}

#[test]
fn flash_at_offsets_writes_files_exactly_there() {
    let bench = Bench::new();
    let app = synthetic_app();
    std::fs::write(bench.path("app.bin"), &app).expect("write app");
    std::fs::write(bench.path("data.bin"), [1u8, 2, 3, 4, 5, 6, 7, 8]).expect("write data");
    // An app on a chip without a bootloader is refused unless forced (see
    // tests/refusals.rs); forced, the files go exactly where they are given.
    bench
        .on_chip(&[
            "flash", "--force", "--at", "0x20000", "app.bin", "--at", "0x3000", "data.bin",
        ])
        .succeeds();
    assert_eq!(bench.read_flash(0x20000, app.len()), app);
    assert_eq!(bench.read_flash(0x3000, 8), [1u8, 2, 3, 4, 5, 6, 7, 8]);

    // --erase-all clears everything else before writing.
    bench
        .on_chip(&[
            "flash",
            "--force",
            "--erase-all",
            "--at",
            "0x20000",
            "app.bin",
        ])
        .succeeds();
    assert_eq!(bench.read_flash(0x3000, 8), [0xFF; 8]);
    assert_eq!(bench.read_flash(0x20000, app.len()), app);
}

#[test]
fn a_bare_app_goes_to_the_app_partition() {
    let bench = Bench::new();
    let app = synthetic_app();
    std::fs::write(bench.path("app.bin"), &app).expect("write app");
    // Onto a blank chip a bare app could never boot: refused before anything is written.
    bench
        .on_chip(&["flash", "app.bin"])
        .fails(exit::FAILURE, &["no bootloader at 0x0"]);
    assert!(bench.read_flash(0x10000, 0x1000).iter().all(|&b| b == 0xFF));
    // Once the chip holds a bootloader and a table, the app goes to the factory partition.
    install_bootloader_and_table(&bench);
    let outcome = bench.on_chip(&["flash", "app.bin"]);
    outcome.succeeds();
    outcome.stderr_has(&["goes to 0x10000"]);
    assert_eq!(bench.read_flash(0x10000, app.len()), app);
}

#[test]
fn board_info_prints_the_familiar_lines() {
    let bench = Bench::new();
    let outcome = bench.on_chip(&["board-info"]);
    outcome.succeeds();
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    for prefix in [
        "Chip is ESP32-S3 (",
        "Features: ",
        "Crystal is 40MHz",
        "MAC: ",
        "Manufacturer: ",
        "Device: ",
        "Detected flash size: ",
        "Secure boot: disabled, flash encryption: disabled, secure download mode: disabled",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(prefix)),
            "no line starting {prefix:?}:\n{}",
            outcome.stdout
        );
    }
    assert!(outcome.stdout.contains("(revision v"), "{}", outcome.stdout);
    // A chosen size and MAC reach the output.
    let outcome = bench.run(&[
        "board-info",
        "--port",
        "sim://?size=16MB&mac=7c:df:a1:12:34:56",
    ]);
    outcome.succeeds();
    outcome.stdout_has(&["Detected flash size: 16MB"]);
    outcome.stdout_has(&["MAC: 7c:df:a1:12:34:56"]);
}

#[test]
fn every_failure_is_one_error_line() {
    let bench = Bench::new();
    std::fs::write(bench.path("existing.bin"), b"keep me").expect("write file");
    std::fs::write(bench.path("notes.txt"), b"hello, not an image").expect("write file");

    // Another chip on the line.
    bench
        .run(&["board-info", "--port", "sim://?chip=esp32c3"])
        .fails(exit::CONNECT, &["ESP32-C3"]);

    // A bad simulator URL.
    bench
        .run(&["board-info", "--port", "sim://?colour=red"])
        .fails(exit::CONNECT, &["colour"]);

    // read-flash keeps an existing file.
    bench
        .on_chip(&["read-flash", "0", "16", "existing.bin"])
        .fails(exit::FAILURE, &["--force"]);
    assert_eq!(
        std::fs::read(bench.path("existing.bin")).ok().as_deref(),
        Some(&b"keep me"[..])
    );
    bench
        .on_chip(&["read-flash", "0", "16", "existing.bin", "--force"])
        .succeeds();

    // A partition erase needs a table on the chip.
    bench
        .on_chip(&["erase", "--partition", "nvs"])
        .fails(exit::FAILURE, &["no partition table at 0x8000"]);

    // Unaligned erase, missing file, a file that is no image, an ELF given to --at.
    bench
        .on_chip(&["erase", "--region", "0x100", "0x1000"])
        .fails(exit::USAGE, &["multiples of 4 KiB"]);
    bench
        .on_chip(&["flash", "missing.bin"])
        .fails(exit::FAILURE, &["missing.bin"]);
    bench
        .on_chip(&["flash", "notes.txt"])
        .fails(exit::IMAGE, &["notes.txt"]);
    std::fs::write(bench.path("fw.elf"), b"\x7fELF\x01\x01\x01").expect("write file");
    bench
        .on_chip(&["flash", "--at", "0x10000", "fw.elf"])
        .fails(exit::IMAGE, &["is an ELF file"]);
}

#[test]
fn an_elf_is_flashed_with_its_bootloader_and_partition_table() {
    let bench = Bench::new();
    std::fs::write(bench.path("fw.elf"), synthetic_elf()).expect("write ELF");
    std::fs::write(bench.path("bl.bin"), synthetic_bootloader()).expect("write bootloader");

    let outcome = bench.on_chip(&["flash", "fw.elf", "--bootloader", "bl.bin"]);
    outcome.succeeds();
    outcome.stderr_has(&["app partition factory: "]);
    // The same app image save-image makes for this flash size lands at 0x10000.
    bench
        .run(&["save-image", "--flash-size", "8MB", "fw.elf", "app.bin"])
        .succeeds();
    let app = std::fs::read(bench.path("app.bin")).expect("app image");
    assert_eq!(bench.read_flash(0x10000, app.len()), app);
    // The bootloader at 0x0 carries the detected 8 MB size; the table is at 0x8000.
    let head = bench.read_flash(0, 0x8002);
    assert_eq!(head.first(), Some(&0xE9));
    assert_eq!(head.get(3).map(|b| b >> 4), Some(FlashSize::S8Mb.code()));
    assert_eq!(head.get(0x8000..0x8002), Some(&[0xAA, 0x50][..]));
}

#[test]
fn an_elf_without_a_bootloader_is_written_alone_only_onto_a_chip_that_can_boot_it() {
    let bench = Bench::new();
    std::fs::write(bench.path("fw.elf"), synthetic_elf()).expect("write ELF");

    // A blank chip has no bootloader: the app alone could never boot, so nothing is written.
    let refused = bench.on_chip(&["flash", "fw.elf"]);
    refused.fails(
        exit::FAILURE,
        &["no bootloader at 0x0", "nothing was written"],
    );
    assert!(bench.read_flash(0x10000, 0x1000).iter().all(|&b| b == 0xFF));

    // A chip that holds a bootloader and a table with a factory app at 0x10000 takes the app alone.
    let table = install_bootloader_and_table(&bench);
    let outcome = bench.on_chip(&["flash", "fw.elf"]);
    outcome.succeeds();
    outcome.stderr_has(&["writing only the app, at 0x10000"]);
    assert_eq!(bench.read_flash(0x10000, 1), [0xE9]);

    // A table whose app partition is elsewhere gets the app there (the chip's table decides).
    let mut other = table.clone();
    for p in &mut other.partitions {
        if p.is_app() {
            p.offset = 0x20000;
            p.size -= 0x10000;
        }
    }
    std::fs::write(bench.path("pt2.bin"), other.to_binary()).expect("write table");
    bench
        .on_chip(&["flash", "--at", "0x8000", "pt2.bin"])
        .succeeds();
    let moved = bench.on_chip(&["flash", "fw.elf"]);
    moved.succeeds();
    moved.stderr_has(&["writing only the app, at 0x20000"]);
    assert_eq!(bench.read_flash(0x20000, 1), [0xE9]);
}
