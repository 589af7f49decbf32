//! Opt-in test against a real ESP32-S3 board, run only when `ESP32S3_TEST_PORT` names its port
//! (it writes nothing to flash):
//!
//! ```text
//! ESP32S3_TEST_PORT=/dev/ttyACM0 cargo test --test hardware_monitor -- --nocapture
//! ESP32S3_TEST_PORT=COM5 cargo test --test hardware_monitor -- --nocapture
//! ESP32S3_TEST_PORT=/dev/cu.usbmodem1101 cargo test --test hardware_monitor -- --nocapture
//! ```
//!
//! What only hardware shows: how the chip's own USB-Serial/JTAG port re-enumerates when the
//! chip restarts (the RTC watchdog reset restarts the whole chip, USB included), how long the
//! operating system takes to list it again and let it be opened (Linux, and above all Windows
//! and macOS, whose timings the simulator cannot know), whether it comes back under the same
//! name or a new one with the same serial number, and that the monitor's `reconnect` module
//! finds it either way. On a board with a USB-UART bridge the port must simply stay.

use std::time::{Duration, Instant};

use cargo_esp32s3::loader::{ConnectOptions, Loader};
use cargo_esp32s3::monitor::reconnect::{
    PortIdentity, Reconnect, SystemPorts, port_went_away, wait_for_device,
};
use cargo_esp32s3::monitor::{Control, MonitorEvent, WatchEnd, WatchOptions, watch};
use cargo_esp32s3::reset::{After, Before};
use cargo_esp32s3::transport::serial::list_ports;
use cargo_esp32s3::transport::{AnyTransport, Transport as _};

/// The port under test, or `None` (with the skip message printed).
fn test_port() -> Option<String> {
    match std::env::var("ESP32S3_TEST_PORT") {
        Ok(port) if !port.is_empty() => Some(port),
        _ => {
            println!(
                "skipped: set ESP32S3_TEST_PORT=/dev/ttyACM0 (or COMn, /dev/cu.usbmodem...) to run the hardware monitor test"
            );
            None
        }
    }
}

/// Watch for `secs` seconds; how the watch ended and how many lines came.
fn watch_for(transport: &mut AnyTransport, secs: u64) -> (WatchEnd, usize) {
    let options = WatchOptions {
        timeout: Some(Duration::from_secs(secs)),
        ..WatchOptions::default()
    };
    let mut lines = 0;
    let end = watch(transport, &options, &mut |event| {
        if let MonitorEvent::Line(line) = event {
            lines += 1;
            println!("  | {line}");
        }
        Control::Continue
    })
    .expect("watch");
    (end, lines)
}

#[test]
fn the_monitor_finds_the_board_again_after_a_chip_reset() {
    let Some(port) = test_port() else { return };
    let identity = PortIdentity::of_port(&port, list_ports).expect("a serial port");
    println!("device: {}", identity.describe());
    let on_usb_jtag = identity
        .usb
        .as_ref()
        .is_some_and(|u| (u.vid, u.pid) == (0x303A, 0x1001));

    let transport = cargo_esp32s3::transport::open(&port, 115_200).expect("open the test port");
    let options = ConnectOptions {
        before: Before::DefaultReset,
        ..ConnectOptions::default()
    };
    let mut loader = Loader::connect(transport, &options, &mut |_| {}).expect("connect");
    // The RTC watchdog restarts the whole chip, its USB controller included.
    let reset_at = Instant::now();
    if let Err(e) = loader.reset_into_monitor(After::WatchdogReset, 115_200) {
        let e = cargo_esp32s3::Error::from(e);
        assert!(port_went_away(&e), "the reset failed: {e}");
    }
    let mut transport: AnyTransport = loader.into_transport();
    let (end, lines) = watch_for(&mut transport, 5);
    println!("first watch: {end:?} after {lines} lines");
    if end != WatchEnd::Disconnected {
        assert!(!on_usb_jtag || lines > 0, "nothing printed after the reset");
        println!("the port stayed (a USB-UART bridge, or the OS kept it)");
        return;
    }
    let gone_after = reset_at.elapsed();
    let mut ports = SystemPorts { baud: 115_200 };
    let waited = wait_for_device(
        &identity,
        &mut ports,
        Some(Instant::now() + Duration::from_secs(20)),
        &mut || Ok(Control::Continue),
    )
    .expect("wait");
    let Reconnect::Back {
        path,
        transport: mut back,
    } = waited
    else {
        panic!(
            "{} did not come back within 20 s: {waited:?}",
            identity.describe()
        );
    };
    println!(
        "went away {:.0} ms after the reset, back as {path} {:.0} ms after the reset ({})",
        gone_after.as_secs_f64() * 1000.0,
        reset_at.elapsed().as_secs_f64() * 1000.0,
        if path == identity.path {
            "same name"
        } else {
            "new name, same serial number"
        }
    );
    assert_eq!(back.baud(), 115_200);
    let (end, lines) = watch_for(&mut back, 3);
    println!("after reconnecting: {end:?}, {lines} lines");
    assert_ne!(end, WatchEnd::Disconnected, "the reopened port works");
}
