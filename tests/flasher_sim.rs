//! The flasher against the virtual ESP32-S3 (`sim://`) through the real `Transport` code, with
//! the ROM loader and with a stub: write (compressed, verified, skip-unchanged), erase, read, the
//! refusals, and the faults that must end in an error rather than a false success.

#[path = "support/faulty.rs"]
mod faulty;
#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;

use cargo_esp32s3::flasher::{Event, FlashError, FlashOptions, Flasher, Region, RegionKind};
use cargo_esp32s3::image::format::{self, ImageHeader, Segment};
use cargo_esp32s3::image::{FlashFreq, FlashMode, FlashParams, FlashSize};
use cargo_esp32s3::loader::{Loader, LoaderError};
use cargo_esp32s3::transport::sim::SimTransport;
use cargo_esp32s3::transport::{Transport, TransportError};
use faulty::{Faulty, reply_parts};
use md5::{Digest as _, Md5};
use synthetic_elf::connect_options;

fn flasher_on<T: Transport>(t: T, with_stub: bool, opts: FlashOptions) -> (Flasher<T>, Vec<Event>) {
    let connect = connect_options(with_stub);
    let mut events = Vec::new();
    let loader = Loader::connect(t, &connect, &mut |e| events.push(e)).expect("connects");
    let flasher = Flasher::new(loader, opts, &mut |e| events.push(e)).expect("attaches");
    (flasher, events)
}

fn sim() -> SimTransport {
    SimTransport::open("sim://").expect("sim")
}

/// Deterministic bytes that compress a little, like code.
fn pseudo_random(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if i % 3 == 0 { 0 } else { x as u8 }
        })
        .collect()
}

/// A small valid ESP32-S3 image (bootloader-like) with an appended digest.
fn image(chip_id: u16, min_rev_full: u16, max_rev_full: u16) -> Vec<u8> {
    let header = ImageHeader {
        chip_id,
        min_rev_full,
        max_rev_full,
        entry: 0x403C_8000,
        ..ImageHeader::default()
    };
    let segments = [
        Segment {
            addr: 0x3FCD_0000,
            data: pseudo_random(0x800, 1),
        },
        Segment {
            addr: 0x403C_8000,
            data: pseudo_random(0x1400, 2),
        },
    ];
    format::encode_image(&header, &segments).expect("valid image")
}

fn region(offset: u32, data: Vec<u8>, label: &str) -> Region {
    Region {
        offset,
        data,
        label: label.to_string(),
        kind: RegionKind::Data,
    }
}

fn write<T: Transport>(
    f: &mut Flasher<T>,
    regions: &[Region],
) -> (
    Result<cargo_esp32s3::flasher::WriteSummary, FlashError>,
    Vec<Event>,
) {
    let mut events = Vec::new();
    let result = f.write_regions(regions, &mut |e| events.push(e));
    (result, events)
}

fn flash_of(f: Flasher<SimTransport>) -> Vec<u8> {
    f.into_loader()
        .into_transport()
        .chip()
        .flash()
        .contents()
        .to_vec()
}

/// The flash contents of the simulator behind a [`Faulty`] transport.
fn flash_behind_faults(f: Flasher<Faulty<SimTransport>>) -> Vec<u8> {
    f.into_loader()
        .into_transport()
        .inner
        .chip()
        .flash()
        .contents()
        .to_vec()
}

fn flash_write_erase_read(with_stub: bool) {
    let (mut f, events) = flasher_on(sim(), with_stub, FlashOptions::default());
    assert!(
        events.contains(&Event::FlashAttached {
            size: 8 << 20,
            detected: true
        }),
        "{events:?}"
    );
    assert_eq!(f.flash_size(), 8 << 20);
    let boot = image(9, 0, 0xFFFF);
    // Larger than several blocks, an odd length, and a region that is not block aligned.
    let app = pseudo_random(150_001, 3);
    let regions = [
        region(0x10000, app.clone(), "app"),
        region(0x0, boot.clone(), "bootloader"),
        region(0x8000, vec![0xAA; 0xC00], "partition table"),
    ];
    let (summary, events) = write(&mut f, &regions);
    let summary = summary.expect("writes");
    assert_eq!((summary.written, summary.skipped), (3, 0));
    let verified: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::Verified { offset, .. } => Some(*offset),
            _ => None,
        })
        .collect();
    assert_eq!(verified, [0x0, 0x8000, 0x10000]);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::RegionProgress {
            offset: 0x10000,
            ..
        }
    )));

    // Flashing again skips every region.
    let (summary, events) = write(&mut f, &regions);
    let summary = summary.expect("second write");
    assert_eq!((summary.written, summary.skipped), (0, 3));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::RegionSkipped { .. }))
            .count(),
        3
    );

    // Read back through the loader (MD5-checked).
    let mut reads = Vec::new();
    let back = f
        .read_flash(0x10000, 5000, &mut |e| reads.push(e))
        .expect("reads");
    assert_eq!(back, app[..5000]);
    assert!(matches!(
        reads.last(),
        Some(Event::ReadProgress {
            read: 5000,
            total: 5000,
            ..
        })
    ));
    let md5: [u8; 16] = Md5::digest(&boot).into();
    assert_eq!(f.md5(0, boot.len() as u32).expect("md5"), md5);

    // Erase a region, then everything.
    f.erase_region(0x10000, 0x1000, &mut |_| {})
        .expect("erase region");
    assert_eq!(
        f.read_flash(0x10000, 0x1000, &mut |_| {}).expect("read"),
        vec![0xFF; 0x1000]
    );
    assert_eq!(
        f.read_flash(0x11000, 16, &mut |_| {}).expect("read"),
        app[0x1000..0x1010]
    );
    let mut erase_events = Vec::new();
    f.erase_all(&mut |e| erase_events.push(e))
        .expect("erase all");
    assert!(matches!(
        erase_events.as_slice(),
        [
            Event::EraseStarted {
                offset: 0,
                len: 0x80_0000
            },
            Event::EraseDone { .. }
        ]
    ));
    assert_eq!(
        f.read_flash(0, 256, &mut |_| {}).expect("read"),
        vec![0xFF; 256]
    );
    let flash = flash_of(f);
    assert!(
        flash.iter().all(|&b| b == 0xFF),
        "an erased chip reads back as 0xFF"
    );
}

#[test]
fn rom_writes_verifies_skips_erases_and_reads() {
    flash_write_erase_read(false);
}

#[test]
fn stub_writes_verifies_skips_erases_and_reads() {
    flash_write_erase_read(true);
}

#[test]
fn the_flash_holds_exactly_what_was_written() {
    let (mut f, _) = flasher_on(sim(), false, FlashOptions::default());
    let app = pseudo_random(70_000, 9);
    write(&mut f, &[region(0x20000, app.clone(), "app")])
        .0
        .expect("writes");
    let flash = flash_of(f);
    assert_eq!(&flash[0x20000..0x20000 + app.len()], app.as_slice());
    assert!(
        flash[0x20000 + app.len()..0x40000]
            .iter()
            .all(|&b| b == 0xFF)
    );
    assert!(flash[..0x20000].iter().all(|&b| b == 0xFF));
}

#[test]
fn flash_params_are_patched_into_the_bootloader_only() {
    let params = FlashParams {
        mode: Some(FlashMode::Dio),
        size: Some(FlashSize::S8Mb),
        freq: Some(FlashFreq::F80m),
    };
    let opts = FlashOptions {
        flash_params: params,
        ..FlashOptions::default()
    };
    let (mut f, _) = flasher_on(sim(), false, opts);
    let boot = image(9, 0, 0xFFFF);
    let app = image(9, 0, 0xFFFF);
    let (result, events) = write(
        &mut f,
        &[
            region(0, boot.clone(), "bootloader"),
            region(0x10000, app.clone(), "app"),
        ],
    );
    result.expect("writes");
    assert!(
        events.contains(&Event::BootloaderPatched {
            params: 0x023f,
            digest_updated: true
        }),
        "{events:?}"
    );
    let flash = flash_of(f);
    let written = format::parse_image(&flash[..boot.len()]).expect("still an image");
    assert_eq!((flash[2], flash[3]), (0x02, 0x3f));
    assert_eq!(
        written.digest_ok(),
        Some(true),
        "the SHA-256 was recomputed"
    );
    assert_eq!(
        &flash[0x10000..0x10000 + app.len()],
        app.as_slice(),
        "the app is not patched"
    );
}

#[test]
fn refusals_happen_before_the_flash_is_touched() {
    let check = |regions: Vec<Region>, force: bool, expected: &str| {
        let opts = FlashOptions {
            force,
            ..FlashOptions::default()
        };
        let (mut f, _) = flasher_on(sim(), false, opts);
        let err = write(&mut f, &regions).0.expect_err("refused");
        assert!(err.to_string().contains(expected), "{err}");
        assert!(
            flash_of(f).iter().all(|&b| b == 0xFF),
            "nothing was written"
        );
    };
    check(
        vec![region(0x7F_F000, vec![1; 0x2000], "app")],
        false,
        "will not fit in 8388608 bytes of flash",
    );
    check(
        vec![region(0, image(5, 0, 0xFFFF), "bootloader")],
        false,
        "is an image for the ESP32-C3, not the ESP32-S3",
    );
    check(
        vec![region(0, image(9, 100, 0xFFFF), "bootloader")],
        false,
        "requires chip revision v1.0 or higher (this chip is revision v0.2)",
    );
    check(
        vec![region(0, image(9, 0, 1), "bootloader")],
        false,
        "requires chip revision v0.0 to v0.1",
    );
    check(
        vec![
            region(0, vec![1; 0x2000], "a"),
            region(0x1000, vec![2; 16], "b"),
        ],
        false,
        "a (0x0..0x2000) overlaps b at 0x1000",
    );
    // --force lets a revision mismatch through.
    let opts = FlashOptions {
        force: true,
        ..FlashOptions::default()
    };
    let (mut f, _) = flasher_on(sim(), false, opts);
    write(&mut f, &[region(0, image(9, 100, 0xFFFF), "bootloader")])
        .0
        .expect("forced");
}

#[test]
fn erase_and_read_check_their_bounds() {
    let (mut f, _) = flasher_on(sim(), false, FlashOptions::default());
    let check = |r: Result<(), FlashError>, expected: &str| {
        let err = r.expect_err("refused");
        assert!(err.to_string().contains(expected), "{err}");
    };
    check(
        f.erase_region(0x800, 0x1000, &mut |_| {}),
        "erase offset 0x800 is not a multiple of 4 KiB",
    );
    check(
        f.erase_region(0x1000, 0x10, &mut |_| {}),
        "erase size 0x10 is not a multiple of 4 KiB",
    );
    check(
        f.erase_region(0x7F_F000, 0x2000, &mut |_| {}),
        "run past the end",
    );
    check(
        f.read_flash(0x7F_FFF0, 0x20, &mut |_| {}).map(|_| ()),
        "run past the end",
    );
}

/// Rewrites every MD5 reply of the ROM so that it claims `md5` (32 hex characters). The regions
/// these tests write are whole sectors, so every MD5 is one of the region (a partly covered
/// sector would add an MD5 of the bytes kept around it, which this would also falsify).
fn md5_liar(md5: impl Fn(usize) -> [u8; 16] + Send + 'static) -> faulty::Tamper {
    let mut count = 0usize;
    Box::new(move |frame: &mut Vec<u8>| {
        if frame.get(1) == Some(&0x13) && frame.len() >= 8 + 32 {
            let fake: String = md5(count).iter().map(|b| format!("{b:02x}")).collect();
            frame[8..40].copy_from_slice(fake.as_bytes());
            count += 1;
        }
        true
    })
}

#[test]
fn an_md5_mismatch_after_writing_is_an_error() {
    let mut t = Faulty::new(sim());
    t.tamper = Some(md5_liar(|_| [0x42; 16]));
    let (mut f, _) = flasher_on(t, false, FlashOptions::default());
    let (result, events) = write(&mut f, &[region(0x10000, pseudo_random(0x3000, 4), "app")]);
    let err = result.expect_err("never a success");
    assert!(matches!(err, FlashError::Md5Mismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("verification failed for app"),
        "{err}"
    );
    assert!(!events.iter().any(|e| matches!(e, Event::Verified { .. })));
}

#[test]
fn a_region_that_reads_back_erased_is_reported_as_empty() {
    let mut t = Faulty::new(sim());
    t.tamper = Some(md5_liar(|_| Md5::digest(vec![0xFF; 0x3000]).into()));
    let opts = FlashOptions {
        skip_unchanged: false,
        ..FlashOptions::default()
    };
    let (mut f, _) = flasher_on(t, false, opts);
    let err = write(&mut f, &[region(0x10000, pseudo_random(0x3000, 5), "app")])
        .0
        .expect_err("empty");
    assert!(
        err.to_string()
            .starts_with("write failed, the region is empty: app"),
        "{err}"
    );
}

/// Fails the `n`th FLASH_DEFL_DATA reply (0-based) with ROM error 0x07, or all of them.
fn defl_checksum_error(n: Option<usize>) -> faulty::Tamper {
    let mut seen = 0usize;
    Box::new(move |frame: &mut Vec<u8>| {
        if let Some((0x11, _)) = reply_parts(frame) {
            if n.is_none_or(|n| n == seen) {
                frame[8] = 1;
                frame[9] = 7;
            }
            seen += 1;
        }
        true
    })
}

#[test]
fn a_checksum_error_restarts_the_region_and_the_result_is_verified() {
    let mut t = Faulty::new(sim());
    t.tamper = Some(defl_checksum_error(Some(1)));
    let (mut f, _) = flasher_on(t, false, FlashOptions::default());
    let app = pseudo_random(60_000, 6);
    let (result, events) = write(&mut f, &[region(0x10000, app.clone(), "app")]);
    result.expect("the retry succeeds");
    assert!(events.iter().any(|e| matches!(e, Event::Retrying { attempt: 1, reason, .. } if reason.contains("ROM error 0107 (checksum error)"))), "{events:?}");
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Verified {
            offset: 0x10000,
            ..
        }
    )));
    let flash = flash_behind_faults(f);
    assert_eq!(&flash[0x10000..0x10000 + app.len()], app.as_slice());
}

#[test]
fn a_persistent_error_status_fails_with_the_rom_meaning() {
    let mut t = Faulty::new(sim());
    t.tamper = Some(defl_checksum_error(None));
    let (mut f, _) = flasher_on(t, false, FlashOptions::default());
    let err = write(&mut f, &[region(0x10000, pseudo_random(20_000, 7), "app")])
        .0
        .expect_err("fails");
    // A checksum error is line trouble, so the blocks are made smaller before the write
    // stands: two tries each at 6 KiB, 3 KiB and 1.5 KiB, then three at 1 KiB.
    assert_eq!(
        err.to_string(),
        "writing app at 0x10000 failed after 9 attempts: FLASH_DEFL_DATA (0x11) failed: ROM error 0107 (checksum error)"
    );
}

#[test]
fn a_timeout_mid_transfer_is_retried_from_the_start_of_the_region() {
    let mut t = Faulty::new(sim());
    let mut seen = 0;
    // Lose the reply to the third data block once.
    t.tamper = Some(Box::new(move |frame: &mut Vec<u8>| {
        if let Some((0x11, _)) = reply_parts(frame) {
            seen += 1;
            return seen != 3;
        }
        true
    }));
    let (mut f, _) = flasher_on(t, false, FlashOptions::default());
    let app = pseudo_random(100_000, 8);
    let (result, events) = write(&mut f, &[region(0x10000, app.clone(), "app")]);
    result.expect("the retry succeeds");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Retrying { reason, .. } if reason.contains("timed out"))),
        "{events:?}"
    );
    let flash = flash_behind_faults(f);
    assert_eq!(&flash[0x10000..0x10000 + app.len()], app.as_slice());
}

#[test]
fn a_chip_that_vanishes_mid_write_is_not_retried() {
    let mut t = Faulty::new(sim());
    // Connect + attach take well under 40 writes; the write then dies part way.
    t.vanish_after_writes = Some(40);
    let (mut f, _) = flasher_on(
        t,
        false,
        FlashOptions {
            skip_unchanged: false,
            ..FlashOptions::default()
        },
    );
    let (result, events) = write(&mut f, &[region(0x10000, pseudo_random(400_000, 9), "app")]);
    let err = result.expect_err("gone");
    assert!(
        matches!(
            err,
            FlashError::Loader(LoaderError::Transport(TransportError::Disconnected { .. }))
        ),
        "{err}"
    );
    assert!(!events.iter().any(|e| matches!(e, Event::Retrying { .. })));
}

#[test]
fn an_encrypted_chip_refuses_plaintext_writes_and_erases() {
    let mut t = Faulty::new(sim());
    // GET_SECURITY_INFO claims an odd flash-crypt count (flash encryption on).
    t.tamper = Some(Box::new(|frame: &mut Vec<u8>| {
        if let Some((0x14, _)) = reply_parts(frame) {
            frame[12] = 0b001;
        }
        true
    }));
    let (mut f, _) = flasher_on(t, false, FlashOptions::default());
    let err = write(&mut f, &[region(0x10000, vec![1; 64], "app")])
        .0
        .expect_err("refused");
    assert!(
        err.to_string()
            .starts_with("flash encryption is enabled on this chip: refusing to write app"),
        "{err}"
    );
    let err = f.erase_all(&mut |_| {}).expect_err("refused");
    assert!(matches!(err, FlashError::SecurityActive), "{err}");
    let flash = flash_behind_faults(f);
    assert!(flash.iter().all(|&b| b == 0xFF));
}
