//! Benchmarks of the pure layers (run with `cargo xtask bench`): ELF → app image on a synthetic
//! ~1 MB firmware ELF, parsing the resulting image, partition CSV → binary, and SLIP framing of
//! 1 MB in flash-block-sized frames.
//!
//! Inputs are generated here (the ELF with `object::write::elf`), so the benches run on a fresh
//! clone. Each input is checked once before timing, so a bench cannot measure an error path.

use std::hint::black_box;

use cargo_esp32s3::image::app::{AppImageOptions, elf_to_app_image};
use cargo_esp32s3::image::format::parse_image;
use cargo_esp32s3::image::partition::PartitionTable;
use cargo_esp32s3::protocol::slip;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use object::elf;
use object::write::elf::{FileHeader, SectionHeader, Writer};

/// One loadable section of the synthetic firmware.
struct SyntheticSection {
    name: &'static [u8],
    addr: u32,
    len: usize,
    flags: u32,
}

/// Roughly the shape of a real esp-hal/ESP-IDF app: a little IRAM and DRAM, and most of the
/// bytes in flash-mapped rodata and text. About 1 MB in total.
const SECTIONS: &[SyntheticSection] = &[
    SyntheticSection {
        name: b".flash.rodata",
        addr: 0x3C00_0020,
        len: 300 * 1024,
        flags: elf::SHF_ALLOC,
    },
    SyntheticSection {
        name: b".flash.text",
        addr: 0x4200_0020,
        len: 660 * 1024,
        flags: elf::SHF_ALLOC | elf::SHF_EXECINSTR,
    },
    SyntheticSection {
        name: b".iram0.text",
        addr: 0x4038_0000,
        len: 48 * 1024,
        flags: elf::SHF_ALLOC | elf::SHF_EXECINSTR,
    },
    SyntheticSection {
        name: b".dram0.data",
        addr: 0x3FC8_8000,
        len: 16 * 1024,
        flags: elf::SHF_ALLOC | elf::SHF_WRITE,
    },
];

/// Deterministic pseudo-random bytes (xorshift32): incompressible like real code, and with the
/// SLIP special bytes at their natural rate.
fn pseudo_random(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// A little-endian 32-bit Xtensa executable holding [`SECTIONS`].
fn synthetic_elf() -> Vec<u8> {
    let contents: Vec<Vec<u8>> = SECTIONS
        .iter()
        .zip(1u32..)
        .map(|(section, seed)| pseudo_random(section.len, seed))
        .collect();
    let mut buffer = Vec::new();
    let mut writer = Writer::new(object::Endianness::Little, false, &mut buffer);

    writer.reserve_file_header();
    writer.reserve_null_section_index();
    let names: Vec<_> = SECTIONS
        .iter()
        .map(|section| {
            let name = writer.add_section_name(section.name);
            writer.reserve_section_index();
            name
        })
        .collect();
    let offsets: Vec<usize> = contents
        .iter()
        .map(|data| writer.reserve(data.len(), 4))
        .collect();
    writer.reserve_shstrtab_section_index();
    writer.reserve_shstrtab();
    writer.reserve_section_headers();

    writer
        .write_file_header(&FileHeader {
            os_abi: elf::ELFOSABI_NONE,
            abi_version: 0,
            e_type: elf::ET_EXEC,
            e_machine: elf::EM_XTENSA,
            e_entry: 0x4038_0000,
            e_flags: 0,
        })
        .expect("the ELF header of the synthetic firmware is writable");
    for data in &contents {
        writer.write_align(4);
        writer.write(data);
    }
    writer.write_shstrtab();
    writer.write_null_section_header();
    for ((section, name), offset) in SECTIONS.iter().zip(names).zip(offsets) {
        writer.write_section_header(&SectionHeader {
            name: Some(name),
            sh_type: elf::SHT_PROGBITS,
            sh_flags: u64::from(section.flags),
            sh_addr: u64::from(section.addr),
            sh_offset: offset as u64,
            sh_size: section.len as u64,
            sh_link: 0,
            sh_info: 0,
            sh_addralign: 4,
            sh_entsize: 0,
        });
    }
    writer.write_shstrtab_section_header();
    buffer
}

/// A table like the ones users write: NVS, PHY, factory app, two OTA slots, a data partition.
const PARTITION_CSV: &str = "\
# Name,   Type, SubType, Offset,   Size,    Flags
nvs,      data, nvs,     0x9000,   0x5000,
otadata,  data, ota,     0xe000,   0x2000,
phy_init, data, phy,     0x10000,  0x1000,
factory,  app,  factory, 0x20000,  1M,
ota_0,    app,  ota_0,   ,         1M,
ota_1,    app,  ota_1,   ,         1M,
storage,  data, spiffs,  ,         0x100000,
";

fn image(c: &mut Criterion) {
    let elf = synthetic_elf();
    let options = AppImageOptions::default();
    let app = elf_to_app_image(&elf, &options).expect("the synthetic ELF converts to an app image");
    let parsed = parse_image(&app.bytes).expect("the app image parses back");
    assert!(parsed.checksum_ok(), "the app image checksum is valid");

    let mut group = c.benchmark_group("image");
    group.throughput(Throughput::Bytes(elf.len() as u64));
    group.bench_function("elf_to_app_image (1 MB ELF)", |b| {
        b.iter(|| elf_to_app_image(black_box(&elf), &options))
    });
    group.throughput(Throughput::Bytes(app.bytes.len() as u64));
    group.bench_function("parse_image (app image)", |b| {
        b.iter(|| parse_image(black_box(&app.bytes)))
    });
    group.finish();

    let table = PartitionTable::from_csv(PARTITION_CSV).expect("the partition CSV is valid");
    assert!(!table.to_binary().is_empty(), "the partition table encodes");
    c.bench_function("partition CSV -> binary (7 entries)", |b| {
        b.iter(|| PartitionTable::from_csv(black_box(PARTITION_CSV)).map(|t| t.to_binary()))
    });
}

/// The flasher's block size: FLASH_DATA frames carry 16 KiB.
const BLOCK: usize = 16 * 1024;

fn slip_framing(c: &mut Criterion) {
    let data = pseudo_random(1024 * 1024, 7);
    let mut encoded = Vec::new();
    for block in data.chunks(BLOCK) {
        slip::encode_into(block, &mut encoded);
    }
    assert_eq!(
        decode_all(&encoded),
        data.len(),
        "SLIP round trip keeps every byte"
    );

    let mut group = c.benchmark_group("slip");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("encode 1 MB in 16 KiB frames", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(encoded.len());
            for block in black_box(&data).chunks(BLOCK) {
                slip::encode_into(block, &mut out);
            }
            out
        })
    });
    group.bench_function("decode 1 MB in 16 KiB frames", |b| {
        b.iter(|| decode_all(black_box(&encoded)))
    });
    group.finish();
}

/// Decodes every frame in `encoded` (fed in 4 KiB reads, like a serial port) and returns the
/// number of payload bytes.
fn decode_all(encoded: &[u8]) -> usize {
    let mut decoder = slip::Decoder::new();
    let mut total = 0;
    for read in encoded.chunks(4096) {
        decoder.push(read);
        while let Some(item) = decoder.next_item() {
            if let slip::Item::Frame(frame) = item {
                total += frame.len();
            }
        }
    }
    total
}

criterion_group!(benches, image, slip_framing);
criterion_main!(benches);
