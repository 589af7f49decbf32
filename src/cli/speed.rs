//! The command line's share of the speed features: where the baud ladder remembers the rate that
//! worked per port (`baud-rates` in the user's cache directory, by the OS's convention through
//! the `dirs` crate: `~/.cache/cargo-esp32s3` on Linux, `~/Library/Caches/cargo-esp32s3` on
//! macOS, `%LOCALAPPDATA%\cargo-esp32s3` on Windows; `ESP32S3_CACHE_DIR` points elsewhere, and
//! tests point it at a temporary folder), and where `stub = "auto"` looks for an installed
//! esptool's stub (next to an `esptool`/`esptool.py` script on `PATH`, then the esptool package
//! `python3` imports). The search itself is `cargo_esp32s3::stub_finder`; this file only reads
//! the environment and asks Python.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cargo_esp32s3::Event;
use cargo_esp32s3::config::Settings;
use cargo_esp32s3::stub_finder;

use super::progress::Progress;

/// How long `python3` may take to say where esptool is.
const PYTHON_LIMIT: Duration = Duration::from_secs(3);

/// `settings` completed for a connection: the baud memory's file, and the stub an installed
/// esptool has when `stub = "auto"` (said as an event).
pub fn prepare(settings: &Settings, progress: &mut Progress) -> Settings {
    let mut settings = settings.clone();
    if settings.baud_memory.is_none() {
        settings.baud_memory = super::context::cache_dir().map(|dir| dir.join("baud-rates"));
    }
    if settings.stub.is_none() && settings.stub_auto {
        if let Some(path) = find_stub() {
            progress.handle(Event::StubFound { path: path.clone() });
            settings.stub = Some(path);
        }
    }
    settings
}

/// An ESP32-S3 stub of an installed esptool: beside a script on `PATH` first (the esptool a
/// user runs), then in the package `python3` would import.
fn find_stub() -> Option<PathBuf> {
    let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    let near_scripts = stub_finder::packages_near_scripts(&path_dirs);
    if let Some(found) = stub_finder::find_in_packages(&near_scripts) {
        return Some(found);
    }
    let package = python_esptool_dir()?;
    stub_finder::find_in_packages(&[package])
}

/// Where `python3` finds the esptool package, without importing it.
fn python_esptool_dir() -> Option<PathBuf> {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import importlib.util as u\ns = u.find_spec('esptool')\nprint(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < PYTHON_LIMIT => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let output = child.wait_with_output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (!text.is_empty()).then(|| PathBuf::from(text))
}
