//! Rebuild and flash without leaving the monitor (Ctrl+T F), in a pseudo-terminal, on a crate
//! this test makes: `flash --monitor` builds it and flashes bootloader, partition table and
//! app; after a change to the code Ctrl+T F builds with the same cargo arguments and rewrites
//! only the app (the other two regions are unchanged and skipped), resets, and the monitor goes
//! on; a change that does not compile is shown and the old firmware keeps running.
//!
//! There is no Xtensa toolchain here, so a host build stands in for the firmware build: cargo
//! really compiles the crate, and the link step (`-C linker=` a small script) writes a firmware
//! ELF the test prepared (`support/synthetic_elf.rs`) as the executable. Unix only (a pty and a
//! shell script).
#![cfg(unix)]

use std::path::Path;
use std::time::Duration;

#[path = "support/cli.rs"]
mod cli;

#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;

#[path = "support/pty_harness.rs"]
mod pty_harness;

/// The "linker": copies the firmware the test chose (`$FAKE_FIRMWARE`) to the `-o` output.
const FAKE_LINKER: &str = r#"#!/bin/sh
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    -o) out="$2"; shift ;;
    -o*) out="${1#-o}" ;;
  esac
  shift
done
[ -n "$out" ] || { echo "fake linker: no -o" >&2; exit 1; }
cp "$FAKE_FIRMWARE" "$out"
"#;

/// Another version of the synthetic firmware: one byte of its flash code changed.
fn firmware_v2() -> Vec<u8> {
    let mut elf = synthetic_elf::synthetic_elf();
    let code = [0x36u8; 256];
    let at = elf
        .windows(code.len())
        .position(|w| w == code)
        .expect("the synthetic .text");
    elf[at + 100] = 0x37;
    elf
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn ctrl_t_f_rebuilds_and_flashes_only_what_changed() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("fw");
    let linker = temp.path().join("fake-linker.sh");
    write(&linker, FAKE_LINKER);
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&linker, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    write(
        &dir.join("Cargo.toml"),
        "[package]\nname = \"fw\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[package.metadata.esp32s3]\nchip = \"esp32s3\"\nbootloader = \"bootloader.bin\"\n",
    );
    write(
        &dir.join("bootloader.bin"),
        synthetic_elf::synthetic_bootloader(),
    );
    write(&dir.join("src/main.rs"), "fn main() {}\n");
    write(
        &dir.join(".cargo/config.toml"),
        format!(
            "[build]\nrustflags = [\"-C\", \"linker={}\"]\n",
            linker.display()
        ),
    );
    let next = temp.path().join("next.elf");
    write(&next, synthetic_elf::synthetic_elf());
    let flash = temp.path().join("flash.bin");
    let port = format!("sim://?flash={}", flash.display());
    let target_dir = std::env::temp_dir().join("cargo-esp32s3-tests-target");
    let wait = Duration::from_secs(120);

    // In the crate, as a user types it (cargo reads .cargo/config.toml from there).
    let mut pty = pty_harness::PtyChild::spawn_in(
        &dir,
        cli::binary(),
        ["flash", "--port", &port, "--monitor"],
        &[
            ("NO_COLOR", "1"),
            ("FAKE_FIRMWARE", next.to_str().expect("utf-8")),
            ("CARGO_TARGET_DIR", target_dir.to_str().expect("utf-8")),
        ],
    );
    pty.wait_for("--- monitor on", wait);
    let shown = pty.shown();
    assert!(shown.contains("Flashed 3 regions"), "{shown}");
    pty.wait_for("entry 0x403c8000", wait);

    // A change: the next build links the new firmware.
    write(&next, firmware_v2());
    write(&dir.join("src/main.rs"), "fn main() { /* v2 */ }\n");
    pty.send(&[0x14, b'f']);
    pty.wait_for("rebuilding: cargo build", wait);
    pty.wait_for("monitoring the new firmware", wait);
    let shown = pty.shown();
    let rebuilt = shown
        .split_once("rebuilding: cargo build")
        .map(|(_, after)| after)
        .unwrap_or_default();
    assert!(
        rebuilt.contains("Flashed 1 region, 2 skipped (unchanged)"),
        "{rebuilt}"
    );
    assert!(
        rebuilt.contains("flashed 1 region, 2 unchanged; monitoring the new firmware"),
        "{rebuilt}"
    );
    // The new firmware booted, on the same connection.
    pty.wait_for_count("entry 0x403c8000", 2, wait);

    // A change that does not compile: shown, nothing flashed, the monitor goes on.
    write(
        &dir.join("src/main.rs"),
        "fn main() { let x: u8 = \"no\"; }\n",
    );
    pty.send(&[0x14, b'F']);
    pty.wait_for(
        "nothing was flashed: the chip runs the firmware it had, and the monitor goes on",
        wait,
    );
    let shown = pty.shown();
    assert!(shown.contains("mismatched types"), "{shown}");
    assert!(
        shown.contains("error[ES0304]: `cargo build` failed"),
        "{shown}"
    );
    assert_eq!(shown.matches("Flashed 1 region").count(), 1, "{shown}");
    // Still watching, still the chip's console.
    pty.send(b"still here\r");
    pty.wait_for("still here", Duration::from_secs(15));
    pty.send(&[0x1d]);
    let status = pty.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{status:?}\n{}", pty.shown());

    // What the chip holds is the second firmware's app.
    let bytes = std::fs::read(&flash).expect("flash file");
    let v2_code: Vec<u8> = {
        let mut code = vec![0x36u8; 256];
        code[100] = 0x37;
        code
    };
    assert!(
        bytes.windows(v2_code.len()).any(|w| w == v2_code),
        "the app of the second build is in flash"
    );
}
