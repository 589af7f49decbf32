//! The virtual chip's second-stage bootloader against real images from the shared testdata:
//! the ESP-IDF hello_world build (bootloader, partition table and app at 0x0/0x8000/0x10000),
//! the MicroPython offset-0 image and espflash's esp-hal merged layout. Without the testdata
//! these tests say `skipped` and pass; the synthetic cases live in `src/sim/second_stage/` and
//! `src/sim/app_console.rs`.

use cargo_esp32s3::sim::app_console::AppConsole;
use cargo_esp32s3::sim::second_stage::{self, AppKind, BootContext, Outcome};

#[path = "support/testdata.rs"]
mod testdata;
use testdata::{read, testdata};

/// A 16 MiB erased flash with `parts` written at their offsets.
fn flash_with(parts: &[(u32, &[u8])]) -> Vec<u8> {
    let mut flash = vec![0xFF; 16 * 1024 * 1024];
    for (offset, bytes) in parts {
        let start = *offset as usize;
        flash[start..start + bytes.len()].copy_from_slice(bytes);
    }
    flash
}

/// The text without ANSI colour sequences.
fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('\x1b') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find('m').map_or(rest.len(), |i| i + 1);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The lines without their `X (ms) ` prefix, so the check does not depend on the clock model.
fn untimed(text: &str) -> Vec<String> {
    plain(text)
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| match (l.find(" ("), l.find(") ")) {
            (Some(1), Some(close)) => format!("{} {}", &l[..1], &l[close + 2..]),
            _ => l.to_owned(),
        })
        .collect()
}

fn hello_world_flash(dir: &std::path::Path) -> Vec<u8> {
    let bl = read(dir, "firmware/esp-idf-hello_world-esp32s3/bootloader.bin");
    let pt = read(
        dir,
        "firmware/esp-idf-hello_world-esp32s3/partition-table.bin",
    );
    let app = read(dir, "firmware/esp-idf-hello_world-esp32s3/hello_world.bin");
    flash_with(&[(0, &bl), (0x8000, &pt), (0x10000, &app)])
}

#[test]
fn esp_idf_hello_world_boots_with_its_real_log() {
    let Some(dir) = testdata() else { return };
    let flash = hello_world_flash(&dir);
    let boot = second_stage::boot(&BootContext::esp32s3(&flash));
    let want = [
        "I boot: ESP-IDF v5.1.4 2nd stage bootloader",
        "I boot: compile time Jun 20 2024 11:03:57",
        "I boot: Multicore bootloader",
        "I boot: chip revision: v0.2",
        "I boot.esp32s3: Boot SPI Speed : 80MHz",
        "I boot.esp32s3: SPI Mode       : DIO",
        "I boot.esp32s3: SPI Flash Size : 16MB",
        "I boot: Enabling RNG early entropy source...",
        "I boot: Partition Table:",
        "I boot: ## Label            Usage          Type ST Offset   Length",
        "I boot:  0 nvs              WiFi data        01 02 00009000 00006000",
        "I boot:  1 phy_init         RF data          01 01 0000f000 00001000",
        "I boot:  2 factory          factory app      00 00 00010000 00100000",
        "I boot: End of partition table",
        "I esp_image: segment 0: paddr=00010020 vaddr=3c020020 size=09dd8h ( 40408) map",
        "I esp_image: segment 1: paddr=00019e00 vaddr=3fc91200 size=02704h (  9988) load",
        "I esp_image: segment 2: paddr=0001c50c vaddr=40374000 size=03b0ch ( 15116) load",
        "I esp_image: segment 3: paddr=00020020 vaddr=42000020 size=179e0h ( 96736) map",
        "I esp_image: segment 4: paddr=00037a08 vaddr=40377b0c size=096c8h ( 38600) load",
        "I boot: Loaded app from partition at offset 0x10000",
        "I boot: Disabling RNG early entropy source...",
        "I cpu_start: Multicore app",
        "I cpu_start: Pro cpu start user code",
        "I cpu_start: Application information:",
        "I cpu_start: Project name:     hello_world",
        "I cpu_start: App version:      1",
        "I cpu_start: Compile time:     Jun 20 2024 11:03:36",
        "I cpu_start: ELF file SHA256:  a85d73f3d0c12f51...",
        "I cpu_start: ESP-IDF:          v5.1.4",
        "I cpu_start: Min chip rev:     v0.0",
        "I cpu_start: Max chip rev:     v0.99 ",
        "I cpu_start: Chip rev:         v0.2",
        "I main_task: Started on CPU0",
        "I main_task: Calling app_main()",
    ];
    assert_eq!(untimed(&boot.text), want, "{}", boot.text);
    // This build logs in colour, as its format strings say; every line ends in CRLF.
    assert!(
        boot.text
            .starts_with("\x1b[0;32mI (27) boot: ESP-IDF v5.1.4"),
        "{}",
        boot.text
    );
    assert!(boot.text.ends_with("Calling app_main()\x1b[0m\r\n"));
    assert_eq!(
        boot.text.matches('\n').count(),
        boot.text.matches("\r\n").count()
    );
    let Outcome::App(app) = boot.outcome else {
        panic!("no app started: {}", boot.text)
    };
    assert_eq!(
        (
            app.project.as_str(),
            app.version.as_str(),
            app.idf_version.as_str()
        ),
        ("hello_world", "1", "v5.1.4")
    );
    assert_eq!(app.kind, AppKind::EspIdf);
    assert_eq!((app.partition_offset, app.entry), (0x10000, 0x4037_5378));
    // The clock moved on: timestamps grow and the end lies after the start.
    assert!(boot.finished_at > std::time::Duration::from_millis(150));
}

#[test]
fn a_corrupted_real_app_is_refused_and_the_chip_reboots() {
    let Some(dir) = testdata() else { return };
    let mut flash = hello_world_flash(&dir);
    flash[0x10000 + 0x2000] ^= 0x01; // a byte of segment 0's data
    let boot = second_stage::boot(&BootContext::esp32s3(&flash));
    let lines = untimed(&boot.text);
    let tail: Vec<&str> = lines
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(String::as_str)
        .collect();
    assert!(
        tail[0].starts_with("E esp_image: Checksum failed. Calculated 0x"),
        "{lines:#?}"
    );
    assert_eq!(
        tail[1..],
        [
            "E boot: Factory app partition is not bootable",
            "E boot: No bootable app partitions in the partition table"
        ],
        "{lines:#?}"
    );
    assert_eq!(boot.outcome, Outcome::Failed);
}

#[test]
fn micropython_boots_silently_and_its_banner_and_help_come_from_the_image() {
    let Some(dir) = testdata() else { return };
    let image = read(
        &dir,
        "firmware/micropython/ESP32_GENERIC_S3-20250911-v1.26.1.bin",
    );
    let flash = flash_with(&[(0, &image)]);
    let boot = second_stage::boot(&BootContext::esp32s3(&flash));
    // Its bootloader is built with the WARN level and its app with ERROR: no lines at all.
    assert_eq!(boot.text, "");
    let Outcome::App(app) = boot.outcome else {
        panic!("MicroPython did not start")
    };
    assert_eq!((app.project.as_str(), app.version.as_str()), ("", ""));
    assert_eq!(app.idf_version, "v5.4.2");
    let AppKind::MicroPython(mp) = app.kind else {
        panic!("not recognised as MicroPython: {:?}", app.kind)
    };
    assert_eq!(
        mp.banner,
        "MicroPython v1.26.1 on 2025-09-11; Generic ESP32S3 module with ESP32S3"
    );
    assert_eq!(
        mp.hint.as_deref(),
        Some("Type \"help()\" for more information.")
    );
    let help = mp.help.unwrap_or_default();
    assert!(
        help.starts_with("Welcome to MicroPython on the ESP32!\n\n"),
        "{help}"
    );
    assert!(
        help.ends_with("For a list of available modules, type help('modules')\n"),
        "{help}"
    );
}

#[test]
fn an_esp_hal_app_gets_the_bootloader_log_and_nothing_invented() {
    let Some(dir) = testdata() else { return };
    let image = read(&dir, "espflash-expected/esp32s3-esp-hal.merged.bin");
    let flash = flash_with(&[(0, &image)]);
    let boot = second_stage::boot(&BootContext::esp32s3(&flash));
    let lines = untimed(&boot.text);
    assert_eq!(
        lines.first().map(String::as_str),
        Some("I boot: ESP-IDF v6.1-829-g9a97f6c54ec 2nd stage bootloader")
    );
    // espflash's padding segment (load address 0) is neither loaded nor mapped.
    assert!(
        lines.contains(
            &"I esp_image: segment 3: paddr=00011c50 vaddr=00000000 size=0e3c8h ( 58312) "
                .to_owned()
        ),
        "{lines:#?}"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("I boot: Disabling RNG early entropy source...")
    );
    let Outcome::App(app) = boot.outcome else {
        panic!("esp-hal app did not start")
    };
    assert_eq!(app.kind, AppKind::Other);
    assert_eq!(
        (app.project.as_str(), app.version.as_str()),
        ("esp32s3", "0.1.0")
    );
}

#[test]
fn the_real_micropython_console_answers_help() {
    let Some(dir) = testdata() else { return };
    let image = read(
        &dir,
        "firmware/micropython/ESP32_GENERIC_S3-20250911-v1.26.1.bin",
    );
    let flash = flash_with(&[(0, &image)]);
    let Outcome::App(app) = second_stage::boot(&BootContext::esp32s3(&flash)).outcome else {
        panic!("MicroPython did not start")
    };
    let (mut console, first) = AppConsole::start(&app);
    assert_eq!(
        first,
        "MicroPython v1.26.1 on 2025-09-11; Generic ESP32S3 module with ESP32S3\r\n\
         Type \"help()\" for more information.\r\n>>> "
    );
    let reply = String::from_utf8(console.input(b"help()\r\n")).unwrap_or_default();
    assert!(
        reply.starts_with("help()\r\nWelcome to MicroPython on the ESP32!\r\n\r\nFor online docs please visit http://docs.micropython.org/\r\n"),
        "{reply}"
    );
    assert!(
        reply.ends_with("For a list of available modules, type help('modules')\r\n>>> "),
        "{reply}"
    );
}

#[test]
fn the_real_hello_world_console_only_echoes() {
    let Some(dir) = testdata() else { return };
    let flash = hello_world_flash(&dir);
    let Outcome::App(app) = second_stage::boot(&BootContext::esp32s3(&flash)).outcome else {
        panic!("hello_world did not start")
    };
    let (mut console, first) = AppConsole::start(&app);
    assert_eq!(first, "");
    assert_eq!(console.input(b"help()\r"), b"help()\r\n");
}

#[test]
fn an_offset_0_image_written_at_the_app_offset_is_refused() {
    let Some(dir) = testdata() else { return };
    let bl = read(&dir, "firmware/esp-idf-hello_world-esp32s3/bootloader.bin");
    let pt = read(
        &dir,
        "firmware/esp-idf-hello_world-esp32s3/partition-table.bin",
    );
    let merged = read(
        &dir,
        "firmware/micropython/ESP32_GENERIC_S3-20250911-v1.26.1.bin",
    );
    let flash = flash_with(&[(0, &bl), (0x8000, &pt), (0x10000, &merged)]);
    let boot = second_stage::boot(&BootContext::esp32s3(&flash));
    // The app partition starts with MicroPython's own bootloader, whose code would land on the
    // running bootloader's loader code.
    let lines = untimed(&boot.text);
    assert_eq!(
        lines[lines.len() - 4..],
        [
            "I esp_image: segment 3: paddr=00011ad0 vaddr=403cb700 size=02f8ch ( 12172) load",
            "E esp_image: Segment 3 0x403cb700-0x403ce68c invalid: overlaps loader IRAM",
            "E boot: Factory app partition is not bootable",
            "E boot: No bootable app partitions in the partition table",
        ],
        "{}",
        boot.text
    );
    assert_eq!(boot.outcome, Outcome::Failed);
}
