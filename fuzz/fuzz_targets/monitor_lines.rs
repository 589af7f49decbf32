//! Fuzz target: the monitor's handling of console bytes: line assembly (CR, LF, CRLF, cut
//! anywhere), ANSI colour stripping, hints and code-address extraction, and a whole watch
//! session. Properties: no panic; lines hold no line ending and stay under the line limit;
//! cutting the stream changes no line; every received byte is delivered exactly once; stripped
//! text holds no CSI sequence; addresses are code addresses named in the line.

#![no_main]

use cargo_esp32s3::monitor::{
    Control, LineAssembler, MAX_LINE_LEN, MonitorEvent, Session, WatchOptions, code_addresses,
    hint_for, strip_ansi,
};
use libfuzzer_sys::fuzz_target;

#[path = "chunks.rs"]
mod chunks;

fn lines(reads: &[&[u8]]) -> (Vec<String>, Option<String>) {
    let mut assembler = LineAssembler::new();
    let mut lines = Vec::new();
    for read in reads {
        assembler.push(read, &mut |line| lines.push(line.to_string()));
    }
    (lines, assembler.take_partial())
}

/// Compiled once per thread (the fuzzer runs on one): a regex per input would be most of the
/// time spent. Leaked, as the options live for the whole run.
fn options() -> &'static WatchOptions {
    thread_local! {
        static OPTIONS: &'static WatchOptions = Box::leak(Box::new(WatchOptions {
            until: regex::Regex::new("^I \\(\\d+\\) main: done").ok(),
            hints: true,
            ..WatchOptions::default()
        }));
    }
    OPTIONS.with(|options| *options)
}

fuzz_target!(|data: &[u8]| {
    let (pieces, whole) = chunks::split(data);
    let at_once = lines(&[whole]);
    assert_eq!(
        at_once,
        lines(&pieces),
        "cutting the stream changed the lines"
    );
    for line in at_once.0.iter().chain(&at_once.1) {
        assert!(
            !line.contains(['\r', '\n']),
            "a line with its ending: {line:?}"
        );
        // Lossy UTF-8 may turn one byte into three.
        assert!(line.len() <= 3 * MAX_LINE_LEN);
        let visible = strip_ansi(line);
        assert!(!visible.contains("\u{1b}["), "CSI left in {visible:?}");
        let _ = hint_for(&visible);
        for addr in code_addresses(&visible) {
            assert!(
                visible
                    .to_ascii_lowercase()
                    .contains(&format!("0x{addr:08x}"))
            );
        }
    }

    let options = options();
    let mut session = Session::new(options);
    let mut received = 0;
    let mut on_event = |event: MonitorEvent<'_>| {
        if let MonitorEvent::Received(bytes) = event {
            received += bytes.len();
        }
        Control::Continue
    };
    let mut ended = false;
    for piece in &pieces {
        if session.feed(piece, &mut on_event).is_some() {
            ended = true;
            break;
        }
    }
    if !ended {
        let _ = session.idle(&mut on_event);
        let _ = session.finish(&mut on_event);
        assert_eq!(received, whole.len(), "received bytes lost or repeated");
    }
});
