//! Every bad input and every fault of the command line, through the real binary: each must end
//! with exactly one `error:` line that names the value at fault and says what to do, the
//! documented non-zero exit code (`cli::exit`), no success message (`Hash of data verified`,
//! `Flashed`, `Wrote`, ...), no panic, and within a time bound (the process is killed and the test
//! fails after [`LIMIT`]).
//!
//! Faults come from the simulator (`sim://` in-process, or `cargo esp32s3 sim --pty` in a child
//! process), from pseudo-terminals opened here that answer nothing, print ROM boot text, relay to
//! the simulator with noise or go silent mid-transfer, and from ports held or locked by this test.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;
#[path = "support/testdata.rs"]
mod testdata;

use cargo_esp32s3::exit;
use cargo_esp32s3::image::FlashSize;
use cargo_esp32s3::image::partition::PartitionTable;
use cli::Bench;
use synthetic_elf::{app_image, synthetic_elf};

/// MicroPython's offset-0 image when the test data is there, else a synthetic one.
fn merged_firmware() -> Vec<u8> {
    testdata::micropython().unwrap_or_else(synthetic_elf::synthetic_offset0_image)
}

/// An ELF for x86-64 (a host program, not firmware).
fn x86_64_elf() -> Vec<u8> {
    use object::write::{Object, StandardSection, Symbol, SymbolSection};
    use object::{Architecture, BinaryFormat, Endianness, SymbolFlags, SymbolKind, SymbolScope};
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
    let text = obj.section_id(StandardSection::Text);
    let offset = obj.append_section_data(text, &[0x31, 0xC0, 0xC3], 16);
    obj.add_symbol(Symbol {
        name: b"main".to_vec(),
        value: offset,
        size: 3,
        kind: SymbolKind::Text,
        scope: SymbolScope::Linkage,
        weak: false,
        section: SymbolSection::Section(text),
        flags: SymbolFlags::None,
    });
    obj.write().expect("x86-64 ELF")
}

/// A pseudo-random byte stream (xorshift), the same on every run.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn bad_files_are_refused_before_connecting() {
    let bench = Bench::new();
    let firmware = merged_firmware();
    bench.write("empty.bin", b"");
    bench.write("random.bin", &noise(5000, 7));
    bench.write(
        "truncated.bin",
        firmware.get(..firmware.len() / 2).unwrap_or(&firmware),
    );
    bench.write("host.elf", &x86_64_elf());
    bench.write("notes.txt", b"hello, not an image");
    let port = bench.sim("4MB");
    let cases: &[(&str, u8, &[&str])] = &[
        ("empty.bin", exit::IMAGE, &["empty.bin", "empty"]),
        (
            "random.bin",
            exit::IMAGE,
            &["random.bin", "not an ESP32-S3 image"],
        ),
        (
            "truncated.bin",
            exit::IMAGE,
            &["truncated.bin", "truncated"],
        ),
        ("host.elf", exit::IMAGE, &["host.elf", "x86-64", "xtensa"]),
        ("notes.txt", exit::IMAGE, &["notes.txt"]),
        ("missing.bin", exit::FAILURE, &["missing.bin"]),
    ];
    for (file, code, needles) in cases {
        let outcome = bench.run(&["flash", file, "--port", &port]);
        outcome.fails(*code, needles);
        // The file is judged before the chip is touched.
        assert!(!outcome.stderr.contains("Connecting"), "{}", outcome.dump());
        // image-info judges the same files the same way.
        bench.run(&["image-info", file]).fails(*code, &[file]);
    }
    bench.assert_flash_untouched();
}

#[test]
fn an_empty_file_is_called_empty_by_every_command() {
    let bench = Bench::new();
    bench.write("empty.bin", b"");
    bench.write("empty.elf", b"");
    let port = bench.sim("4MB");
    for file in ["empty.bin", "empty.elf"] {
        for args in [
            vec!["flash", file, "--port", &port],
            vec!["image-info", file],
            vec!["save-image", file, "out.bin"],
        ] {
            let outcome = bench.run(&args);
            outcome.fails(exit::IMAGE, &[file, "is empty (0 bytes)", "check the path"]);
            // Not "it starts with []" or "starts with 0xFF bytes": there are no bytes to show.
            assert!(
                !outcome.stderr.contains("starts with"),
                "{}",
                outcome.dump()
            );
        }
    }
    bench.assert_flash_untouched();
}

#[test]
fn a_missing_file_says_to_check_the_path() {
    let bench = Bench::new();
    bench
        .run(&["flash", "missing.bin", "--port", "sim://"])
        .fails(exit::FAILURE, &["missing.bin", "check the path"]);
    bench
        .run(&["save-image", "missing.elf", "out.bin"])
        .fails(exit::FAILURE, &["missing.elf", "check the path"]);
}

#[test]
fn images_the_chip_must_not_get_are_refused_before_writing() {
    let bench = Bench::new();
    let port = bench.sim("4MB");

    // An image for the ESP32-C3 (chip id 5): judged from the file, before connecting.
    bench.write("c3.bin", &app_image(5, 0));
    let outcome = bench.run(&["flash", "c3.bin", "--port", &port]);
    outcome.fails(exit::IMAGE, &["c3.bin", "ESP32-C3", "ESP32-S3"]);
    assert!(!outcome.stderr.contains("Connecting"), "{}", outcome.dump());
    bench.assert_flash_untouched();

    // An app that needs revision v3.0, onto a chip that holds a bootloader and a table:
    // refused unless --force, and nothing changes.
    bench.write("fw.bin", &merged_firmware());
    bench.run(&["flash", "fw.bin", "--port", &port]).succeeds();
    let before = bench.flash_file();
    bench.write("rev3.bin", &app_image(9, 300));
    bench
        .run(&["flash", "rev3.bin", "--port", &port])
        .fails(exit::FLASH, &["rev3.bin", "v3.0", "--force"]);
    assert!(before == bench.flash_file(), "the flash changed");
    let forced = bench.run(&["flash", "rev3.bin", "--force", "--port", &port]);
    forced.succeeds();
    assert!(
        forced.stderr.contains("Hash of data verified"),
        "{}",
        forced.dump()
    );

    // A 3 MiB merged image on a 2 MiB chip.
    let small = Bench::new();
    let mut big = merged_firmware();
    big.resize(3 * 1024 * 1024 - 16, 0xFF);
    big.extend_from_slice(b"0123456789abcdef");
    small.write("big.bin", &big);
    small
        .run(&["flash", "big.bin", "--port", &small.sim("2MB")])
        .fails(exit::FLASH, &["0x300000", "2097152", "--flash-size"]);
    assert_eq!(
        small.flash_file().map(|f| f.len()),
        Some(2 * 1024 * 1024),
        "the simulator ran"
    );
    small.assert_flash_untouched();
}

#[test]
fn another_chip_on_the_line_is_named() {
    let bench = Bench::new();
    for (chip, name) in [("esp32c3", "ESP32-C3"), ("esp32s2", "ESP32-S2")] {
        let url = format!("sim://?chip={chip}");
        let outcome = bench.run(&["board-info", "--port", &url]);
        outcome.fails(exit::CONNECT, &[name, "ESP32-S3"]);
        // "Connected on …" would claim a connection to an ESP32-S3 before refusing the chip.
        assert!(!outcome.stderr.contains("Connected"), "{}", outcome.dump());
    }
    // Nothing is written to it.
    bench.write("fw.bin", &merged_firmware());
    let url = format!("{}&chip=esp32c3", bench.sim("4MB"));
    bench
        .run(&["flash", "fw.bin", "--port", &url])
        .fails(exit::CONNECT, &["ESP32-C3"]);
    bench.assert_flash_untouched();
}

#[test]
fn a_failure_status_from_the_rom_is_explained() {
    // The user claims 16 MB on a 2 MB chip and forces it past the size check (a flash ID can
    // lie), so the tool's own range checks pass. The address lines wrap: the second part of
    // 3 MiB lands on the first, whose bits cannot be programmed back to 1, and the ROM answers
    // the data block with a failure status (01 08). The retry's message carries the ROM's
    // meaning of its code; the retries rewrite the wrapped-over sectors, so what stands in the
    // end is the verification that the flash does not hold the data.
    let bench = Bench::new();
    bench.write("data.bin", &noise(3 * 1024 * 1024, 3));
    let outcome = bench.run(&[
        "flash",
        "--force",
        "--flash-size",
        "16MB",
        "--at",
        "0x0",
        "data.bin",
        "--port",
        &bench.sim("2MB"),
    ]);
    outcome.fails(exit::FLASH, &["data.bin", "0x0", "verification failed"]);
    assert!(
        outcome
            .stderr
            .lines()
            .any(|l| l.starts_with("warning: retrying")
                && l.contains("ROM error 0108 (flash write error)")),
        "{}",
        outcome.dump()
    );
}

#[test]
fn existing_files_are_not_overwritten() {
    let bench = Bench::new();
    bench.write("keep.bin", b"keep me");
    bench
        .run(&[
            "read-flash",
            "0",
            "16",
            "keep.bin",
            "--port",
            &bench.sim("4MB"),
        ])
        .fails(exit::FAILURE, &["keep.bin", "--force"]);
    assert_eq!(
        std::fs::read(bench.path("keep.bin")).ok().as_deref(),
        Some(&b"keep me"[..])
    );

    // partition-table --to-binary onto an existing file.
    bench.write("notes.txt", b"my notes");
    let table = PartitionTable::default_for_flash(FlashSize::S4Mb.bytes());
    bench.write("partitions.csv", table.to_csv().as_bytes());
    bench
        .run(&[
            "partition-table",
            "partitions.csv",
            "--to-binary",
            "-o",
            "notes.txt",
        ])
        .fails(exit::FAILURE, &["notes.txt", "--force"]);
    assert_eq!(
        std::fs::read(bench.path("notes.txt")).ok().as_deref(),
        Some(&b"my notes"[..])
    );
    bench
        .run(&[
            "partition-table",
            "partitions.csv",
            "--to-binary",
            "-o",
            "notes.txt",
            "--force",
        ])
        .succeeds();
    assert_eq!(
        std::fs::read(bench.path("notes.txt"))
            .ok()
            .and_then(|b| b.get(..2).map(<[u8]>::to_vec)),
        Some(vec![0xAA, 0x50])
    );
}

#[test]
fn save_image_keeps_a_file_that_is_not_an_image() {
    let bench = Bench::new();
    bench.write("fw.elf", &synthetic_elf());
    bench.write("notes.txt", b"my notes");
    bench
        .run(&["save-image", "fw.elf", "notes.txt"])
        .fails(exit::FAILURE, &["notes.txt", "--force"]);
    assert_eq!(
        std::fs::read(bench.path("notes.txt")).ok().as_deref(),
        Some(&b"my notes"[..])
    );
}

#[test]
fn read_flash_into_a_missing_or_a_folder_fails_before_connecting() {
    let bench = Bench::new();
    let outcome = bench.run(&[
        "read-flash",
        "0",
        "4K",
        "no/such/dir/out.bin",
        "--port",
        &bench.sim("4MB"),
    ]);
    outcome.fails(exit::FAILURE, &["no/such/dir", "create it"]);
    assert!(!outcome.stderr.contains("Connecting"), "{}", outcome.dump());
    // A folder as FILE, even with --force.
    std::fs::create_dir_all(bench.path("dumps")).expect("a folder");
    let outcome = bench.run(&[
        "read-flash",
        "0",
        "4K",
        "dumps",
        "--force",
        "--port",
        &bench.sim("4MB"),
    ]);
    outcome.fails(exit::FAILURE, &["dumps", "folder"]);
    assert!(!outcome.stderr.contains("Connecting"), "{}", outcome.dump());
}

#[test]
fn flash_erases_only_what_it_writes_and_erase_only_when_asked() {
    let bench = Bench::new();
    // A 4 MB chip for the 4 MB firmware, which it then holds exactly as it is.
    let port = bench.sim("4MB");
    // A known pattern at 0x300000, far past the firmware.
    let mut flash = vec![0xFFu8; 4 * 1024 * 1024];
    let pattern = noise(0x2000, 11);
    flash
        .get_mut(0x30_0000..0x30_2000)
        .expect("inside the flash")
        .copy_from_slice(&pattern);
    bench.write("flash.bin", &flash);

    let firmware = merged_firmware();
    bench.write("fw.bin", &firmware);
    bench.run(&["flash", "fw.bin", "--port", &port]).succeeds();
    let after = bench.flash_file().expect("flash file");
    assert_eq!(after.get(..firmware.len()), Some(&firmware[..]));
    assert_eq!(after.get(0x30_0000..0x30_2000), Some(&pattern[..]));
    // Between the end of the image's last sector and the pattern: still erased.
    let end = firmware.len().div_ceil(0x1000) * 0x1000;
    assert!(
        after
            .get(end..0x30_0000)
            .is_some_and(|s| s.iter().all(|&b| b == 0xFF)),
        "flash wrote past its image"
    );

    // A plain `erase` is the explicit request for the whole chip.
    let erase = bench.run(&["erase", "--port", &port]);
    erase.succeeds();
    assert!(
        erase.stderr.contains("Erasing the whole flash"),
        "{}",
        erase.dump()
    );
    assert!(
        bench
            .flash_file()
            .is_some_and(|f| f.iter().all(|&b| b == 0xFF))
    );
}

#[test]
fn bad_configuration_is_named_with_where_it_came_from() {
    let bench = Bench::new();
    std::fs::create_dir_all(bench.path("src")).expect("src dir");
    bench.write("src/main.rs", b"fn main() {}\n");
    bench.write("fw.bin", &merged_firmware());
    let manifest = |metadata: &str| {
        format!(
            "[package]\nname = \"faulty-config\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[package.metadata.esp32s3]\n{metadata}\n"
        )
    };
    let port = bench.sim("4MB");
    let cases: &[(&str, &[&str])] = &[
        (
            "bauds = 921600",
            &["bauds", "Cargo.toml", "did you mean \"baud\""],
        ),
        ("chip = \"esp32c3\"", &["esp32c3", "Cargo.toml", "ESP32-S3"]),
        ("baud = \"fast\"", &["fast", "Cargo.toml", "baud"]),
    ];
    for (metadata, needles) in cases {
        bench.write("Cargo.toml", manifest(metadata).as_bytes());
        bench
            .run(&["flash", "fw.bin", "--port", &port])
            .fails(exit::CONFIG, needles);
        bench.assert_flash_untouched();
    }

    bench.write("Cargo.toml", manifest("").as_bytes());
    for baud in ["fast", "0", "-5", "99999999999", "115200baud"] {
        bench
            .cmd(&["flash", "fw.bin", "--port", &port])
            .env("ESP32S3_BAUD", baud)
            .run()
            .fails(exit::CONFIG, &["ESP32S3_BAUD", baud]);
    }
    bench
        .cmd(&["board-info", "--port", &port])
        .env("ESP32S3_CONNECT_ATTEMPTS", "many")
        .run()
        .fails(exit::CONFIG, &["ESP32S3_CONNECT_ATTEMPTS", "many"]);
    bench
        .run(&["flash", "fw.bin", "--baud", "fast", "--port", &port])
        .fails(exit::CONFIG, &["fast", "--baud"]);
    bench.assert_flash_untouched();
}

#[test]
fn without_a_port_the_ports_found_are_named() {
    let bench = Bench::new();
    let listed = bench.run(&["list-ports"]);
    listed.succeeds();
    // One likely board (marked `*`) is used without asking; that is not the case under test.
    let likely = listed
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with('*'))
        .count();
    if likely == 1 {
        eprintln!("skipped: one likely ESP32-S3 port is attached, it would be used");
        return;
    }
    for args in [
        &["board-info"][..],
        &["board-info", "--non-interactive"][..],
        &["erase", "--non-interactive"][..],
    ] {
        let outcome = bench.run(args);
        let line = outcome.fails(exit::CONNECT, &["--port", "ESP32S3_PORT"]);
        // Each port found is named.
        let names = bench.run(&["list-ports", "--name-only"]);
        for port in names.succeeds().stdout.lines().map(str::trim) {
            assert!(line.contains(port), "{port} not in {line}");
        }
    }
}

#[test]
fn a_port_that_does_not_exist_is_named() {
    let bench = Bench::new();
    bench
        .run(&["board-info", "--port", "/dev/ttyDOES_NOT_EXIST9"])
        .fails(exit::CONNECT, &["/dev/ttyDOES_NOT_EXIST9", "list-ports"]);
    bench
        .cmd(&["board-info"])
        .env("ESP32S3_PORT", "/dev/ttyDOES_NOT_EXIST8")
        .run()
        .fails(exit::CONNECT, &["/dev/ttyDOES_NOT_EXIST8", "list-ports"]);
    bench
        .run(&["board-info", "--port", "sim://?colour=red"])
        .fails(exit::CONNECT, &["colour"]);
}

#[test]
fn bad_option_values_are_named() {
    let bench = Bench::new();
    bench.write("random.bin", &noise(300, 17));
    bench.write("small.bin", b"abcd");
    bench.write("stub.json", b"{\"entry\": 1}");
    let port = bench.sim("4MB");
    let cases: &[(&[&str], u8, &[&str])] = &[
        (
            &["board-info", "--before", "bogus"],
            exit::CONFIG,
            &["bogus", "--before", "default-reset"],
        ),
        (
            &["board-info", "--after", "bogus"],
            exit::CONFIG,
            &["bogus", "--after", "hard-reset"],
        ),
        (
            &["board-info", "--stub", "random.bin"],
            exit::CONNECT,
            &["random.bin", "stub", "esptool"],
        ),
        (
            &["board-info", "--stub", "stub.json"],
            exit::CONNECT,
            &["stub.json", "text"],
        ),
        (
            &["board-info", "--stub", "missing.json"],
            exit::FAILURE,
            &["missing.json", "check the path"],
        ),
        (
            &["erase", "--region", "0", "0"],
            exit::USAGE,
            &["0x0", "4 KiB"],
        ),
        (
            &["erase", "--region", "0x1000", "ten"],
            exit::USAGE,
            &["ten"],
        ),
        (
            &["read-flash", "0", "0", "out.bin"],
            exit::USAGE,
            &["SIZE", "0"],
        ),
        (
            &["read-flash", "0xFFFFF000", "0x2000", "out.bin"],
            exit::FLASH,
            &["0xfffff000", "0x2000", "check the offset"],
        ),
        (
            &["read-flash", "0", "0xFFFFFFFF", "out.bin"],
            exit::FLASH,
            &["0xffffffff", "check the offset"],
        ),
        (
            &["flash", "--at", "0xFFFFFFF0", "small.bin"],
            exit::FLASH,
            &["small.bin", "0xfffffff0"],
        ),
        (
            &["flash", "--at", "lots", "small.bin"],
            exit::USAGE,
            &["lots", "small.bin"],
        ),
        (
            &[
                "flash",
                "--at",
                "0x1000",
                "small.bin",
                "--at",
                "0x1000",
                "random.bin",
            ],
            exit::FLASH,
            &["overlaps", "random.bin"],
        ),
    ];
    for (args, code, needles) in cases {
        let mut all = args.to_vec();
        all.extend(["--port", &port]);
        bench.run(&all).fails(*code, needles);
    }
    assert!(!bench.path("out.bin").exists());
    bench.assert_flash_untouched();
}

/// Faults on real (pseudo-)terminals: ports that answer nothing, print boot text, are busy or
/// forbidden, relay to the simulator with noise, go silent or vanish mid-transfer.
#[cfg(unix)]
mod tty {
    use std::fs::File;
    use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
    use std::os::unix::fs::OpenOptionsExt as _;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use super::cli::{LIMIT, Outcome, SimProcess};
    use super::*;

    /// The boot text of a chip strapped to boot from flash (real ROM output, §18).
    const FLASH_BOOT_BANNER: &[u8] = b"ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\nrst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\ninvalid header: 0xffffffff\r\n";

    /// A pseudo-terminal pair: this test holds the master; the binary opens the slave by name.
    pub struct Pty {
        pub master: OwnedFd,
        pub slave: PathBuf,
    }

    impl Pty {
        pub fn open() -> Pty {
            // SAFETY: plain libc calls; every result is checked and the descriptor is owned.
            unsafe {
                let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
                assert!(fd >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
                let master = OwnedFd::from_raw_fd(fd);
                assert!(
                    libc::grantpt(fd) == 0 && libc::unlockpt(fd) == 0,
                    "unlockpt: {}",
                    std::io::Error::last_os_error()
                );
                let mut t: libc::termios = std::mem::zeroed();
                if libc::tcgetattr(fd, &mut t) == 0 {
                    libc::cfmakeraw(&mut t);
                    libc::tcsetattr(fd, libc::TCSANOW, &t);
                }
                let flags = libc::fcntl(fd, libc::F_GETFL);
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
                let slave = slave_name(fd);
                Pty { master, slave }
            }
        }

        pub fn slave_str(&self) -> String {
            self.slave.display().to_string()
        }
    }

    #[cfg(target_os = "linux")]
    fn slave_name(fd: RawFd) -> PathBuf {
        let mut buf = [0 as libc::c_char; 128];
        // SAFETY: the buffer is writable and its length is passed.
        let r = unsafe { libc::ptsname_r(fd, buf.as_mut_ptr(), buf.len()) };
        assert_eq!(r, 0, "ptsname_r");
        // SAFETY: ptsname_r wrote a NUL-terminated string into the buffer.
        let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
        PathBuf::from(name.to_string_lossy().into_owned())
    }

    #[cfg(not(target_os = "linux"))]
    fn slave_name(fd: RawFd) -> PathBuf {
        use std::sync::Mutex;
        static LOCK: Mutex<()> = Mutex::new(());
        let _guard = LOCK.lock();
        // SAFETY: ptsname's static buffer is read under a lock before any other call.
        let name = unsafe { libc::ptsname(fd) };
        assert!(!name.is_null(), "ptsname");
        // SAFETY: non-null, NUL-terminated.
        let name = unsafe { std::ffi::CStr::from_ptr(name) };
        PathBuf::from(name.to_string_lossy().into_owned())
    }

    /// Read what is there (non-blocking); `None` when nothing is or no slave is open (EIO).
    fn read_some(fd: RawFd, buf: &mut [u8]) -> Option<usize> {
        // SAFETY: the buffer is writable for its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        usize::try_from(n).ok().filter(|&n| n > 0)
    }

    /// Write everything, waiting out a full buffer, unless `stop` is raised.
    fn write_all(fd: RawFd, mut bytes: &[u8], stop: &AtomicBool) -> bool {
        while !bytes.is_empty() {
            if stop.load(Ordering::SeqCst) {
                return false;
            }
            // SAFETY: the slice is readable for its length.
            let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
            match usize::try_from(n) {
                Ok(n) if n > 0 => bytes = bytes.get(n..).unwrap_or(&[]),
                _ => {
                    let e = std::io::Error::last_os_error();
                    if e.kind() != std::io::ErrorKind::WouldBlock
                        && e.kind() != std::io::ErrorKind::Interrupted
                    {
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
        true
    }

    /// A background loop on a pty master that stops when dropped.
    struct Background {
        stop: Arc<AtomicBool>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Drop for Background {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }

    /// Every time the host sends something, the "chip" prints its flash-boot banner: it is not
    /// in download mode (a reset through DTR/RTS, which a pty lacks, would print it too).
    fn boot_text_on_every_write(pty: &Pty) -> Background {
        let fd = pty.master.as_raw_fd();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !flag.load(Ordering::SeqCst) {
                match read_some(fd, &mut buf) {
                    Some(_) => {
                        write_all(fd, FLASH_BOOT_BANNER, &flag);
                    }
                    None => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Background {
            stop,
            thread: Some(thread),
        }
    }

    /// `cargo esp32s3 sim --pty` in a child process with its flash in the bench's `flash.bin`,
    /// killed (SIGKILL) when dropped.
    fn pty_sim(bench: &Bench, flash_size: &str) -> SimProcess {
        let flash = bench.path("flash.bin").display().to_string();
        SimProcess::start(&["--pty", "--flash-size", flash_size, "--flash", &flash])
    }

    /// When the relayed chip stops answering (the line stays open).
    #[derive(Clone, Copy)]
    enum Silence {
        /// Never.
        Never,
        /// Once the host has sent this many bytes.
        AfterBytes(usize),
        /// From the first command with this opcode on (it never reaches the chip).
        AtCommand(u8),
    }

    /// Relays bytes between a pty of ours (the binary's side) and the simulator's pty. It sends
    /// `noise` to the host before the first reply, and from the moment `silence` says so it
    /// drops everything in both directions while keeping the line open: a chip that stopped
    /// answering mid-transfer.
    fn relay(
        host: &Pty,
        sim_device: &str,
        noise: Vec<u8>,
        silence: Silence,
    ) -> (Background, Arc<AtomicUsize>) {
        let host_fd = host.master.as_raw_fd();
        let sim = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(sim_device)
            .expect("open the simulator's pty");
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let (flag, count) = (Arc::clone(&stop), Arc::clone(&sent));
        let thread = std::thread::spawn(move || {
            let sim: File = sim;
            let sim_fd = sim.as_raw_fd();
            let mut noise = Some(noise);
            let mut commands = cargo_esp32s3::protocol::slip::Decoder::new();
            let mut silent = false;
            let mut buf = [0u8; 8192];
            while !flag.load(Ordering::SeqCst) {
                let mut idle = true;
                if let Some(n) = read_some(host_fd, &mut buf) {
                    idle = false;
                    let bytes = buf.get(..n).unwrap_or(&[]);
                    let total = count.fetch_add(n, Ordering::SeqCst) + n;
                    if let Some(noise) = noise.take() {
                        write_all(host_fd, &noise, &flag);
                    }
                    match silence {
                        Silence::Never => {}
                        Silence::AfterBytes(limit) => silent |= total > limit,
                        Silence::AtCommand(opcode) => {
                            commands.push(bytes);
                            while let Some(item) = commands.next_item() {
                                if let cargo_esp32s3::protocol::slip::Item::Frame(f) = item {
                                    silent |= f.get(..2) == Some(&[0x00, opcode][..]);
                                }
                            }
                        }
                    }
                    if !silent {
                        write_all(sim_fd, bytes, &flag);
                    }
                }
                if let Some(n) = read_some(sim_fd, &mut buf) {
                    idle = false;
                    if !silent {
                        write_all(host_fd, buf.get(..n).unwrap_or(&[]), &flag);
                    }
                }
                if idle {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        (
            Background {
                stop,
                thread: Some(thread),
            },
            sent,
        )
    }

    #[test]
    fn a_port_that_answers_nothing_says_how_to_enter_download_mode() {
        let bench = Bench::new();
        let pty = Pty::open();
        let port = pty.slave_str();
        let quick = bench.run(&["board-info", "--connect-attempts", "1", "--port", &port]);
        quick.fails(
            exit::CONNECT,
            &[&port, "no serial data", "download mode", "BOOT", "RESET"],
        );
        assert!(
            quick.elapsed < Duration::from_secs(5),
            "one attempt took {:?}",
            quick.elapsed
        );

        bench.write("app.bin", &app_image(9, 0));
        let default = bench.run(&["flash", "app.bin", "--port", &port]);
        default.fails(exit::CONNECT, &[&port, "download mode"]);
        eprintln!(
            "no-answer port with default settings: failed after {:.1} s",
            default.elapsed.as_secs_f64()
        );
        assert!(
            default.elapsed < Duration::from_secs(30),
            "the default attempts took {:?}",
            default.elapsed
        );
    }

    #[test]
    fn boot_text_instead_of_a_reply_means_the_wrong_boot_mode() {
        let bench = Bench::new();
        let pty = Pty::open();
        let _chip = boot_text_on_every_write(&pty);
        let port = pty.slave_str();
        let outcome = bench.run(&["board-info", "--connect-attempts", "1", "--port", &port]);
        outcome.fails(
            exit::CONNECT,
            &[
                &port,
                "booted from flash (boot:0x8)",
                "no DTR/RTS lines",
                "hold BOOT and press RESET",
            ],
        );
        assert!(
            outcome.elapsed < Duration::from_secs(5),
            "{}",
            outcome.dump()
        );
    }

    #[test]
    fn noise_before_the_first_reply_is_survived() {
        let bench = Bench::new();
        let mut sim = pty_sim(&bench, "4MB");
        let host = Pty::open();
        let mut garbage = b"\r\n\x00\xff\xfe garbage \xc0\x01\x02\xc0 line noise\r\n".to_vec();
        garbage.extend_from_slice(&noise(300, 5));
        garbage.extend_from_slice(b"\r\nESP-ROM:esp32s3-20210327\r\nrst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n");
        let (link, _) = relay(&host, &sim.port, garbage, Silence::Never);
        let port = host.slave_str();
        let outcome = bench.run(&["board-info", "--port", &port]);
        outcome.succeeds();
        assert!(
            outcome.stdout.contains("Chip is ESP32-S3"),
            "{}",
            outcome.dump()
        );
        drop(link);
        sim.kill();
    }

    #[test]
    fn a_chip_that_goes_silent_mid_transfer_times_out_clearly() {
        let bench = Bench::new();
        let mut sim = pty_sim(&bench, "8MB");
        let host = Pty::open();
        // Enough for connecting and the first blocks of data, then nothing.
        let (link, sent) = relay(&host, &sim.port, Vec::new(), Silence::AfterBytes(64 * 1024));
        bench.write("big.bin", &noise(2 * 1024 * 1024, 9));
        let outcome = bench.run(&[
            "flash",
            "--at",
            "0x10000",
            "big.bin",
            "--port",
            &host.slave_str(),
        ]);
        let line = outcome.fails(exit::FLASH, &["big.bin", "0x10000"]);
        assert!(
            line.contains("timed out") || line.contains("no reply"),
            "{line}"
        );
        assert!(
            sent.load(Ordering::SeqCst) > 64 * 1024,
            "{}",
            outcome.dump()
        );
        eprintln!(
            "silent chip mid-transfer: failed after {:.1} s",
            outcome.elapsed.as_secs_f64()
        );
        drop(link);
        sim.kill();
    }

    #[test]
    fn a_chip_that_goes_silent_while_reading_or_erasing_fails_in_time() {
        // READ_FLASH_SLOW (0x0e) and FLASH_BEGIN (0x02, the ROM erases a region with it) never
        // reach the chip.
        let cases: [(&[&str], u8, &[&str]); 2] = [
            (
                &["read-flash", "0", "1M", "out.bin"],
                0x0E,
                &["timed out", "READ_FLASH_SLOW", "try a lower --baud"],
            ),
            (
                // One sector: the ROM may take 40 s per MB to erase before it answers, so a
                // big region would wait that long for a silent chip (as esptool does).
                &["erase", "--region", "0x100000", "0x1000"],
                0x02,
                &["timed out", "FLASH_BEGIN"],
            ),
        ];
        for (args, opcode, needles) in cases {
            let bench = Bench::new();
            let mut sim = pty_sim(&bench, "4MB");
            let host = Pty::open();
            let (link, _) = relay(&host, &sim.port, Vec::new(), Silence::AtCommand(opcode));
            let port = host.slave_str();
            let mut all = args.to_vec();
            all.extend(["--port", &port]);
            let outcome = bench.run(&all);
            outcome.fails(exit::FLASH, needles);
            assert!(!bench.path("out.bin").exists());
            eprintln!(
                "silent chip during {}: failed after {:.1} s",
                args.first().unwrap_or(&""),
                outcome.elapsed.as_secs_f64()
            );
            drop(link);
            sim.kill();
        }
    }

    #[test]
    fn sim_faults_on_a_pty_are_survived_and_the_flash_verified() {
        // `sim --pty --faults`: the same faults as the sim:// URL, on a line the binary opens as
        // a serial port. Lost bytes and junk before replies cost retries, not the flash.
        let bench = Bench::new();
        let flash = bench.path("flash.bin").display().to_string();
        let sim = SimProcess::start(&[
            "--pty",
            "--flash-size",
            "4MB",
            "--flash",
            &flash,
            "--faults",
            "fault-seed=5&drop=2e-5&noise=0.02&truncate=0.01",
        ]);
        let data = noise(600 * 1024, 21);
        bench.write("data.bin", &data);
        let outcome = bench.run(&["flash", "--at", "0x100000", "data.bin", "--port", &sim.port]);
        outcome.succeeds();
        assert!(
            outcome.stderr.contains("Hash of data verified."),
            "{}",
            outcome.dump()
        );
        // The simulator keeps its flash file up to date every half second.
        let waited = Instant::now();
        loop {
            let written = std::fs::read(&flash).unwrap_or_default();
            if written.get(0x100000..0x100000 + data.len()) == Some(&data[..]) {
                break;
            }
            assert!(
                waited.elapsed() < LIMIT,
                "the flash file does not hold the data"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        drop(sim);
    }

    #[test]
    fn a_chip_that_vanishes_mid_transfer_is_a_clear_error() {
        let bench = Bench::new();
        let mut sim = pty_sim(&bench, "8MB");
        bench.write("big.bin", &noise(4 * 1024 * 1024, 13));
        let running = bench
            .cmd(&["flash", "--at", "0x0", "big.bin", "--port", &sim.port])
            .spawn();
        // Wait until the writing has begun (the flash size line comes just before it).
        let waited = Instant::now();
        while !running.stderr_so_far().contains("Flash size") {
            assert!(
                waited.elapsed() < LIMIT,
                "never started writing:\n{}",
                running.stderr_so_far()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(50));
        sim.kill();
        let outcome = running.finish();
        outcome.fails(exit::FLASH, &[&sim.port, "disappeared", "cable"]);
    }

    /// Root ignores file permissions and exclusive ttys; Linux lets us drop those capabilities
    /// for the child, elsewhere the root case cannot be tested.
    fn can_test_as_this_user() -> bool {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if !root {
            return true;
        }
        // CAP_SETPCAP (bit 8) is needed to drop from the bounding set.
        cfg!(target_os = "linux")
            && std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("CapEff:"))
                        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
                })
                .is_some_and(|caps| caps & (1 << 8) != 0)
    }

    fn run_unprivileged(bench: &Bench, args: &[&str]) -> Outcome {
        #[cfg(target_os = "linux")]
        {
            const CAP_DAC_OVERRIDE: libc::c_ulong = 1;
            const CAP_DAC_READ_SEARCH: libc::c_ulong = 2;
            const CAP_SYS_ADMIN: libc::c_ulong = 21;
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } == 0 {
                return bench
                    .cmd(args)
                    .without_capabilities(&[CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_SYS_ADMIN])
                    .run();
            }
        }
        bench.run(args)
    }

    #[test]
    fn a_busy_port_is_named_as_busy() {
        let bench = Bench::new();
        let pty = Pty::open();
        let port = pty.slave_str();
        // Held the way serial programs hold a port: TIOCEXCL and an exclusive flock.
        let holder = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
            .open(&pty.slave)
            .expect("open the slave");
        // SAFETY: ioctl and flock on a descriptor we own.
        unsafe {
            assert_eq!(libc::ioctl(holder.as_raw_fd(), libc::TIOCEXCL as _), 0);
            assert_eq!(
                libc::flock(holder.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB),
                0
            );
        }
        bench
            .run(&["board-info", "--port", &port])
            .fails(exit::CONNECT, &[&port, "busy", "close that program"]);

        // TIOCEXCL alone (screen, minicom): only an unprivileged opener is refused.
        if !can_test_as_this_user() {
            eprintln!("skipped: running as root (TIOCEXCL-only busy port)");
            return;
        }
        // SAFETY: flock and ioctl on a descriptor we own. (The refused opener above cleared
        // TIOCEXCL on its way out: the serialport crate undoes it when its open fails.)
        unsafe {
            libc::flock(holder.as_raw_fd(), libc::LOCK_UN);
            assert_eq!(libc::ioctl(holder.as_raw_fd(), libc::TIOCEXCL as _), 0);
        }
        run_unprivileged(&bench, &["board-info", "--port", &port])
            .fails(exit::CONNECT, &[&port, "busy", "close that program"]);
        drop(holder);
    }

    #[test]
    fn a_forbidden_port_says_how_to_get_permission() {
        if !can_test_as_this_user() {
            eprintln!("skipped: running as root");
            return;
        }
        let bench = Bench::new();
        let pty = Pty::open();
        let port = pty.slave_str();
        let c_path = std::ffi::CString::new(port.clone()).expect("path without NUL");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::chmod(c_path.as_ptr(), 0) }, 0);
        let hint = if cfg!(target_os = "linux") {
            "dialout"
        } else {
            "permission"
        };
        run_unprivileged(&bench, &["board-info", "--port", &port])
            .fails(exit::CONNECT, &[&port, "permission denied", hint]);
    }

    #[test]
    fn a_dead_line_is_never_waited_on_forever() {
        // The master end closes under the binary while it is connecting: a hangup, not a hang.
        let bench = Bench::new();
        let pty = Pty::open();
        let port = pty.slave_str();
        let running = bench.cmd(&["board-info", "--port", &port]).spawn();
        let waited = Instant::now();
        while !running.stderr_so_far().contains("Connecting") && waited.elapsed() < LIMIT {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(pty);
        let outcome = running.finish();
        outcome.fails(exit::CONNECT, &[&port]);
    }
}
