//! `flash` with several `--port`s against virtual chips (`sim://?flash=FILE`, one file per
//! board): the plan is made once and every board gets the same bytes, laid out for its own
//! detected flash size (8 MB on these virtual boards) as a single board's are; the summary table names
//! each port, MAC, result and time; a board that fails (wrong chip, flash too small) does not
//! stop the others and the exit status is that failure's code (1 when the failures differ); a
//! single port keeps the single-board output; and the other chip commands refuse several ports.

use cargo_esp32s3::exit;

#[path = "support/cli.rs"]
mod cli;
use cli::{Bench, Outcome};

#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;
use synthetic_elf::{synthetic_bootloader, synthetic_elf};

/// The summary row of a port.
fn row<'a>(out: &'a Outcome, port: &str) -> &'a str {
    out.stdout
        .lines()
        .find(|l| l.starts_with(port))
        .unwrap_or_else(|| panic!("no summary row for {port}; {}", out.dump()))
}

/// A virtual board whose flash lives in `<name>.flash` in the rack's directory; `extra` adds
/// URL options.
fn board(rack: &Bench, name: &str, extra: &str) -> String {
    format!(
        "sim://?flash={}{extra}",
        rack.path(&format!("{name}.flash")).display()
    )
}

fn flash_of(rack: &Bench, name: &str) -> Vec<u8> {
    std::fs::read(rack.path(&format!("{name}.flash"))).unwrap_or_default()
}

/// The ELF and bootloader inputs, and the merged image `save-image` makes of them for the
/// boards' 8 MB flash: what every board must end up holding from 0x0.
fn inputs(rack: &Bench) -> (String, String, Vec<u8>) {
    let elf = rack.write("app.elf", &synthetic_elf());
    let bootloader = rack.write("bootloader.bin", &synthetic_bootloader());
    let merged = rack.path("merged.bin").display().to_string();
    rack.run(&[
        "save-image",
        &elf,
        &merged,
        "--merge",
        "--bootloader",
        &bootloader,
        "--flash-size",
        "8MB",
    ])
    .succeeds();
    let merged = std::fs::read(&merged).expect("merged image");
    (elf, bootloader, merged)
}

fn holds(flash: &[u8], image: &[u8]) -> bool {
    flash.get(..image.len()) == Some(image)
}

#[test]
fn three_boards_at_once_get_the_same_image_and_a_summary() {
    let rack = Bench::new();
    let (elf, bootloader, merged) = inputs(&rack);
    let boards = ["a", "b", "c"];
    let ports: Vec<String> = boards
        .iter()
        .enumerate()
        .map(|(i, name)| board(&rack, name, &format!("&mac=7c:df:a1:00:00:0{}", i + 1)))
        .collect();
    let mut args = vec!["flash", elf.as_str(), "--bootloader", bootloader.as_str()];
    for port in &ports {
        args.extend(["--port", port.as_str()]);
    }
    let out = rack.run(&args);
    assert_eq!(out.code, Some(i32::from(exit::SUCCESS)), "{}", out.dump());
    assert!(out.error_lines().is_empty(), "{}", out.dump());
    let header = out.stdout.lines().next().unwrap_or_default();
    for column in ["PORT", "MAC", "TIME", "RESULT"] {
        assert!(header.contains(column), "{}", out.dump());
    }
    for (i, (name, port)) in boards.iter().zip(&ports).enumerate() {
        let row = row(&out, port);
        assert!(row.contains(&format!("7c:df:a1:00:00:0{}", i + 1)), "{row}");
        assert!(row.contains("ok (3 written, 0 unchanged)"), "{row}");
        assert!(row.contains(" s "), "no time in {row}");
        assert!(
            holds(&flash_of(&rack, name), &merged),
            "board {name} does not hold the merged image; {}",
            out.dump()
        );
        // Each board's lines carry its port.
        assert!(
            out.stderr
                .contains(&format!("[{port}] Connected on {port}")),
            "{}",
            out.dump()
        );
    }
    assert!(
        out.stdout.contains("3 of 3 boards flashed"),
        "{}",
        out.dump()
    );
    // Each board says how full its app partition is.
    assert_eq!(
        out.stderr.matches("app partition factory:").count(),
        3,
        "{}",
        out.dump()
    );

    // Again: every region of every board is unchanged now.
    let again = rack.run(&args);
    assert_eq!(
        again.code,
        Some(i32::from(exit::SUCCESS)),
        "{}",
        again.dump()
    );
    for port in &ports {
        assert!(row(&again, port).contains("ok (0 written, 3 unchanged)"));
    }
}

/// Boards that fail (another chip, a flash too small for the image) fail alone; the exit status
/// is their failure's code, or 1 when they failed in different ways.
#[test]
fn failing_boards_do_not_stop_the_others() {
    let rack = Bench::new();
    let (_, _, merged) = inputs(&rack);
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
            exit::CONNECT,
            "this is an ESP32-C3, not an ESP32-S3",
        ),
        (
            vec![("a", ""), ("b", ""), small],
            vec!["small"],
            exit::FLASH,
            "256",
        ),
        (
            vec![("a", ""), wrong_chip, small],
            vec!["c3", "small"],
            exit::FAILURE,
            "",
        ),
    ] {
        for (name, _) in &boards {
            let _ = std::fs::remove_file(rack.path(&format!("{name}.flash")));
        }
        let ports: Vec<String> = boards
            .iter()
            .map(|(name, extra)| board(&rack, name, extra))
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
        assert_eq!(out.code, Some(i32::from(code)), "{}", out.dump());
        let errors = out.error_lines();
        assert_eq!(errors.len(), 1, "{}", out.dump());
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
            let row = row(&out, port);
            let flash = flash_of(&rack, name);
            if failing.contains(name) {
                assert!(row.contains("failed: "), "{row}");
                assert!(row.contains(reason), "{row}");
                assert!(errors[0].contains(port.as_str()), "{}", errors[0]);
                assert!(!holds(&flash, &merged), "failed board {name} was written");
            } else {
                assert!(row.contains("ok (2 written"), "{row}");
                assert!(holds(&flash, &merged), "board {name}: {}", out.dump());
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
            out.dump()
        );
    }
}

#[test]
fn one_port_keeps_the_single_board_output() {
    let rack = Bench::new();
    let (elf, bootloader, merged) = inputs(&rack);
    let port = board(&rack, "only", "");
    let out = rack.run(&[
        "flash",
        &elf,
        "--bootloader",
        &bootloader,
        "--port",
        &port,
        "--flash-size",
        "8mb",
    ]);
    assert_eq!(out.code, Some(i32::from(exit::SUCCESS)), "{}", out.dump());
    assert!(out.stdout.is_empty(), "no summary table: {}", out.dump());
    assert!(
        !out.stderr.contains('['),
        "no port prefixes: {}",
        out.dump()
    );
    let first = out.stderr.lines().next().unwrap_or_default();
    assert_eq!(first, "Connecting...", "{}", out.dump());
    assert!(out.stderr.contains("Hard resetting via RTS pin..."));
    assert!(holds(&flash_of(&rack, "only"), &merged));
}

#[test]
fn port_lists_that_make_no_sense_are_usage_errors() {
    let rack = Bench::new();
    let (elf, _, _) = inputs(&rack);
    let a = board(&rack, "a", "");
    let b = board(&rack, "b", "");
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
            // Only `flash` has the flag (its help lists it, the others' do not).
            vec!["board-info", "--all-ports"],
            "unexpected argument '--all-ports'",
        ),
        (
            vec!["flash", elf.as_str(), "--all-ports", "--port", &a],
            "cannot be used with",
        ),
    ] {
        let out = rack.run(&args);
        assert_eq!(
            out.code,
            Some(i32::from(exit::USAGE)),
            "{args:?}: {}",
            out.dump()
        );
        assert!(out.stderr.contains(message), "{args:?}: {}", out.dump());
    }
    // Nothing was touched.
    assert!(flash_of(&rack, "a").iter().all(|&b| b == 0xFF));
}
