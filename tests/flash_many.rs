//! `flash` with several `--port`s against virtual chips (`sim://?flash=FILE`, one file per
//! board): the image is made once and every board gets the same bytes; the summary table names
//! each port, MAC, result and time; a board that fails (wrong chip, flash too small) does not
//! stop the others and the exit status is that failure's code (1 when the failures differ); a
//! single port keeps the single-board output; and the other chip commands refuse several ports.

use std::path::PathBuf;
use std::process::Command;

use cargo_esp32s3::image::format::{ImageHeader, Segment, encode_image};

#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;
use synthetic_elf::synthetic_elf;

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn show(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }

    /// The lines starting with `error:` (each board's own errors carry its port first).
    fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect()
    }

    /// The summary row of a port.
    fn row(&self, port: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with(port))
            .unwrap_or_else(|| panic!("no summary row for {port}; {}", self.show()))
    }
}

/// A temporary directory with the input files and one flash file per virtual board.
struct Rack {
    dir: tempfile::TempDir,
}

impl Rack {
    fn new() -> Self {
        Rack {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        std::fs::write(self.path(name), bytes).expect("write test file");
        self.path(name).display().to_string()
    }

    /// A virtual board whose flash lives in `<name>.flash`; `extra` adds URL options.
    fn port(&self, name: &str, extra: &str) -> String {
        format!(
            "sim://?flash={}{extra}",
            self.path(&format!("{name}.flash")).display()
        )
    }

    fn flash_of(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(&format!("{name}.flash"))).unwrap_or_default()
    }

    fn run(&self, args: &[&str]) -> Outcome {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cargo-esp32s3"));
        for (key, _) in std::env::vars() {
            if key.starts_with("ESP32S3_") {
                command.env_remove(key);
            }
        }
        let output = command
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .args(args)
            .output()
            .expect("run cargo-esp32s3");
        Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The ELF and bootloader inputs, and the merged image `save-image` makes of them: what
    /// every board must end up holding from 0x0.
    fn inputs(&self) -> (String, String, Vec<u8>) {
        let elf = self.write("app.elf", &synthetic_elf());
        let bootloader = self.write("bootloader.bin", &synthetic_bootloader());
        let merged = self.path("merged.bin").display().to_string();
        let out = self.run(&[
            "save-image",
            &elf,
            &merged,
            "--merge",
            "--bootloader",
            &bootloader,
        ]);
        assert_eq!(out.code, 0, "{}", out.show());
        let merged = std::fs::read(&merged).expect("merged image");
        (elf, bootloader, merged)
    }
}

/// A small ESP32-S3 image that passes for a second-stage bootloader.
fn synthetic_bootloader() -> Vec<u8> {
    let header = ImageHeader {
        entry: 0x403C_8000,
        ..ImageHeader::default()
    };
    let segments = [Segment {
        addr: 0x403C_8000,
        data: (0..2048u32).map(|i| (i * 7) as u8).collect(),
    }];
    encode_image(&header, &segments).expect("bootloader image")
}

fn holds(flash: &[u8], image: &[u8]) -> bool {
    flash.get(..image.len()) == Some(image)
}

#[test]
fn three_boards_at_once_get_the_same_image_and_a_summary() {
    let rack = Rack::new();
    let (elf, bootloader, merged) = rack.inputs();
    let boards = ["a", "b", "c"];
    let ports: Vec<String> = boards
        .iter()
        .enumerate()
        .map(|(i, name)| rack.port(name, &format!("&mac=7c:df:a1:00:00:0{}", i + 1)))
        .collect();
    let mut args = vec!["flash", elf.as_str(), "--bootloader", bootloader.as_str()];
    for port in &ports {
        args.extend(["--port", port.as_str()]);
    }
    let out = rack.run(&args);
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(out.error_lines().is_empty(), "{}", out.show());
    let header = out.stdout.lines().next().unwrap_or_default();
    for column in ["PORT", "MAC", "TIME", "RESULT"] {
        assert!(header.contains(column), "{}", out.show());
    }
    for (i, (name, port)) in boards.iter().zip(&ports).enumerate() {
        let row = out.row(port);
        assert!(row.contains(&format!("7c:df:a1:00:00:0{}", i + 1)), "{row}");
        assert!(row.contains("ok (3 written, 0 unchanged)"), "{row}");
        assert!(row.contains(" s "), "no time in {row}");
        assert!(
            holds(&rack.flash_of(name), &merged),
            "board {name} does not hold the merged image; {}",
            out.show()
        );
        // Each board's lines carry its port.
        assert!(
            out.stderr
                .contains(&format!("[{port}] Connected on {port}")),
            "{}",
            out.show()
        );
    }
    assert!(
        out.stdout.contains("3 of 3 boards flashed"),
        "{}",
        out.show()
    );
    // Each board says how full its app partition is.
    assert_eq!(
        out.stderr.matches("app partition factory:").count(),
        3,
        "{}",
        out.show()
    );

    // Again: every region of every board is unchanged now.
    let again = rack.run(&args);
    assert_eq!(again.code, 0, "{}", again.show());
    for port in &ports {
        assert!(again.row(port).contains("ok (0 written, 3 unchanged)"));
    }
}

/// Boards that fail (another chip, a flash too small for the image) fail alone; the exit status
/// is their failure's code, or 1 when they failed in different ways.
#[test]
fn failing_boards_do_not_stop_the_others() {
    let rack = Rack::new();
    let (_, _, merged) = rack.inputs();
    let image = rack.write("image.bin", &merged);
    // 8 KiB of data at 0x40000: past the end of a 256 KB flash.
    let data = rack.write("data.bin", &[0x5A; 0x2000]);
    // (boards as (name, URL options), which of them fail, expected exit code)
    let wrong_chip = ("c3", "&chip=esp32c3");
    let small = ("small", "&size=256KB");
    for (boards, failing, code, reason) in [
        (
            vec![("a", ""), wrong_chip, ("b", "")],
            vec!["c3"],
            6,
            "this is an ESP32-C3, not an ESP32-S3",
        ),
        (vec![("a", ""), ("b", ""), small], vec!["small"], 7, "256"),
        (
            vec![("a", ""), wrong_chip, small],
            vec!["c3", "small"],
            1,
            "",
        ),
    ] {
        for (name, _) in &boards {
            let _ = std::fs::remove_file(rack.path(&format!("{name}.flash")));
        }
        let ports: Vec<String> = boards
            .iter()
            .map(|(name, extra)| rack.port(name, extra))
            .collect();
        let mut args = vec![
            "flash",
            "--at",
            "0x0",
            image.as_str(),
            "--at",
            "0x40000",
            data.as_str(),
        ];
        for port in &ports {
            args.extend(["--port", port.as_str()]);
        }
        let out = rack.run(&args);
        assert_eq!(out.code, code, "{}", out.show());
        let errors = out.error_lines();
        assert_eq!(errors.len(), 1, "{}", out.show());
        assert!(
            errors[0].contains(&format!(
                "{} of {} boards failed",
                failing.len(),
                boards.len()
            )),
            "{}",
            errors[0]
        );
        for ((name, _), port) in boards.iter().zip(&ports) {
            let row = out.row(port);
            let flash = rack.flash_of(name);
            if failing.contains(name) {
                assert!(row.contains("failed: "), "{row}");
                assert!(row.contains(reason), "{row}");
                assert!(errors[0].contains(port.as_str()), "{}", errors[0]);
                assert!(!holds(&flash, &merged), "failed board {name} was written");
            } else {
                assert!(row.contains("ok (2 written"), "{row}");
                assert!(holds(&flash, &merged), "board {name}: {}", out.show());
                assert_eq!(flash.get(0x40000..0x42000), Some(&[0x5A; 0x2000][..]));
            }
        }
        let done = boards.len() - failing.len();
        assert!(
            out.stdout.contains(&format!(
                "{done} of {} boards flashed, {} failed",
                boards.len(),
                failing.len()
            )),
            "{}",
            out.show()
        );
    }
}

#[test]
fn one_port_keeps_the_single_board_output() {
    let rack = Rack::new();
    let (elf, bootloader, merged) = rack.inputs();
    let port = rack.port("only", "");
    let out = rack.run(&[
        "flash",
        &elf,
        "--bootloader",
        &bootloader,
        "--port",
        &port,
        "--flash-size",
        "4mb",
    ]);
    assert_eq!(out.code, 0, "{}", out.show());
    assert!(out.stdout.is_empty(), "no summary table: {}", out.show());
    assert!(
        !out.stderr.contains('['),
        "no port prefixes: {}",
        out.show()
    );
    let first = out.stderr.lines().next().unwrap_or_default();
    assert_eq!(first, "Connecting...", "{}", out.show());
    assert!(out.stderr.contains("Hard resetting via RTS pin..."));
    assert!(holds(&rack.flash_of("only"), &merged));
}

#[test]
fn port_lists_that_make_no_sense_are_usage_errors() {
    let rack = Rack::new();
    let (elf, _, _) = rack.inputs();
    let a = rack.port("a", "");
    let b = rack.port("b", "");
    for (args, message) in [
        (
            vec!["flash", elf.as_str(), "--port", &a, "--port", &a],
            "is given twice",
        ),
        (
            vec!["erase", "--port", &a, "--port", &b],
            "`erase` works on one board but --port was given 2 times",
        ),
        (
            vec!["board-info", "--all-ports"],
            "`board-info` works on one board; --all-ports is for `flash`",
        ),
        (
            vec!["flash", elf.as_str(), "--all-ports", "--port", &a],
            "cannot be used with",
        ),
    ] {
        let out = rack.run(&args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.show());
        assert!(out.stderr.contains(message), "{args:?}: {}", out.show());
    }
    // Nothing was touched.
    assert!(rack.flash_of("a").iter().all(|&b| b == 0xFF));
}
