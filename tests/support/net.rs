//! A raw TCP test server on 127.0.0.1:0, standing in for a serial-to-TCP bridge (ser2net in raw
//! mode, socat) for `socket://` tests: it serves an in-process virtual chip, or plays a byte
//! script, to one client after another in a background thread.
//!
//! A raw bridge has no modem lines and a fixed serial speed: the chip's host-side speed is set
//! to the bridge's 115200 once and never changed, so a host that asked the chip to switch speed
//! would garble the link, as it would through a real bridge.
// Each test file uses what it needs of this module.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cargo_esp32s3::sim::Esp32s3;

/// How long one wait for input lasts (and the stop-flag period).
const POLL: Duration = Duration::from_millis(5);
/// The bridge's serial speed.
pub const BRIDGE_BAUD: u32 = 115_200;

/// One step of a byte script.
#[derive(Debug, Clone)]
pub enum Step {
    /// Send these bytes to the client.
    Send(Vec<u8>),
    /// Wait until the client has sent this many more bytes (or closed).
    Receive(usize),
    /// Wait this long.
    Pause(Duration),
    /// Close the connection (the server goes away mid-operation).
    Close,
}

/// What the server does with a client.
enum Role {
    /// Serve the chip; when `cut_after` is set, drop the connection once the client has sent
    /// that many bytes in total (the bridge dies mid-transfer).
    Chip {
        chip: Box<Esp32s3>,
        cut_after: Option<usize>,
    },
    /// Play the script to each client.
    Script(Vec<Step>),
}

/// A raw TCP server in a background thread; stopped on [`RawServer::stop`] or drop.
pub struct RawServer {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Option<Esp32s3>>>,
}

impl RawServer {
    /// Serve `chip` (its host speed pinned to [`BRIDGE_BAUD`]) to clients one after another.
    pub fn chip(chip: Esp32s3) -> Self {
        Self::start(Role::Chip {
            chip: Box::new(chip),
            cut_after: None,
        })
    }

    /// Serve `chip`, but drop the connection (and stop serving) once the client sent
    /// `bytes` bytes in total.
    pub fn chip_cut_after(chip: Esp32s3, bytes: usize) -> Self {
        Self::start(Role::Chip {
            chip: Box::new(chip),
            cut_after: Some(bytes),
        })
    }

    /// Play `steps` to every client.
    pub fn script(steps: Vec<Step>) -> Self {
        Self::start(Role::Script(steps))
    }

    fn start(role: Role) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("local address");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || serve(listener, role, &flag));
        RawServer {
            address,
            stop,
            thread: Some(thread),
        }
    }

    /// `socket://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("socket://{}", self.address)
    }

    /// The bare address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stop serving and hand back the chip (for a chip server).
    pub fn stop(mut self) -> Option<Esp32s3> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .and_then(|t| t.join().expect("the server thread panicked"))
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A read that timed out with nothing to read: the client is still there.
fn nothing_yet(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn serve(listener: TcpListener, role: Role, stop: &AtomicBool) -> Option<Esp32s3> {
    let (mut chip, cut_after, script) = match role {
        Role::Chip { chip, cut_after } => (Some(*chip), cut_after, Vec::new()),
        Role::Script(steps) => (None, None, steps),
    };
    if let Some(chip) = chip.as_mut() {
        chip.set_baud(BRIDGE_BAUD);
        // The power-on banner went out before anyone listened.
        chip.take_output();
    }
    let mut clock = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(_) => {
                if let Some(chip) = chip.as_mut() {
                    let now = Instant::now();
                    chip.advance(now - clock);
                    clock = now;
                    chip.take_output();
                }
                std::thread::sleep(POLL);
                continue;
            }
        };
        stream.set_nonblocking(false).expect("blocking stream");
        stream.set_nodelay(true).expect("nodelay");
        stream.set_read_timeout(Some(POLL)).expect("read timeout");
        match chip.as_mut() {
            Some(chip) => {
                if serve_chip(stream, chip, cut_after, stop, &mut clock) {
                    // Cut: the bridge is gone for good.
                    break;
                }
            }
            None => play(stream, &script, stop),
        }
    }
    chip
}

/// Pump bytes between one client and the chip. True when the connection was cut on purpose.
fn serve_chip(
    mut stream: TcpStream,
    chip: &mut Esp32s3,
    cut_after: Option<usize>,
    stop: &AtomicBool,
    clock: &mut Instant,
) -> bool {
    let mut buf = vec![0u8; 0x4000];
    let mut received = 0usize;
    while !stop.load(Ordering::SeqCst) {
        match stream.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                received += n;
                if cut_after.is_some_and(|limit| received >= limit) {
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                    return true;
                }
                chip.receive(&buf[..n]);
            }
            Err(e) if nothing_yet(&e) => {}
            Err(_) => return false,
        }
        let now = Instant::now();
        chip.advance(now - *clock);
        *clock = now;
        let out = chip.take_output();
        if !out.is_empty() && stream.write_all(&out).is_err() {
            return false;
        }
    }
    false
}

fn play(mut stream: TcpStream, script: &[Step], stop: &AtomicBool) {
    let mut buf = [0u8; 4096];
    for step in script {
        match step {
            Step::Send(bytes) => {
                if stream.write_all(bytes).is_err() {
                    return;
                }
            }
            Step::Receive(count) => {
                let mut left = *count;
                while left > 0 && !stop.load(Ordering::SeqCst) {
                    match stream.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => left = left.saturating_sub(n),
                        Err(e) if nothing_yet(&e) => {}
                        Err(_) => return,
                    }
                }
            }
            Step::Pause(duration) => {
                let until = Instant::now() + *duration;
                while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(POLL);
                }
            }
            Step::Close => return,
        }
    }
    // Script over: hold the connection (reading and dropping) until the client leaves.
    while !stop.load(Ordering::SeqCst) {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if nothing_yet(&e) => {}
            Err(_) => return,
        }
    }
}
