//! Opt-in tests of the resets and the monitor on a real ESP32-S3 board, run only when
//! `ESP32S3_TEST_PORT` names its port (they write nothing to flash):
//!
//! ```text
//! ESP32S3_TEST_PORT=/dev/ttyUSB0 cargo test --test hardware_reset -- --nocapture --test-threads 1
//! ```
//!
//! The simulator models the auto-reset circuit and the USB-Serial/JTAG controller from their
//! documentation; only a board shows that the real ones behave so: that the connect sequence
//! reaches download mode, that the hard reset (or, over the chip's USB with GPIO0 strapping, the
//! watchdog reset) really leaves it, and that the ROM banner that follows arrives readable at the
//! monitor speed on the same connection.

use std::time::Duration;

use cargo_esp32s3::loader::{ConnectOptions, Loader, ResetDone};
use cargo_esp32s3::monitor::{Control, MonitorEvent, WatchEnd, WatchOptions, watch};
use cargo_esp32s3::reset::{After, Before};
use cargo_esp32s3::transport::serial::SerialTransport;

/// The ROM's reset line: `rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)`.
const BANNER: &str = r"rst:0x[0-9a-f]+ \([A-Z_0-9]+\),boot:0x([0-9a-f]+)";

fn test_port() -> Option<String> {
    match std::env::var("ESP32S3_TEST_PORT") {
        Ok(port) if !port.is_empty() => Some(port),
        _ => {
            println!("skipped: set ESP32S3_TEST_PORT=/dev/ttyUSB0 to run the hardware reset tests");
            None
        }
    }
}

/// Connect with the automatic reset, reset the chip as `after` says with the host already at
/// the monitor speed, and return how it was reset and the strapping value of the banner.
fn reset_and_read_banner(port: &str, after: After) -> (ResetDone, u32) {
    let transport = SerialTransport::open(port, 115_200).expect("open the test port");
    let opts = ConnectOptions {
        before: Before::DefaultReset,
        baud: 460_800,
        ..ConnectOptions::default()
    };
    let mut loader =
        Loader::connect(transport, &opts, &mut |e| println!("{e:?}")).expect("connect");
    let done = loader
        .reset_into_monitor(after, 115_200)
        .expect("reset into the firmware");
    let mut transport = loader.into_transport();
    let options = WatchOptions {
        until: Some(regex::Regex::new(BANNER).expect("banner pattern")),
        timeout: Some(Duration::from_secs(5)),
        ..WatchOptions::default()
    };
    let end = watch(&mut transport, &options, &mut |event| {
        if let MonitorEvent::Line(line) = event {
            println!("{line}");
        }
        Control::Continue
    })
    .expect("monitor the reset");
    let WatchEnd::Matched { line } = end else {
        panic!("no ROM banner within 5 s after the reset ({done:?}): {end:?}");
    };
    let boot = regex::Regex::new(BANNER)
        .expect("banner pattern")
        .captures(&line)
        .and_then(|c| c.get(1))
        .and_then(|m| u32::from_str_radix(m.as_str(), 16).ok())
        .expect("a strapping value");
    (done, boot)
}

#[test]
fn the_hard_reset_after_flashing_boots_from_flash_and_the_banner_is_readable() {
    let Some(port) = test_port() else {
        return;
    };
    let (done, boot) = reset_and_read_banner(&port, After::HardReset);
    // GPIO0 high (bit 3) or the SPI strapping: the chip left download mode.
    assert!(
        boot & 0x08 != 0,
        "after {done:?} the chip reported boot:0x{boot:x}, still download mode"
    );
}

#[test]
fn the_watchdog_reset_boots_from_flash() {
    let Some(port) = test_port() else {
        return;
    };
    let (done, boot) = reset_and_read_banner(&port, After::WatchdogReset);
    assert_eq!(done, ResetDone::Watchdog);
    assert!(boot & 0x08 != 0, "boot:0x{boot:x} after the watchdog reset");
}
