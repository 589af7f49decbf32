//! The monitor follows a serial device that goes away and comes back: on the virtual chip behind
//! a port that re-enumerates as the chip's own USB does (a test wrapper: the device disappears
//! when the chip restarts into its firmware, for a few port scans, and comes back under a new
//! path with the same USB serial number), through the library's `reconnect` module, also after
//! `flash --monitor`'s own reset; and the command line in a pseudo-terminal on `sim --pty`, whose
//! symlink goes away and comes back at the same path, with the exit key working while it waits.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cargo_esp32s3::config::Settings;
use cargo_esp32s3::monitor::reconnect::{PortIdentity, PortSource, Reconnect, wait_for_device};
use cargo_esp32s3::monitor::{Control, MonitorEvent, WatchEnd, WatchOptions, watch};
use cargo_esp32s3::plan::Plan;
use cargo_esp32s3::reset::{self, After};
use cargo_esp32s3::sim::Personality;
use cargo_esp32s3::transport::serial::PortInfo;
use cargo_esp32s3::transport::sim::SimTransport;
use cargo_esp32s3::transport::{AnyTransport, Transport, TransportError};
use cargo_esp32s3::{Board, monitor};

#[path = "support/cli.rs"]
mod cli;

#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;

/// The chip's USB serial number (its MAC address, as on the USB-Serial/JTAG port).
const SERIAL: &str = "7C:DF:A1:00:00:01";

/// How many port scans the device stays away after it re-enumerated.
const AWAY_SCANS: u32 = 3;

/// The virtual chip behind a USB port that re-enumerates when the chip restarts into its
/// firmware (a reset into the ROM loader keeps the port, as the USB-Serial/JTAG controller's
/// core reset does). What the chip prints while the port is away is lost, as on hardware.
struct Device {
    chip: SimTransport,
    /// Bumped at each re-enumeration; handles of older generations are dead.
    generation: u32,
    /// Port scans left until the device is listed again.
    away: u32,
    resets_seen: u32,
}

impl Device {
    fn new(url: &str) -> Arc<Mutex<Device>> {
        let chip = SimTransport::open(url).expect("sim");
        let resets_seen = chip.chip().resets();
        Arc::new(Mutex::new(Device {
            chip,
            generation: 0,
            away: 0,
            resets_seen,
        }))
    }

    fn path(&self) -> String {
        format!("/dev/ttyACM{}", self.generation)
    }

    /// After anything the host did: did the chip restart into its firmware?
    fn notice_resets(&mut self) {
        let resets = self.chip.chip().resets();
        if resets != self.resets_seen {
            self.resets_seen = resets;
            if self.chip.chip().personality() != Personality::RomLoader {
                self.generation += 1;
                self.away = AWAY_SCANS;
                let _ = self.chip.clear_input();
            }
        }
    }
}

/// A handle on the device's port as one generation of it.
struct Port {
    device: Arc<Mutex<Device>>,
    generation: u32,
    name: String,
}

impl Port {
    fn open(device: &Arc<Mutex<Device>>) -> Port {
        let d = device.lock().expect("device");
        Port {
            device: Arc::clone(device),
            generation: d.generation,
            name: d.path(),
        }
    }

    /// The device, when this handle is still its port.
    fn device(&self) -> Result<MutexGuard<'_, Device>, TransportError> {
        let d = self.device.lock().expect("device");
        if d.generation != self.generation {
            return Err(TransportError::Disconnected {
                port: self.name.clone(),
                detail: "the device re-enumerated".into(),
            });
        }
        Ok(d)
    }

    fn call<R>(
        &self,
        f: impl FnOnce(&mut SimTransport) -> Result<R, TransportError>,
    ) -> Result<R, TransportError> {
        let mut d = self.device()?;
        let result = f(&mut d.chip);
        d.notice_resets();
        result
    }
}

impl Transport for Port {
    fn read(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
        self.call(|c| c.read(buf, deadline))
    }
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.call(|c| c.write_all(bytes))
    }
    fn flush(&mut self) -> Result<(), TransportError> {
        self.call(|c| c.flush())
    }
    fn clear_input(&mut self) -> Result<(), TransportError> {
        self.call(|c| c.clear_input())
    }
    fn set_dtr(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.call(|c| c.set_dtr(asserted))
    }
    fn set_rts(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.call(|c| c.set_rts(asserted))
    }
    fn set_dtr_rts(&mut self, dtr: bool, rts: bool) -> Result<(), TransportError> {
        self.call(|c| c.set_dtr_rts(dtr, rts))
    }
    fn set_baud(&mut self, baud: u32) -> Result<(), TransportError> {
        self.call(|c| c.set_baud(baud))
    }
    fn baud(&self) -> u32 {
        self.device.lock().expect("device").chip.baud()
    }
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn time(&self) -> cargo_esp32s3::transport::LinkTime {
        self.device.lock().expect("device").chip.time()
    }
    fn usb_ids(&self) -> Option<(u16, u16)> {
        self.device.lock().expect("device").chip.usb_ids()
    }
    fn pause(&mut self, duration: Duration) {
        let _ = self.call(|c| {
            c.pause(duration);
            Ok(())
        });
    }
}

/// The machine's port list, as the device shows in it.
struct Ports {
    device: Arc<Mutex<Device>>,
    scans: u32,
}

impl PortSource for Ports {
    fn ports(&mut self) -> Vec<PortInfo> {
        self.scans += 1;
        let mut d = self.device.lock().expect("device");
        if d.away > 0 {
            d.away -= 1;
            return Vec::new();
        }
        vec![port_info(&d.path())]
    }
    fn exists(&mut self, path: &str) -> bool {
        let d = self.device.lock().expect("device");
        d.away == 0 && path == d.path()
    }
    fn open(&mut self, path: &str) -> Result<AnyTransport, TransportError> {
        let d = self.device.lock().expect("device");
        if d.away > 0 || path != d.path() {
            return Err(TransportError::NotFound { port: path.into() });
        }
        drop(d);
        Ok(Box::new(Port::open(&self.device)))
    }
}

fn port_info(name: &str) -> PortInfo {
    PortInfo {
        name: name.into(),
        vid: Some(0x303A),
        pid: Some(0x1001),
        serial_number: Some(SERIAL.into()),
        manufacturer: Some("Espressif".into()),
        product: Some("USB JTAG/serial debug unit".into()),
        is_espressif_usb_jtag: true,
        likely_esp: true,
    }
}

/// Lines until `until` matches (or the port goes away, or 10 s pass).
fn lines_until(transport: &mut dyn Transport, until: &str) -> (Vec<String>, WatchEnd) {
    let options = WatchOptions {
        until: regex::Regex::new(until).ok(),
        timeout: Some(Duration::from_secs(10)),
        ..WatchOptions::default()
    };
    let mut lines = Vec::new();
    let end = watch(transport, &options, &mut |event| {
        if let MonitorEvent::Line(line) = event {
            lines.push(line.to_string());
        }
        Control::Continue
    })
    .expect("watch");
    (lines, end)
}

/// The port went away: wait for the device (as the command line does) and return it reopened.
fn wait_for_it(device: &Arc<Mutex<Device>>, was: &str) -> (String, AnyTransport, u32) {
    let identity = PortIdentity::of(was, None, &[port_info(was)]);
    let mut ports = Ports {
        device: Arc::clone(device),
        scans: 0,
    };
    let mut polls = 0;
    let waited = wait_for_device(
        &identity,
        &mut ports,
        Some(Instant::now() + Duration::from_secs(10)),
        &mut || {
            polls += 1;
            Ok(Control::Continue)
        },
    )
    .expect("wait");
    assert!(polls > 0, "the hook (the keys) ran while waiting");
    match waited {
        Reconnect::Back { path, transport } => (path, transport, ports.scans),
        other => panic!("the device did not come back: {other:?}"),
    }
}

fn chip_url(dir: &std::path::Path, flash: bool) -> String {
    let console = dir.join("console.txt");
    std::fs::write(&console, "app up\r\n").expect("console");
    let mut url = format!("sim://?usb=jtag&console={}", console.display());
    if flash {
        let file = dir.join("flash.bin");
        std::fs::write(&file, synthetic_elf::synthetic_offset0_image()).expect("flash");
        url.push_str(&format!("&mode=spi&flash={}", file.display()));
    }
    url
}

#[test]
fn the_monitor_follows_the_device_to_a_new_path_with_the_same_serial_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = Device::new(&chip_url(dir.path(), true));
    let mut port: AnyTransport = Box::new(Port::open(&device));
    assert_eq!(port.describe(), "/dev/ttyACM0");
    let (_, end) = lines_until(&mut *port, "^app up$");
    assert!(matches!(end, WatchEnd::Matched { .. }), "{end:?}");

    // Ctrl+R: the chip restarts, its USB port goes away.
    port.set_dtr(false).expect("dtr");
    let sequence = reset::hard_reset_sequence(port.usb_ids(), None);
    reset::play(&mut *port, &sequence.steps).expect("reset");
    let (_, end) = lines_until(&mut *port, "^never$");
    assert_eq!(end, WatchEnd::Disconnected);

    let (path, mut port, scans) = wait_for_it(&device, "/dev/ttyACM0");
    assert_eq!(path, "/dev/ttyACM1");
    assert!(
        scans > AWAY_SCANS,
        "it was away for a while ({scans} scans)"
    );
    // The monitor goes on with the same chip: the console echoes what is typed.
    port.write_all(b"ping\r").expect("type");
    let (lines, end) = lines_until(&mut *port, "^ping$");
    assert!(matches!(end, WatchEnd::Matched { .. }), "{lines:?}");
}

#[test]
fn flash_monitor_survives_the_re_enumeration_its_own_reset_causes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = Device::new(&chip_url(dir.path(), false));
    let image = dir.path().join("fw.bin");
    std::fs::write(&image, synthetic_elf::synthetic_offset0_image()).expect("image");
    let settings = Settings {
        baud: 460_800,
        ..Settings::default()
    };
    let plan = Plan::from_file(&image, &settings).expect("plan");
    // flash --monitor: connect (the reset into the loader keeps the port), write, reset.
    let mut board = Board::open_on(Box::new(Port::open(&device)), &settings, |_| {}).expect("open");
    let summary = board.flash(&plan, |_| {}).expect("flash");
    assert_eq!(summary.written, 1, "the merged image: {summary:?}");
    // The port may go away before the reset call returns: that is the reset having happened.
    if let Err(e) = board.reset_into_monitor(After::HardReset) {
        assert!(monitor::reconnect::port_went_away(&e), "{e}");
    }
    assert_eq!(
        device.lock().expect("device").generation,
        1,
        "the port re-enumerated"
    );
    let mut port = board.into_transport();
    let (_, end) = lines_until(&mut *port, "^never$");
    assert_eq!(end, WatchEnd::Disconnected);

    let (path, mut port, _) = wait_for_it(&device, "/dev/ttyACM0");
    assert_eq!(path, "/dev/ttyACM1");
    assert_eq!(port.baud(), 115_200, "reopened at the monitor's speed");
    port.write_all(b"still here\r").expect("type");
    let (lines, end) = lines_until(&mut *port, "^still here$");
    assert!(matches!(end, WatchEnd::Matched { .. }), "{lines:?}");
}

#[test]
fn waiting_ends_on_the_exit_key_and_at_the_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let device = Device::new(&chip_url(dir.path(), true));
    device.lock().expect("device").away = u32::MAX;
    let identity = PortIdentity::of("/dev/ttyACM0", None, &[port_info("/dev/ttyACM0")]);
    let mut ports = Ports {
        device: Arc::clone(&device),
        scans: 0,
    };
    let mut polls = 0;
    let started = Instant::now();
    let waited = wait_for_device(&identity, &mut ports, None, &mut || {
        polls += 1;
        Ok(if polls == 5 {
            Control::Stop
        } else {
            Control::Continue
        })
    })
    .expect("wait");
    assert!(matches!(waited, Reconnect::Stopped), "{waited:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    let waited = wait_for_device(
        &identity,
        &mut ports,
        Some(Instant::now() + Duration::from_millis(300)),
        &mut || Ok(Control::Continue),
    )
    .expect("wait");
    assert!(matches!(waited, Reconnect::TimedOut), "{waited:?}");
    // Another board's port with another serial number is not taken for it.
    let mut other = port_info("/dev/ttyACM7");
    other.serial_number = Some("7C:DF:A1:00:00:99".into());
    assert_eq!(identity.find_in(&[other], false), None);
}

#[cfg(unix)]
#[path = "support/pty_harness.rs"]
mod pty_harness;

/// `monitor` in a terminal on `sim --pty --link PATH`: the simulator stops (its pty and the
/// link go away), the monitor says so once and waits; a new simulator creates the link again and
/// the monitor goes on at the same path; while it waits, Ctrl+] still exits and the terminal is
/// restored.
#[cfg(unix)]
#[test]
fn the_monitor_waits_for_the_same_path_and_exits_on_its_key_while_waiting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flash = dir.path().join("flash.bin");
    std::fs::write(&flash, synthetic_elf::synthetic_offset0_image()).expect("flash");
    let link = dir.path().join("ttyESP");
    let link_text = link.to_str().expect("utf-8").to_string();
    let sim_args = [
        "--pty",
        "--link",
        link_text.as_str(),
        "--boot",
        "spi",
        "--flash",
        flash.to_str().expect("utf-8"),
    ];
    let wait = Duration::from_secs(20);
    let first = cli::SimProcess::start(&sim_args);
    let mut pty = pty_harness::PtyChild::spawn(
        cli::binary(),
        ["monitor", "--port", link_text.as_str(), "--no-reset"],
        &[("NO_COLOR", "1")],
    );
    let before = pty.termios();
    pty.wait_for("--- monitor on", wait);
    pty.send(b"one\r");
    pty.wait_for("one", wait);
    first.finish();
    pty.wait_for(
        "disappeared; waiting for it to come back (Ctrl+] exits)",
        wait,
    );
    assert!(pty.running(), "{}", pty.shown());

    let second = cli::SimProcess::start(&sim_args);
    pty.wait_for(&format!("reconnected on {link_text}"), wait);
    pty.send(b"two\r");
    pty.wait_for("two", wait);
    second.finish();
    pty.wait_for_count("disappeared", 2, wait);
    pty.send(&[0x1d]);
    let status = pty.wait_exit(wait);
    assert!(status.success(), "{status:?}\n{}", pty.shown());
    assert_eq!(pty.termios().c_lflag, before.c_lflag, "terminal restored");
    assert!(!cli::has_error_report(&pty.shown()), "{}", pty.shown());
}
