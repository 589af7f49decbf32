//! The real serial-port code against the simulator over a pseudo-terminal: `SerialTransport`
//! (the `serialport` crate, termios, the OS tty layer) under the library's own loader and flasher,
//! with the chip served by `sim::pty::PtyServer` on the master side.
//!
//! Proves the whole library path over a real tty: connecting with and without a reset (a pty has
//! no modem lines, so the reset must warn and carry on), chip information, the flash ID, security
//! information, baud rate changes (with the OS port's speed checked), a compressed write of a
//! ~1.7 MB offset-0 image, skip-unchanged, read-back, erase of a region and of the whole flash,
//! the same through a flasher stub, and the faults a real port shows: the far end going away
//! mid-transfer, nothing answering, and boot text or garbage ahead of the first reply. The last
//! test drives the `cargo-esp32s3` binary end to end against `cargo esp32s3 sim --pty`.
//!
//! Unix only, as a whole: pseudo-terminals and `sim --pty` exist only there.

#![cfg(unix)]

use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cargo_esp32s3::flasher::{
    Event, FlashError, FlashOptions, Flasher, Region, RegionKind, WriteSummary,
};
use cargo_esp32s3::image::format::Segment;
use cargo_esp32s3::loader::{ConnectOptions, Loader, LoaderError, StubImage};
use cargo_esp32s3::reset::Before;
use cargo_esp32s3::sim::pty::{PtyServer, StopHandle};
use cargo_esp32s3::sim::{DEFAULT_MAC, Esp32s3, Personality, SimConfig, SimError};
use cargo_esp32s3::transport::TransportError;
use cargo_esp32s3::transport::serial::SerialTransport;
use md5::{Digest as _, Md5};

const FLASH_SIZE: u32 = 8 << 20;
/// Entry point of the synthetic stub, registered with the simulator as a stub entry.
const STUB_ENTRY: u32 = 0x4037_9000;
const STUB_TEXT_START: u32 = 0x4037_8000;

// ---- fixtures ---------------------------------------------------------------------------------

#[path = "support/cli.rs"]
mod cli;
use cli::{Run, SimProcess};

#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;
#[path = "support/testdata.rs"]
mod testdata;
use testdata::testdata;

/// Deterministic bytes: runs of text (compressible) and xorshift noise (not), like firmware.
fn payload(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|i| {
            if (i / 1024) % 3 == 0 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            } else {
                b"MicroPython v1.26 on ESP32-S3 with a repl and a heap "[i % 53]
            }
        })
        .collect()
}

/// An offset-0 image made with the library: a bootloader-like image at 0x0, the default
/// partition table at 0x8000 and a ~1.6 MB app at 0x10000.
fn synthetic_image() -> Vec<u8> {
    let image = synthetic_elf::image_of;
    let bootloader = image(
        0x403C_8918,
        &[
            Segment {
                addr: 0x3FCE_3808,
                data: payload(0x900, 1),
            },
            Segment {
                addr: 0x403C_8700,
                data: payload(0x3800, 2),
            },
        ],
    );
    let app = image(
        0x4037_5000,
        &[
            // Mapped segments must sit at flash offsets congruent with their addresses modulo
            // the 64 KiB MMU page: this length puts the second one's data at 0x7_0020.
            Segment {
                addr: 0x3C00_0020,
                // An app starts with its descriptor (ESP-IDF bootloaders read it).
                data: [
                    synthetic_elf::app_descriptor("pty"),
                    payload(0x5_FFF8 - 256, 3),
                ]
                .concat(),
            },
            Segment {
                addr: 0x4207_0020,
                data: payload(0x11_0000, 4),
            },
        ],
    );
    synthetic_elf::offset0_image(&bootloader, &app, FLASH_SIZE)
}

/// The MicroPython image from the testdata when present, else the synthetic one.
fn firmware() -> (Vec<u8>, &'static str) {
    let real = testdata()
        .map(|d| d.join("firmware/micropython/ESP32_GENERIC_S3-20250911-v1.26.1.bin"))
        .and_then(|p| std::fs::read(p).ok());
    match real {
        Some(bytes) => (bytes, "MicroPython ESP32_GENERIC_S3 v1.26.1"),
        None => {
            println!("note: testdata not found (set ESP32S3_TESTDATA); using a synthetic image");
            (synthetic_image(), "synthetic offset-0 image")
        }
    }
}

/// MD5 computed on the host, to compare with the chip's.
fn md5_of(bytes: &[u8]) -> [u8; 16] {
    Md5::digest(bytes).into()
}

/// An esptool-format stub JSON whose code loads at [`STUB_TEXT_START`] and enters at
/// [`STUB_ENTRY`] (inside the code, so the simulator sees RAM there loaded).
fn stub_json() -> String {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    serde_json::json!({
        "entry": STUB_ENTRY,
        "text_start": STUB_TEXT_START,
        "text": b64(&payload(0x2400, 7)),
        "data_start": 0x3FCE_B000u32,
        "data": b64(&payload(0x300, 8)),
    })
    .to_string()
}

// ---- the served chip --------------------------------------------------------------------------

/// A chip served on a pty by `PtyServer` in a background thread; stopped on drop.
struct Served {
    path: String,
    stop: StopHandle,
    thread: Option<JoinHandle<Result<Esp32s3, SimError>>>,
}

impl Served {
    fn start(config: SimConfig) -> Served {
        let chip = Esp32s3::new(config).expect("a simulated chip");
        let server = PtyServer::open(chip).expect("a pseudo-terminal");
        let path = server.slave_path().to_string_lossy().into_owned();
        let stop = server.stop_handle();
        let thread = Some(std::thread::spawn(move || server.serve()));
        Served { path, stop, thread }
    }

    /// Stop serving and return the chip.
    fn finish(mut self) -> Esp32s3 {
        self.stop.stop();
        let thread = self.thread.take().expect("still serving");
        thread
            .join()
            .expect("the server thread")
            .expect("serving ended cleanly")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The real serial-port transport on a pty slave, opened as for a board.
fn open(path: &str) -> SerialTransport {
    SerialTransport::open(path, 115_200).expect("open the pty slave")
}

/// `Loader::connect` over the serial transport with two attempts, collecting the events.
fn connect(
    path: &str,
    before: Before,
    baud: u32,
    stub: Option<StubImage>,
    events: &mut Vec<Event>,
) -> Result<Loader<SerialTransport>, LoaderError> {
    let opts = ConnectOptions {
        before,
        attempts: 2,
        baud,
        stub,
        ..ConnectOptions::default()
    };
    Loader::connect(open(path), &opts, &mut |e| events.push(e))
}

/// The line speed the OS holds for a tty, read through our own descriptor on it. Linux keeps
/// arbitrary speeds (which `serialport` sets with `BOTHER`) in `termios2`.
#[cfg(target_os = "linux")]
fn os_speed(fd: &OwnedFd) -> u32 {
    // SAFETY: TCGETS2 fills a zeroed termios2 from an open descriptor we own.
    unsafe {
        let mut t: libc::termios2 = std::mem::zeroed();
        assert_eq!(
            libc::ioctl(fd.as_raw_fd(), libc::TCGETS2, &mut t),
            0,
            "TCGETS2"
        );
        t.c_ospeed
    }
}

/// The line speed the OS holds for a tty (BSD and macOS keep the number itself).
#[cfg(not(target_os = "linux"))]
fn os_speed(fd: &OwnedFd) -> u32 {
    // SAFETY: tcgetattr fills a zeroed termios from an open descriptor we own.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(fd.as_raw_fd(), &mut t), 0, "tcgetattr");
        libc::cfgetospeed(&t) as u32
    }
}

/// Open a tty path read-write without making it our controlling terminal.
fn open_fd(path: &str) -> OwnedFd {
    let c = std::ffi::CString::new(path).expect("a path without NUL");
    // SAFETY: open on a NUL-terminated path; the result is checked before use.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK) };
    assert!(fd >= 0, "open {path}: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Write `image` at 0x0; the summary and the events on the way.
fn write_image(flasher: &mut Flasher<SerialTransport>, image: &[u8]) -> (WriteSummary, Vec<Event>) {
    let mut events = Vec::new();
    let region = Region {
        offset: 0,
        data: image.to_vec(),
        label: "firmware".into(),
        kind: RegionKind::Data,
    };
    let summary = flasher
        .write_regions(&[region], &mut |e| events.push(e))
        .expect("write the image");
    (summary, events)
}

/// Write the whole image, check what the flasher reported, then write it again (skipped), read
/// 64 KiB back byte for byte, check the whole image by MD5, erase a region and the whole flash.
fn write_read_erase(flasher: &mut Flasher<SerialTransport>, image: &[u8]) {
    let (summary, events) = write_image(flasher, image);
    assert_eq!((summary.written, summary.skipped), (1, 0), "{summary:?}");
    assert!(summary.compressed_bytes < image.len() as u64);
    let len = image.len().next_multiple_of(4) as u32;
    assert!(
        events.contains(&Event::Verified { offset: 0, len }),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::RegionWritten { compressed_len, .. } if u64::from(*compressed_len) == summary.compressed_bytes))
    );

    let (again, events) = write_image(flasher, image);
    assert_eq!((again.written, again.skipped), (0, 1), "{again:?}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::RegionStarted { .. })),
        "nothing is sent for an unchanged image: {events:?}"
    );

    if flasher.loader().is_stub() {
        // The stub's READ_FLASH streams quickly: the whole image byte for byte.
        let back = flasher
            .read_flash(0, image.len() as u32, &mut |_| {})
            .expect("read the whole image through the stub");
        assert!(back == image, "the image reads back as written");
    }
    // Byte for byte: the start (bootloader, table) and the image's last 4 KiB.
    let mut ignore = |_: Event| {};
    let head = flasher
        .read_flash(0, 0x1_0000, &mut ignore)
        .expect("read the first 64 KiB");
    assert!(head == image[..0x1_0000], "the first 64 KiB differ");
    let tail_at = image.len() - 0x1000;
    let tail = flasher
        .read_flash(tail_at as u32, 0x1000, &mut ignore)
        .expect("read the last 4 KiB");
    assert!(tail == image[tail_at..], "the last 4 KiB differ");
    assert_eq!(
        flasher.md5(0, image.len() as u32).expect("md5"),
        md5_of(image),
        "the whole image by MD5"
    );

    // Erase the partition table sector and the first 64 KiB of the app.
    let mut events = Vec::new();
    flasher
        .erase_region(0x8000, 0x1000, &mut |e| events.push(e))
        .expect("erase the table sector");
    flasher
        .erase_region(0x1_0000, 0x1_0000, &mut |e| events.push(e))
        .expect("erase 64 KiB of the app");
    assert!(events.iter().any(|e| matches!(
        e,
        Event::EraseDone {
            offset: 0x1_0000,
            len: 0x1_0000,
            ..
        }
    )));
    let erased = flasher
        .read_flash(0x8000, 0x1000, &mut ignore)
        .expect("read the erased sector");
    assert!(
        erased.iter().all(|&b| b == 0xFF),
        "the table sector is erased"
    );
    assert_eq!(
        flasher.md5(0x1_0000, 0x1_0000).expect("md5"),
        md5_of(&[0xFF; 0x1_0000])
    );
    assert_eq!(
        flasher.md5(0, 0x8000).expect("md5"),
        md5_of(&image[..0x8000]),
        "the bootloader is untouched"
    );
    let rest = image.len() as u32 - 0x2_0000;
    assert_eq!(
        flasher.md5(0x2_0000, rest).expect("md5"),
        md5_of(&image[0x2_0000..]),
        "the app after the erased region is untouched"
    );

    flasher
        .erase_all(&mut ignore)
        .expect("erase the whole flash");
    assert_eq!(
        flasher.md5(0, FLASH_SIZE).expect("md5"),
        md5_of(&vec![0xFF; FLASH_SIZE as usize]),
        "the whole flash is erased"
    );
    let first = flasher
        .read_flash(0, 0x100, &mut ignore)
        .expect("read after erase");
    assert!(first.iter().all(|&b| b == 0xFF));
}

// ---- the tests --------------------------------------------------------------------------------

#[test]
fn rom_loader_over_a_pty_without_reset() {
    let served = Served::start(SimConfig::default());
    // A second descriptor on the slave, only to read the speed the OS port is set to.
    let probe = open_fd(&served.path);
    let mut events = Vec::new();
    let mut loader =
        connect(&served.path, Before::NoReset, 115_200, None, &mut events).expect("connect");
    assert!(
        events.contains(&Event::Connected {
            port: served.path.clone(),
            stub_already_running: false
        }),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| matches!(e, Event::Warning(_))),
        "{events:?}"
    );
    assert!(!loader.is_stub());

    let info = loader.chip_info().expect("chip info");
    assert_eq!(info.description, "ESP32-S3 (QFN56) (revision v0.2)");
    assert_eq!(info.crystal_mhz, 40);
    assert_eq!(info.mac, DEFAULT_MAC);
    let id = loader.flash_id().expect("flash id");
    assert_eq!(id.size, Some(FLASH_SIZE), "{id:?}");
    let security = loader.security_info().expect("security info");
    assert_eq!(security.chip_id, Some(9));
    assert!(!security.secure_download_mode());

    // Two speed changes: each reply comes at the old speed, then both sides switch.
    for baud in [460_800, 921_600] {
        let mut events = Vec::new();
        loader
            .change_baud(baud, &mut |e| events.push(e))
            .expect("change baud");
        assert_eq!(events, vec![Event::ChangedBaud { baud }]);
        assert_eq!(os_speed(&probe), baud, "the OS port runs at the new speed");
        assert_eq!(
            loader.chip_info().expect("chip info at the new speed").mac,
            DEFAULT_MAC
        );
    }

    let (image, what) = firmware();
    println!(
        "writing {what} ({} bytes) over {}",
        image.len(),
        served.path
    );
    let mut events = Vec::new();
    let mut flasher = Flasher::new(loader, FlashOptions::default(), &mut |e| events.push(e))
        .expect("attach the flash");
    assert_eq!(
        events,
        vec![Event::FlashAttached {
            size: FLASH_SIZE,
            detected: true
        }]
    );
    write_read_erase(&mut flasher, &image);
    drop(flasher);
    drop(probe);
    let chip = served.finish();
    assert_eq!(chip.personality(), Personality::RomLoader);
    assert!(chip.flash().read_vec(0, 0x1000).iter().all(|&b| b == 0xFF));
}

#[test]
fn default_reset_on_a_pty_warns_and_still_connects() {
    let served = Served::start(SimConfig::default());
    let mut events = Vec::new();
    let mut loader = connect(
        &served.path,
        Before::DefaultReset,
        115_200,
        None,
        &mut events,
    )
    .expect("connect although the lines cannot be set");
    let warnings: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Warning(w) => Some(w),
            _ => None,
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{events:?}");
    assert!(
        warnings[0].contains("was not reset") && warnings[0].contains(&served.path),
        "{}",
        warnings[0]
    );
    assert!(
        events.iter().any(|e| matches!(e, Event::Connected { .. })),
        "{events:?}"
    );
    assert_eq!(
        loader.chip_info().expect("chip info").description,
        "ESP32-S3 (QFN56) (revision v0.2)"
    );
    drop(loader);
    let chip = served.finish();
    assert_eq!(chip.resets(), 0, "nothing reached the chip's EN pin");
}

#[test]
fn stub_over_a_pty_writes_reads_and_erases() {
    let served = Served::start(SimConfig {
        extra_stub_entries: vec![STUB_ENTRY],
        ..SimConfig::default()
    });
    let stub = StubImage::from_esptool_json(&stub_json()).expect("stub JSON");
    let mut events = Vec::new();
    let mut loader = connect(
        &served.path,
        Before::NoReset,
        921_600,
        Some(stub),
        &mut events,
    )
    .expect("connect and start the stub");
    assert!(loader.is_stub());
    let position = |wanted: &Event| events.iter().position(|e| e == wanted);
    let uploading = position(&Event::StubUploading).expect("uploading");
    let running = position(&Event::StubRunning).expect("running");
    let changed = position(&Event::ChangedBaud { baud: 921_600 }).expect("baud");
    assert!(uploading < running && running < changed, "{events:?}");
    // A second change through the stub, which is told the old rate.
    loader
        .change_baud(460_800, &mut |_| {})
        .expect("change baud again");
    assert_eq!(
        loader.chip_info().expect("chip info").mac,
        DEFAULT_MAC,
        "registers through the stub"
    );

    let (image, _) = firmware();
    let mut flasher =
        Flasher::new(loader, FlashOptions::default(), &mut |_| {}).expect("attach the flash");
    write_read_erase(&mut flasher, &image);
    drop(flasher);
    let chip = served.finish();
    assert_eq!(chip.personality(), Personality::Stub);
}

#[test]
fn the_server_going_away_mid_transfer_is_an_error() {
    let served = Served::start(SimConfig::default());
    let mut events = Vec::new();
    let loader =
        connect(&served.path, Before::NoReset, 115_200, None, &mut events).expect("connect");
    let mut flasher =
        Flasher::new(loader, FlashOptions::default(), &mut |_| {}).expect("attach the flash");
    let stop = served.stop.clone();
    let (image, _) = firmware();
    let started = Instant::now();
    let mut blocks = 0;
    let result = flasher.write_regions(
        &[Region {
            offset: 0,
            data: image,
            label: "firmware".into(),
            kind: RegionKind::Data,
        }],
        &mut |e| {
            if let Event::RegionProgress { .. } = e {
                blocks += 1;
                if blocks == 3 {
                    stop.stop();
                }
            }
        },
    );
    let err = result.expect_err("a write to a vanished chip cannot succeed");
    let text = err.to_string();
    println!("error: {text}");
    assert!(
        matches!(
            &err,
            FlashError::Loader(LoaderError::Transport(TransportError::Disconnected { .. }))
                | FlashError::Loader(LoaderError::Timeout { .. })
                | FlashError::WriteFailed { .. }
        ),
        "{err:?}"
    );
    assert!(text.contains(&served.path), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    drop(flasher);
    served.finish();
}

/// A pty pair whose master we hold and drive ourselves; the slave path is for the client.
struct Pair {
    master: OwnedFd,
    slave: String,
}

impl Pair {
    fn open() -> Pair {
        // SAFETY: plain libc calls on a descriptor we own; every result is checked.
        unsafe {
            let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
            assert!(fd >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
            let master = OwnedFd::from_raw_fd(fd);
            assert_eq!(libc::grantpt(fd), 0, "grantpt");
            assert_eq!(libc::unlockpt(fd), 0, "unlockpt");
            let mut t: libc::termios = std::mem::zeroed();
            assert_eq!(libc::tcgetattr(fd, &mut t), 0, "tcgetattr");
            libc::cfmakeraw(&mut t);
            assert_eq!(libc::tcsetattr(fd, libc::TCSANOW, &t), 0, "tcsetattr");
            let name = libc::ptsname(fd);
            assert!(!name.is_null(), "ptsname");
            let slave = std::ffi::CStr::from_ptr(name)
                .to_string_lossy()
                .into_owned();
            Pair { master, slave }
        }
    }

    fn write(&self, bytes: &[u8]) {
        // SAFETY: writing from a valid slice to our descriptor.
        let n = unsafe { libc::write(self.master.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
        assert_eq!(
            n,
            bytes.len() as isize,
            "{}",
            std::io::Error::last_os_error()
        );
    }
}

#[test]
fn nothing_answering_on_a_pty_is_no_serial_data() {
    let pair = Pair::open();
    let started = Instant::now();
    let mut events = Vec::new();
    let err = connect(&pair.slave, Before::NoReset, 115_200, None, &mut events)
        .err()
        .expect("nobody answers");
    let elapsed = started.elapsed();
    assert!(
        matches!(&err, LoaderError::NoSerialData { port } if *port == pair.slave),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with("no serial data received from") && text.contains("not in download mode"),
        "{text}"
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let attempts = events
        .iter()
        .filter(|e| matches!(e, Event::Connecting { .. }))
        .count();
    assert_eq!(attempts, 2, "{events:?}");
}

/// Relay between our own pty master and an in-process chip, writing `before_first_reply` to the
/// client when its first bytes arrive, ahead of the chip's answer. Returns when `stop` is set.
fn relay(pair: Pair, mut chip: Esp32s3, before_first_reply: Vec<u8>, stop: Arc<AtomicBool>) {
    let fd = pair.master.as_raw_fd();
    let mut pending_noise = Some(before_first_reply);
    let mut buf = vec![0u8; 0x4000];
    while !stop.load(Ordering::SeqCst) {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, 20) };
        if ready <= 0 || pfd.revents & libc::POLLIN == 0 {
            if pfd.revents & libc::POLLHUP != 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
            continue;
        }
        // SAFETY: reading into our own buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            continue;
        }
        if let Some(noise) = pending_noise.take() {
            pair.write(&noise);
        }
        chip.receive(&buf[..n as usize]);
        let out = chip.take_output();
        if !out.is_empty() {
            pair.write(&out);
        }
    }
}

#[test]
fn boot_text_and_garbage_before_the_first_reply_are_tolerated() {
    let pair = Pair::open();
    let slave = pair.slave.clone();
    // Already waiting when the port is opened: a boot banner and a torn frame.
    pair.write(
        b"ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\nrst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n\xc0\x01\x08\x04",
    );
    let mut chip = Esp32s3::new(SimConfig::default()).expect("chip");
    chip.take_output();
    // Arriving with the first reply: line noise, a stray end byte and a frame that is no reply.
    let noise = b"\x00\xff\xfe\x1b[0m garbage \xc0\xc0\xdb\xdc\xc0\xc0\x02\x08\x04\x00\x00\x00\x00\x00\xc0\r\n"
        .to_vec();
    let stop = Arc::new(AtomicBool::new(false));
    let relay_stop = Arc::clone(&stop);
    let thread = std::thread::spawn(move || relay(pair, chip, noise, relay_stop));
    let mut events = Vec::new();
    let result = connect(&slave, Before::NoReset, 460_800, None, &mut events);
    let outcome = result.and_then(|mut loader| loader.chip_info());
    stop.store(true, Ordering::SeqCst);
    thread.join().expect("relay");
    let info = outcome.expect("connect past the noise");
    assert_eq!(info.description, "ESP32-S3 (QFN56) (revision v0.2)");
    assert!(
        events.contains(&Event::ChangedBaud { baud: 460_800 }),
        "{events:?}"
    );
}

// ---- the binary against `cargo esp32s3 sim --pty` ---------------------------------------------

#[test]
fn cli_board_info_flash_and_read_back_over_sim_pty() {
    let dir = tempfile::tempdir().expect("temp dir");
    let flash_file = dir.path().join("flash.bin");
    let flash = flash_file.display().to_string();
    let sim = SimProcess::start(&["--pty", "--flash-size", "8MB", "--flash", &flash]);
    let port = sim.port.as_str();
    assert!(port.starts_with("/dev/"), "first line: {port:?}");
    let cli = |args: &[&str]| Run::new(dir.path(), args).run();

    let info = cli(&["board-info", "--port", port, "--before", "no-reset"]);
    let stdout = &info.succeeds().stdout;
    for line in [
        "Chip is ESP32-S3 (QFN56) (revision v0.2)",
        "Crystal is 40MHz",
        "MAC:",
    ] {
        assert!(
            stdout.lines().any(|l| l.trim().starts_with(line)),
            "no line {line:?} in:\n{stdout}"
        );
    }

    let (image, _) = firmware();
    let image_file = dir.path().join("firmware.bin");
    std::fs::write(&image_file, &image).expect("write the image file");
    let image_arg = image_file.to_string_lossy().into_owned();
    // `keep`: the image lands exactly as it is, its bootloader header not sized for this chip.
    cli(&[
        "flash",
        "--port",
        port,
        "--before",
        "no-reset",
        "--flash-size",
        "keep",
        &image_arg,
    ])
    .succeeds();
    // The hard reset after flashing went through the watchdog (a pty has no RTS): the chip is
    // back in download mode at the auto-detected speed for the next command.

    let back_file = dir.path().join("back.bin");
    let back_arg = back_file.to_string_lossy().into_owned();
    let size = format!("0x{:x}", 0x1_0000);
    cli(&[
        "read-flash",
        "--port",
        port,
        "--before",
        "no-reset",
        "--after",
        "no-reset",
        "0x0",
        &size,
        &back_arg,
    ])
    .succeeds();
    let back = std::fs::read(&back_file).expect("the read-back file");
    assert!(
        back == image[..0x1_0000],
        "the first 64 KiB read back differ"
    );
    drop(sim);
    let kept = std::fs::read(&flash_file).expect("the flash file");
    assert!(
        kept.get(..image.len()) == Some(&image[..]),
        "the simulator kept the image in its flash file"
    );
}
