//! Benchmark of a whole flash through the library against the in-process simulator (`sim://`):
//! connect, attach the flash, write 1.7 MB (the size of MicroPython's ESP32_GENERIC_S3 image)
//! compressed, and verify it with SPI_FLASH_MD5, once through the ROM loader and once through
//! the stub. The simulator does no pacing, so this measures our host-side work (deflate, SLIP,
//! command round trips) plus the simulator's, not a serial line.

use std::hint::black_box;

use cargo_esp32s3::flasher::{FlashOptions, Flasher, Region, RegionKind};
use cargo_esp32s3::loader::{ConnectOptions, Loader, StubImage};
use cargo_esp32s3::reset::Before;
use cargo_esp32s3::transport::sim::SimTransport;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// The size of `ESP32_GENERIC_S3-20250911-v1.26.1.bin`.
const IMAGE_LEN: usize = 1_735_456;

/// A stub the simulator recognises by its entry point (the esptool stub's), with filler code:
/// the simulator models the stub's behaviour, not its instructions.
fn stub() -> StubImage {
    StubImage {
        text: vec![0x11; 0x2000],
        text_start: 0x4037_8000,
        data: vec![0x22; 64],
        data_start: 0x3FCB_2DC4,
        entry: 0x4037_95A8,
    }
}

/// Deterministic bytes that deflate about as well as firmware does (a third are zeros).
fn firmware_like(len: usize) -> Vec<u8> {
    let mut state = 0x1234_5678u32;
    (0..len)
        .map(|index| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            if index % 3 == 0 {
                0
            } else {
                state.to_le_bytes()[0]
            }
        })
        .collect()
}

/// Connects to a fresh simulator, writes `data` at 0x10000 and verifies it; returns the bytes
/// written as the flasher reports them.
fn flash_once(data: &[u8], with_stub: bool) -> u64 {
    let transport = SimTransport::open("sim://?size=8MB").expect("the sim URL is valid");
    let connect = ConnectOptions {
        before: Before::NoReset,
        attempts: 1,
        baud: 115_200,
        stub: with_stub.then(stub),
        ..ConnectOptions::default()
    };
    let loader = Loader::connect(transport, &connect, &mut |_| {}).expect("connects to the sim");
    let options = FlashOptions {
        skip_unchanged: false,
        verify: true,
        ..FlashOptions::default()
    };
    let mut flasher = Flasher::new(loader, options, &mut |_| {}).expect("attaches the flash");
    let region = Region {
        offset: 0x1_0000,
        data: data.to_vec(),
        label: "firmware".to_owned(),
        kind: RegionKind::Data,
    };
    let summary = flasher
        .write_regions(&[region], &mut |_| {})
        .expect("writes and verifies");
    summary.bytes
}

fn flash(c: &mut Criterion) {
    let data = firmware_like(IMAGE_LEN);
    for with_stub in [false, true] {
        let written = flash_once(&data, with_stub);
        assert!(
            written >= IMAGE_LEN as u64,
            "the flasher reports {written} bytes written, expected {IMAGE_LEN}"
        );
    }

    let mut group = c.benchmark_group("flash_sim");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(IMAGE_LEN as u64));
    group.bench_function("connect + write + verify 1.7 MB (ROM loader)", |b| {
        b.iter(|| flash_once(black_box(&data), false))
    });
    group.bench_function("connect + write + verify 1.7 MB (stub)", |b| {
        b.iter(|| flash_once(black_box(&data), true))
    });
    group.finish();
}

criterion_group!(benches, flash);
criterion_main!(benches);
