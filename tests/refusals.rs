//! The classic mistakes, refused before anything is written or erased, each with its reason and,
//! where overriding is sane, the `--force` that overrides it (issue 11, item 4):
//!
//! - `--at OFFSET FILE` checks the file's content as a plain `flash FILE` does: a merged image
//!   or a bootloader anywhere but 0x0, a bootloader for another chip, a partition table off the
//!   table offset, an app onto a chip without a bootloader or outside an app partition;
//! - an app without an ESP-IDF app descriptor (`flash`, `save-image`, `build`), unless
//!   `--ignore-app-descriptor`; the virtual chip refuses to boot it as ESP-IDF v5.2.3+ does;
//! - the flash size: a table against the detected size, a bootloader header set to it (unless
//!   `keep`), a configured size larger than the chip;
//! - flash encryption and secure boot (writes and erases), Secure Download Mode (plain writes
//!   only, verification limited);
//! - Ctrl+C during a flash: stops after the current block, says what is verified, and the same
//!   command finishes the job; `sim://?flash=FILE` keeps what was written.
//!
//! (The virtual stub's flash size, the other half of the MicroPython guide's `erase_region`
//! step, is in `tests/sim_rom.rs`.)
//!
//! Everything runs against the virtual ESP32-S3, through the command line and through the
//! library (the same checks: they live in the plan and the board, not in the CLI).

use cargo_esp32s3::config::Settings;
use cargo_esp32s3::exit;
use cargo_esp32s3::flasher::{FlashError, Region, RegionKind};
use cargo_esp32s3::image::format::parse_image;
use cargo_esp32s3::image::partition::PartitionTable;
use cargo_esp32s3::image::{FlashSize, ImageHeader, Segment};
use cargo_esp32s3::{Board, Error, Event};

#[path = "support/cli.rs"]
mod cli;
use cli::Bench;

#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;
use synthetic_elf::{
    app_descriptor, app_image, image_of, offset0_image, synthetic_bootloader, synthetic_elf_with,
    synthetic_offset0_image, synthetic_ram_elf,
};

/// Put the synthetic bootloader and the default 8 MB table (factory app at 0x10000) on the
/// bench's chip, forced past the checks this file is about.
fn install_bootloader_and_table(bench: &Bench) {
    bench.write("bl.bin", &synthetic_bootloader());
    let table = PartitionTable::default_for_flash(FlashSize::S8Mb.bytes());
    bench.write("pt.bin", &table.to_binary());
    bench
        .on_chip(&["flash", "--at", "0x0", "bl.bin", "--at", "0x8000", "pt.bin"])
        .succeeds();
}

/// A bootloader image for the ESP32-C3 (chip id 5).
fn c3_bootloader() -> Vec<u8> {
    let header = ImageHeader {
        entry: 0x403C_E000,
        chip_id: 5,
        ..ImageHeader::default()
    };
    cargo_esp32s3::image::format::encode_image(
        &header,
        &[Segment {
            addr: 0x403C_E000,
            data: vec![0x11; 256],
        }],
    )
    .expect("an image")
}

// ---- --at checks the content ------------------------------------------------------------------

#[test]
fn at_a_merged_image_anywhere_but_0x0_is_refused() {
    let bench = Bench::new();
    bench.write("fw.bin", &synthetic_offset0_image());
    for offset in ["0x1000", "0x10000"] {
        let line = bench
            .on_chip(&["flash", "--at", offset, "fw.bin"])
            .fails(exit::USAGE, &["fw.bin", "merged image", "0x0", "--force"]);
        assert!(line.contains(&format!("not {offset}")), "{line}");
        // Refused from the file alone, before a chip was reached.
        bench.assert_flash_untouched();
    }
    // Where it belongs it is written.
    bench
        .on_chip(&["flash", "--at", "0x0", "fw.bin"])
        .succeeds();
}

#[test]
fn at_a_bootloader_anywhere_but_0x0_is_refused_unless_forced() {
    let bench = Bench::new();
    bench.write("bl.bin", &synthetic_bootloader());
    let line = bench
        .on_chip(&["flash", "--at", "0x1000", "bl.bin"])
        .fails(exit::USAGE, &["bl.bin", "bootloader", "0x1000", "--force"]);
    assert!(line.contains("loads the bootloader from 0x0"), "{line}");
    bench.assert_flash_untouched();
    // Forced, it is stored where asked (as data someone means to keep there).
    bench
        .on_chip(&["flash", "--force", "--at", "0x1000", "bl.bin"])
        .succeeds();
    assert_eq!(
        bench.read_flash(0x1000, synthetic_bootloader().len()),
        synthetic_bootloader()
    );
}

#[test]
fn at_a_bootloader_for_another_chip_is_refused_even_forced() {
    let bench = Bench::new();
    bench.write("c3.bin", &c3_bootloader());
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec!["flash", "--at", "0x0", "c3.bin"];
        args.extend(extra);
        bench
            .on_chip(&args)
            .fails(exit::IMAGE, &["c3.bin", "ESP32-C3", "ESP32-S3"]);
        bench.assert_flash_untouched();
    }
}

#[test]
fn at_a_partition_table_off_the_table_offset_is_refused() {
    let bench = Bench::new();
    let table = PartitionTable::default_for_flash(FlashSize::S8Mb.bytes());
    bench.write("pt.bin", &table.to_binary());
    bench.on_chip(&["flash", "--at", "0x9000", "pt.bin"]).fails(
        exit::USAGE,
        &[
            "pt.bin",
            "partition table",
            "0x8000",
            "--partition-table-offset",
        ],
    );
    bench.assert_flash_untouched();
}

#[test]
fn at_an_app_onto_a_chip_without_a_bootloader_is_refused() {
    let bench = Bench::new();
    bench.write("app.bin", &app_image(9, 0));
    bench
        .on_chip(&["flash", "--at", "0x10000", "app.bin"])
        .fails(exit::FAILURE, &["no bootloader at 0x0", "--force"]);
    bench.assert_flash_untouched();
    // --erase-all would leave none either: refused before connecting.
    bench
        .on_chip(&["flash", "--erase-all", "--at", "0x10000", "app.bin"])
        .fails(exit::USAGE, &["--erase-all", "bootloader", "0x10000"]);
    bench.assert_flash_untouched();
}

#[test]
fn at_an_app_outside_an_app_partition_is_refused() {
    let bench = Bench::new();
    install_bootloader_and_table(&bench);
    let app = app_image(9, 0);
    bench.write("app.bin", &app);
    // The chip's table has its factory app at 0x10000; 0x20000 is inside it, not its start.
    let line = bench
        .on_chip(&["flash", "--at", "0x20000", "app.bin"])
        .fails(
            exit::USAGE,
            &[
                "app.bin",
                "0x20000",
                "the chip's partition table at 0x8000",
                "factory at 0x10000",
            ],
        );
    assert!(line.contains("--force"), "{line}");
    assert!(bench.read_flash(0x20000, 0x1000).iter().all(|&b| b == 0xFF));
    // At the app partition's start it is written.
    bench
        .on_chip(&["flash", "--at", "0x10000", "app.bin"])
        .succeeds();
    assert_eq!(bench.read_flash(0x10000, app.len()), app);

    // With a table among the files, that table decides, before any chip is reached.
    let fresh = Bench::new();
    fresh.write("app.bin", &app);
    fresh.write("bl.bin", &synthetic_bootloader());
    let table = PartitionTable::from_csv("nvs,data,nvs,,24K\nfactory,app,factory,0x20000,1M")
        .expect("a table");
    fresh.write("pt.bin", &table.to_binary());
    let outcome = fresh.on_chip(&[
        "flash", "--at", "0x0", "bl.bin", "--at", "0x8000", "pt.bin", "--at", "0x10000", "app.bin",
    ]);
    outcome.fails(
        exit::USAGE,
        &[
            "0x10000",
            "the partition table written with it",
            "factory at 0x20000",
        ],
    );
    assert!(!outcome.stderr.contains("Connecting"), "{}", outcome.dump());
    fresh.assert_flash_untouched();
}

// ---- the app descriptor -----------------------------------------------------------------------

#[test]
fn an_app_without_a_descriptor_is_refused_by_flash_and_save_image() {
    let bench = Bench::new();
    let elf = bench.write("app.elf", &synthetic_elf_with(None));
    bench.write("bl.bin", &synthetic_bootloader());
    let macro_advice = "esp_bootloader_esp_idf::esp_app_desc!()";
    bench
        .on_chip(&["flash", "app.elf", "--bootloader", "bl.bin"])
        .fails(
            exit::IMAGE,
            &[
                "app.elf",
                "no ESP-IDF app descriptor",
                macro_advice,
                "--ignore-app-descriptor",
            ],
        );
    bench.assert_flash_untouched();
    bench
        .run(&["save-image", &elf, "app.bin"])
        .fails(exit::IMAGE, &["app.elf", macro_advice]);
    assert!(!bench.path("app.bin").exists());

    // A prebuilt app image and a merged image holding one are refused the same way.
    let bare = image_of(
        0x4037_8000,
        &[Segment {
            addr: 0x3C00_0020,
            data: vec![0x5A; 0x400],
        }],
    );
    bench.write("bare.bin", &bare);
    bench
        .on_chip(&["flash", "bare.bin"])
        .fails(exit::IMAGE, &["bare.bin", "the app image", macro_advice]);
    bench.write(
        "merged.bin",
        &offset0_image(&synthetic_bootloader(), &bare, FlashSize::S4Mb.bytes()),
    );
    bench.on_chip(&["flash", "merged.bin"]).fails(
        exit::IMAGE,
        &["merged.bin", "the app at 0x10000", macro_advice],
    );
    bench
        .on_chip(&["flash", "--at", "0x10000", "bare.bin"])
        .fails(exit::IMAGE, &["bare.bin", macro_advice]);
    bench.assert_flash_untouched();

    // The flag, and the setting, let it through.
    bench
        .run(&["save-image", "--ignore-app-descriptor", &elf, "app.bin"])
        .succeeds();
    bench
        .cmd(&["save-image", &elf, "app2.bin"])
        .env("ESP32S3_IGNORE_APP_DESCRIPTOR", "true")
        .run()
        .succeeds();
}

#[test]
fn an_elf_that_loads_wholly_into_ram_is_converted_without_a_descriptor() {
    // A second-stage bootloader's ELF (IRAM and DRAM only) has no app descriptor and needs
    // none: the descriptor is read from apps that run from flash. `cargo xtask demo` broke on
    // this when the refusal was added.
    let bench = Bench::new();
    let elf = bench.write("bootloader.elf", &synthetic_ram_elf());
    bench
        .run(&["save-image", &elf, "bootloader.bin"])
        .succeeds();
    assert!(bench.path("bootloader.bin").exists());
}

/// The virtual chip boots like an ESP-IDF v5.2.3+ bootloader: forced onto it, an app without a
/// descriptor is judged by the bytes where the descriptor should be, and refused with
/// ESP-IDF's own words. No test can pass on a chip that would not boot.
#[test]
fn the_virtual_chip_refuses_to_boot_an_app_without_a_descriptor() {
    let bench = Bench::new();
    bench.write("app.elf", &synthetic_elf_with(None));
    bench.write("bl.bin", &synthetic_bootloader());
    let outcome = bench.on_chip(&[
        "flash",
        "app.elf",
        "--bootloader",
        "bl.bin",
        "--ignore-app-descriptor",
        "--monitor",
        "--non-interactive",
        "--until",
        "No bootable app partitions",
        "--timeout",
        "20",
    ]);
    outcome.succeeds();
    // The synthetic app's code (0x36 bytes) stands where the descriptor's eFuse block revision
    // range should be: min 0x3636, v138.78.
    for line in [
        "E (",
        "boot_comm: Image requires efuse blk rev >= v138.78, but chip is v1.1",
        "boot: Factory app partition is not bootable",
    ] {
        assert!(
            outcome.stdout.contains(line),
            "{line:?}:\n{}",
            outcome.dump()
        );
    }
    assert!(!outcome.stdout.contains("Loaded app"), "{}", outcome.dump());
}

/// `build` refuses too: a host project whose "linker" leaves the synthetic Xtensa ELF where
/// cargo expects the executable (there is no Xtensa toolchain here).
#[cfg(unix)]
#[test]
fn build_refuses_an_app_without_a_descriptor() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path();
    std::fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"nodesc\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .expect("manifest");
    std::fs::create_dir_all(root.join("src")).expect("src");
    std::fs::write(root.join("src/main.rs"), "fn main() {}\n").expect("main");
    std::fs::write(root.join("firmware.elf"), synthetic_elf_with(None)).expect("elf");
    let linker = root.join("link.sh");
    std::fs::write(
        &linker,
        format!(
            "#!/bin/sh\nwhile [ $# -gt 0 ]; do if [ \"$1\" = -o ]; then cp '{}' \"$2\"; exit 0; fi; shift; done\nexit 1\n",
            root.join("firmware.elf").display()
        ),
    )
    .expect("linker script");
    std::fs::set_permissions(&linker, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let build = |extra: &[&str]| {
        cli::Run::new(root, &["build"])
            .args(extra)
            .env("CARGO_TARGET_DIR", root.join("target"))
            .env("RUSTFLAGS", format!("-C linker={}", linker.display()))
            .limit(cli::BUILD_LIMIT)
            .run()
    };
    build(&[]).fails(
        exit::IMAGE,
        &["nodesc", "no ESP-IDF app descriptor", "esp_app_desc!()"],
    );
    let outcome = build(&["--ignore-app-descriptor"]);
    outcome.succeeds();
    outcome.stdout_has(&["app image:"]);
}

// ---- the flash size ---------------------------------------------------------------------------

/// A table that needs 8 MB, with the size left to the chip: checked against the detected size,
/// not the 4 MB default.
#[test]
fn a_table_is_checked_against_the_detected_flash_size() {
    let csv = "nvs,data,nvs,,24K\nphy_init,data,phy,,4K\nfactory,app,factory,0x10000,7M\n";
    let bench = Bench::with_size("8MB");
    bench.write("big.csv", csv.as_bytes());
    bench.write(
        "app.elf",
        &synthetic_elf_with(Some(&app_descriptor("sized"))),
    );
    bench.write("bl.bin", &synthetic_bootloader());
    let args = [
        "flash",
        "app.elf",
        "--bootloader",
        "bl.bin",
        "--partition-table",
        "big.csv",
    ];
    bench.on_chip(&args).succeeds();
    assert_eq!(bench.read_flash(0x8000, 2), [0xAA, 0x50]);

    // On a 4 MB chip the same table is refused, nothing written.
    let small = Bench::with_size("4MB");
    small.write("big.csv", csv.as_bytes());
    small.write(
        "app.elf",
        &synthetic_elf_with(Some(&app_descriptor("sized"))),
    );
    small.write("bl.bin", &synthetic_bootloader());
    small.on_chip(&args).fails(
        exit::IMAGE,
        &["big.csv", "factory", "beyond the 4 MiB flash"],
    );
    small.assert_flash_untouched();

    // Without a chip (save-image) the size its headers name is the one checked.
    small
        .run(&[
            "save-image",
            "--merge",
            "app.elf",
            "m.bin",
            "--bootloader",
            "bl.bin",
            "--partition-table",
            "big.csv",
        ])
        .fails(exit::IMAGE, &["big.csv", "beyond the 4 MiB flash"]);
}

#[test]
fn a_merged_images_bootloader_gets_the_detected_size_unless_keep() {
    let image = synthetic_offset0_image();
    assert_eq!(
        ImageHeader::decode(&image).expect("a header").size(),
        Some(FlashSize::S4Mb)
    );
    let bench = Bench::with_size("16MB");
    bench.write("fw.bin", &image);
    let outcome = bench.on_chip(&["flash", "fw.bin"]);
    outcome.succeeds();
    outcome.stderr_has(&["Flash params set to 0x024", "SHA-256 digest updated"]);
    let boot_len = synthetic_bootloader().len();
    let chip = bench.read_flash(0, image.len());
    let bootloader = parse_image(&chip[..boot_len]).expect("still an image");
    assert_eq!(bootloader.header.size(), Some(FlashSize::S16Mb));
    assert_eq!(
        bootloader.digest_ok(),
        Some(true),
        "the digest was recomputed"
    );
    assert!(bootloader.checksum_ok());
    assert_eq!(
        chip[boot_len..],
        image[boot_len..],
        "only the header changed"
    );

    // `keep` leaves the header as the file has it.
    let kept = Bench::with_size("16MB");
    kept.write("fw.bin", &image);
    kept.on_chip(&["flash", "fw.bin", "--flash-size", "keep"])
        .succeeds();
    assert_eq!(kept.read_flash(0, image.len()), image);
}

#[test]
fn a_flash_size_larger_than_the_chip_is_refused_unless_forced() {
    let bench = Bench::with_size("4MB");
    bench.write("fw.bin", &synthetic_offset0_image());
    bench
        .on_chip(&["flash", "fw.bin", "--flash-size", "16MB"])
        .fails(exit::FLASH, &["16 MiB", "4 MiB", "flash ID", "--force"]);
    bench.assert_flash_untouched();
    bench
        .on_chip(&["flash", "fw.bin", "--flash-size", "16MB", "--force"])
        .succeeds();
}

// ---- security -----------------------------------------------------------------------------------

fn secured(bench: &Bench, fuses: &str) -> String {
    format!("{}&efuse={fuses}", bench.port())
}

#[test]
fn flash_encryption_refuses_plaintext_writes_and_erases_unless_forced() {
    let bench = Bench::new();
    bench.write("fw.bin", &synthetic_offset0_image());
    let port = secured(&bench, "flash-encryption");
    bench.run(&["flash", "fw.bin", "--port", &port]).fails(
        exit::FLASH,
        &["flash encryption is enabled", "plaintext", "--force"],
    );
    bench
        .run(&["erase", "--port", &port])
        .fails(exit::FLASH, &["erasing is refused", "--force"]);
    bench.assert_flash_untouched();
    bench
        .run(&["flash", "fw.bin", "--force", "--port", &port])
        .succeeds();
    bench.run(&["erase", "--force", "--port", &port]).succeeds();
    bench.assert_flash_untouched();
}

#[test]
fn secure_boot_refuses_unsigned_writes_and_erases_unless_forced() {
    let bench = Bench::new();
    bench.write("fw.bin", &synthetic_offset0_image());
    let port = secured(&bench, "secure-boot");
    bench.run(&["flash", "fw.bin", "--port", &port]).fails(
        exit::FLASH,
        &["secure boot is enabled", "signed", "--force"],
    );
    bench
        .run(&["erase", "--region", "0x9000", "0x6000", "--port", &port])
        .fails(exit::FLASH, &["erasing is refused", "--force"]);
    bench.assert_flash_untouched();
}

#[test]
fn secure_download_mode_writes_plain_blocks_and_says_verification_is_limited() {
    let bench = Bench::with_size("4MB");
    let image = synthetic_offset0_image();
    bench.write("fw.bin", &image);
    let port = secured(&bench, "secure-download");
    let outcome = bench.run(&["flash", "fw.bin", "--port", &port]);
    outcome.succeeds();
    outcome.stderr_has(&[
        "Secure Download Mode",
        "verification is limited",
        "not verified: Secure Download Mode has no flash MD5",
    ]);
    assert!(
        !outcome.stderr.contains("Hash of data verified"),
        "{}",
        outcome.dump()
    );
    let flash = bench.flash_file().expect("the flash file");
    assert_eq!(&flash[..image.len()], image.as_slice());
}

// ---- Ctrl+C -------------------------------------------------------------------------------------

/// Noise that does not compress, so a region takes many blocks.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn data_region(offset: u32, data: Vec<u8>, label: &str) -> Region {
    Region {
        offset,
        data,
        kind: RegionKind::Data,
        label: label.into(),
    }
}

/// The library takes a cancellation flag (never a signal handler): set mid-region, the write
/// stops after the current block, the error says which regions are verified, the in-process
/// chip's flash file keeps what was written, and the same job again finishes with the verified
/// region skipped.
#[test]
fn a_cancelled_flash_stops_after_a_block_and_the_same_job_finishes_it() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("chip.flash");
    let url = format!("sim://?flash={}&size=4MB", file.display());
    let first = noise(0x8000, 1);
    let second = noise(0x40000, 2);
    let regions = [
        data_region(0x10_0000, first.clone(), "first"),
        data_region(0x20_0000, second.clone(), "second"),
    ];
    {
        let mut board = Board::open(&url, &Settings::default()).expect("connects");
        let cancel = board.cancel_handle();
        let mut blocks_of_second = 0;
        let result = board.write_regions(&regions, |event| {
            if let Event::RegionProgress {
                offset: 0x20_0000, ..
            } = event
            {
                blocks_of_second += 1;
                if blocks_of_second == 2 {
                    cancel.cancel();
                }
            }
        });
        match result {
            Err(Error::Flash(FlashError::Interrupted {
                verified,
                unverified,
            })) => {
                assert_eq!(verified, ["first (0x8000 bytes at 0x100000)"]);
                assert_eq!(unverified, ["second (0x40000 bytes at 0x200000)"]);
            }
            other => panic!("expected Interrupted, got {other:?}"),
        }
        let message = Error::Flash(FlashError::Interrupted {
            verified: vec!["first".into()],
            unverified: vec!["second".into()],
        })
        .to_string();
        assert!(
            message.contains("run the same command again to finish"),
            "{message}"
        );
    }
    // The board is gone; the chip's flash file holds what was written.
    let kept = std::fs::read(&file).expect("the flash file");
    assert_eq!(&kept[0x10_0000..0x10_8000], first.as_slice());
    assert_ne!(
        &kept[0x20_0000..0x24_0000],
        second.as_slice(),
        "only part of it"
    );

    // The same job again: the verified region is skipped, the rest written.
    let mut board = Board::open(&url, &Settings::default()).expect("connects again");
    let summary = board.write_regions(&regions, |_| {}).expect("finishes");
    assert_eq!((summary.skipped, summary.written), (1, 1));
    drop(board);
    let done = std::fs::read(&file).expect("the flash file");
    assert_eq!(&done[0x20_0000..0x24_0000], second.as_slice());
}

/// Ctrl+C in the command line sets that flag: the flash stops, says what is verified and how
/// to finish, and exits with the flash failure code; `sim://?flash=FILE` keeps what was written.
#[cfg(unix)]
#[test]
fn ctrl_c_during_a_flash_stops_after_the_block_and_says_how_to_finish() {
    let bench = Bench::with_size("16MB");
    bench.write("small.bin", &noise(0x2000, 3));
    // Big and incompressible: it takes seconds, long enough to be interrupted.
    bench.write("big.bin", &noise(0xA0_0000, 4));
    let args = [
        "flash",
        "--at",
        "0x100000",
        "small.bin",
        "--at",
        "0x200000",
        "big.bin",
        "--port",
    ];
    let port = bench.port();
    let mut all = args.to_vec();
    all.push(&port);
    let running = bench.cmd(&all).spawn();
    // Once the first region is verified, the second is being written.
    let started = std::time::Instant::now();
    while !running.stderr_so_far().contains("Hash of data verified") {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no region verified: {}",
            running.stderr_so_far()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: sending a signal to our own child process, whose id we hold.
    unsafe {
        libc::kill(running.id() as libc::pid_t, libc::SIGINT);
    }
    let outcome = running.finish();
    assert_eq!(
        outcome.code,
        Some(i32::from(exit::FLASH)),
        "{}",
        outcome.dump()
    );
    let errors = outcome.error_lines();
    assert_eq!(errors.len(), 1, "{}", outcome.dump());
    for needle in [
        "interrupted",
        "verified on the chip: small.bin (0x2000 bytes at 0x100000)",
        "not written or not verified: big.bin",
        "run the same command again to finish",
    ] {
        assert!(
            errors[0].contains(needle),
            "{needle:?} not in {}",
            errors[0]
        );
    }
    assert!(!outcome.stderr.contains("Flashed "), "{}", outcome.dump());
    let kept = bench.flash_file().expect("the flash file");
    assert_eq!(&kept[0x10_0000..0x10_2000], &noise(0x2000, 3)[..]);

    // The same command finishes the job, skipping what is there.
    let again = bench.run(&all);
    again.succeeds();
    again.stderr_has(&["Skipped 0x100000..0x102000 (unchanged)"]);
    let done = bench.flash_file().expect("the flash file");
    assert!(done[0x20_0000..0xC0_0000] == noise(0xA0_0000, 4)[..]);
}
