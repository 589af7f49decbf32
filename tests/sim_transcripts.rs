//! Replays every recorded exchange with the real ESP32-S3 ROM (`testdata/rom-transcripts`)
//! against a fresh simulator configured like the recording emulator, and compares every reply
//! frame byte for byte (stale bytes and `value` included) and the console text.
//!
//! The only tolerated differences are listed in [`known_differences`], each with its reason.
//! Skips (with a message) when the test data is not present.

use std::collections::BTreeMap;

use cargo_esp32s3::protocol::slip;
use cargo_esp32s3::sim::{Esp32s3, SimConfig, StartIn};

#[path = "support/testdata.rs"]
mod testdata;
use testdata::testdata;

#[derive(Debug, serde::Deserialize)]
struct Step {
    scenario: String,
    step: usize,
    label: String,
    strap: String,
    request_hex: String,
    extra_requests_hex: Vec<String>,
    #[serde(default)]
    request_wire_hex: Option<String>,
    reply_frames_hex: Vec<String>,
    non_slip_hex: String,
    #[serde(default)]
    non_slip_truncated: bool,
    #[serde(default)]
    partial_frame_hex: Option<String>,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Split what the chip sent as the capture tool did: outside a frame C0 opens one, inside a
/// frame C0 closes it, C0 C0 is a repeated delimiter; bytes outside frames are console text.
fn split(bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>, Option<Vec<u8>>) {
    let (mut frames, mut text) = (Vec::new(), Vec::new());
    let mut frame: Option<Vec<u8>> = None;
    let mut escape = false;
    for &b in bytes {
        match frame.as_mut() {
            None if b == slip::END => frame = Some(Vec::new()),
            None => text.push(b),
            Some(f) if b == slip::END => {
                if !f.is_empty() {
                    frames.push(std::mem::take(f));
                    frame = None;
                }
            }
            Some(f) if escape => {
                escape = false;
                f.push(match b {
                    slip::ESC_END => slip::END,
                    slip::ESC_ESC => slip::ESC,
                    other => other,
                });
            }
            Some(_) if b == slip::ESC => escape = true,
            Some(f) => f.push(b),
        }
    }
    (frames, text, frame.filter(|f| !f.is_empty()))
}

/// Per-scenario set-up: the recording used other eFuse images or straps for these.
fn config_for(scenario: &str, strap: &str) -> SimConfig {
    let mut config = SimConfig::qemu_reference();
    let strap = u8::from_str_radix(strap.trim_start_matches("0x"), 16).expect("strap");
    if strap & 0x08 != 0 || strap & 0x07 == 0x04 {
        config.spi_strap = strap;
        config.start_in = StartIn::SpiBoot;
    } else {
        config.download_strap = strap;
    }
    match scenario {
        // eFuse image of all zeros: revision v0.0.
        "security-info-efuse-zero" => config.identity.revision_minor = 0,
        // Byte 38 = 0x04: 0x60007050 = 0x00040000, revision v0.1.
        "security-info-efuse-byte38-0x04" => config.identity.revision_minor = 1,
        _ => {}
    }
    config
}

/// What may differ, and why. Keyed by (scenario, step).
fn known_differences() -> BTreeMap<(&'static str, usize), &'static str> {
    let mut m = BTreeMap::new();
    // The emulator does not model USB; with strap 0x00 its ROM panics on the first UART byte.
    // Silicon (and the simulator) answer SYNC on UART0 in this strap.
    m.insert(
        ("boot-console-download-strap0x00", 1),
        "emulator-only panic: USB not modelled",
    );
    m.insert(
        ("boot-console-download-strap0x00", 2),
        "emulator-only panic: USB not modelled",
    );
    m
}

#[test]
fn replays_every_rom_transcript() {
    let Some(dir) = testdata() else {
        return;
    };
    let path = dir.join("rom-transcripts/transcripts.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("skipped: {} not found", path.display());
        return;
    };
    let steps: Vec<Step> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("transcript line"))
        .collect();
    let known = known_differences();
    let (mut compared, mut matched, mut tolerated) = (0, 0, 0);
    let mut failures = Vec::new();
    let mut chip: Option<Esp32s3> = None;
    let mut current = String::new();
    for step in &steps {
        if step.scenario != current || step.step == 0 {
            current = step.scenario.clone();
            chip = Some(Esp32s3::new(config_for(&step.scenario, &step.strap)).expect("sim"));
        }
        let chip = chip.as_mut().expect("chip");
        let wire = match &step.request_wire_hex {
            Some(w) => unhex(w),
            None => std::iter::once(&step.request_hex)
                .chain(&step.extra_requests_hex)
                .filter(|p| !p.is_empty())
                .flat_map(|p| slip::encode(&unhex(p)))
                .collect(),
        };
        chip.receive(&wire);
        let (frames, text, partial) = split(&chip.take_output());
        compared += 1;
        let want_frames: Vec<Vec<u8>> = step.reply_frames_hex.iter().map(|h| unhex(h)).collect();
        let want_text = unhex(&step.non_slip_hex);
        let text_ok = if step.non_slip_truncated {
            // The recording kept the first 4096 bytes of an endless boot loop; the simulator
            // prints a bounded number of lines, which must be exactly the start of it.
            !text.is_empty() && want_text.starts_with(&text)
        } else {
            text == want_text
        };
        let partial_ok = partial.as_deref().map(hex) == step.partial_frame_hex;
        if frames == want_frames && text_ok && partial_ok {
            matched += 1;
            continue;
        }
        let key = (step.scenario.as_str(), step.step);
        if let Some((_, reason)) = known.iter().find(|(k, _)| **k == key) {
            tolerated += 1;
            println!(
                "tolerated: {} #{} {}: {reason}",
                step.scenario, step.step, step.label
            );
            continue;
        }
        failures.push(format!(
            "{} #{} {}:\n  frames want {:?}\n         got {:?}\n  text want {:?}\n       got {:?}\n  partial want {:?} got {:?}",
            step.scenario,
            step.step,
            step.label,
            want_frames.iter().map(|f| hex(f)).collect::<Vec<_>>(),
            frames.iter().map(|f| hex(f)).collect::<Vec<_>>(),
            String::from_utf8_lossy(&want_text),
            String::from_utf8_lossy(&text),
            step.partial_frame_hex,
            partial.as_deref().map(hex),
        ));
    }
    println!(
        "rom transcripts: {compared} steps compared, {matched} matched exactly, {tolerated} tolerated (listed), {} differ",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} steps differ from the real ROM:\n{}",
        failures.len(),
        failures
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(compared, steps.len());
}
