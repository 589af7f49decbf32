//! Nothing outside a region is erased: against the virtual ESP32-S3 (`sim://`) through the real
//! flasher, with the ROM loader and with a stub, a region that starts or ends inside a 4 KiB
//! sector leaves every other byte of that sector as it was, two regions in one sector both land,
//! erased surroundings cost no read, and `flash --at 0x1001` keeps the byte at 0x1000.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/faulty.rs"]
mod faulty;
#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;
#[path = "support/testdata.rs"]
mod testdata;

use std::sync::{Arc, Mutex};

use cargo_esp32s3::flasher::{Event, FlashOptions, Flasher, Region, RegionKind, WriteSummary};
use cargo_esp32s3::loader::Loader;
use cargo_esp32s3::transport::sim::SimTransport;
use faulty::Faulty;
use synthetic_elf::connect_options;

/// What the surroundings hold before writing: the first `PATTERN_LEN` bytes of flash.
const PATTERN_LEN: usize = 0x20000;

/// Deterministic bytes with no 0xFF runs, so a wrongly erased byte always shows.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % 255) as u8
        })
        .collect()
}

/// A flasher on a simulator whose flash starts as `initial`, and the opcodes of every reply the
/// chip sends (to count reads).
struct Bench {
    flasher: Flasher<Faulty<SimTransport>>,
    replies: Arc<Mutex<Vec<u8>>>,
}

impl Bench {
    fn new(initial: Option<&[u8]>, with_stub: bool, opts: FlashOptions) -> Self {
        Self::lying(initial, with_stub, opts, &[])
    }

    /// Like [`Bench::new`], and the ROM's MD5 replies numbered in `falsify_md5` (from 1) claim
    /// all zeroes.
    fn lying(
        initial: Option<&[u8]>,
        with_stub: bool,
        opts: FlashOptions,
        falsify_md5: &[usize],
    ) -> Self {
        let falsify_md5 = falsify_md5.to_vec();
        let mut sim = SimTransport::open("sim://").expect("sim");
        if let Some(bytes) = initial {
            sim.chip_mut().flash_mut().load(0, bytes);
        }
        let replies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&replies);
        let mut md5s = 0usize;
        let mut t = Faulty::new(sim);
        t.tamper = Some(Box::new(move |frame: &mut Vec<u8>| {
            if let Some((op, _)) = faulty::reply_parts(frame) {
                seen.lock().expect("not poisoned").push(op);
                if op == 0x13 {
                    md5s += 1;
                    if falsify_md5.contains(&md5s)
                        && let Some(hex) = frame.get_mut(8..40)
                    {
                        hex.fill(b'0');
                    }
                }
            }
            true
        }));
        let connect = connect_options(with_stub);
        let loader = Loader::connect(t, &connect, &mut |_| {}).expect("connects");
        let flasher = Flasher::new(loader, opts, &mut |_| {}).expect("attaches");
        Bench { flasher, replies }
    }

    fn write(&mut self, regions: &[Region]) -> (WriteSummary, Vec<Event>) {
        let mut events = Vec::new();
        let summary = self
            .flasher
            .write_regions(regions, &mut |e| events.push(e))
            .expect("writes");
        (summary, events)
    }

    /// READ_FLASH_SLOW (ROM) and READ_FLASH (stub) commands answered since the last call.
    fn reads(&mut self) -> usize {
        let mut replies = self.replies.lock().expect("not poisoned");
        let n = replies
            .iter()
            .filter(|&&op| op == 0x0E || op == 0xD2)
            .count();
        replies.clear();
        n
    }

    fn flash(&mut self) -> Vec<u8> {
        self.flasher
            .loader()
            .transport_mut()
            .inner
            .chip()
            .flash()
            .contents()
            .to_vec()
    }
}

fn region(offset: u32, len: usize, seed: u32) -> Region {
    Region {
        offset,
        data: pattern(len, seed),
        label: format!("region at 0x{offset:x}"),
        kind: RegionKind::Data,
    }
}

/// What the flash must hold: `before` with the regions laid over it, nothing else changed.
fn expected(before: &[u8], regions: &[Region]) -> Vec<u8> {
    let mut flash = before.to_vec();
    for r in regions {
        let at = r.offset as usize;
        flash[at..at + r.data.len()].copy_from_slice(&r.data);
    }
    flash
}

/// Write `regions` over a flash that holds a pattern (or is erased) and compare every byte of the
/// flash with the pattern plus the regions.
fn check(with_stub: bool, patterned: bool, regions: &[Region]) -> Bench {
    let initial = patterned.then(|| pattern(PATTERN_LEN, 99));
    let mut bench = Bench::new(initial.as_deref(), with_stub, FlashOptions::default());
    let before = bench.flash();
    let (summary, events) = bench.write(regions);
    let after = bench.flash();
    let want = expected(&before, regions);
    if let Some(at) = (0..after.len()).find(|&i| after[i] != want[i]) {
        panic!(
            "stub {with_stub}, regions {:?}: byte 0x{at:x} is 0x{:02x}, should be 0x{:02x}",
            regions
                .iter()
                .map(|r| (r.offset, r.data.len()))
                .collect::<Vec<_>>(),
            after[at],
            want[at]
        );
    }
    assert_eq!(summary.written as usize, regions.len());
    // Events name the user's regions, never the widened sectors.
    for r in regions {
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Verified { offset, len }
                if *offset == r.offset && *len as usize == r.data.len())),
            "no Verified event for 0x{:x}: {events:?}",
            r.offset
        );
    }
    assert!(
        !events.iter().any(|e| matches!(e, Event::Warning(_))),
        "{events:?}"
    );
    bench
}

/// Regions that start or end inside a sector, alone or sharing sectors with another.
fn cases() -> Vec<Vec<Region>> {
    vec![
        // Unaligned start and end inside one sector (`--at 0x1001` with a small file).
        vec![region(0x1001, 0x10, 1)],
        // Aligned start, end inside the sector (an image ending mid-sector).
        vec![region(0x1000, 0x123, 2)],
        // Crossing a sector boundary, unaligned on both sides.
        vec![region(0x1FFD, 0x10, 3)],
        // Start mid-sector, end on a sector boundary.
        vec![region(0x3800, 0x1800, 4)],
        // Two regions in one sector, with old bytes between and around them.
        vec![region(0x6010, 0x101, 5), region(0x6200, 0x100, 6)],
        // The first region's last sector is the second's first.
        vec![region(0x7000, 0x1801, 7), region(0x8900, 0x900, 8)],
        // Touching regions of odd lengths.
        vec![region(0x9000, 0x3, 9), region(0x9003, 0x5, 10)],
        // Several sectors, one region, nothing aligned.
        vec![region(0xA123, 0x3456, 11)],
    ]
}

#[test]
fn bytes_sharing_a_sector_with_a_region_are_kept_by_the_rom() {
    for regions in cases() {
        check(false, true, &regions);
    }
}

#[test]
fn bytes_sharing_a_sector_with_a_region_are_kept_by_the_stub() {
    for regions in cases() {
        check(true, true, &regions);
    }
}

#[test]
fn erased_surroundings_cost_no_read_and_kept_ones_do() {
    for with_stub in [false, true] {
        for regions in cases() {
            let mut erased = check(with_stub, false, &regions);
            assert_eq!(erased.reads(), 0, "stub {with_stub}: erased around");
            // The counter does see reads: kept bytes around the same regions are read.
            let mut kept = check(with_stub, true, &regions);
            assert!(kept.reads() > 0, "stub {with_stub}: data around");
        }
    }
}

#[test]
fn an_unchanged_region_is_skipped_without_reading_its_sector() {
    for with_stub in [false, true] {
        let initial = pattern(PATTERN_LEN, 42);
        let mut bench = Bench::new(Some(&initial), with_stub, FlashOptions::default());
        // Word-aligned, not sector-aligned: the skip check is one MD5, no read.
        let aligned = [region(0x1100, 0x200, 1)];
        bench.write(&aligned);
        bench.reads();
        let (summary, _) = bench.write(&aligned);
        assert_eq!((summary.written, summary.skipped), (0, 1));
        assert_eq!(bench.reads(), 0, "stub {with_stub}");
        // Odd offset and length: its partly covered words are compared as 0xFF-padded, so next
        // to other data it is written again (nothing read for the check, nothing lost); next to
        // erased bytes it is recognised as unchanged.
        let odd = [region(0x2001, 0x11, 2)];
        bench.write(&odd);
        let (summary, _) = bench.write(&odd);
        assert_eq!((summary.written, summary.skipped), (1, 0));
        let in_erased = [region(0x30001, 0x11, 3)];
        bench.write(&in_erased);
        bench.reads();
        let (summary, _) = bench.write(&in_erased);
        assert_eq!((summary.written, summary.skipped), (0, 1));
        assert_eq!(bench.reads(), 0, "stub {with_stub}");
        let want = expected(&expected(&initial, &aligned), &odd);
        assert_eq!(&bench.flash()[..PATTERN_LEN], &want[..]);
    }
}

#[test]
fn a_wrong_kept_byte_fails_verification_and_says_so() {
    // On erased flash, writing 0x1001..0x1011 takes the MD5s: skip check, the byte before, the
    // bytes after, then the verification of the whole sector (the 4th, falsified here), and
    // then the region alone, which matches: so the kept bytes are at fault.
    let write = |falsify: &[usize]| {
        let mut bench = Bench::lying(None, false, FlashOptions::default(), falsify);
        bench
            .flasher
            .write_regions(&[region(0x1001, 0x10, 1)], &mut |_| {})
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let err = write(&[4]).expect_err("verification fails");
    assert!(
        err.starts_with(
            "verification failed for the bytes kept around region at 0x1001: the flash MD5 of 0x1000 bytes at 0x1000"
        ),
        "{err}"
    );
    // The region's own words do not match either: the region is named.
    let err = write(&[4, 5]).expect_err("verification fails");
    assert!(
        err.starts_with(
            "verification failed for region at 0x1001: the flash MD5 of 0x14 bytes at 0x1000"
        ),
        "{err}"
    );
    // The 5th MD5 is only taken after a mismatch.
    write(&[5]).expect("verified by the 4th");
}

#[test]
fn without_verification_the_kept_bytes_are_still_kept() {
    let opts = FlashOptions {
        verify: false,
        skip_unchanged: false,
        ..FlashOptions::default()
    };
    let initial = pattern(PATTERN_LEN, 7);
    let mut bench = Bench::new(Some(&initial), false, opts);
    let regions = [region(0x4321, 0x99, 3)];
    bench.write(&regions);
    assert_eq!(
        &bench.flash()[..PATTERN_LEN],
        &expected(&initial, &regions)[..]
    );
}

#[test]
fn flash_at_an_unaligned_offset_keeps_the_bytes_before_it() {
    let bench = cli::Bench::new();
    let initial = pattern(0x3000, 5);
    bench.write("flash.bin", &initial);
    let small = [0x12u8, 0x34, 0x56, 0x78, 0x9A];
    bench.write("small.bin", &small);
    let port = bench.sim("4MB");
    let output = bench.run(&["flash", "--at", "0x1001", "small.bin", "--port", &port]);
    output.succeeds();
    let stderr = &output.stderr;
    assert!(!stderr.contains("erased"), "{stderr}");
    let after = bench.flash_file().expect("flash file after");
    let mut want = initial.clone();
    want[0x1001..0x1006].copy_from_slice(&small);
    assert_eq!(after.get(0x1000), Some(&initial[0x1000]));
    assert_eq!(after.get(..0x3000), Some(&want[..]));
}

/// The MicroPython image ends at 0x1a7b20, 0x4e0 bytes before the end of its last sector. Over
/// erased flash keeping those bytes costs one MD5 and no read; over old data it costs the read
/// (ROM: 20 READ_FLASH_SLOW of 64 bytes; stub: one READ_FLASH) and the read's MD5 check.
#[test]
fn the_micropython_image_keeps_the_rest_of_its_last_sector() {
    let Some(dir) = testdata::testdata() else {
        return;
    };
    let image = testdata::read(&dir, testdata::MICROPYTHON);
    assert_eq!(image.len(), 0x1A_7B20);
    let tail = 0x1A_8000 - image.len();
    let regions = [Region {
        offset: 0,
        data: image.clone(),
        label: "micropython".into(),
        kind: RegionKind::Data,
    }];
    // (stub, old data after the image, READ commands, MD5 commands)
    let cases = [
        (false, false, 0, 3),
        (false, true, tail.div_ceil(64), 4),
        (true, false, 0, 3),
        (true, true, 1, 4),
    ];
    for (with_stub, old_data, reads, md5s) in cases {
        let mut initial = vec![0xFF; 0x1A_8000];
        if old_data {
            initial[image.len()..].copy_from_slice(&pattern(tail, 3));
        }
        let mut bench = Bench::new(Some(&initial), with_stub, FlashOptions::default());
        bench.reads();
        let (summary, _) = bench.write(&regions);
        let replies = bench.replies.lock().expect("not poisoned").clone();
        let count = |op: u8| replies.iter().filter(|&&o| o == op).count();
        let read_op = if with_stub { 0xD2 } else { 0x0E };
        assert_eq!(
            (count(read_op), count(0x13)),
            (reads, md5s),
            "stub {with_stub}, old data {old_data}"
        );
        println!(
            "stub {with_stub}, old data {old_data}: {} READ, {} MD5, {} compressed bytes",
            count(read_op),
            count(0x13),
            summary.compressed_bytes
        );
        let after = bench.flash();
        assert_eq!(&after[image.len()..0x1A_8000], &initial[image.len()..]);
    }
}
