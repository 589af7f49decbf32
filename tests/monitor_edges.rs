//! The monitor's rough edges, each as a first user met it: the `invalid header` hint scrolled
//! away by the boot loop it explains (now said again when the monitor ends, and the shell's
//! prompt starts on a line of its own), no hint for the `No bootable app partitions` loop, no
//! way for a script to end the monitor when its input is done (`--exit-on-eof`), and a monitor
//! on a port without DTR/RTS that silently could not reset the chip.

use cargo_esp32s3::exit;
use cargo_esp32s3::image::FlashSize;
use cargo_esp32s3::image::partition::PartitionTable;

#[path = "support/cli.rs"]
mod cli;
use cli::Bench;

#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;
use synthetic_elf::synthetic_bootloader;

#[path = "support/testdata.rs"]
mod testdata;

#[cfg(unix)]
#[path = "support/pty_harness.rs"]
mod pty_harness;

#[test]
fn the_invalid_header_hint_is_said_again_when_the_monitor_ends() {
    let bench = Bench::new();
    // A blank chip boot-loops with `invalid header: 0xffffffff`.
    let out = bench.on_chip(&["monitor", "--non-interactive", "--timeout", "2"]);
    out.fails(exit::MONITOR_TIMEOUT, &["--timeout of 2 s passed"]);
    let hint = "hint: nothing valid is at flash offset 0x0 (invalid header)";
    assert_eq!(
        out.stderr.matches(hint).count(),
        2,
        "once when it first shows, once at the end: {}",
        out.dump()
    );
    let last_hint = out.stderr.rfind(hint).expect("the hint");
    let error = out.stderr.find("error[").expect("the error line");
    assert!(last_hint < error, "{}", out.dump());
    assert!(out.stdout.ends_with('\n'), "{}", out.dump());
}

#[test]
fn the_no_bootable_app_loop_gets_a_hint() {
    let bench = Bench::new();
    bench.write("bl.bin", &synthetic_bootloader());
    // The bootloader's header says 4 MB: its table must fit that (the chip's second stage checks).
    let table = PartitionTable::default_for_flash(FlashSize::S4Mb.bytes());
    bench.write("pt.bin", &table.to_binary());
    bench
        .on_chip(&["flash", "--at", "0x0", "bl.bin", "--at", "0x8000", "pt.bin"])
        .succeeds();
    let out = bench.on_chip(&[
        "monitor",
        "--non-interactive",
        "--until",
        "No bootable app partitions",
        "--timeout",
        "10",
    ]);
    out.succeeds();
    out.stderr_has(&[
        "hint: the bootloader found no app it can boot",
        "flash the firmware again",
    ]);
}

#[test]
fn exit_on_eof_ends_once_the_chip_has_answered_and_the_prompt_is_on_its_own_line() {
    let Some(image) = testdata::micropython() else {
        println!("skipped: the MicroPython image (no ../shared/testdata)");
        return;
    };
    let bench = Bench::new();
    bench.write("mp.bin", &image);
    bench.on_chip(&["flash", "mp.bin"]).succeeds();
    let port = bench.port();
    let out = bench
        .cmd(&[
            "monitor",
            "--port",
            &port,
            "--non-interactive",
            "--exit-on-eof",
            "--timeout",
            "30",
        ])
        .stdin(b"help()\n")
        .run();
    out.succeeds();
    out.stdout_has(&[
        ">>> help()",
        "Welcome to MicroPython",
        "type help('modules')",
    ]);
    assert!(out.stdout.ends_with('\n'), "{}", out.dump());
}

/// Interactive: MicroPython's last word is its `>>> ` prompt, with no line end; after Ctrl+]
/// the monitor ends that line, so the shell's prompt does not start after `>>> `.
#[cfg(unix)]
#[test]
fn after_the_monitor_the_shell_prompt_starts_on_a_fresh_line() {
    use std::time::Duration;
    let Some(image) = testdata::micropython() else {
        println!("skipped: the MicroPython image (no ../shared/testdata)");
        return;
    };
    let bench = Bench::new();
    bench.write("mp.bin", &image);
    bench.on_chip(&["flash", "mp.bin"]).succeeds();
    let port = bench.port();
    let wait = Duration::from_secs(30);
    let mut pty = pty_harness::PtyChild::spawn(
        cli::binary(),
        ["monitor", "--port", port.as_str()],
        &[("NO_COLOR", "1")],
    );
    pty.wait_for(">>> ", wait);
    pty.send(&[0x1d]);
    let status = pty.wait_exit(wait);
    assert!(status.success(), "{status:?}: {}", pty.shown());
    let shown = pty.shown();
    let after_prompt = shown
        .rsplit_once(">>> ")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    assert!(
        after_prompt.starts_with("\r\n") || after_prompt.starts_with('\n'),
        "the line after `>>> ` was not ended: {shown:?}"
    );
}

#[cfg(unix)]
#[test]
fn a_port_without_reset_lines_says_so() {
    // A pseudo-terminal carries no DTR/RTS.
    let mut sim = cli::SimProcess::start(&["--pty"]);
    let bench = Bench::new();
    let out = bench.run(&[
        "monitor",
        "--port",
        &sim.port,
        "--non-interactive",
        "--timeout",
        "1",
    ]);
    sim.kill();
    out.fails(exit::MONITOR_TIMEOUT, &["--timeout"]);
    out.stderr_has(&["cannot reset the chip", "press the board's RESET button"]);
}
