//! Opt-in tests against a real ESP32-S3 board, run only when `ESP32S3_TEST_PORT` names its port:
//!
//! ```text
//! ESP32S3_TEST_PORT=/dev/ttyUSB0 cargo test --test hardware -- --nocapture
//! ESP32S3_TEST_PORT=/dev/ttyACM0 ESP32S3_TEST_ALLOW_WRITE=1 ESP32S3_TEST_SCRATCH=0x3f0000 \
//!     cargo test --test hardware -- --nocapture
//! ```
//!
//! Optional: `ESP32S3_TEST_BAUD` (default 460800), `ESP32S3_TEST_STUB` (an esptool stub JSON, to
//! run the scratch test through the stub as well).
//!
//! The simulator stands in for the chip everywhere else, and `tests/pty_serial.rs` runs the real
//! serial-port code against it. What only hardware can show, and these tests exist for:
//! - the reset circuits: that DTR/RTS really pulse EN and IO0 into download mode (classic
//!   two-transistor circuit, UnixTight timings, boards with slow capacitors on EN), and that the
//!   hard reset afterwards boots the firmware instead of landing in download mode again;
//! - the chip's USB-Serial/JTAG: its own reset sequence, the port disappearing and coming back
//!   (re-enumeration) during a reset, and the RTC watchdog that must be disabled while flashing;
//! - real flash timings: erase-at-begin on the ROM, sector erases and MD5 over megabytes, which
//!   the simulator does instantly, against the timeouts the loader computes;
//! - the ROM keeping up: pipelined 0x1800-byte blocks at 460800/921600 baud through a USB
//!   bridge with its latency and buffers, where a lost or garbled byte shows as a checksum error
//!   or a timeout and must be retried, never written wrong;
//! - the eFuses of a real part (revision, package, PSRAM, MAC) decoded into the board summary.
//!
//! Writing is refused unless `ESP32S3_TEST_ALLOW_WRITE=1` is also set, because it destroys what
//! the flash holds at the scratch offset (`ESP32S3_TEST_SCRATCH`, default: the last 64 KiB of
//! the flash, which the default partition tables leave unused).

use std::sync::Mutex;

use cargo_esp32s3::flasher::{Event, FlashOptions, Flasher, Region, RegionKind};
use cargo_esp32s3::loader::{ConnectOptions, Loader, StubImage};
use cargo_esp32s3::reset::{After, Before};
use cargo_esp32s3::transport::serial::SerialTransport;
use md5::{Digest as _, Md5};

/// One board, one port: the tests take turns.
static BOARD: Mutex<()> = Mutex::new(());

/// Bytes written to the scratch region.
const SCRATCH_LEN: u32 = 0x1_0000;

/// The port under test, or `None` (with the skip message printed).
fn test_port() -> Option<String> {
    match std::env::var("ESP32S3_TEST_PORT") {
        Ok(port) if !port.is_empty() => Some(port),
        _ => {
            println!("skipped: set ESP32S3_TEST_PORT=/dev/ttyUSB0 to run the hardware tests");
            None
        }
    }
}

/// A number in decimal or `0x` hex.
fn parse_number(text: &str) -> Option<u32> {
    let t = text.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => t.parse().ok(),
    }
}

fn env_number(name: &str) -> Option<u32> {
    let text = std::env::var(name).ok()?;
    let value = parse_number(&text);
    assert!(
        value.is_some(),
        "{name}={text:?} is not a number; use decimal or 0x hex"
    );
    value
}

fn md5_of(bytes: &[u8]) -> [u8; 16] {
    Md5::digest(bytes).into()
}

/// Connect with the default reset (the whole point of hardware), printing what happens.
fn connect(port: &str, stub: Option<StubImage>) -> Loader<SerialTransport> {
    let transport = SerialTransport::open(port, 115_200).expect("open the test port");
    let opts = ConnectOptions {
        before: Before::DefaultReset,
        baud: env_number("ESP32S3_TEST_BAUD").unwrap_or(460_800),
        stub,
        ..ConnectOptions::default()
    };
    Loader::connect(transport, &opts, &mut |e| println!("{e:?}")).expect("connect to the board")
}

fn print_progress(e: Event) {
    if !matches!(e, Event::RegionProgress { .. } | Event::ReadProgress { .. }) {
        println!("{e:?}");
    }
}

#[test]
fn board_info_and_reads() {
    let Some(port) = test_port() else {
        return;
    };
    let _board = BOARD.lock().unwrap_or_else(|e| e.into_inner());
    let mut loader = connect(&port, None);
    let info = loader.chip_info().expect("chip info");
    println!("Chip is {}", info.description);
    println!("Features: {}", info.features.join(", "));
    println!("MAC: {}", info.mac_string());
    assert!(
        info.description.starts_with("ESP32-S3"),
        "{}",
        info.description
    );
    assert_eq!(info.crystal_mhz, 40);
    assert_ne!(info.mac, [0; 6], "a factory MAC is burnt into every part");
    let id = loader.flash_id().expect("flash id");
    println!("{id:?}");
    assert!(id.size.is_some(), "an unknown flash size code: {id:?}");
    let security = loader.security_info().expect("security info");
    assert_eq!(security.chip_id, Some(9));

    let mut flasher = Flasher::new(loader, FlashOptions::default(), &mut print_progress)
        .expect("attach the flash");
    let first = flasher
        .read_flash(0, 0x1000, &mut print_progress)
        .expect("read the first 4 KiB");
    assert_eq!(first.len(), 0x1000);
    assert_eq!(flasher.md5(0, 0x1000).expect("md5"), md5_of(&first));
    // The MD5 of a larger region, twice: the flash does not change under a read.
    let len = flasher.flash_size().min(0x10_0000);
    let a = flasher.md5(0, len).expect("md5 of the first MiB");
    let b = flasher.md5(0, len).expect("md5 again");
    assert_eq!(a, b);
    flasher
        .into_loader()
        .reset_after(After::HardReset)
        .expect("hard reset");
}

/// Write, verify and read back a scratch region, then erase it, through the ROM and (when
/// `ESP32S3_TEST_STUB` is set) through the stub.
#[test]
fn scratch_write_verify_read_erase() {
    let Some(port) = test_port() else {
        return;
    };
    if std::env::var("ESP32S3_TEST_ALLOW_WRITE").as_deref() != Ok("1") {
        println!(
            "skipped: writing destroys the flash at the scratch offset; set ESP32S3_TEST_ALLOW_WRITE=1 (and ESP32S3_TEST_SCRATCH=0x...) to allow it"
        );
        return;
    }
    let _board = BOARD.lock().unwrap_or_else(|e| e.into_inner());
    let mut stubs = vec![None];
    if let Ok(path) = std::env::var("ESP32S3_TEST_STUB") {
        let json = std::fs::read_to_string(&path).expect("read ESP32S3_TEST_STUB");
        stubs.push(Some(
            StubImage::from_esptool_json(&json).expect("a stub JSON"),
        ));
    }
    for (round, stub) in stubs.into_iter().enumerate() {
        let loader = connect(&port, stub);
        println!("round {round}: stub = {}", loader.is_stub());
        let opts = FlashOptions {
            skip_unchanged: false,
            ..FlashOptions::default()
        };
        let mut flasher = Flasher::new(loader, opts, &mut print_progress).expect("attach");
        let offset = env_number("ESP32S3_TEST_SCRATCH")
            .unwrap_or(flasher.flash_size().saturating_sub(SCRATCH_LEN));
        assert_eq!(
            offset % 0x1000,
            0,
            "ESP32S3_TEST_SCRATCH must be 4 KiB aligned"
        );
        // Half compressible text, half noise, different each round.
        let mut x = 0x9E37_79B9u32 ^ round as u32;
        let data: Vec<u8> = (0..SCRATCH_LEN as usize)
            .map(|i| {
                if i < SCRATCH_LEN as usize / 2 {
                    b"cargo-esp32s3 hardware scratch "[i % 31]
                } else {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                }
            })
            .collect();
        let summary = flasher
            .write_regions(
                &[Region {
                    offset,
                    data: data.clone(),
                    label: "scratch".into(),
                    kind: RegionKind::Data,
                }],
                &mut print_progress,
            )
            .expect("write and verify the scratch region");
        assert_eq!(summary.written, 1);
        println!(
            "wrote {} bytes ({} compressed) in {:.2} s",
            summary.bytes,
            summary.compressed_bytes,
            summary.elapsed.as_secs_f64()
        );
        let back = flasher
            .read_flash(offset, 0x1000, &mut print_progress)
            .expect("read back");
        assert!(back == data[..0x1000], "the first 4 KiB read back differ");
        assert_eq!(
            flasher.md5(offset, SCRATCH_LEN).expect("md5"),
            md5_of(&data)
        );
        flasher
            .erase_region(offset, SCRATCH_LEN, &mut print_progress)
            .expect("erase the scratch region");
        assert_eq!(
            flasher.md5(offset, SCRATCH_LEN).expect("md5"),
            md5_of(&vec![0xFF; SCRATCH_LEN as usize])
        );
        flasher
            .into_loader()
            .reset_after(After::HardReset)
            .expect("hard reset");
    }
}

#[test]
fn numbers_are_read_in_decimal_and_hex() {
    let check = |text: &str, expected: Option<u32>| assert_eq!(parse_number(text), expected);
    check("0x3f0000", Some(0x3F_0000));
    check("0X10", Some(16));
    check("4096", Some(4096));
    check("4K", None);
    check("0xZZ", None);
}
