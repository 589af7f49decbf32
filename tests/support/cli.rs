//! Running the `cargo-esp32s3` binary (or another program, such as `cargo` or a built xtask) the
//! way the end-to-end tests need it: in a working directory, with the caller's `ESP32S3_*`
//! variables removed (a developer's shell must not change what a test sees), `NO_COLOR`, no
//! `RUST_BACKTRACE`, stdin closed or fed from bytes, and a time limit after which the process is
//! killed and the test fails. The [`Outcome`] holds what it left and the checks every CLI test
//! makes: [`Outcome::succeeds`] and [`Outcome::fails`] (one `error[ES…]:` line with a code of the
//! error catalogue, naming the values at fault, the documented exit code, nothing that claims
//! success, no panic).
//!
//! A [`Bench`] is a temporary directory to run in, with a simulator whose flash lives in a file
//! there, so that it persists from one run of the binary to the next. A [`SimProcess`] is
//! `cargo esp32s3 sim` (pty or RFC 2217 server) running in the background.
// Each test file uses what it needs of this module.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cargo_esp32s3::exit;

/// Longest any single run of the binary may take (unless [`Run::limit`] says otherwise).
pub const LIMIT: Duration = Duration::from_secs(60);

/// The limit for runs that compile (`cargo build`, `cargo esp32s3 build` on a cold target).
pub const BUILD_LIMIT: Duration = Duration::from_secs(600);

/// Lines that only a success prints; none may start a line when a command fails.
pub const SUCCESS_MARKERS: &[&str] = &[
    "Hash of data verified",
    "Flashed ",
    "Wrote ",
    "Erased ",
    "Read ",
    "Hard resetting",
    "Soft resetting",
];

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_cargo-esp32s3")
}

/// What a finished run left behind.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code (`None` when a signal ended the process).
    pub code: Option<i32>,
    /// Everything on stdout (lossy text).
    pub stdout: String,
    /// Everything on stderr (lossy text).
    pub stderr: String,
    /// From start to exit.
    pub elapsed: Duration,
    /// Whether the program was the binary under test, whose error lines carry catalogue codes
    /// (another program, such as a generated xtask, writes its own `error:` lines).
    pub tool: bool,
}

impl Outcome {
    /// Everything about the run, for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "exit {:?} after {:.1} s\n--- stdout:\n{}\n--- stderr:\n{}",
            self.code,
            self.elapsed.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }

    /// Nothing that looks like a panic on either stream.
    pub fn no_panic(&self) {
        for text in [&self.stdout, &self.stderr] {
            assert!(
                !text.contains("panicked") && !text.contains("RUST_BACKTRACE"),
                "{}",
                self.dump()
            );
        }
    }

    /// Succeeded: exit 0, no error report on stderr, no panic.
    pub fn succeeds(&self) -> &Self {
        self.no_panic();
        assert_eq!(self.code, Some(i32::from(exit::SUCCESS)), "{}", self.dump());
        assert!(!has_error_report(&self.stderr), "{}", self.dump());
        self
    }

    /// Stderr contains every one of `needles`.
    pub fn stderr_has(&self, needles: &[&str]) -> &Self {
        self.has("stderr", &self.stderr, needles)
    }

    /// Stdout contains every one of `needles`.
    pub fn stdout_has(&self, needles: &[&str]) -> &Self {
        self.has("stdout", &self.stdout, needles)
    }

    fn has(&self, stream: &str, text: &str, needles: &[&str]) -> &Self {
        for needle in needles {
            assert!(
                text.contains(needle),
                "{needle:?} not on {stream}:\n{}",
                self.dump()
            );
        }
        self
    }

    /// The lines on stderr that report an error (`error[ES0504]: ...`, or a bare `error: ...`,
    /// which [`Outcome::fails`] refuses).
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| is_error_line(l)).collect()
    }

    /// The lines on stderr that start with `note:`.
    pub fn notes(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("note:"))
            .collect()
    }

    /// Index of the first stderr line containing `text`.
    pub fn line_index(&self, text: &str) -> Option<usize> {
        self.stderr.lines().position(|l| l.contains(text))
    }

    /// Failed with `code`: exactly one error line (on stderr, none on stdout) that starts with a
    /// code of the error catalogue (`error[ES0504]:`, for the binary under test) and contains
    /// every one of `needles`, no line that claims success, no panic. Returns the error line.
    pub fn fails(&self, code: u8, needles: &[&str]) -> String {
        self.no_panic();
        assert_eq!(self.code, Some(i32::from(code)), "{}", self.dump());
        assert_ne!(code, 0, "a failure cannot exit 0");
        let errors = self.error_lines();
        assert_eq!(errors.len(), 1, "not one error line:\n{}", self.dump());
        if self.tool {
            assert_catalogued(errors[0]);
        }
        assert!(
            !has_error_report(&self.stdout),
            "an error report on stdout:\n{}",
            self.dump()
        );
        for text in [&self.stdout, &self.stderr] {
            for line in text.lines() {
                for marker in SUCCESS_MARKERS {
                    assert!(
                        !line.starts_with(marker),
                        "success message {marker:?} on a failure:\n{}",
                        self.dump()
                    );
                }
            }
        }
        let line = errors.first().map(|s| s.to_string()).unwrap_or_default();
        for needle in needles {
            assert!(line.contains(needle), "{needle:?} not in {line:?}");
        }
        line
    }
}

/// Whether `line` reports an error: `error[ES0504]: ...` as the tool prints them, or a bare
/// `error: ...` (which has no code, so [`Outcome::fails`] refuses it).
pub fn is_error_line(line: &str) -> bool {
    line.starts_with("error:") || line.starts_with("error[")
}

/// Whether `text` holds an error report anywhere (a pty's screen has no clean line starts).
pub fn has_error_report(text: &str) -> bool {
    text.contains("error:") || text.contains("error[")
}

/// The code of an error line: `ES0504` of `error[ES0504]: ...`.
pub fn error_code(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("error[")?;
    let (code, _) = rest.split_once("]: ")?;
    Some(code)
}

/// `line` starts with `error[CODE]: ` and CODE is in the error catalogue (`docs/errors.md`).
pub fn assert_catalogued(line: &str) {
    let code = error_code(line)
        .unwrap_or_else(|| panic!("the error line has no `error[ES....]: ` code: {line:?}"));
    assert!(
        cargo_esp32s3::catalogue::entry(code).is_some(),
        "{code} is not in the error catalogue: {line:?}"
    );
}

/// One invocation: program, arguments, environment, working directory, stdin, time limit.
pub struct Run {
    command: Command,
    stdin: Option<Vec<u8>>,
    limit: Duration,
    /// The run's own cache directory (`ESP32S3_CACHE_DIR`: kept bootloaders, remembered ports),
    /// so that no test reads or writes the user's; a [`Bench`] gives its runs a shared one.
    cache: Option<tempfile::TempDir>,
}

impl Run {
    /// The binary under test in `dir` with `args`.
    pub fn new(dir: &Path, args: &[&str]) -> Self {
        Self::program(binary(), dir, args)
    }

    /// Any `program` in `dir` with `args`, in the same clean environment.
    pub fn program(program: impl AsRef<OsStr>, dir: &Path, args: &[&str]) -> Self {
        let mut command = Command::new(program);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ESP32S3_") {
                command.env_remove(key);
            }
        }
        let cache = tempfile::tempdir().expect("a cache directory for the run");
        command
            .current_dir(dir)
            // The baud ladder's memory goes to a folder of the tests' own, never the user's
            // cache; and the stub an esptool on this machine may have stays out of the tests
            // (those of `stub = "auto"` set up their own).
            .env(
                "ESP32S3_CACHE_DIR",
                std::env::temp_dir().join("cargo-esp32s3-tests-cache"),
            )
            .env("ESP32S3_STUB", "none")
            .env("NO_COLOR", "1")
            .env("ESP32S3_CACHE_DIR", cache.path())
            .env_remove("RUST_BACKTRACE")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Run {
            command,
            stdin: None,
            limit: LIMIT,
            cache: Some(cache),
        }
    }

    /// More arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    /// Set a variable.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Set several variables.
    pub fn envs(mut self, vars: &[(&str, &str)]) -> Self {
        for (key, value) in vars {
            self.command.env(key, value);
        }
        self
    }

    /// Feed `bytes` to stdin, then close it (stdin is closed from the start otherwise).
    pub fn stdin(mut self, bytes: &[u8]) -> Self {
        self.stdin = Some(bytes.to_vec());
        self
    }

    /// Kill the process and fail the test after `limit` instead of [`LIMIT`].
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// Run without these capabilities (Linux, as root): root ignores file permissions
    /// (CAP_DAC_OVERRIDE) and exclusive ttys (CAP_SYS_ADMIN), so a test of those errors drops
    /// them from the bounding set, which after `exec` leaves them out of the permitted set too.
    #[cfg(target_os = "linux")]
    pub fn without_capabilities(mut self, caps: &'static [libc::c_ulong]) -> Self {
        use std::os::unix::process::CommandExt as _;
        // SAFETY: the closure runs between fork and exec and only makes prctl system calls,
        // which are async-signal-safe; it touches no memory of the parent.
        unsafe {
            self.command.pre_exec(move || {
                for &cap in caps {
                    let dropped: libc::c_ulong = 0;
                    if libc::prctl(libc::PR_CAPBSET_DROP, cap, dropped, dropped, dropped) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        self
    }

    /// Start it; its output is collected in the background.
    pub fn spawn(mut self) -> Running {
        let started = Instant::now();
        let stdin = if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        let mut child = self
            .command
            .stdin(stdin)
            .spawn()
            .unwrap_or_else(|e| panic!("start {:?}: {e}", self.command.get_program()));
        if let (Some(bytes), Some(mut pipe)) = (self.stdin.take(), child.stdin.take()) {
            // From a thread, so that a program that answers before it has read everything
            // cannot block on a full stdout pipe; dropping the pipe closes its stdin.
            std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }
        let tool = self.command.get_program() == OsStr::new(binary());
        let mut readers = Vec::new();
        let (stdout, thread) = collect(child.stdout.take().expect("piped stdout"));
        readers.push(thread);
        let (stderr, thread) = collect(child.stderr.take().expect("piped stderr"));
        readers.push(thread);
        Running {
            child,
            stdout,
            stderr,
            readers,
            started,
            tool,
            limit: self.limit,
            _cache: self.cache.take(),
        }
    }

    /// Run it to the end.
    pub fn run(self) -> Outcome {
        self.spawn().finish()
    }
}

/// A run that is still going; its output is collected by two threads.
pub struct Running {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    started: Instant,
    /// Whether the program is the binary under test.
    tool: bool,
    limit: Duration,
    _cache: Option<tempfile::TempDir>,
}

fn collect(mut from: impl std::io::Read + Send + 'static) -> (Arc<Mutex<Vec<u8>>>, JoinHandle<()>) {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&buffer);
    let thread = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = from.read(&mut chunk) {
            if n == 0 {
                break;
            }
            if let (Ok(mut all), Some(got)) = (sink.lock(), chunk.get(..n)) {
                all.extend_from_slice(got);
            }
        }
    });
    (buffer, thread)
}

fn text_of(buffer: &Mutex<Vec<u8>>) -> String {
    buffer
        .lock()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

impl Running {
    /// The process id (to send it a signal).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote to stderr so far.
    pub fn stderr_so_far(&self) -> String {
        text_of(&self.stderr)
    }

    /// Wait for the end, killing the process and failing the test after the limit.
    pub fn finish(mut self) -> Outcome {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if self.started.elapsed() > self.limit => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "still running after {} s (killed):\n--- stdout:\n{}\n--- stderr:\n{}",
                        self.limit.as_secs(),
                        text_of(&self.stdout),
                        text_of(&self.stderr)
                    );
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => panic!("waiting for the program: {e}"),
            }
        };
        let elapsed = self.started.elapsed();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Outcome {
            code: status.code(),
            stdout: text_of(&self.stdout),
            stderr: text_of(&self.stderr),
            elapsed,
            tool: self.tool,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that failed before `finish` leaves no process behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `cargo-esp32s3 sim ARGS...` in the background (a pty or RFC 2217 server): the first line it
/// prints is the port to open. Killed when dropped.
pub struct SimProcess {
    child: Child,
    /// What the simulator printed first: the pty's device path or the `rfc2217://` URL.
    pub port: String,
}

impl SimProcess {
    /// Start it and wait (30 s at most) for the port line.
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(binary())
            .arg("sim")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the simulator");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok));
            // Keep draining so the simulator never blocks on a full pipe.
            for _ in lines {}
        });
        let port = rx.recv_timeout(Duration::from_secs(30)).ok().flatten();
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the simulator printed no port (sim {args:?})");
        };
        SimProcess {
            child,
            port: port.trim().to_string(),
        }
    }

    /// Kill it (SIGKILL) and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stop it as Ctrl-C would and wait (10 s at most) for a clean exit: the flash file is
    /// written back.
    #[cfg(unix)]
    pub fn finish(mut self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits");
        // SAFETY: signalling our own child by its pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "sim exited with {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("sim did not stop on SIGTERM");
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A temporary directory to run in, with a simulator whose flash lives in `flash.bin` there.
pub struct Bench {
    dir: tempfile::TempDir,
    /// The flash size of [`Bench::port`]'s simulator.
    size: &'static str,
}

impl Default for Bench {
    fn default() -> Self {
        Self::new()
    }
}

impl Bench {
    /// A fresh, empty directory; its simulator has 8 MB of flash.
    pub fn new() -> Self {
        Self::with_size("8MB")
    }

    /// A fresh, empty directory whose simulator has `size` of flash (e.g. "16MB").
    pub fn with_size(size: &'static str) -> Self {
        Bench {
            dir: tempfile::tempdir().expect("temporary directory"),
            size,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write a file (creating its folders); its full path as text.
    pub fn write(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create directories");
        }
        std::fs::write(&path, bytes).expect("write a test file");
        path.display().to_string()
    }

    /// A simulator URL with its flash in `flash.bin`, of `size` (e.g. "8MB").
    pub fn sim(&self, size: &str) -> String {
        format!(
            "sim://?flash={}&size={size}",
            self.path("flash.bin").display()
        )
    }

    /// This bench's simulator URL (flash in `flash.bin`, of the bench's size).
    pub fn port(&self) -> String {
        self.sim(self.size)
    }

    /// The binary in this directory with `args`, to adjust before running. Its runs share the
    /// cache directory [`Bench::cache_dir`] (kept bootloaders, remembered ports).
    pub fn cmd(&self, args: &[&str]) -> Run {
        Run::new(self.dir.path(), args).env("ESP32S3_CACHE_DIR", self.cache_dir())
    }

    /// The cache directory this bench's runs share (`ESP32S3_CACHE_DIR`).
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.path().join(".cache")
    }

    /// Run the binary in this directory with `args`.
    pub fn run(&self, args: &[&str]) -> Outcome {
        self.cmd(args).run()
    }

    /// Run `args` with `--port` [`Bench::port`] added.
    pub fn on_chip(&self, args: &[&str]) -> Outcome {
        let port = self.port();
        let mut all = args.to_vec();
        all.extend(["--port", &port]);
        self.run(&all)
    }

    /// `read-flash` of `len` bytes at `offset` from [`Bench::port`]'s chip.
    pub fn read_flash(&self, offset: u32, len: usize) -> Vec<u8> {
        self.read_back(&self.port(), offset, len, &[])
    }

    /// The simulated flash file, or None when no simulator run created it.
    pub fn flash_file(&self) -> Option<Vec<u8>> {
        std::fs::read(self.path("flash.bin")).ok()
    }

    /// Nothing was written: the flash file is absent or all erased.
    pub fn assert_flash_untouched(&self) {
        if let Some(flash) = self.flash_file() {
            let written = flash.iter().position(|&b| b != 0xFF);
            assert_eq!(written, None, "the flash was written at {written:x?}");
        }
    }

    /// `read-flash OFFSET LEN` over `port` (plus `extra` arguments) into a file here; the
    /// bytes read.
    pub fn read_back(&self, port: &str, offset: u32, len: usize, extra: &[&str]) -> Vec<u8> {
        let out = self.path("readback.bin");
        let _ = std::fs::remove_file(&out);
        let offset = format!("0x{offset:x}");
        let len = len.to_string();
        let mut args = vec!["read-flash", &offset, &len, "readback.bin", "--port", port];
        args.extend(extra);
        self.run(&args).succeeds();
        std::fs::read(out).expect("read-flash output")
    }
}
