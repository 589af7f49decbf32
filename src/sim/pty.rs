//! Serve a simulated chip on a pseudo-terminal, so that any serial tool (esptool, a terminal,
//! our own `serial` transport) can talk to it through the slave device (`/dev/pts/N`).
//!
//! A pty has no DTR/RTS lines (esptool warns and carries on), so the chip must already be in
//! download mode. Clients may close and reopen the slave at any time: while none is attached the
//! master reads fail with EIO, which just means "wait". Owns only the master side and the loop;
//! the chip model knows nothing of it.
//!
//! Time: the chip's clock follows the wall clock here. Every turn of the loop (at least every
//! 50 ms) tells the chip how much time went by, and what it printed on its own meanwhile (a boot
//! loop, a watchdog reset's banner) goes to the client when one is attached, else is lost as on
//! an unplugged wire.
//!
//! Unix only (posix_openpt, poll on the master): `sim/mod.rs` compiles this module only there,
//! and `cargo esp32s3 sim --pty` elsewhere says to use `--rfc2217` instead.
//!
//! Line speed: a pty moves bytes at any speed. Unpaced, the client's termios speed is not passed
//! to the chip, whose UART is thus always in step with the client, as if every CHANGE_BAUDRATE
//! it acknowledged were followed: a pty cannot reset the chip (esptool only warns), so a chip
//! left at 921600 by one session would otherwise be deaf to the next one opening at 115200.
//! Whether the host switches is checked in-process by the `sim://` transport, and
//! `tests/pty_serial.rs` checks the speed of the OS port itself.
//!
//! Paced (the chip was built with [`super::SimConfig::pace`]), the line costs what a UART costs
//! at the client's speed, so the server reads that speed from the terminal settings the client
//! set on the slave (`TCGETS2` on Linux, which reports any rate; `tcgetattr` elsewhere) before
//! each read, and passes it on: a client that does not switch its port after CHANGE_BAUDRATE
//! hears garbage, as on a board. Output is written when it reaches the host in the chip's time,
//! which follows the wall clock; the loop wakes for it. (A benchmark that runs one client after
//! another starts a fresh simulator for each, as a user power-cycles a board in download mode.)

use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Esp32s3, SimError};

/// How long one wait for input lasts (also the stop-flag and no-client retry period).
const POLL_MS: i32 = 50;
/// How often dirty flash is written to the flash file while serving.
const PERSIST_EVERY: Duration = Duration::from_millis(500);

/// A chip served on a pseudo-terminal.
#[derive(Debug)]
pub struct PtyServer {
    chip: Esp32s3,
    master: OwnedFd,
    slave_path: PathBuf,
    stop: StopHandle,
}

/// Stops a running [`PtyServer::serve`]: the one handle type all the simulator's servers share.
pub use super::rfc2217::StopHandle;

fn os_error(action: &'static str) -> SimError {
    SimError::Pty {
        action,
        source: std::io::Error::last_os_error(),
    }
}

impl PtyServer {
    /// Create a pseudo-terminal pair in raw mode for `chip`.
    pub fn open(mut chip: Esp32s3) -> Result<Self, SimError> {
        // SAFETY: plain libc calls on a descriptor we own; every result is checked.
        let master = unsafe {
            let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
            if fd < 0 {
                return Err(os_error("open"));
            }
            let owned = OwnedFd::from_raw_fd(fd);
            if libc::grantpt(fd) != 0 || libc::unlockpt(fd) != 0 {
                return Err(os_error("unlock"));
            }
            // Never block on a client that does not read: output the chip prints on its own
            // would otherwise stop the loop (and its stop flag) for good.
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) != 0 {
                return Err(os_error("configure"));
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) == 0 {
                libc::cfmakeraw(&mut t);
                libc::tcsetattr(fd, libc::TCSANOW, &t);
            }
            owned
        };
        let slave_path = slave_name(master.as_raw_fd())?;
        // What the chip printed before anyone could listen (the power-on banner) is gone.
        chip.take_output();
        Ok(PtyServer {
            chip,
            master,
            slave_path,
            stop: StopHandle::default(),
        })
    }

    /// The slave device clients open (e.g. `/dev/pts/5`).
    pub fn slave_path(&self) -> &Path {
        &self.slave_path
    }

    /// A handle that stops [`PtyServer::serve`].
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Serve until stopped: feed what clients write to the chip, write back what it sends.
    /// Returns the chip (flash written back to its file, if any).
    pub fn serve(mut self) -> Result<Esp32s3, SimError> {
        let fd = self.master.as_raw_fd();
        let mut buf = vec![0u8; 0x4000];
        let mut last_persist = Instant::now();
        let mut last_tick = Instant::now();
        let paced = self.chip.is_paced();
        let mut client_speed = None;
        while !self.stop.is_stopped() {
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // A paced chip's next output may be due before the usual poll period ends.
            let timeout = match self.chip.next_output_in() {
                Some(due) if paced => {
                    let ms = due.as_micros().div_ceil(1000);
                    i32::try_from(ms).unwrap_or(POLL_MS).min(POLL_MS)
                }
                _ => POLL_MS,
            };
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut pfd, 1, timeout) };
            // The chip lives the time that went by before it sees what arrived.
            let now = Instant::now();
            self.chip.advance(now.saturating_duration_since(last_tick));
            last_tick = now;
            if paced {
                let speed = client_baud(fd);
                if speed.is_some() && speed != client_speed {
                    client_speed = speed;
                    if let Some(baud) = speed {
                        self.chip.set_baud(baud);
                    }
                }
            }
            if ready == 0 && self.chip.has_output() {
                // A client is attached (no hang-up) and the chip spoke on its own.
                let out = self.chip.take_output();
                write_all(fd, &out);
            }
            if ready > 0 && pfd.revents & libc::POLLIN != 0 {
                // SAFETY: reading into our own buffer.
                let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
                if n > 0 {
                    self.chip.receive(&buf[..n as usize]);
                    let out = self.chip.take_output();
                    write_all(fd, &out);
                    continue;
                }
            }
            if ready > 0 {
                // A hang-up (no client has the slave open), an error, or a read that gave
                // nothing: there is nothing to serve now. Wait before polling again, so a
                // condition that stays set cannot make this loop spin.
                if pfd.revents & libc::POLLHUP != 0 {
                    // Nobody would hear what the chip says.
                    self.chip.take_output();
                }
                std::thread::sleep(Duration::from_millis(POLL_MS as u64));
            }
            if self.chip.flash().is_dirty() && last_persist.elapsed() >= PERSIST_EVERY {
                self.chip.persist()?;
                last_persist = Instant::now();
            }
        }
        self.chip.persist()?;
        Ok(self.chip)
    }
}

/// How long a client may leave the chip's output unread before the rest of it is dropped.
const WRITE_STALL: Duration = Duration::from_secs(2);

fn write_all(fd: i32, mut bytes: &[u8]) {
    let mut stalled_since: Option<Instant> = None;
    while !bytes.is_empty() {
        // SAFETY: writing from a valid slice.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n > 0 {
            bytes = &bytes[n as usize..];
            stalled_since = None;
        } else {
            let e = std::io::Error::last_os_error();
            match e.kind() {
                std::io::ErrorKind::Interrupted => {}
                // A client that holds the port open but does not read: like a wire, the bytes
                // it does not take are lost; the server must not hang on it.
                std::io::ErrorKind::WouldBlock => {
                    let since = *stalled_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= WRITE_STALL {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                // The client went away mid-reply: what it did not read is lost, as on a wire.
                _ => return,
            }
        }
    }
}

/// The speed the client set on the slave (a pty master reports its slave's settings), or
/// `None` when it cannot be read.
#[cfg(target_os = "linux")]
fn client_baud(fd: i32) -> Option<u32> {
    // SAFETY: TCGETS2 fills a termios2 we own.
    let mut t: libc::termios2 = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::ioctl(fd, libc::TCGETS2, &mut t) };
    (rc == 0 && t.c_ospeed > 0).then_some(t.c_ospeed)
}

/// The speed the client set on the slave, from `tcgetattr` (macOS and the BSDs keep speeds as
/// numbers).
#[cfg(not(target_os = "linux"))]
fn client_baud(fd: i32) -> Option<u32> {
    // SAFETY: tcgetattr fills a termios we own.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
        return None;
    }
    // SAFETY: reads a field of the termios just filled.
    let speed = unsafe { libc::cfgetospeed(&t) };
    u32::try_from(speed).ok().filter(|s| *s > 0)
}

#[cfg(target_os = "linux")]
fn slave_name(fd: i32) -> Result<PathBuf, SimError> {
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: ptsname_r writes a NUL-terminated name into our buffer.
    let rc = unsafe { libc::ptsname_r(fd, name.as_mut_ptr(), name.len()) };
    if rc != 0 {
        return Err(os_error("name"));
    }
    // SAFETY: NUL-terminated by ptsname_r.
    let s = unsafe { CStr::from_ptr(name.as_ptr()) };
    Ok(PathBuf::from(s.to_string_lossy().into_owned()))
}

#[cfg(not(target_os = "linux"))]
fn slave_name(fd: i32) -> Result<PathBuf, SimError> {
    // SAFETY: ptsname returns a static buffer; copied at once (single caller at a time).
    let p = unsafe { libc::ptsname(fd) };
    if p.is_null() {
        return Err(os_error("name"));
    }
    // SAFETY: NUL-terminated string from libc.
    let s = unsafe { CStr::from_ptr(p) };
    Ok(PathBuf::from(s.to_string_lossy().into_owned()))
}
