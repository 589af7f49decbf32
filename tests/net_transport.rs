//! Remote ports end to end: `socket://` against a raw TCP bridge serving the virtual chip
//! (tests/support/net.rs), `rfc2217://` against the simulator's RFC 2217 server in-process and
//! against `cargo esp32s3 sim --rfc2217 0` as a separate process, bad port URLs, and a bridge
//! that goes away mid-flash.
//!
//! Proves: the `cargo-esp32s3` binary reads chip information, flashes and reads back over both
//! kinds of network port; over `socket://` the speed stays the bridge's (a switch would garble
//! the link) and the missing modem lines only cost a warning; over `rfc2217://` the default
//! reset reaches the chip's pins (the chip starts booting from a blank flash, so only a real
//! reset into download mode lets the loader connect, and a connect without one fails); bad URLs
//! and unreachable servers fail with one line that says what is accepted; a lost server is one
//! error line and a non-zero exit. Scripted servers pin the RFC 2217 client's edge cases: a
//! refused COM-PORT-OPTION, a speed not taken, a line change never acknowledged, and a purge
//! that drops only what arrived before its answer.
//!
//! Portable except the test against `sim --rfc2217` as a process, which is Unix-only: it stops
//! the simulator with SIGTERM (as Ctrl-C would) so the flash file is written back.

use std::time::{Duration, Instant};

use cargo_esp32s3::exit;
use cargo_esp32s3::image::format::Segment;
use cargo_esp32s3::loader::{ConnectOptions, Loader, LoaderError};
use cargo_esp32s3::reset::Before;
use cargo_esp32s3::sim::rfc2217::Rfc2217Server;
use cargo_esp32s3::sim::{Esp32s3, Personality, SimConfig, StartIn};
use cargo_esp32s3::transport::{self, TransportError};

#[path = "support/cli.rs"]
mod cli;
use cli::Bench;

#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;

#[path = "support/net.rs"]
mod net;
use net::{RawServer, Step};

const FLASH_SIZE: u32 = 4 << 20;

// ---- fixtures ---------------------------------------------------------------------------------

/// Deterministic bytes: text runs and xorshift noise (plenty of 0xFF, the telnet IAC byte).
fn payload(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|i| {
            if (i / 512) % 2 == 0 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            } else {
                0xFF
            }
        })
        .collect()
}

/// A small offset-0 image made with the library: bootloader, partition table, ~96 KiB app.
fn firmware() -> Vec<u8> {
    let image = synthetic_elf::image_of;
    let bootloader = image(
        0x403C_8918,
        &[Segment {
            addr: 0x403C_8700,
            data: payload(0x2000, 1),
        }],
    );
    let app = image(
        0x4037_5000,
        &[Segment {
            addr: 0x3C00_0020,
            // An app starts with its descriptor (ESP-IDF bootloaders read it).
            data: [
                synthetic_elf::app_descriptor("net"),
                payload(0x1_8000 - 256, 2),
            ]
            .concat(),
        }],
    );
    synthetic_elf::offset0_image(&bootloader, &app, FLASH_SIZE)
}

fn chip(start_in: StartIn) -> Esp32s3 {
    Esp32s3::new(SimConfig {
        flash_size: FLASH_SIZE,
        start_in,
        ..SimConfig::default()
    })
    .expect("a chip")
}

/// Write the firmware into the bench's directory; the bytes and the file's path.
fn firmware_file(bench: &Bench) -> (Vec<u8>, String) {
    let image = firmware();
    let path = bench.write("firmware.bin", &image);
    (image, path)
}

// ---- socket:// --------------------------------------------------------------------------------

#[test]
fn board_info_flash_and_read_back_over_socket() {
    let bench = Bench::new();
    let server = RawServer::chip(chip(StartIn::Download));
    let url = server.url();
    let no_reset = ["--before", "no-reset"];

    let info = bench.run(&["board-info", "--port", &url, no_reset[0], no_reset[1]]);
    info.succeeds();
    for line in [
        "Chip is ESP32-S3 (QFN56) (revision v0.2)",
        "MAC: 7c:df:a1:00:00:01",
    ] {
        assert!(
            info.stdout.contains(line),
            "no {line:?} in:\n{}",
            info.stdout
        );
    }

    let (image, image_path) = firmware_file(&bench);
    let flash = bench.run(&[
        "flash",
        "--port",
        &url,
        no_reset[0],
        no_reset[1],
        &image_path,
    ]);
    flash.succeeds();
    // The bridge runs at its own speed: asking the chip to switch would have garbled the link
    // (the test bridge pins the chip's host speed), so the loader must not have asked.
    assert!(
        !flash.stderr.contains("Changed baud rate"),
        "{}",
        flash.stderr
    );
    // The bridge stays up for the next client: read the image back over a new connection.
    let back = bench.read_back(&url, 0, image.len(), &no_reset);
    assert!(back == image, "read-back differs from the image");

    let chip = server.stop().expect("the chip back");
    assert!(
        chip.flash().read_vec(0, image.len()) == image,
        "the flash differs from the image"
    );
    // No RTS to pulse: the resets after flashing and reading went through the watchdog.
    assert!(
        chip.resets() >= 2,
        "the chip was reset {} times",
        chip.resets()
    );
}

#[test]
fn socket_default_reset_warns_about_the_missing_lines_and_connects() {
    let bench = Bench::new();
    let server = RawServer::chip(chip(StartIn::Download));
    let url = server.url();
    let info = bench.run(&["board-info", "--port", &url]);
    info.succeeds();
    assert!(
        info.stderr.contains("the chip was not reset")
            && info
                .stderr
                .contains(&format!("{url} has no DTR/RTS lines (raw TCP)")),
        "{}",
        info.stderr
    );
    info.stdout_has(&["Chip is ESP32-S3"]);
}

#[test]
fn a_bridge_that_goes_away_mid_flash_is_one_error_line() {
    let bench = Bench::new();
    // Cut after ~40 KB from the host: past connecting, inside the write.
    let server = RawServer::chip_cut_after(chip(StartIn::Download), 40_000);
    let url = server.url();
    let (_, image_path) = firmware_file(&bench);
    let started = Instant::now();
    let flash = bench.run(&["flash", "--port", &url, "--before", "no-reset", &image_path]);
    flash.fails(exit::FLASH, &[&url, "disappeared"]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

// ---- bad URLs ---------------------------------------------------------------------------------

#[test]
fn bad_urls_say_what_is_accepted() {
    // A port that nothing listens on: bind, note the port, close.
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    // A TCP server that accepts and never speaks telnet.
    let silent = RawServer::script(vec![Step::Pause(Duration::from_secs(30))]);
    let cases: Vec<(String, &str)> = vec![
        (
            "tcp://127.0.0.1:4000".into(),
            "tcp:// is not a known kind of port; use a serial port name (/dev/ttyUSB0, COM3), sim://",
        ),
        (
            "socket://127.0.0.1".into(),
            "no port number; expected socket://HOST:PORT",
        ),
        ("rfc2217://localhost:x".into(), "\"x\" is not a port number"),
        (
            "socket://127.0.0.1:4000?baud=9600".into(),
            "socket:// takes no options",
        ),
        (
            "rfc2217://127.0.0.1:4000?colour=red".into(),
            "unknown option \"colour\"; accepted options: timeout=",
        ),
        (
            format!("socket://127.0.0.1:{closed_port}"),
            "check that the server is running",
        ),
        (
            format!("rfc2217://127.0.0.1:{closed_port}"),
            "check that the server is running",
        ),
        (
            format!("rfc2217://{}?timeout=0.3", silent.address()),
            "no RFC 2217 negotiation from the server within 0.3 s; check that it is an RFC 2217 server (for a raw TCP bridge use socket://)",
        ),
    ];
    for (url, needle) in &cases {
        // The library's one dispatcher...
        let err = match transport::open(url, 115_200) {
            Ok(_) => panic!("{url}: opened"),
            Err(e) => e,
        };
        assert!(err.to_string().contains(needle), "{url}: {err}");
        assert!(
            matches!(
                err,
                TransportError::InvalidPort { .. }
                    | TransportError::Unreachable { .. }
                    | TransportError::Remote { .. }
            ),
            "{url}: {err:?}"
        );
    }
    // ...and the CLI, which goes through it: one line, the connect exit code.
    let bench = Bench::new();
    for (url, needle) in cases.iter().take(2) {
        let out = bench.run(&["board-info", "--port", url]);
        out.fails(exit::CONNECT, &[needle]);
    }
}

// ---- rfc2217:// client against scripted servers ------------------------------------------------

mod scripted {
    use super::*;
    use cargo_esp32s3::protocol::telnet::{
        COM_PORT_OPTION, DO, DONT, code, escape, negotiation, subnegotiation,
    };

    /// The server's answer to a COM-PORT-OPTION request `request` with `value`.
    fn answer(request: u8, value: &[u8]) -> Vec<u8> {
        subnegotiation(request + code::SERVER_OFFSET, value)
    }

    /// Agreement to RFC 2217 and the answers to the settings made on open (115200 8N1, no flow
    /// control).
    fn opening() -> Vec<u8> {
        let mut bytes = negotiation(DO, COM_PORT_OPTION).to_vec();
        bytes.extend(answer(code::SET_BAUDRATE, &115_200u32.to_be_bytes()));
        bytes.extend(answer(code::SET_DATASIZE, &[8]));
        bytes.extend(answer(code::SET_PARITY, &[1]));
        bytes.extend(answer(code::SET_STOPSIZE, &[1]));
        bytes.extend(answer(code::SET_CONTROL, &[1]));
        bytes
    }

    fn url(server: &RawServer) -> String {
        format!("rfc2217://{}?timeout=0.3", server.address())
    }

    fn open_error(steps: Vec<Step>) -> String {
        let server = RawServer::script(steps);
        match transport::open(&url(&server), 115_200) {
            Ok(_) => panic!("opened"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_server_that_refuses_com_port_option_is_named() {
        let err = open_error(vec![Step::Send(
            negotiation(DONT, COM_PORT_OPTION).to_vec(),
        )]);
        assert!(
            err.contains("the server refuses RFC 2217 (COM-PORT-OPTION)"),
            "{err}"
        );
    }

    #[test]
    fn a_speed_the_server_does_not_take_is_an_error() {
        let mut bytes = negotiation(DO, COM_PORT_OPTION).to_vec();
        bytes.extend(answer(code::SET_BAUDRATE, &9600u32.to_be_bytes()));
        let err = open_error(vec![Step::Send(bytes)]);
        assert!(
            err.contains("the server did not set the baud rate 115200"),
            "{err}"
        );
    }

    #[test]
    fn an_unacknowledged_line_change_times_out_with_the_line_named() {
        let server = RawServer::script(vec![Step::Send(opening())]);
        let mut port = transport::open(&url(&server), 115_200).expect("open");
        let started = Instant::now();
        let err = port.set_dtr(true).expect_err("no acknowledgement");
        assert!(
            err.to_string()
                .contains("did not acknowledge DTR on within 0.3 s"),
            "{err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // The loader takes this as "no lines" and syncs anyway: it is not a disconnect.
        assert!(matches!(err, TransportError::Remote { .. }), "{err:?}");
    }

    #[test]
    fn a_purge_drops_what_came_before_its_answer_and_keeps_what_came_after() {
        let mut later = b"stale \xff".to_vec();
        later = escape(&later);
        later.extend(answer(code::PURGE_DATA, &[1]));
        later.extend(escape(b"fresh \xff"));
        let server = RawServer::script(vec![Step::Send(opening()), Step::Send(later)]);
        let mut port = transport::open(&url(&server), 115_200).expect("open");
        port.clear_input().expect("purge");
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_millis(300);
        let mut buf = [0u8; 64];
        while got.len() < 7 {
            let n = port.read(&mut buf, deadline).expect("read");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"fresh \xff");
    }
}

// ---- rfc2217:// in-process --------------------------------------------------------------------

/// The simulator's RFC 2217 server in a thread.
struct Served {
    url: String,
    stop: cargo_esp32s3::sim::rfc2217::StopHandle,
    thread: Option<std::thread::JoinHandle<Esp32s3>>,
}

impl Served {
    fn start(chip: Esp32s3) -> Self {
        let server = Rfc2217Server::bind(chip, 0).expect("bind");
        let url = server.url();
        let stop = server.stop_handle();
        let thread = std::thread::spawn(move || server.serve().expect("serve"));
        Served {
            url,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Esp32s3 {
        self.stop.stop();
        self.thread
            .take()
            .expect("running")
            .join()
            .expect("server thread")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn the_default_reset_reaches_the_pins_over_rfc2217_and_no_reset_does_not() {
    let served = Served::start(chip(StartIn::SpiBoot));
    // Without a reset the chip keeps booting from its blank flash: no loader to talk to.
    let port = transport::open(&served.url, 115_200).expect("open");
    let no_reset = ConnectOptions {
        before: Before::NoReset,
        attempts: 1,
        ..ConnectOptions::default()
    };
    match Loader::connect(port, &no_reset, &mut |_| {}) {
        Err(LoaderError::NoSerialData { .. } | LoaderError::WrongBootMode { .. }) => {}
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("connected to a chip that was never put into download mode"),
    }
    // The default reset (DTR/RTS through SET_CONTROL) brings it into the ROM loader, and the
    // speed switch goes through SET_BAUDRATE to both sides.
    let port = transport::open(&served.url, 115_200).expect("open again");
    let options = ConnectOptions {
        attempts: 2,
        ..ConnectOptions::default()
    };
    let mut events = Vec::new();
    let mut loader =
        Loader::connect(port, &options, &mut |e| events.push(e)).expect("connect with a reset");
    // As esptool does over RFC 2217: the classic sequence, one acknowledged line at a time.
    assert!(
        events.iter().any(|e| matches!(
            e,
            cargo_esp32s3::loader::Event::Connecting { reset, .. } if reset.starts_with("classic")
        )),
        "{events:?}"
    );
    assert_eq!(loader.transport_mut().baud(), options.baud);
    let mac = loader.chip_info().expect("chip info").mac;
    assert_eq!(mac, cargo_esp32s3::sim::DEFAULT_MAC);
    drop(loader);
    let chip = served.finish();
    assert!(chip.resets() >= 1, "no reset reached the chip");
    assert_eq!(chip.personality(), Personality::RomLoader);
}

#[test]
fn an_rfc2217_server_that_stops_is_a_disconnect() {
    let served = Served::start(chip(StartIn::Download));
    let port = transport::open(&served.url, 115_200).expect("open");
    let options = ConnectOptions {
        before: Before::NoReset,
        attempts: 1,
        baud: 115_200,
        ..ConnectOptions::default()
    };
    let mut loader = Loader::connect(port, &options, &mut |_| {}).expect("connect");
    loader.chip_info().expect("chip info while the server runs");
    served.finish();
    match loader.chip_info() {
        Err(LoaderError::Transport(TransportError::Disconnected { port, .. })) => {
            assert!(port.starts_with("rfc2217://127.0.0.1:"), "{port}")
        }
        other => panic!("expected a disconnect, got {other:?}"),
    }
}

// ---- rfc2217:// against `cargo esp32s3 sim --rfc2217 0` -----------------------------------------

/// Unix-only: [`SimProcess::finish`] stops the simulator with SIGTERM, so that it writes its
/// flash file back.
#[cfg(unix)]
mod sim_process {
    use std::path::{Path, PathBuf};

    use super::cli::SimProcess;
    use super::*;

    /// `cargo-esp32s3 sim --rfc2217 0` in the background with its flash in `flash_file`.
    fn rfc2217_sim(flash_file: &Path) -> SimProcess {
        let flash = flash_file.display().to_string();
        let sim = SimProcess::start(&["--rfc2217", "0", "--flash-size", "4MB", "--flash", &flash]);
        assert!(
            sim.port.starts_with("rfc2217://127.0.0.1:"),
            "first line: {:?}",
            sim.port
        );
        sim
    }

    #[test]
    fn flash_over_rfc2217_with_the_default_reset() {
        let bench = Bench::new();
        let flash_file: PathBuf = bench.path("chip.flash");
        let sim = rfc2217_sim(&flash_file);
        let (image, image_path) = firmware_file(&bench);

        // Default --before and --after: the chip starts booting from a blank flash, so only the
        // reset sequence's DTR/RTS changes get it into download mode.
        let flash = bench.run(&["flash", "--port", &sim.port, &image_path]);
        flash.succeeds();
        assert!(
            !flash.stderr.contains("not reset"),
            "the lines were not set:\n{}",
            flash.stderr
        );
        flash.stderr_has(&["Hard resetting via RTS pin"]);

        // The hard reset booted the new firmware; reading needs the reset dance again.
        let back = bench.read_back(&sim.port, 0, image.len(), &[]);
        assert!(back == image, "read-back differs from the image");

        sim.finish();
        let kept = std::fs::read(&flash_file).expect("the flash file");
        assert_eq!(kept.get(..image.len()), Some(&image[..]));
    }
}
