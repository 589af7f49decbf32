//! `docs/errors.md`, rendered from the catalogue: one section per code with its name, exit code,
//! example message, cause and fix, an index by exit code, and the chip's status codes. Pure text
//! out; writing the file is the caller's (`tests/error_catalogue.rs`). It must not know where
//! the file lives.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Entry, LAYERS};
use crate::exit;
use crate::protocol::errors::DeviceError;

/// What each exit code means, for the index.
const EXIT_CODES: &[(u8, &str)] = &[
    (exit::FAILURE, "any other failure"),
    (exit::USAGE, "the command line was wrong"),
    (exit::CONFIG, "the configuration was wrong"),
    (exit::BUILD, "`cargo build` failed"),
    (exit::IMAGE, "an image, ELF or partition table was invalid"),
    (
        exit::CONNECT,
        "the chip could not be reached or answered wrongly",
    ),
    (
        exit::FLASH,
        "writing, erasing, reading or verifying flash failed",
    ),
    (
        exit::MONITOR_TIMEOUT,
        "the monitor's `--timeout` passed without a match",
    ),
];

/// The whole of `docs/errors.md`.
pub fn markdown() -> String {
    let mut out = String::new();
    // A problem every user can meet, with a message that shows the values.
    if let Some(example) = super::entry("ES0504") {
        header(&mut out, example);
    }
    exit_index(&mut out);
    for layer in LAYERS {
        let _ = write!(
            out,
            "\n## {}xx: {}\n\n{}\n",
            layer.prefix, layer.title, layer.about
        );
        for entry in layer.entries {
            section(&mut out, entry);
        }
    }
    status_codes(&mut out);
    out
}

/// The page's title and introduction, with `example` (an error line) shown.
fn header(out: &mut String, example: &Entry) {
    let _ = write!(
        out,
        "# Error codes

<!-- Generated from src/catalogue/ by `cargo xtask errors`; edit the catalogue, not this file. -->

Every error `cargo esp32s3` prints is one line that starts with its code, in rustc's style:

```text
error[{}]: {}
```

Search this page for the code to find the usual cause and the fix. The codes are stable: a code
always names the same problem, and a code whose problem is gone is never given to another.
`ES` codes are this tool's own; the `error[E0308]`-style codes in `cargo build`'s output are
rustc's (`rustc --explain E0308`).

Codes come in hundreds, one per layer of the tool, in the order a command meets them. An
error that wraps another (a file name in front of a problem in the file, a problem of the
connection during a flash) carries the code of the problem inside. A script using the library
gets the same code with `cargo_esp32s3::catalogue::code_of(&error)`.
",
        example.code,
        example.message()
    );
}

/// The index: which codes end the command with which exit code, consecutive codes as ranges.
fn exit_index(out: &mut String) {
    let mut by_exit: BTreeMap<u8, Vec<Vec<&Entry>>> = BTreeMap::new();
    for entry in super::entries() {
        let runs = by_exit.entry(entry.exit_code()).or_default();
        match runs.last_mut() {
            Some(run) if run.last().is_some_and(|last| follows(last, entry)) => run.push(entry),
            _ => runs.push(vec![entry]),
        }
    }
    out.push_str("\n## Exit codes\n\n| exit | meaning | codes |\n|---:|---|---|\n");
    for (code, runs) in &by_exit {
        let meaning = EXIT_CODES
            .iter()
            .find(|(c, _)| c == code)
            .map_or("(undocumented)", |(_, m)| m);
        let shown: Vec<String> = runs
            .iter()
            .map(|run| match run.as_slice() {
                [one] => link(one),
                [first, .., last] => format!("{}–{}", link(first), link(last)),
                [] => String::new(),
            })
            .collect();
        let _ = writeln!(out, "| {code} | {meaning} | {} |", shown.join(", "));
    }
    let _ = writeln!(
        out,
        "\nErrors of the port and the loader (ES08xx, ES09xx) end with {} instead of {} when they \
         happen while flash is written, erased, read or verified. When several boards are flashed \
         at once, the exit code is the boards' when they all failed the same way.",
        exit::FLASH,
        exit::CONNECT
    );
}

/// Whether `next`'s code is the one after `entry`'s.
fn follows(entry: &Entry, next: &Entry) -> bool {
    let number = |e: &Entry| e.code.as_str()[2..].parse::<u32>().ok();
    matches!((number(entry), number(next)), (Some(a), Some(b)) if b == a + 1)
}

/// `[ES0504](#es0504)`.
fn link(entry: &Entry) -> String {
    format!("[{}](#{})", entry.code, anchor(entry))
}

/// One code's section.
fn section(out: &mut String, entry: &Entry) {
    let exit = entry.exit_code();
    let _ = write!(
        out,
        "\n### {}\n\n`{}` · exit {exit}\n\n```text\nerror[{}]: {}\n```\n\n**Cause.** {}\n\n**Fix.** {}\n",
        entry.code,
        entry.name(),
        entry.code,
        entry.message(),
        entry.cause(),
        entry.fix()
    );
}

/// The heading's anchor as GitHub makes it (`#es0504`).
fn anchor(entry: &Entry) -> String {
    entry.code.as_str().to_ascii_lowercase()
}

/// The status codes a chip answers a failed command with ([`DeviceError`], shown by ES0908).
fn status_codes(out: &mut String) {
    out.push_str(
        "\n## Status codes of the chip\n\nA command that the chip answers with a failure status is \
         [ES0908](#es0908); the message shows the status as esptool does. What they mean:\n\n\
         | status | meaning |\n|---|---|\n",
    );
    let rom = (0..=u8::MAX).map(DeviceError::Rom);
    let stub = (0xC0..=0xFF).map(|high: u16| DeviceError::Stub(high << 8));
    for status in rom.chain(stub) {
        let meaning = status.meaning();
        if meaning.starts_with("unknown ") {
            continue;
        }
        let (who, hex) = match status {
            DeviceError::Rom(code) => ("ROM", format!("01{code:02x}")),
            DeviceError::Stub(code) => ("stub", format!("{code:04x}")),
        };
        let _ = writeln!(out, "| {who} `{hex}` | {meaning} |");
    }
}
