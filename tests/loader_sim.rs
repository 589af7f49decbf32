//! The loader against the virtual ESP32-S3 (`sim://`), through the real `Transport` code:
//! connecting with reset sequences, chip information, flash ID, security info, baud change, stub
//! upload, resets after the operation, and the ways a connection fails.

#[path = "support/faulty.rs"]
#[allow(dead_code)]
mod faulty;

use std::time::{Duration, Instant};

use cargo_esp32s3::loader::{ConnectOptions, Event, Loader, LoaderError, ResetDone, StubImage};
use cargo_esp32s3::reset::{After, Before};
use cargo_esp32s3::sim::Personality;
use cargo_esp32s3::transport::sim::SimTransport;
use cargo_esp32s3::transport::{Transport, TransportError};
use faulty::Faulty;

fn options(before: Before) -> ConnectOptions {
    ConnectOptions {
        before,
        attempts: 2,
        baud: 115_200,
        stub: None,
        ..ConnectOptions::default()
    }
}

fn sim(url: &str) -> SimTransport {
    SimTransport::open(url).expect("a valid sim URL")
}

fn connect<T: Transport>(
    t: T,
    opts: &ConnectOptions,
) -> (Result<Loader<T>, LoaderError>, Vec<Event>) {
    let mut events = Vec::new();
    let result = Loader::connect(t, opts, &mut |e| events.push(e));
    (result, events)
}

#[test]
fn connects_with_the_default_reset_and_reads_the_chip() {
    let (loader, events) = connect(sim("sim://"), &options(Before::DefaultReset));
    let mut loader = loader.expect("connects");
    assert!(
        matches!(
            events.as_slice(),
            [
                Event::Connecting { attempt: 1, .. },
                Event::Connected {
                    stub_already_running: false,
                    ..
                }
            ]
        ),
        "{events:?}"
    );
    let info = loader.chip_info().expect("chip info");
    assert_eq!(info.description, "ESP32-S3 (QFN56) (revision v0.2)");
    assert_eq!(info.revision.full(), 2);
    assert!(
        info.features
            .contains(&"Embedded PSRAM 8MB (AP_3v3)".to_string()),
        "{:?}",
        info.features
    );
    assert_eq!(info.crystal_mhz, 40);
    assert_eq!(info.mac_string(), "7c:df:a1:00:00:01");
    let id = loader.flash_id().expect("flash id");
    assert_eq!(id.size, Some(8 << 20), "{id:?}");
    let security = loader.security_info().expect("security info");
    assert_eq!(security.chip_id, Some(9));
    assert!(!security.secure_download_mode() && !security.flash_encryption());
    assert!(!loader.is_stub());
    assert_eq!(loader.read_reg(0x4000_1000).expect("magic"), 9);
}

#[test]
fn chip_info_follows_the_efuses() {
    let (loader, _) = connect(
        sim("sim://?preset=qemu&size=16MB&mac=d8:3b:da:6f:fe:b0"),
        &options(Before::NoReset),
    );
    let mut loader = loader.expect("connects");
    let info = loader.chip_info().expect("chip info");
    assert_eq!(info.description, "ESP32-S3 (QFN56) (revision v0.3)");
    assert_eq!(info.mac_string(), "d8:3b:da:6f:fe:b0");
    assert_eq!(loader.flash_id().expect("id").size, Some(16 << 20));
}

#[test]
fn other_chips_are_refused_by_name() {
    let check = |chip: &str, name: &str| {
        let (result, _) = connect(
            sim(&format!("sim://?chip={chip}")),
            &options(Before::NoReset),
        );
        let err = result.err().expect("refused");
        assert_eq!(
            err.to_string(),
            format!("this is an {name}, not an ESP32-S3: this tool only flashes the ESP32-S3")
        );
    };
    check("esp32c3", "ESP32-C3");
    check("esp32c6", "ESP32-C6");
    check("esp32s2", "ESP32-S2");
}

#[test]
fn a_chip_booting_from_flash_gives_the_wrong_boot_mode_error() {
    let (result, _) = connect(sim("sim://?mode=spi"), &options(Before::NoReset));
    let err = result.err().expect("not in download mode");
    assert_eq!(
        err.to_string(),
        "the chip on sim://?mode=spi booted from flash (boot:0x8) and is not in download mode (--before no-reset does not reset it); hold BOOT and press RESET, or let the tool reset it with --before default-reset"
    );
}

#[test]
fn the_reset_sequence_brings_a_booted_chip_into_download_mode() {
    let (loader, _) = connect(sim("sim://?mode=spi"), &options(Before::DefaultReset));
    let loader = loader.expect("the reset enters download mode");
    assert_eq!(
        loader.into_transport().chip().personality(),
        Personality::RomLoader
    );
}

#[test]
fn a_port_that_answers_nothing_fails_quickly_with_the_download_mode_hint() {
    let mut t = Faulty::new(sim("sim://"));
    t.silent = true;
    let start = Instant::now();
    let (result, events) = connect(t, &options(Before::DefaultReset));
    let err = result.err().expect("nothing answers");
    assert!(matches!(err, LoaderError::NoSerialData { .. }), "{err}");
    assert!(err.to_string().contains("not in download mode"));
    let attempts = events
        .iter()
        .filter(|e| matches!(e, Event::Connecting { .. }))
        .count();
    assert_eq!(attempts, 2);
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn boot_text_and_garbage_before_the_first_reply_are_tolerated() {
    let mut t = Faulty::new(sim("sim://"));
    t.noise_before_first_reply =
        Some(b"\xff\x00\x13ESP-ROM:esp32s3-20210327\r\nwaiting for download\r\n".to_vec());
    let (loader, _) = connect(t, &options(Before::NoReset));
    loader.expect("noise is skipped");
}

#[test]
fn an_error_status_names_the_rom_meaning() {
    let mut t = Faulty::new(sim("sim://"));
    // Turn every READ_REG reply into a failure with code 0x05.
    t.tamper = Some(Box::new(|frame: &mut Vec<u8>| {
        if frame.get(1) == Some(&0x0A) && frame.len() >= 12 {
            frame[8] = 1;
            frame[9] = 5;
        }
        true
    }));
    let (loader, _) = connect(t, &options(Before::NoReset));
    let mut loader = loader.expect("connects");
    let err = loader.read_reg(0x6000_7044).expect_err("READ_REG fails");
    assert_eq!(
        err.to_string(),
        "READ_REG (0x0a) failed: ROM error 0105 (the format of the received message is invalid, or the command is not supported)"
    );
}

#[test]
fn a_lost_reply_is_a_timeout_that_names_the_command() {
    let mut t = Faulty::new(sim("sim://"));
    t.tamper = Some(Box::new(|frame: &mut Vec<u8>| frame.get(1) != Some(&0x0A)));
    let (loader, _) = connect(t, &options(Before::NoReset));
    let mut loader = loader.expect("connects");
    let err = loader.read_reg(0x6000_7044).expect_err("no reply");
    assert!(matches!(err, LoaderError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("READ_REG (0x0a)"), "{err}");
}

#[test]
fn a_vanished_chip_is_a_transport_error() {
    let mut t = Faulty::new(sim("sim://"));
    t.vanish_after_writes = Some(3);
    let (loader, _) = connect(t, &options(Before::NoReset));
    let mut loader = loader.expect("connects within three writes");
    let err = loader.chip_info().expect_err("gone");
    assert!(
        matches!(
            err,
            LoaderError::Transport(TransportError::Disconnected { .. })
        ),
        "{err}"
    );
}

#[test]
fn baud_change_is_followed_by_working_commands() {
    let opts = ConnectOptions {
        baud: 921_600,
        ..options(Before::NoReset)
    };
    let (loader, events) = connect(sim("sim://"), &opts);
    let mut loader = loader.expect("connects");
    assert!(events.contains(&Event::ChangedBaud { baud: 921_600 }));
    assert_eq!(loader.transport_mut().baud(), 921_600);
    assert_eq!(
        loader
            .read_reg(0x4000_1000)
            .expect("works at the new speed"),
        9
    );
}

fn synthetic_stub() -> StubImage {
    StubImage {
        text: (0..8000u32).map(|i| (i * 7) as u8).collect(),
        text_start: 0x4037_8000,
        data: vec![0x5A; 100],
        data_start: 0x3FCB_2DC4,
        entry: 0x4037_95A8,
    }
}

#[test]
fn the_stub_is_uploaded_and_then_answers_with_two_status_bytes() {
    let opts = ConnectOptions {
        stub: Some(synthetic_stub()),
        baud: 460_800,
        ..options(Before::NoReset)
    };
    let (loader, events) = connect(sim("sim://"), &opts);
    let mut loader = loader.expect("connects");
    assert!(events.contains(&Event::StubUploading));
    assert!(events.contains(&Event::StubRunning));
    assert!(events.contains(&Event::ChangedBaud { baud: 460_800 }));
    assert!(loader.is_stub());
    assert_eq!(loader.read_reg(0x4000_1000).expect("stub READ_REG"), 9);
    let chip = loader.into_transport();
    assert_eq!(chip.chip().personality(), Personality::Stub);
    let mut text = vec![0u8; 8000];
    chip.chip().read_memory(0x4037_8000, &mut text);
    assert_eq!(text, synthetic_stub().text);
}

#[test]
fn resets_after_the_operation() {
    // (after, how it was done, leaves the loader, the chip went through a reset)
    let check = |after: After, expected: ResetDone, left_loader: bool, was_reset: bool| {
        let (loader, _) = connect(sim("sim://"), &options(Before::DefaultReset));
        let mut loader = loader.expect("connects");
        let before = loader.transport_mut().chip().resets();
        assert_eq!(
            loader.reset_after(after).expect("resets"),
            expected,
            "{after:?}"
        );
        let t = loader.into_transport();
        let now = t.chip().personality();
        assert_eq!(
            now != Personality::RomLoader,
            left_loader,
            "{after:?}: {now:?}"
        );
        assert_ne!(now, Personality::InReset, "{after:?}: EN released");
        assert_eq!(t.chip().resets() > before, was_reset, "{after:?}");
    };
    check(After::NoReset, ResetDone::StayedInLoader, false, false);
    // Erased flash: after these the chip runs (or fails to boot) from flash, not the loader.
    check(After::HardReset, ResetDone::HardResetRts, true, true);
    check(After::SoftReset, ResetDone::RanUserCode, true, false);
    check(After::WatchdogReset, ResetDone::Watchdog, true, true);
}
