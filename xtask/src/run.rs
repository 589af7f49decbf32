//! Running other programs: timed steps, logs, timeouts, and the paths every task shares.
//!
//! Only `std::process::Command`: no shell, so arguments never need quoting and a failure names
//! the exact program and arguments. Nothing here knows about esptool or cargo's subcommands.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What every task returns: `Err` holds a one-line message for the user.
pub type Result<T = ()> = std::result::Result<T, String>;

/// The workspace root (the parent of `xtask/`), fixed at compile time so the tasks work from any
/// current directory.
pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().unwrap_or(root)
}

/// `cargo`, as the one that started us (cargo sets `$CARGO` for `cargo run`), run from the root.
pub fn cargo() -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(program);
    command.current_dir(repo_root());
    command
}

/// The real reference files: `$ESP32S3_TESTDATA` when set and present, else
/// `<repo>/../shared/testdata`. `None` when neither exists (a fresh clone).
pub fn testdata_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("ESP32S3_TESTDATA") {
        let dir = PathBuf::from(dir);
        if dir.is_dir() {
            return Some(dir);
        }
        eprintln!(
            "warning: ESP32S3_TESTDATA={} is not a directory; looking in ../shared/testdata",
            dir.display()
        );
    }
    let fallback = repo_root().join("../shared/testdata");
    fallback
        .is_dir()
        .then(|| fallback.canonicalize().unwrap_or(fallback))
}

/// Whether we run under CI (`CI=true`, as GitHub Actions and most CI services set it).
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// Whether a program answers `--version` (used to decide if an optional tier can run).
pub fn program_exists(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The program and arguments of `command`, for messages (the program without its folder, so
/// `$CARGO`'s toolchain path does not drown the command).
pub fn describe(command: &Command) -> String {
    let program = Path::new(command.get_program());
    let mut text = program
        .file_name()
        .unwrap_or(program.as_os_str())
        .to_string_lossy()
        .into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// `12.3s` or `2m05s`.
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = duration.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

/// Runs `command` with inherited stdio and fails with its exit status.
pub fn run_inherit(mut command: Command) -> Result {
    let text = describe(&command);
    let status = command
        .status()
        .map_err(|e| format!("cannot start `{text}`: {e}"))?;
    check_status(&text, status)
}

fn check_status(text: &str, status: ExitStatus) -> Result {
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{text}` failed ({status})"))
    }
}

/// Runs `command` with stdout and stderr merged in order into `log`, printing the lines that
/// `show` selects as they arrive. Returns the exit status; the log keeps everything.
pub fn run_filtered(
    mut command: Command,
    log: &Path,
    show: impl Fn(&str) -> bool,
) -> Result<ExitStatus> {
    let text = describe(&command);
    let (reader, writer) =
        std::io::pipe().map_err(|e| format!("cannot create a pipe for `{text}`: {e}"))?;
    let writer_for_stderr = writer
        .try_clone()
        .map_err(|e| format!("cannot create a pipe for `{text}`: {e}"))?;
    command
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer_for_stderr);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start `{text}`: {e}"))?;
    // The command holds the write ends; drop it so the reader sees end-of-file when the child exits.
    drop(command);
    let mut log_file = create_log(log)?;
    for line in BufReader::new(reader).lines() {
        let line = line.map_err(|e| format!("cannot read the output of `{text}`: {e}"))?;
        if show(&line) {
            println!("    {line}");
        }
        writeln!(log_file, "{line}").map_err(|e| format!("cannot write {}: {e}", log.display()))?;
    }
    child
        .wait()
        .map_err(|e| format!("cannot wait for `{text}`: {e}"))
}

/// How a run with a deadline ended.
#[derive(Debug)]
pub enum Finished {
    /// The program exited by itself.
    Exited(ExitStatus),
    /// The deadline passed; the program was killed.
    TimedOut,
}

/// Runs `command` with stdout and stderr written to `log` (which also starts with the command
/// line), killing it if it is still running after `timeout`.
pub fn run_logged_with_timeout(
    mut command: Command,
    log: &Path,
    timeout: Duration,
) -> Result<Finished> {
    let text = describe(&command);
    let mut log_file = create_log(log)?;
    writeln!(log_file, "$ {text}").map_err(|e| format!("cannot write {}: {e}", log.display()))?;
    let stderr_file = log_file
        .try_clone()
        .map_err(|e| format!("cannot reopen {}: {e}", log.display()))?;
    command
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(stderr_file);
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start `{text}`: {e}"))?;
    let mut guard = KillOnDrop(child);
    wait_with_deadline(&mut guard.0, timeout, &text)
}

fn wait_with_deadline(child: &mut Child, timeout: Duration, text: &str) -> Result<Finished> {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(Finished::Exited(status)),
            Ok(None) if start.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(Finished::TimedOut);
            }
            // Polling keeps this std-only; 20 ms is far below the time of any step we run.
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("cannot wait for `{text}`: {e}")),
        }
    }
}

/// A child process that is killed and reaped when this goes out of scope, so an early return
/// or a panic never leaves it running.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Creates `path` (and its folder) for writing a log.
pub fn create_log(path: &Path) -> Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

/// The last `lines` lines of the text file at `path` (empty if it cannot be read).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all.get(start..).unwrap_or_default().join("\n")
}

/// Prints `text` indented, so it reads as belonging to the step above it.
pub fn print_indented(text: &str) {
    for line in text.lines() {
        println!("    | {line}");
    }
}
