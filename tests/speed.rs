//! Issue 10's speed features against the in-process virtual chip, on its virtual clock (so a
//! 30-second paced flash takes milliseconds): the paced model charges the line and the flash,
//! timeouts include line time, the baud ladder settles on an adapter's limit and drops a rung
//! when a transfer fails mid-way (finishing with what is not verified yet), the rate is
//! remembered per port, unchanged chunks of a large region are not sent again, and `stub =
//! "auto"` finds an installed esptool's stub.

use std::time::Duration;

use cargo_esp32s3::config::Settings;
use cargo_esp32s3::flasher::{Region, RegionKind};
use cargo_esp32s3::{Board, Event};

#[path = "support/cli.rs"]
mod cli;

/// `len` bytes that do not compress (xorshift).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn region(offset: u32, data: &[u8]) -> Region {
    Region {
        offset,
        data: data.to_vec(),
        kind: RegionKind::Data,
        label: "data".into(),
    }
}

fn fixed(baud: u32) -> Settings {
    Settings {
        baud,
        auto_baud: false,
        ..Settings::default()
    }
}

/// Open `url`, write `data` at `offset` and return the events.
fn write(url: &str, settings: &Settings, offset: u32, data: &[u8]) -> (Board, Vec<Event>) {
    let mut events = Vec::new();
    let mut board = Board::open_with(url, settings, |e| events.push(e)).expect("connects");
    board
        .write_regions(&[region(offset, data)], |e| events.push(e))
        .expect("writes");
    (board, events)
}

fn written(events: &[Event]) -> (Duration, u32, u32, bool) {
    events
        .iter()
        .find_map(|e| match e {
            Event::RegionWritten {
                elapsed,
                compressed_len,
                unchanged,
                unpaced,
                ..
            } => Some((*elapsed, *compressed_len, *unchanged, *unpaced)),
            _ => None,
        })
        .expect("a RegionWritten event")
}

#[test]
fn a_paced_write_takes_the_line_time_on_the_virtual_clock() {
    let data = noise(128 * 1024, 1);
    let wall = std::time::Instant::now();
    let (_, events) = write("sim://?pace=real", &fixed(460_800), 0x10000, &data);
    let (elapsed, compressed, _, unpaced) = written(&events);
    assert!(!unpaced);
    // 10 bit-times a byte at 460800 is the floor; the ROM's erase-free write onto erased flash
    // adds programming (512 pages at 0.7 ms), inflating (at 2 MB/s) and a 16 ms turnaround for
    // each of the 22 blocks of 6 KiB; 100 ms more for the rest.
    let wire = Duration::from_secs_f64(f64::from(compressed) * 10.0 / 460_800.0);
    let model = wire + Duration::from_millis(358 + 66 + 22 * 16 + 100);
    assert!(elapsed >= wire, "{elapsed:?} < wire {wire:?}");
    assert!(elapsed <= model, "{elapsed:?} > model {model:?}");
    assert!(
        wall.elapsed() < Duration::from_secs(20),
        "virtual time must not be waited for"
    );
    // Unpaced, the simulator answers at once, and the event says so.
    let (_, events) = write("sim://", &fixed(460_800), 0x10000, &data);
    assert!(written(&events).3);
}

#[test]
fn a_block_timeout_includes_its_time_on_the_line() {
    // A 6 KiB block at 19200 baud needs 3.2 s on the wire, more than the 3 s reply timeout.
    let data = noise(24 * 1024, 2);
    let (mut board, events) = write("sim://?pace=real", &fixed(19_200), 0x20000, &data);
    assert!(written(&events).0 > Duration::from_secs(10));
    assert_eq!(
        board
            .read_flash(0x20000, data.len() as u32, |_| {})
            .unwrap(),
        data
    );
}

#[test]
fn the_rom_read_keeps_several_requests_in_flight() {
    let data = noise(16 * 1024, 3);
    let url = "sim://?pace=real";
    let (mut board, _) = write(url, &fixed(460_800), 0x30000, &data);
    let before = board.flasher().loader().now();
    assert_eq!(
        board
            .read_flash(0x30000, data.len() as u32, |_| {})
            .unwrap(),
        data
    );
    let took = board.flasher().loader().now() - before;
    // One request at a time would pay a 16 ms turnaround per 64 bytes: 4 s for 16 KiB.
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

#[test]
fn the_ladder_settles_on_the_adapters_limit_and_the_flash_verifies() {
    let data = noise(256 * 1024, 4);
    let (mut board, events) = write(
        "sim://?max-baud=921600",
        &Settings::default(),
        0x10000,
        &data,
    );
    let failed: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::RungFailed { baud, .. } => Some(*baud),
            _ => None,
        })
        .collect();
    assert_eq!(failed, [2_000_000, 1_500_000]);
    assert!(events.contains(&Event::BaudSettled {
        baud: 921_600,
        from_memory: false
    }));
    assert!(events.iter().any(|e| matches!(e, Event::Verified { .. })));
    assert_eq!(board.ladder_baud(), Some(921_600));
    assert_eq!(
        board
            .read_flash(0x10000, data.len() as u32, |_| {})
            .unwrap(),
        data
    );
}

#[test]
fn a_line_that_fails_mid_transfer_drops_a_rung_and_finishes() {
    // Above 460800 the line works for 300 KiB, then corrupts: the probe at 2000000 passes, the
    // write fails at it, and the rest is written lower down.
    let data = noise(512 * 1024, 5);
    let url = "sim://?max-baud=460800&corrupt-after=300K";
    let (mut board, events) = write(url, &Settings::default(), 0x10000, &data);
    let first_failure = events.iter().find_map(|e| match e {
        Event::RungFailed { baud, reason } => Some((*baud, reason.clone())),
        _ => None,
    });
    let (baud, reason) = first_failure.expect("a rung failed");
    assert_eq!(baud, 2_000_000);
    assert!(reason.contains("writing data at 0x10000"), "{reason}");
    assert_eq!(board.ladder_baud(), Some(460_800));
    let verified = events
        .iter()
        .filter(|e| matches!(e, Event::Verified { .. }))
        .count();
    assert_eq!(verified, 1, "{events:?}");
    assert_eq!(
        board
            .read_flash(0x10000, data.len() as u32, |_| {})
            .unwrap(),
        data
    );
}

#[test]
fn the_rate_that_worked_is_remembered_per_port() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        baud_memory: Some(dir.path().join("baud-rates")),
        ..Settings::default()
    };
    let url = "sim://?max-baud=1500000";
    let mut first = Vec::new();
    Board::open_with(url, &settings, |e| first.push(e)).unwrap();
    assert!(first.contains(&Event::BaudSettled {
        baud: 1_500_000,
        from_memory: false
    }));
    let mut second = Vec::new();
    Board::open_with(url, &settings, |e| second.push(e)).unwrap();
    assert!(second.contains(&Event::BaudSettled {
        baud: 1_500_000,
        from_memory: true
    }));
    assert!(!second.iter().any(|e| matches!(e, Event::RungFailed { .. })));
}

#[test]
fn the_ladder_is_not_climbed_where_the_baud_means_nothing_or_is_fixed() {
    let mut events = Vec::new();
    let board =
        Board::open_with("sim://?usb=jtag", &Settings::default(), |e| events.push(e)).unwrap();
    assert_eq!(board.ladder_baud(), None);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::ChangedBaud { .. }))
    );
    let mut events = Vec::new();
    let board = Board::open_with("sim://", &fixed(921_600), |e| events.push(e)).unwrap();
    assert_eq!(board.ladder_baud(), None);
    assert!(events.contains(&Event::ChangedBaud { baud: 921_600 }));
}

#[test]
fn only_the_changed_chunks_of_a_large_region_are_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sim://?pace=real&flash={}",
        dir.path().join("f.bin").display()
    );
    let image = noise(1024 * 1024 + 0x1234, 6);
    let settings = fixed(921_600);
    write(&url, &settings, 0, &image);
    // The same image: one MD5, nothing sent.
    let mut events = Vec::new();
    let mut board = Board::open(&url, &settings).unwrap();
    let summary = board
        .write_regions(&[region(0, &image)], |e| events.push(e))
        .unwrap();
    assert_eq!((summary.written, summary.skipped), (0, 1));
    assert!(summary.elapsed < Duration::from_secs(2), "{summary:?}");
    // Its last 64 KiB changed: the chunks are compared and about 64 KiB is sent.
    let mut changed = image.clone();
    let end = changed.len();
    for byte in &mut changed[end - 0x1_0000..] {
        *byte ^= 0xA5;
    }
    let (mut board, events) = write(&url, &settings, 0, &changed);
    let compared = events.iter().find_map(|e| match e {
        Event::ChunksCompared { chunks, same, .. } => Some((*chunks, *same)),
        _ => None,
    });
    assert_eq!(compared, Some((17, 15)));
    let (_, compressed, unchanged, _) = written(&events);
    assert!(compressed < 0x2_1000, "{compressed}");
    assert_eq!(unchanged as usize, 15 * 0x1_0000);
    assert_eq!(
        board.read_flash(0, changed.len() as u32, |_| {}).unwrap(),
        changed
    );
}

#[test]
fn stub_auto_finds_the_stub_of_an_installed_esptool() {
    // A virtual environment with an esptool script and the package's ESP32-S3 stub (a tiny one:
    // the simulator starts its stub personality when MEM_END jumps to a known stub entry).
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    std::fs::write(venv.join("bin/esptool.py"), "#!/bin/sh\n").unwrap();
    let stub_dir = venv.join("lib/python3.11/site-packages/esptool/targets/stub_flasher/1");
    std::fs::create_dir_all(&stub_dir).unwrap();
    let stub = stub_dir.join("esp32s3.json");
    std::fs::write(
        &stub,
        r#"{"entry": 1077381760, "text": "AAAAAAAAAAAAAAAAAAAAAA==", "text_start": 1077381760, "data": "", "data_start": 1070279676, "bss_start": 1070202880}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("fw.bin"), noise(8 * 1024, 7)).unwrap();
    let path = std::env::join_paths(std::iter::once(venv.join("bin")).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let outcome = cli::Run::new(
        dir.path(),
        &["flash", "--port", "sim://", "--at", "0x10000", "fw.bin"],
    )
    .env("PATH", &path)
    .env("ESP32S3_STUB", "auto")
    .run();
    outcome.succeeds();
    outcome.stderr_has(&[
        &format!(
            "Using the flasher stub of the installed esptool: {}",
            stub.display()
        ),
        "Uploading stub",
        "Hash of data verified.",
    ]);
    // `stub = "none"` keeps the ROM loader.
    let outcome = cli::Run::new(
        dir.path(),
        &["flash", "--port", "sim://", "--at", "0x10000", "fw.bin"],
    )
    .env("PATH", &path)
    .env("ESP32S3_STUB", "none")
    .run();
    outcome.succeeds();
    assert!(
        !outcome.stderr.contains("Uploading stub"),
        "{}",
        outcome.dump()
    );
}
