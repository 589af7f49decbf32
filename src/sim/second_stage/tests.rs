//! Scenario tests of the virtual second stage on synthetic flash: a good layout's full log,
//! timestamps, every failure ESP-IDF reports, otadata choosing the app, quiet and coloured
//! bootloaders, and telling apps apart. Images are built with `sim::test_image`, never the
//! host's writer, so the simulator's parser is checked against an independent one.

use md5::{Digest as _, Md5};

use super::boot_order::crc32_le;
use super::*;
use crate::sim::test_image::{self, TestHeader};

/// Format texts an ESP-IDF v5.4 bootloader holds (the ones this model looks for).
const BOOTLOADER_TEXTS: &[&str] = &[
    "I (%lu) %s: ESP-IDF %s 2nd stage bootloader",
    "I (%lu) %s: compile time %s",
    "I (%lu) %s: Multicore bootloader",
    "I (%lu) %s: chip revision: v%d.%d",
    "I (%lu) %s: efuse block revision: v%d.%d",
    "I (%lu) %s: Boot SPI Speed : %s",
    "I (%lu) %s: Enabling RNG early entropy source...",
];

/// Format texts of an ESP-IDF v5.4 app (tags `app_init` and `efuse_init`).
const APP_TEXTS: &[&str] = &[
    "I (%lu) %s: Multicore app",
    "I (%lu) %s: Pro cpu start user code",
    "app_init",
    "I (%lu) %s: Application information:",
    "I (%lu) %s: Project name:     %s",
    "I (%lu) %s: App version:      %s",
    "I (%lu) %s: Compile time:     %s %s",
    "efuse_init",
    "I (%lu) %s: Started on CPU%d",
    "I (%lu) %s: Calling app_main()",
];

fn padded(mut bytes: Vec<u8>) -> Vec<u8> {
    while bytes.len() % 4 != 0 {
        bytes.push(0);
    }
    bytes
}

fn field(text: &str, len: usize) -> Vec<u8> {
    let mut f = text.as_bytes().to_vec();
    f.resize(len, 0);
    f
}

fn strings(texts: &[&str]) -> Vec<u8> {
    texts.iter().flat_map(|t| t.bytes().chain([0, 0])).collect()
}

/// A bootloader image: a DRAM segment with the descriptor and the format texts, an IRAM
/// segment, DIO 80 MHz 4 MB.
fn bootloader(texts: &[&str]) -> Vec<u8> {
    // esp_bootloader_desc_t: magic byte 0x50, 3 reserved bytes, version, idf_ver, date_time.
    let mut dram = vec![0x50, 0, 0, 0];
    dram.extend_from_slice(&1u32.to_le_bytes());
    dram.extend(field("v5.4.1", 32));
    dram.extend(field("Apr 24 2025 15:55:11", 24));
    dram.extend([0; 16]);
    dram.extend(strings(texts));
    let header = TestHeader {
        entry: 0x403c_8928,
        flash_size_freq: 0x2F,
        ..TestHeader::default()
    };
    test_image::image(
        &header,
        &[
            (0x3fce_2810, &padded(dram)),
            (0x403c_8700, &[0x36, 0x41, 0, 0]),
        ],
    )
}

/// An app image whose first (DROM) segment starts with an app descriptor.
fn app(project: &str, texts: &[&str], header: TestHeader) -> Vec<u8> {
    // esp_app_desc_t: magic 0xABCD5432, secure_version, reserved, then the text fields.
    let mut drom = 0xABCD_5432u32.to_le_bytes().to_vec();
    drom.extend([0; 12]);
    drom.extend(field("1.2.3", 32));
    drom.extend(field(project, 32));
    drom.extend(field("12:34:56", 16));
    drom.extend(field("Jan  2 2025", 16));
    drom.extend(field("v5.4.1", 32));
    drom.extend((0..32).map(|i| i as u8 * 7));
    drom.extend([0; 0x50]);
    drom.extend(strings(texts));
    test_image::image(
        &header,
        &[
            (0x3c02_0020, &padded(drom)),
            (0x4037_4000, &[0x36, 0x41, 0, 0, 0, 0, 0, 0]),
        ],
    )
}

fn s3_app(project: &str) -> Vec<u8> {
    let header = TestHeader {
        entry: 0x4037_5378,
        max_rev_full: 99,
        ..TestHeader::default()
    };
    app(project, APP_TEXTS, header)
}

/// A partition table of `(label, type, subtype, offset, size)` rows with its MD5 entry.
fn table(rows: &[(&str, u8, u8, u32, u32)]) -> Vec<u8> {
    let mut t = Vec::new();
    for (label, kind, subtype, offset, size) in rows {
        t.extend([0xAA, 0x50, *kind, *subtype]);
        t.extend(offset.to_le_bytes());
        t.extend(size.to_le_bytes());
        t.extend(field(label, 16));
        t.extend([0; 4]);
    }
    let digest = Md5::digest(&t);
    t.extend([0xEB, 0xEB]);
    t.extend([0xFF; 14]);
    t.extend(digest);
    // The table sector's entry area is 0xC00 bytes.
    t.resize(0xC00, 0xFF);
    t
}

fn factory_table() -> Vec<u8> {
    table(&[
        ("nvs", 1, 2, 0x9000, 0x6000),
        ("phy_init", 1, 1, 0xF000, 0x1000),
        ("factory", 0, 0, 0x10000, 0x100000),
    ])
}

fn ota_table(with_factory: bool) -> Vec<u8> {
    let mut rows = vec![
        ("nvs", 1, 2, 0x9000, 0x4000),
        ("otadata", 1, 0, 0xD000, 0x2000),
        ("phy_init", 1, 1, 0xF000, 0x1000),
    ];
    if with_factory {
        rows.push(("factory", 0, 0, 0x10000, 0x100000));
    }
    rows.push(("ota_0", 0, 0x10, 0x110000, 0x100000));
    rows.push(("ota_1", 0, 0x11, 0x210000, 0x100000));
    table(&rows)
}

/// An otadata entry with sequence number `seq` (CRC as ESP-IDF writes it).
fn ota_entry(seq: u32) -> Vec<u8> {
    let mut e = seq.to_le_bytes().to_vec();
    e.extend([0xFF; 20]);
    e.extend(2u32.to_le_bytes()); // ESP_OTA_IMG_VALID
    e.extend(crc32_le(u32::MAX, &seq.to_le_bytes()).to_le_bytes());
    e
}

fn flash(parts: &[(u32, &[u8])]) -> Vec<u8> {
    let mut f = vec![0xFF; 4 * 1024 * 1024];
    for (offset, bytes) in parts {
        let start = *offset as usize;
        f[start..start + bytes.len()].copy_from_slice(bytes);
    }
    f
}

fn good_flash() -> Vec<u8> {
    flash(&[
        (0, &bootloader(BOOTLOADER_TEXTS)),
        (0x8000, &factory_table()),
        (0x10000, &s3_app("blinky")),
    ])
}

/// Lines without their timestamp: `I tag: text`.
fn untimed(text: &str) -> Vec<String> {
    text.split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| match (l.get(1..3), l.find(") ")) {
            (Some(" ("), Some(close)) => format!("{} {}", &l[..1], &l[close + 2..]),
            _ => l.to_owned(),
        })
        .collect()
}

fn run_on(flash: &[u8]) -> SecondStageBoot {
    boot(&BootContext::esp32s3(flash))
}

/// The boot of `flash` ends with `tail` (untimed lines) and starts the app at `app_at`.
fn check(name: &str, flash: &[u8], tail: &[&str], app_at: Option<u32>) {
    let result = run_on(flash);
    let lines = untimed(&result.text);
    let got: Vec<&str> = lines
        .iter()
        .skip(lines.len().saturating_sub(tail.len()))
        .map(String::as_str)
        .collect();
    assert_eq!(got, tail, "{name}:\n{}", result.text);
    let started = match result.outcome {
        Outcome::App(app) => Some(app.partition_offset),
        Outcome::Failed => None,
    };
    assert_eq!(started, app_at, "{name}:\n{}", result.text);
}

#[test]
fn a_good_layout_prints_the_esp_idf_boot_log() {
    let result = run_on(&good_flash());
    let want = [
        "I boot: ESP-IDF v5.4.1 2nd stage bootloader",
        "I boot: compile time Apr 24 2025 15:55:11",
        "I boot: Multicore bootloader",
        "I boot: chip revision: v0.2",
        "I boot: efuse block revision: v1.1",
        "I boot.esp32s3: Boot SPI Speed : 80MHz",
        "I boot.esp32s3: SPI Mode       : DIO",
        "I boot.esp32s3: SPI Flash Size : 4MB",
        "I boot: Enabling RNG early entropy source...",
        "I boot: Partition Table:",
        "I boot: ## Label            Usage          Type ST Offset   Length",
        "I boot:  0 nvs              WiFi data        01 02 00009000 00006000",
        "I boot:  1 phy_init         RF data          01 01 0000f000 00001000",
        "I boot:  2 factory          factory app      00 00 00010000 00100000",
        "I boot: End of partition table",
        "I esp_image: segment 0: paddr=00010020 vaddr=3c020020 size=00224h (   548) map",
        "I esp_image: segment 1: paddr=0001024c vaddr=40374000 size=00008h (     8) load",
        "I boot: Loaded app from partition at offset 0x10000",
        "I boot: Disabling RNG early entropy source...",
        "I cpu_start: Multicore app",
        "I cpu_start: Pro cpu start user code",
        "I app_init: Application information:",
        "I app_init: Project name:     blinky",
        "I app_init: App version:      1.2.3",
        "I app_init: Compile time:     Jan  2 2025 12:34:56",
        "I app_init: ELF file SHA256:  00070e151c232a31...",
        "I app_init: ESP-IDF:          v5.4.1",
        "I efuse_init: Min chip rev:     v0.0",
        "I efuse_init: Max chip rev:     v0.99 ",
        "I efuse_init: Chip rev:         v0.2",
        "I main_task: Started on CPU0",
        "I main_task: Calling app_main()",
    ];
    assert_eq!(untimed(&result.text), want, "{}", result.text);
    assert!(result.text.starts_with("I (27) boot: ESP-IDF v5.4.1"));
    assert!(
        !result.text.contains('\x1b'),
        "no colours in these format texts"
    );
    let Outcome::App(app) = result.outcome else {
        panic!("no app: {}", result.text)
    };
    assert_eq!(app.project, "blinky");
    assert_eq!(app.version, "1.2.3");
    assert_eq!(app.idf_version, "v5.4.1");
    assert_eq!(app.kind, AppKind::EspIdf);
    assert_eq!(app.entry, 0x4037_5378);
}

#[test]
fn timestamps_grow_with_the_console_and_the_verified_bytes() {
    let result = run_on(&good_flash());
    let stamps: Vec<u64> = result
        .text
        .split("\r\n")
        .filter_map(|l| l.get(3..)?.split(')').next()?.parse().ok())
        .collect();
    assert_eq!(stamps.first(), Some(&27));
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    // About 5 ms per 60-character line at 115200 baud.
    let last = stamps.last().copied().unwrap_or(0);
    assert!((150..400).contains(&last), "{stamps:?}");
    assert!(result.finished_at.as_millis() >= u128::from(last));
    let later = boot(&BootContext {
        started_at: Duration::from_millis(100),
        ..BootContext::esp32s3(&good_flash())
    });
    assert!(later.text.starts_with("I (100) boot:"));
}

#[test]
fn failures_are_reported_as_esp_idf_does_and_end_in_a_reboot() {
    let bl = bootloader(BOOTLOADER_TEXTS);
    let good_table = factory_table();
    let good_app = s3_app("blinky");
    let not_bootable = [
        "E boot: Factory app partition is not bootable",
        "E boot: No bootable app partitions in the partition table",
    ];

    check(
        "blank partition table",
        &flash(&[(0, &bl)]),
        &[
            "I boot: End of partition table",
            "E boot: No bootable app partitions in the partition table",
        ],
        None,
    );

    let mut bad_md5 = good_table.clone();
    bad_md5[0x20 + 12] = b'P'; // a label byte, covered by the MD5
    check(
        "wrong MD5",
        &flash(&[(0, &bl), (0x8000, &bad_md5)]),
        &[
            "E flash_parts: Incorrect MD5 checksum",
            "E boot: Failed to verify partition table",
            "E boot: load partition table error!",
        ],
        None,
    );

    let mut bad_magic = good_table.clone();
    bad_magic[0x20] = 0x12;
    bad_magic[0x21] = 0x34;
    check(
        "bad entry magic",
        &flash(&[(0, &bl), (0x8000, &bad_magic)]),
        &[
            "E flash_parts: partition 1 invalid magic number 0x3412",
            "E boot: Failed to verify partition table",
            "E boot: load partition table error!",
        ],
        None,
    );

    let too_big = table(&[("factory", 0, 0, 0x10000, 0x400000)]);
    check(
        "partition past the flash size in the bootloader header",
        &flash(&[(0, &bl), (0x8000, &too_big)]),
        &[
            "E flash_parts: partition 0 invalid - offset 0x10000 size 0x400000 exceeds flash chip size 0x400000",
            "E boot: Failed to verify partition table",
            "E boot: load partition table error!",
        ],
        None,
    );

    let mut full = Vec::new();
    for i in 0..96u32 {
        full.extend([0xAA, 0x50, 1, 0x81]);
        full.extend((0x9000 + i * 0x1000).to_le_bytes());
        full.extend(0x1000u32.to_le_bytes());
        full.extend(field("x", 20));
    }
    check(
        "no end entry",
        &flash(&[(0, &bl), (0x8000, &full)]),
        &[
            "E flash_parts: partition table has no terminating entry, not valid",
            "E boot: Failed to verify partition table",
            "E boot: load partition table error!",
        ],
        None,
    );

    let mut tail =
        vec!["E esp_image: image at 0x10000 has invalid magic byte (nothing flashed here?)"];
    tail.extend(not_bootable);
    check(
        "nothing at the app offset",
        &flash(&[(0, &bl), (0x8000, &good_table)]),
        &tail,
        None,
    );

    let c3 = app(
        "blinky",
        APP_TEXTS,
        TestHeader {
            chip_id: 5,
            ..TestHeader::default()
        },
    );
    let mut tail = vec!["E boot_comm: mismatch chip ID, expected 9, found 5"];
    tail.extend(not_bootable);
    check(
        "app for another chip",
        &flash(&[(0, &bl), (0x8000, &good_table), (0x10000, &c3)]),
        &tail,
        None,
    );

    let new_rev = app(
        "blinky",
        APP_TEXTS,
        TestHeader {
            min_rev_full: 3,
            ..TestHeader::default()
        },
    );
    let mut tail = vec!["E boot_comm: Image requires chip rev >= v0.3, but chip is v0.2"];
    tail.extend(not_bootable);
    check(
        "app for a newer chip revision",
        &flash(&[(0, &bl), (0x8000, &good_table), (0x10000, &new_rev)]),
        &tail,
        None,
    );

    let mut corrupt = good_app.clone();
    corrupt[0x40] ^= 0xFF; // descriptor data: checksum and digest both break
    let result = run_on(&flash(&[
        (0, &bl),
        (0x8000, &good_table),
        (0x10000, &corrupt),
    ]));
    let lines = untimed(&result.text);
    let failure = lines
        .get(lines.len().saturating_sub(3))
        .cloned()
        .unwrap_or_default();
    assert!(
        failure.starts_with("E esp_image: Checksum failed. Calculated 0x")
            && failure.contains(" read 0x"),
        "{}",
        result.text
    );
    assert_eq!(result.outcome, Outcome::Failed);

    let mut bad_digest = good_app.clone();
    let last = bad_digest.len() - 1;
    bad_digest[last] ^= 1;
    let mut tail = vec![
        "I esp_image: segment 1: paddr=0001024c vaddr=40374000 size=00008h (     8) load",
        "E esp_image: Image hash failed - image is corrupt",
    ];
    tail.extend(not_bootable);
    check(
        "wrong appended SHA-256",
        &flash(&[(0, &bl), (0x8000, &good_table), (0x10000, &bad_digest)]),
        &tail,
        None,
    );

    let mut odd_segment = good_app.clone();
    odd_segment[24 + 4] = 0x25; // segment 0 length no longer a multiple of 4
    let mut tail = vec!["E esp_image: invalid segment length 0x225"];
    tail.extend(not_bootable);
    check(
        "unaligned segment length",
        &flash(&[(0, &bl), (0x8000, &good_table), (0x10000, &odd_segment)]),
        &tail,
        None,
    );

    let result = run_on(&flash(&[(0, &bl), (0x8000, &good_table), (0x10000, &bl)]));
    let lines = untimed(&result.text);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("E esp_image: Segment 0 0x3fce2810-0x")
                && l.ends_with(" invalid: overlaps bootloader data")),
        "bootloader image in the app partition: {}",
        result.text
    );
    assert_eq!(result.outcome, Outcome::Failed);

    let small = table(&[("factory", 0, 0, 0x10000, 0x100)]);
    let len = good_app.len();
    let fits = format!("E esp_image: Image length {len} doesn't fit in partition length 256");
    let mut tail = vec![fits.as_str()];
    tail.extend(not_bootable);
    check(
        "app larger than its partition",
        &flash(&[(0, &bl), (0x8000, &small), (0x10000, &good_app)]),
        &tail,
        None,
    );
}

#[test]
fn otadata_chooses_the_app() {
    let bl = bootloader(BOOTLOADER_TEXTS);
    let app0 = s3_app("slot0");
    let app1 = s3_app("slot1");
    let factory = s3_app("factory");
    let with_factory = ota_table(true);
    let no_factory = ota_table(false);
    let apps = |t: &[u8], ota: &[(u32, Vec<u8>)]| {
        let mut parts: Vec<(u32, Vec<u8>)> = vec![
            (0, bl.clone()),
            (0x8000, t.to_vec()),
            (0x10000, factory.clone()),
            (0x110000, app0.clone()),
            (0x210000, app1.clone()),
        ];
        parts.extend(ota.iter().cloned());
        parts
    };
    let run = |parts: Vec<(u32, Vec<u8>)>| {
        let refs: Vec<(u32, &[u8])> = parts.iter().map(|(o, b)| (*o, b.as_slice())).collect();
        flash(&refs)
    };

    // Erased otadata: the factory app, or OTA 0 without one.
    check(
        "erased otadata, factory present",
        &run(apps(&with_factory, &[])),
        &["I main_task: Calling app_main()"],
        Some(0x10000),
    );
    let result = run_on(&run(apps(&with_factory, &[])));
    assert!(untimed(&result.text).contains(&"I boot: Defaulting to factory image".to_owned()));
    let result = run_on(&run(apps(&no_factory, &[])));
    assert!(untimed(&result.text).contains(&"I boot: No factory image, trying OTA 0".to_owned()));
    assert!(matches!(result.outcome, Outcome::App(a) if a.partition_offset == 0x110000));

    // The higher valid sequence number wins: seq 2 -> slot (2-1) % 2 = 1.
    check(
        "otadata selects ota_1",
        &run(apps(
            &with_factory,
            &[(0xD000, ota_entry(1)), (0xE000, ota_entry(2))],
        )),
        &["I main_task: Calling app_main()"],
        Some(0x210000),
    );
    check(
        "otadata selects ota_0",
        &run(apps(&with_factory, &[(0xD000, ota_entry(3))])),
        &["I main_task: Calling app_main()"],
        Some(0x110000),
    );

    // A CRC that does not match.
    let mut bad = ota_entry(2);
    bad[28] ^= 1;
    let result = run_on(&run(apps(&with_factory, &[(0xD000, bad.clone())])));
    assert!(
        untimed(&result.text)
            .contains(&"E boot: ota data partition invalid, falling back to factory".to_owned()),
        "{}",
        result.text
    );
    assert!(matches!(result.outcome, Outcome::App(a) if a.partition_offset == 0x10000));
    let result = run_on(&run(apps(&no_factory, &[(0xD000, bad)])));
    assert!(
        untimed(&result.text).contains(
            &"E boot: ota data partition invalid and no factory, will try all partitions"
                .to_owned()
        ),
        "{}",
        result.text
    );
    assert!(matches!(result.outcome, Outcome::App(a) if a.partition_offset == 0x110000));

    // The selected slot is broken: the ones below it are tried next.
    let mut parts = apps(&with_factory, &[(0xD000, ota_entry(2))]);
    parts.push((0x210000, vec![0xFF; 64]));
    let result = run_on(&run(parts));
    let lines = untimed(&result.text);
    assert!(
        lines.contains(&"E boot: OTA app partition slot 1 is not bootable".to_owned()),
        "{}",
        result.text
    );
    assert!(
        matches!(result.outcome, Outcome::App(a) if a.partition_offset == 0x110000 && a.project == "slot0")
    );
}

#[test]
fn a_quiet_bootloader_prints_only_errors_and_colours_follow_the_image() {
    // No info texts inside (a WARN-level build): the bootloader is silent on success (the
    // app's own startup lines still come), errors are still shown.
    let quiet = bootloader(&["E (%lu) %s: some error text"]);
    let result = run_on(&flash(&[
        (0, &quiet),
        (0x8000, &factory_table()),
        (0x10000, &s3_app("x")),
    ]));
    assert!(
        result
            .text
            .starts_with("I (27) cpu_start: Multicore app\r\n"),
        "{}",
        result.text
    );
    assert!(!result.text.contains(" boot:"), "{}", result.text);
    assert!(matches!(result.outcome, Outcome::App(_)));
    check(
        "quiet bootloader, no app",
        &flash(&[(0, &quiet), (0x8000, &factory_table())]),
        &[
            "E esp_image: image at 0x10000 has invalid magic byte (nothing flashed here?)",
            "E boot: Factory app partition is not bootable",
            "E boot: No bootable app partitions in the partition table",
        ],
        None,
    );

    let coloured: Vec<String> = BOOTLOADER_TEXTS
        .iter()
        .map(|t| format!("\x1b[0;32m{t}\x1b[0m"))
        .collect();
    let coloured: Vec<&str> = coloured.iter().map(String::as_str).collect();
    let result = run_on(&flash(&[
        (0, &bootloader(&coloured)),
        (0x8000, &factory_table()),
    ]));
    assert!(
        result
            .text
            .starts_with("\x1b[0;32mI (27) boot: ESP-IDF v5.4.1 2nd stage bootloader\x1b[0m\r\n"),
        "{}",
        result.text
    );
    let last_line = result.text.trim_end().rsplit("\r\n").next().unwrap_or("");
    assert!(last_line.starts_with("\x1b[0;31mE ("), "{}", result.text);
    assert!(
        last_line.ends_with(" boot: No bootable app partitions in the partition table\x1b[0m"),
        "{}",
        result.text
    );
}

#[test]
fn apps_are_told_apart_by_their_contents() {
    let bl = bootloader(BOOTLOADER_TEXTS);
    let table = factory_table();
    let kind_of = |image: &[u8]| match run_on(&flash(&[
        (0, &bl),
        (0x8000, &table),
        (0x10000, image),
    ]))
    .outcome
    {
        Outcome::App(a) => Some(a.kind),
        Outcome::Failed => None,
    };
    let header = || TestHeader {
        max_rev_full: 99,
        ..TestHeader::default()
    };
    assert_eq!(kind_of(&s3_app("idf")), Some(AppKind::EspIdf));
    assert_eq!(
        kind_of(&app("hal", &["panic text"], header())),
        Some(AppKind::Other)
    );
    let mp_texts = [
        "MicroPython v9.9.9 on 2030-01-01",
        "; Test board with ESP32S3",
        "Type \"help()\" for more information.\r\n",
        "Welcome to MicroPython on the ESP32!\n\nLine two\n",
        "I (%lu) %s: Calling app_main()",
    ];
    let Some(AppKind::MicroPython(mp)) = kind_of(&app("", &mp_texts, header())) else {
        panic!("not MicroPython")
    };
    assert_eq!(
        mp.banner,
        "MicroPython v9.9.9 on 2030-01-01; Test board with ESP32S3"
    );
    assert_eq!(
        mp.hint.as_deref(),
        Some("Type \"help()\" for more information.")
    );
    assert_eq!(
        mp.help.as_deref(),
        Some("Welcome to MicroPython on the ESP32!\n\nLine two\n")
    );
    // MicroPython's app log level is ERROR: its startup lines are not printed.
    let result = run_on(&flash(&[
        (0, &bl),
        (0x8000, &table),
        (0x10000, &app("", &mp_texts, header())),
    ]));
    assert_eq!(
        untimed(&result.text).last().map(String::as_str),
        Some("I boot: Disabling RNG early entropy source..."),
        "{}",
        result.text
    );
}

/// ESP-IDF v5.2.3 and later read the eFuse block revision range from where the app descriptor
/// must be: an esp-hal app without `esp_app_desc!()` is judged by whatever bytes stand there.
#[test]
fn an_app_without_a_descriptor_is_refused_by_bootloaders_that_read_it() {
    // The first segment holds data, not a descriptor: 0xB0.. reads as min 0x1111, max 0x0101.
    let mut drom = vec![0x5A; 0x100];
    drom[0xB0..0xB4].copy_from_slice(&[0x11, 0x11, 0x65, 0x00]);
    let header = TestHeader {
        entry: 0x4037_5378,
        max_rev_full: 99,
        ..TestHeader::default()
    };
    let no_desc = test_image::image(
        &header,
        &[(0x3c02_0020, &drom), (0x4037_4000, &[0x36, 0x41, 0, 0])],
    );
    let mut texts = BOOTLOADER_TEXTS.to_vec();
    texts.push("Image requires efuse blk rev >= v%lu.%lu, but chip is v%lu.%lu");
    let reads_it = bootloader(&texts);
    check(
        "a v5.4 bootloader",
        &flash(&[
            (0, &reads_it),
            (0x8000, &factory_table()),
            (0x10000, &no_desc),
        ]),
        &[
            "I esp_image: segment 0: paddr=00010020 vaddr=3c020020 size=00100h (   256) map",
            "E boot_comm: Image requires efuse blk rev >= v43.69, but chip is v1.1",
            "E boot: Factory app partition is not bootable",
            "E boot: No bootable app partitions in the partition table",
        ],
        None,
    );
    // Both limits are checked and reported.
    drom[0xB0..0xB4].copy_from_slice(&[0x11, 0x11, 0x64, 0x00]);
    let both = test_image::image(
        &header,
        &[(0x3c02_0020, &drom), (0x4037_4000, &[0x36, 0x41, 0, 0])],
    );
    let result = run_on(&flash(&[
        (0, &reads_it),
        (0x8000, &factory_table()),
        (0x10000, &both),
    ]));
    assert!(
        result
            .text
            .contains("boot_comm: Image requires efuse blk rev <= v1.0, but chip is v1.1"),
        "{}",
        result.text
    );
    // A bootloader without the check (ESP-IDF before v5.2.3) boots the same app.
    check(
        "a v5.1 bootloader",
        &flash(&[
            (0, &bootloader(BOOTLOADER_TEXTS)),
            (0x8000, &factory_table()),
            (0x10000, &no_desc),
        ]),
        &[
            "I boot: Loaded app from partition at offset 0x10000",
            "I boot: Disabling RNG early entropy source...",
        ],
        Some(0x10000),
    );
    // A stand-in bootloader (not ESP-IDF's) checks what the newest one does, the first
    // segment's length included.
    let stand_in = test_image::image(
        &TestHeader {
            entry: 0x403c_8000,
            ..TestHeader::default()
        },
        &[(0x403c_8000, &[0x36; 64])],
    );
    check(
        "a stand-in bootloader",
        &flash(&[
            (0, &stand_in),
            (0x8000, &factory_table()),
            (0x10000, &no_desc),
        ]),
        &[
            "E boot_comm: Image requires efuse blk rev >= v43.69, but chip is v1.1",
            "E boot: Factory app partition is not bootable",
            "E boot: No bootable app partitions in the partition table",
        ],
        None,
    );
    let short = test_image::image(
        &header,
        &[
            (0x3c02_0020, &[0; 0x40]),
            (0x4037_4000, &[0x36, 0x41, 0, 0]),
        ],
    );
    check(
        "a first segment too short for a descriptor",
        &flash(&[
            (0, &stand_in),
            (0x8000, &factory_table()),
            (0x10000, &short),
        ]),
        &[
            "E esp_image: Segment 0: length 0x40 is too short for app description",
            "E boot: Factory app partition is not bootable",
            "E boot: No bootable app partitions in the partition table",
        ],
        None,
    );
}
