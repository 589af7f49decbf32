//! Each fault the virtual chip injects (`sim::faults`), and the flasher's answer to it: a block
//! sent again, a connection brought back in step or made again, a write resumed with the
//! regions not yet verified after the chip restarted or its port came back, or one clear error
//! with its catalogue code. The tool never reports success unless the chip's MD5 of every
//! region matched, and the chip's flash is checked here behind its back. Everything runs on the
//! chip's virtual time: a 4-second stall or a 2-second unplug costs no wall time.

#[path = "support/fault_bench.rs"]
mod fault_bench;

use std::time::{Duration, Instant};

use cargo_esp32s3::Event;
use cargo_esp32s3::sim::{Faults, Link, Replug};
use fault_bench::{Flashed, SharedSim, chip, firmware_like, flash, region, settings, stub_file};

/// A small hello_world-like layout: bootloader, partition table, app.
fn layout() -> Vec<cargo_esp32s3::flasher::Region> {
    vec![
        region(0, firmware_like(0x5000, 11), "bootloader"),
        region(0x8000, firmware_like(0xC00, 12), "partition table"),
        region(0x10000, firmware_like(0x40000, 13), "app"),
    ]
}

/// Flash the layout under `faults`, over the ROM and over the stub, and return both outcomes.
fn both_loaders(faults: &Faults, link: Link) -> Vec<Flashed> {
    let dir = tempfile::tempdir().expect("tempdir");
    let stub = stub_file(dir.path());
    [None, Some(stub.as_path())]
        .into_iter()
        .map(|stub| {
            let sim = SharedSim::new(chip(faults.clone(), link), "sim://");
            flash(&sim, &settings(stub), &layout(), Duration::from_secs(5))
        })
        .collect()
}

/// The tool succeeded, the chip holds the image, and the fault happened.
fn survived(outcome: &Flashed, injected: u64, what: &str) {
    assert!(
        injected > 0,
        "no {what} was injected: {:?} {:?} {:?}",
        outcome.faults,
        outcome.result,
        outcome.events
    );
    assert!(
        outcome.result.is_ok(),
        "{what}: {:?}\n{:?}",
        outcome.result,
        outcome.events
    );
    assert!(
        outcome.holds_image,
        "{what}: success claimed, image not on the chip"
    );
}

/// The tool did something about the fault: sent a block or a command again, resumed, or
/// checked the troubled write once more.
fn retried(outcome: &Flashed) -> bool {
    outcome.retries() > 0
        || outcome
            .events
            .iter()
            .any(|e| matches!(e, Event::Rechecking { .. }))
}

#[test]
fn dropped_bytes_cost_a_block_or_a_command_again_not_the_flash() {
    let faults = Faults {
        seed: 3,
        drop: 2e-5,
        ..Faults::default()
    };
    for outcome in both_loaders(&faults, Link::Uart) {
        survived(&outcome, outcome.faults.dropped, "dropped byte");
        assert!(retried(&outcome), "{:?}", outcome.events);
    }
}

#[test]
fn flipped_bits_are_caught_by_the_checksum_or_the_md5_and_sent_again() {
    let faults = Faults {
        seed: 5,
        flip: 2e-5,
        ..Faults::default()
    };
    for outcome in both_loaders(&faults, Link::Uart) {
        survived(&outcome, outcome.faults.flipped, "flipped bit");
        assert!(retried(&outcome), "{:?}", outcome.events);
    }
}

#[test]
fn a_line_that_garbles_most_large_blocks_gets_smaller_ones() {
    // At 6e-5 per byte most 16 KiB stub blocks meet a flipped bit: sent again at the same size
    // they kept failing (the write stood after three tries); halved, they get through.
    let faults = Faults {
        seed: 11,
        flip: 6e-5,
        ..Faults::default()
    };
    for outcome in both_loaders(&faults, Link::Uart) {
        survived(&outcome, outcome.faults.flipped, "flipped bit");
        assert!(retried(&outcome), "{:?}", outcome.events);
    }
}

#[test]
fn duplicated_replies_are_skipped_and_the_write_checked_again() {
    let faults = Faults {
        seed: 7,
        dup: 0.1,
        ..Faults::default()
    };
    for outcome in both_loaders(&faults, Link::Uart) {
        // A duplicate is taken as the reply to the next command of its kind, or skipped as a
        // stray; the MD5s decide.
        survived(&outcome, outcome.faults.duplicated, "duplicated reply");
    }
}

#[test]
fn truncated_replies_are_answered_by_a_retry() {
    let faults = Faults {
        seed: 9,
        truncate: 0.1,
        ..Faults::default()
    };
    for outcome in both_loaders(&faults, Link::Uart) {
        survived(&outcome, outcome.faults.truncated, "truncated reply");
        assert!(retried(&outcome), "{:?}", outcome.events);
    }
}

#[test]
fn noise_between_replies_is_passed_over() {
    let faults = Faults {
        seed: 11,
        noise: 0.1,
        ..Faults::default()
    };
    for outcome in both_loaders(&faults, Link::Uart) {
        survived(&outcome, outcome.faults.noise, "burst of noise");
    }
}

#[test]
fn late_replies_time_out_and_the_line_is_brought_back_in_step() {
    let faults = Faults {
        seed: 13,
        late: 0.06,
        late_by: Duration::from_secs(4),
        ..Faults::default()
    };
    let wall = Instant::now();
    for outcome in both_loaders(&faults, Link::Uart) {
        survived(&outcome, outcome.faults.late, "late reply");
        assert!(retried(&outcome), "{:?}", outcome.events);
        // The stalls passed on the chip's clock.
        assert!(
            outcome.elapsed >= Duration::from_secs(4),
            "{:?}",
            outcome.elapsed
        );
    }
    assert!(
        wall.elapsed() < Duration::from_secs(60),
        "{:?}",
        wall.elapsed()
    );
}

#[test]
fn a_reply_with_an_error_status_gets_the_command_sent_again() {
    let faults = Faults {
        seed: 15,
        error: 0.06,
        ..Faults::default()
    };
    for outcome in both_loaders(&faults, Link::Uart) {
        survived(&outcome, outcome.faults.errors, "failure status");
        assert!(retried(&outcome), "{:?}", outcome.events);
    }
}

#[test]
fn a_chip_that_resets_mid_transfer_is_connected_again_and_the_write_resumed() {
    let faults = Faults {
        reset_at: Some(150_000),
        ..Faults::default()
    };
    for outcome in both_loaders(&faults, Link::Uart) {
        survived(&outcome, outcome.faults.resets, "watchdog reset");
        assert!(
            outcome.events.iter().any(|e| matches!(
                e,
                Event::Resuming { reconnected: true, reason, .. } if reason.contains("restarted") && reason.contains("RTCWDT_RTC_RST")
            )),
            "{:?}",
            outcome.events
        );
    }
}

#[test]
fn a_flash_block_that_fails_to_program_now_and_then_is_written_again() {
    let faults = Faults {
        seed: 18,
        program_fail: 0.2,
        ..Faults::default()
    };
    for outcome in both_loaders(&faults, Link::Uart) {
        survived(&outcome, outcome.faults.program_failures, "program failure");
        assert!(retried(&outcome), "{:?}", outcome.events);
    }
}

#[test]
fn a_sector_that_never_programs_ends_in_one_error_naming_the_region() {
    let faults = Faults {
        bad_sectors: vec![0x20000],
        ..Faults::default()
    };
    for outcome in both_loaders(&faults, Link::Uart) {
        assert!(
            outcome.faults.program_failures >= 3,
            "{:?} {:?}",
            outcome.faults,
            outcome.result
        );
        let (code, message) = outcome.result.as_ref().expect_err("a bad sector fails");
        assert_eq!(code, "ES1014", "{message}");
        assert!(
            message.contains("writing app at 0x10000 failed after 3 attempts")
                && (message.contains("flash write error") || message.contains("SPI")),
            "{message}"
        );
        assert!(!outcome.holds_image);
    }
}

#[test]
fn an_unplugged_board_that_comes_back_at_its_path_is_resumed() {
    let faults = Faults {
        unplug_at: Some(120_000),
        replug: Replug::Same,
        replug_after: Duration::from_secs(2),
        ..Faults::default()
    };
    for outcome in both_loaders(&faults, Link::UsbSerialJtag) {
        survived(&outcome, outcome.faults.unplugs, "unplug");
        let gone = outcome
            .events
            .iter()
            .position(|e| matches!(e, Event::PortGone { .. }))
            .expect("the wait is said");
        let resumed = outcome.events.iter().position(|e| {
            matches!(e, Event::Resuming { reconnected: true, reason, verified, .. }
                if reason == "the board on sim:// disappeared and came back" && *verified >= 1)
        });
        assert!(resumed.is_some_and(|r| r > gone), "{:?}", outcome.events);
        // The bootloader and the table, verified before the unplug, were not sent again.
        let started_after: Vec<u32> = outcome.events[gone..]
            .iter()
            .filter_map(|e| match e {
                Event::RegionStarted { offset, .. } => Some(*offset),
                _ => None,
            })
            .collect();
        assert!(
            !started_after.contains(&0) && !started_after.contains(&0x8000),
            "{started_after:x?}"
        );
    }
}

#[test]
fn an_unplugged_board_that_comes_back_under_another_name_is_found_by_its_serial_number() {
    let faults = Faults {
        unplug_at: Some(120_000),
        replug: Replug::Other,
        ..Faults::default()
    };
    for outcome in both_loaders(&faults, Link::UsbSerialJtag) {
        survived(&outcome, outcome.faults.unplugs, "unplug");
        assert!(
            outcome.events.iter().any(|e| matches!(
                e,
                Event::Resuming { reason, .. } if reason == "the board on sim:// disappeared and came back as sim://ttyACM1"
            )),
            "{:?}",
            outcome.events
        );
    }
}

#[test]
fn a_board_that_does_not_come_back_in_time_ends_in_one_error_saying_what_is_verified() {
    // A bridge without a serial number that comes back under another name cannot be told
    // from another board; a board that stays away is gone too.
    for (replug, link) in [
        (Replug::Other, Link::Uart),
        (Replug::Never, Link::UsbSerialJtag),
    ] {
        let faults = Faults {
            unplug_at: Some(120_000),
            replug,
            ..Faults::default()
        };
        for outcome in both_loaders(&faults, link) {
            let (code, message) = outcome.result.as_ref().expect_err("the port stays away");
            assert_eq!(code, "ES1105", "{message}");
            assert!(
                message.contains("disappeared during the write and did not come back within 5 s")
                    && message.contains("verified on the chip: bootloader (0x5000 bytes at 0x0), partition table (0xc00 bytes at 0x8000)")
                    && message.contains("not written or not verified: app (0x40000 bytes at 0x10000)")
                    && message.contains("run the same command to finish the job"),
                "{message}"
            );
        }
    }
}

#[test]
fn faults_are_set_in_the_sim_url_and_repeat_with_their_seed() {
    use cargo_esp32s3::Board;
    use cargo_esp32s3::config::Settings;
    let url = "sim://?size=4MB&fault-seed=21&drop=1e-5&flip=1e-5&dup=0.01&truncate=0.01&noise=0.01&late=0.01&late-by=4s&error=0.01";
    let run = || {
        let mut events = Vec::new();
        let mut board =
            Board::open_with(url, &Settings::default(), |e| events.push(e)).expect("connects");
        board
            .write_regions(&layout(), |e| events.push(e))
            .expect("the write survives");
        let retries = events
            .iter()
            .filter(|e| matches!(e, Event::Retrying { .. } | Event::Resuming { .. }))
            .count();
        let md5 = board.md5(0x10000, 0x40000).expect("md5");
        (retries, md5)
    };
    let first = run();
    assert!(first.0 > 0, "the faults cost retries");
    assert_eq!(first, run(), "the same seed, the same run");
}
