//! ELF → app image on synthetic Xtensa ELFs written with `object::write`: placement, fillers,
//! merging, checksum, digest, app descriptor, header fields, limits, and every kind of bad input.
//! Needs no files from outside the repository.

use cargo_esp32s3::image::app::{
    AppImage, AppImageOptions, SectionMerge, elf_to_app_image, elf_to_app_image_with,
};
use cargo_esp32s3::image::elf::{looks_like_elf, read_elf};
use cargo_esp32s3::image::format::{is_flash_mapped, parse_image};
use cargo_esp32s3::image::{FlashFreq, FlashMode, FlashParams, FlashSize};
use object::elf;
use object::write::elf::{FileHeader, SectionHeader, Writer};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// A small ELF writer for the tests.

/// One section of a synthetic ELF.
#[derive(Clone, Debug)]
struct Sec {
    name: String,
    addr: u32,
    sh_type: u32,
    flags: u32,
    data: Vec<u8>,
    /// Size for NOBITS sections (no bytes in the file).
    nobits_size: u32,
}

impl Sec {
    /// An ALLOC PROGBITS section filled with a pattern derived from its address.
    fn progbits(name: &str, addr: u32, len: usize) -> Sec {
        let data = (0..len)
            .map(|i| (addr as usize + i).wrapping_mul(31) as u8 ^ 0x5A)
            .collect();
        Sec::with_data(name, addr, data)
    }

    fn with_data(name: &str, addr: u32, data: Vec<u8>) -> Sec {
        Sec {
            name: name.into(),
            addr,
            sh_type: elf::SHT_PROGBITS,
            flags: elf::SHF_ALLOC,
            data,
            nobits_size: 0,
        }
    }

    fn nobits(name: &str, addr: u32, size: u32) -> Sec {
        Sec {
            name: name.into(),
            addr,
            sh_type: elf::SHT_NOBITS,
            flags: elf::SHF_ALLOC | elf::SHF_WRITE,
            data: Vec::new(),
            nobits_size: size,
        }
    }

    fn kind(mut self, sh_type: u32) -> Sec {
        self.sh_type = sh_type;
        self
    }

    fn flags(mut self, flags: u32) -> Sec {
        self.flags = flags;
        self
    }
}

/// How to write the ELF header.
#[derive(Clone, Copy)]
struct Target {
    machine: u16,
    is_64: bool,
    little: bool,
}

const XTENSA: Target = Target {
    machine: elf::EM_XTENSA,
    is_64: false,
    little: true,
};

fn build_elf(entry: u32, sections: &[Sec]) -> Vec<u8> {
    build_elf_for(XTENSA, entry, sections)
}

fn build_elf_for(target: Target, entry: u32, sections: &[Sec]) -> Vec<u8> {
    let endian = if target.little {
        object::Endianness::Little
    } else {
        object::Endianness::Big
    };
    let mut buf = Vec::new();
    let mut w = Writer::new(endian, target.is_64, &mut buf);
    w.reserve_file_header();
    w.reserve_null_section_index();
    let names: Vec<_> = sections
        .iter()
        .map(|s| w.add_section_name(s.name.as_bytes()))
        .collect();
    for _ in sections {
        w.reserve_section_index();
    }
    let offsets: Vec<usize> = sections
        .iter()
        .map(|s| {
            if s.sh_type == elf::SHT_NOBITS {
                0
            } else {
                w.reserve(s.data.len(), 4)
            }
        })
        .collect();
    w.reserve_shstrtab_section_index();
    w.reserve_shstrtab();
    w.reserve_section_headers();

    w.write_file_header(&FileHeader {
        os_abi: 0,
        abi_version: 0,
        e_type: elf::ET_EXEC,
        e_machine: target.machine,
        e_entry: u64::from(entry),
        e_flags: 0x300,
    })
    .unwrap();
    for s in sections.iter().filter(|s| s.sh_type != elf::SHT_NOBITS) {
        w.write_align(4);
        w.write(&s.data);
    }
    w.write_shstrtab();
    w.write_null_section_header();
    for ((s, name), offset) in sections.iter().zip(names).zip(offsets) {
        let size = if s.sh_type == elf::SHT_NOBITS {
            s.nobits_size as usize
        } else {
            s.data.len()
        };
        w.write_section_header(&SectionHeader {
            name: Some(name),
            sh_type: s.sh_type,
            sh_flags: u64::from(s.flags),
            sh_addr: u64::from(s.addr),
            sh_offset: offset as u64,
            sh_size: size as u64,
            sh_link: 0,
            sh_info: 0,
            sh_addralign: 4,
            sh_entsize: 0,
        });
    }
    w.write_shstrtab_section_header();
    buf
}

// ---------------------------------------------------------------------------------------------
// Helpers that check images independently of the code under test.

/// An `esp_app_desc_t` with the magic, a version and a project name, and a zero ELF SHA field.
fn app_desc_bytes() -> Vec<u8> {
    let mut d = vec![0u8; 256];
    d[..4].copy_from_slice(&0xABCD_5432u32.to_le_bytes());
    d[0x10..0x15].copy_from_slice(b"1.2.3");
    d[0x30..0x34].copy_from_slice(b"demo");
    d[0x70..0x76].copy_from_slice(b"v5.1.4");
    d
}

/// A typical ESP-IDF-like app: descriptor + rodata in DROM, text in IROM, data and code in RAM.
fn typical_app() -> Vec<Sec> {
    vec![
        Sec::progbits(".iram0.vectors", 0x4037_4000, 0x403),
        Sec::progbits(".iram0.text", 0x4037_4404, 0x2000),
        Sec::nobits(".dram0.dummy", 0x3FC8_8000, 0x9200),
        Sec::progbits(".dram0.data", 0x3FC9_1200, 0x704),
        Sec::nobits(".dram0.bss", 0x3FC9_1904, 0x850),
        Sec::progbits(".flash.text", 0x4200_0020, 0x179DF),
        Sec::nobits(".flash_rodata_dummy", 0x3C00_0020, 0x20000),
        Sec::with_data(".flash.appdesc", 0x3C02_0020, app_desc_bytes()),
        Sec::progbits(".flash.rodata", 0x3C02_0120, 0x1CD8),
    ]
}

/// Recompute the XOR checksum over the segment data, walking the image by hand.
fn independent_checksum(image: &[u8]) -> (u8, usize) {
    let count = image[1] as usize;
    let mut pos = 24;
    let mut checksum = 0xEFu8;
    for _ in 0..count {
        let len = u32::from_le_bytes(image[pos + 4..pos + 8].try_into().unwrap()) as usize;
        for &b in &image[pos + 8..pos + 8 + len] {
            checksum ^= b;
        }
        pos += 8 + len;
    }
    let checksum_at = (pos / 16) * 16 + 15;
    (checksum, checksum_at)
}

/// Loaded memory as runs of consecutive bytes: (start address, bytes), sorted, non-overlapping.
type Runs = Vec<(u32, Vec<u8>)>;

/// Join pieces (address, bytes) into runs; panics if two pieces overlap.
fn runs_of(mut pieces: Vec<(u32, Vec<u8>)>) -> Runs {
    pieces.sort_by_key(|p| p.0);
    let mut runs: Runs = Vec::new();
    for (addr, data) in pieces {
        match runs.last_mut() {
            Some((start, bytes)) if *start as usize + bytes.len() == addr as usize => {
                bytes.extend_from_slice(&data)
            }
            Some((start, bytes)) => {
                assert!(
                    (*start as usize + bytes.len()) < addr as usize,
                    "address 0x{addr:08x} loaded twice"
                );
                runs.push((addr, data));
            }
            None => runs.push((addr, data)),
        }
    }
    runs
}

/// What the image loads (fillers at address 0 ignored).
fn image_memory(image: &[u8]) -> Runs {
    let parsed = parse_image(image).unwrap();
    let pieces = parsed
        .segments
        .iter()
        .filter(|s| s.addr != 0)
        .map(|s| {
            (
                s.addr,
                image[s.data_offset..s.data_offset + s.len as usize].to_vec(),
            )
        })
        .collect();
    runs_of(pieces)
}

/// The loadable sections of the ELF, as (address, bytes).
fn elf_pieces(sections: &[Sec]) -> Vec<(u32, Vec<u8>)> {
    sections
        .iter()
        .filter(|s| s.sh_type != elf::SHT_NOBITS && s.flags & elf::SHF_ALLOC != 0 && s.addr != 0)
        .map(|s| (s.addr, s.data.clone()))
        .collect()
}

/// Check that `loaded` holds every piece exactly, and only zeros elsewhere.
fn assert_memory_matches(loaded: &Runs, pieces: &[(u32, Vec<u8>)]) {
    let mut covered: Vec<Vec<bool>> = loaded.iter().map(|(_, b)| vec![false; b.len()]).collect();
    for (addr, data) in pieces {
        let run = loaded
            .iter()
            .rposition(|(start, _)| start <= addr)
            .unwrap_or_else(|| panic!("0x{addr:08x} not loaded"));
        let (start, bytes) = &loaded[run];
        let offset = (addr - start) as usize;
        let got = bytes
            .get(offset..offset + data.len())
            .unwrap_or_else(|| panic!("0x{addr:08x}+0x{:x} not fully loaded", data.len()));
        assert!(got == &data[..], "bytes at 0x{addr:08x} differ");
        covered[run][offset..offset + data.len()].fill(true);
    }
    for ((start, bytes), covered) in loaded.iter().zip(&covered) {
        for (i, (&b, &c)) in bytes.iter().zip(covered).enumerate() {
            assert!(
                c || b == 0,
                "extra byte at 0x{:08x} must be alignment zero",
                *start as usize + i
            );
        }
    }
}

/// Everything that must hold for any image we produce from `sections`.
fn check_image_invariants(image: &AppImage, sections: &[Sec], elf_bytes: &[u8]) {
    let bytes = &image.bytes;
    let parsed = parse_image(bytes).expect("image parses");
    assert!(parsed.checksum_ok());
    assert_eq!(parsed.digest_ok(), Some(true));
    assert_eq!(parsed.total_len(), bytes.len());
    assert_eq!(bytes.len() % 16, 0);

    let (checksum, at) = independent_checksum(bytes);
    assert_eq!(bytes[at], checksum, "checksum byte");
    let digest: [u8; 32] = Sha256::digest(&bytes[..at + 1]).into();
    assert_eq!(&bytes[at + 1..], &digest, "appended SHA-256");

    assert!(parsed.segments.len() <= 16);
    for seg in &parsed.segments {
        assert_eq!(seg.len % 4, 0, "segment 0x{:08x} length", seg.addr);
        if is_flash_mapped(seg.addr) {
            assert_eq!(
                seg.data_offset % 0x10000,
                seg.addr as usize % 0x10000,
                "flash segment 0x{:08x} at file offset 0x{:x}",
                seg.addr,
                seg.data_offset
            );
        }
        if seg.addr == 0 {
            let data = &bytes[seg.data_offset..seg.data_offset + seg.len as usize];
            assert!(data.iter().all(|&b| b == 0), "padding is zeros");
        }
    }
    assert_eq!(parsed.segments.len(), image.segments.len());

    // Loaded memory equals the ELF's sections, plus only zero alignment bytes; the ESP-IDF app
    // descriptor's SHA field is the one intended difference.
    let mut pieces = elf_pieces(sections);
    if image.app_desc_patched {
        let desc = pieces
            .iter_mut()
            .find(|(addr, _)| {
                sections
                    .iter()
                    .any(|s| s.name == ".flash.appdesc" && s.addr == *addr)
            })
            .unwrap();
        let sha: [u8; 32] = Sha256::digest(elf_bytes).into();
        desc.1[0x90..0xB0].copy_from_slice(&sha);
    }
    assert_memory_matches(&image_memory(bytes), &pieces);
}

fn convert(sections: &[Sec]) -> (AppImage, Vec<u8>) {
    let elf = build_elf(0x4037_5378, sections);
    let image = elf_to_app_image(&elf, &AppImageOptions::default())
        .unwrap_or_else(|e| panic!("conversion failed: {e}"));
    (image, elf)
}

fn error_of(elf: &[u8]) -> String {
    match elf_to_app_image(elf, &AppImageOptions::default()) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[test]
fn typical_app_gives_a_valid_image_with_the_app_descriptor_patched() {
    let sections = typical_app();
    let (image, elf) = convert(&sections);
    check_image_invariants(&image, &sections, &elf);
    assert!(image.app_desc_patched);
    // The descriptor opens the first segment, at image offset 0x20; the ELF SHA at 0xB0.
    assert_eq!(&image.bytes[0x20..0x24], &0xABCD_5432u32.to_le_bytes());
    let sha: [u8; 32] = Sha256::digest(&elf).into();
    assert_eq!(&image.bytes[0xB0..0xD0], &sha);
    assert_eq!(image.entry, 0x4037_5378);
    assert_eq!(&image.bytes[4..8], &0x4037_5378u32.to_le_bytes());
}

#[test]
fn header_fields_follow_the_options() {
    // (options, flash mode byte, size/freq byte, min_rev legacy, min_rev_full, max_rev_full)
    let cases = [
        (AppImageOptions::default(), 2u8, 0x20u8, 0u8, 0u16, 99u16),
        (
            AppImageOptions {
                flash: FlashParams {
                    mode: Some(FlashMode::Qio),
                    size: Some(FlashSize::S16Mb),
                    freq: Some(FlashFreq::F80m),
                },
                min_rev_full: 102,
                max_rev_full: 199,
                append_digest: true,
            },
            0,
            0x4F,
            1,
            102,
            199,
        ),
        (
            AppImageOptions {
                flash: FlashParams {
                    mode: Some(FlashMode::Dout),
                    size: Some(FlashSize::S8Mb),
                    freq: None,
                },
                ..AppImageOptions::default()
            },
            3,
            0x30,
            0,
            0,
            99,
        ),
        (
            AppImageOptions {
                flash: FlashParams {
                    mode: None,
                    size: None,
                    freq: Some(FlashFreq::F20m),
                },
                ..AppImageOptions::default()
            },
            2,
            0x22,
            0,
            0,
            99,
        ),
    ];
    let elf = build_elf(0x4037_5378, &typical_app());
    for (opts, mode, size_freq, min_rev, min_full, max_full) in cases {
        let image = elf_to_app_image(&elf, &opts).unwrap();
        let b = &image.bytes;
        assert_eq!(b[0], 0xE9);
        assert_eq!(b[1] as usize, image.segments.len());
        assert_eq!((b[2], b[3]), (mode, size_freq), "{opts:?}");
        assert_eq!(b[8], 0xEE, "WP pin disabled");
        assert_eq!(&b[9..12], &[0, 0, 0], "drive settings");
        assert_eq!(u16::from_le_bytes([b[12], b[13]]), 9, "chip id");
        assert_eq!(b[14], min_rev);
        assert_eq!(u16::from_le_bytes([b[15], b[16]]), min_full);
        assert_eq!(u16::from_le_bytes([b[17], b[18]]), max_full);
        assert_eq!(&b[19..23], &[0; 4]);
        assert_eq!(b[23], 1, "digest appended");
    }
}

#[test]
fn without_digest_the_image_ends_at_the_checksum() {
    let elf = build_elf(0x4037_5378, &typical_app());
    let opts = AppImageOptions {
        append_digest: false,
        ..AppImageOptions::default()
    };
    let image = elf_to_app_image(&elf, &opts).unwrap();
    assert_eq!(image.bytes[23], 0);
    let (checksum, at) = independent_checksum(&image.bytes);
    assert_eq!(at + 1, image.bytes.len());
    assert_eq!(image.bytes[at], checksum);
    assert_eq!(parse_image(&image.bytes).unwrap().digest_ok(), None);
}

#[test]
fn flash_data_is_congruent_to_its_address_in_many_layouts() {
    // Vary the amount of RAM before the second flash segment so every residue class is hit.
    for ram_len in (4..0x400usize).step_by(0x2C).chain([0x1_0000, 0x1_2344]) {
        let sections = vec![
            Sec::progbits(".rodata", 0x3C00_0020, 0x123),
            Sec::progbits(".text", 0x4201_0020, 0x777),
            Sec::progbits(".text2", 0x4203_8000, 0x40),
            Sec::progbits(".data", 0x3FC8_8000, ram_len),
        ];
        let (image, elf) = convert(&sections);
        check_image_invariants(&image, &sections, &elf);
    }
}

#[test]
fn ram_slices_fill_the_gaps_when_there_is_enough_ram() {
    let sections = vec![
        Sec::progbits(".rodata", 0x3C00_0020, 0x100),
        Sec::progbits(".text", 0x4201_0020, 0x100),
        Sec::progbits(".iram", 0x4037_8000, 0x2_0000),
    ];
    let (image, elf) = convert(&sections);
    check_image_invariants(&image, &sections, &elf);
    assert!(
        image.segments.iter().all(|s| s.addr != 0),
        "no padding segment"
    );
    // The IRAM section was split around the flash segment, in order.
    let iram: Vec<(u32, usize)> = image
        .segments
        .iter()
        .filter(|s| (0x4037_0000..0x403E_0000).contains(&s.addr))
        .map(|s| (s.addr, s.data.len()))
        .collect();
    assert_eq!(iram.len(), 2);
    assert_eq!(iram[0].0, 0x4037_8000);
    assert_eq!(iram[1].0, 0x4037_8000 + iram[0].1 as u32);
    assert_eq!(iram[0].1 + iram[1].1, 0x2_0000);
}

#[test]
fn zero_padding_at_address_zero_fills_the_gap_without_ram() {
    let sections = vec![
        Sec::progbits(".rodata", 0x3C00_0020, 0x100),
        Sec::progbits(".text", 0x4201_0020, 0x100),
    ];
    let (image, elf) = convert(&sections);
    check_image_invariants(&image, &sections, &elf);
    let addrs: Vec<u32> = image.segments.iter().map(|s| s.addr).collect();
    assert_eq!(addrs, vec![0x3C00_0020, 0, 0x4201_0020]);
    // Header 0x18 + 8 + 0x100, then the padding header and data, then 8 → 0x10020.
    assert_eq!(
        image.segments[1].data.len(),
        0x10020 - 0x18 - 8 - 0x100 - 8 - 8
    );
}

#[test]
fn small_ram_is_used_whole_before_padding() {
    // The esp-hal shape: rodata, two small RAM blocks, zero padding, then text.
    let sections = vec![
        Sec::progbits(".rodata", 0x3C00_0020, 0x7C4),
        Sec::progbits(".data", 0x3FC8_90EC, 0x368),
        Sec::progbits(".vectors", 0x4037_8000, 0x400),
        Sec::progbits(".rwtext", 0x4037_8400, 0xCEC),
        Sec::progbits(".text", 0x4201_0020, 0x1FF3),
    ];
    let (image, elf) = convert(&sections);
    check_image_invariants(&image, &sections, &elf);
    let layout: Vec<(u32, usize)> = image
        .segments
        .iter()
        .map(|s| (s.addr, s.data.len()))
        .collect();
    assert_eq!(
        layout,
        vec![
            (0x3C00_0020, 0x7C4),
            (0x3FC8_90EC, 0x368),
            (0x4037_8000, 0x10EC),
            (0, 0xE3C8),
            (0x4201_0020, 0x1FF4),
        ]
    );
}

#[test]
fn adjacent_sections_merge_and_alignment_gaps_become_zeros() {
    let sections = vec![
        Sec::progbits(".a", 0x3FC8_8000, 0x103),
        Sec::progbits(".b", 0x3FC8_8104, 0x10),
        Sec::progbits(".c", 0x3FC8_8114, 0x4),
        Sec::progbits(".far", 0x3FC8_9000, 0x4),
    ];
    for merge in [SectionMerge::TableOrder, SectionMerge::AddressOrder] {
        let elf = build_elf(0x4037_5378, &sections);
        let image = elf_to_app_image_with(&elf, &AppImageOptions::default(), merge).unwrap();
        check_image_invariants(&image, &sections, &elf);
        let layout: Vec<(u32, usize)> = image
            .segments
            .iter()
            .map(|s| (s.addr, s.data.len()))
            .collect();
        assert_eq!(
            layout,
            vec![(0x3FC8_8000, 0x118), (0x3FC8_9000, 4)],
            "{merge:?}"
        );
        assert_eq!(image.segments[0].data[0x103], 0, "{merge:?}");
    }
}

#[test]
fn merge_policies_differ_only_in_what_they_join() {
    // Two neighbours that are apart in the section table.
    let sections = vec![
        Sec::progbits(".iram.text", 0x403C_9700, 3),
        Sec::progbits(".dram0.data", 0x3FCE_3818, 0x14),
        Sec::progbits(".iram.text", 0x403C_9704, 0xBFD),
    ];
    let elf = build_elf(0x403C_9908, &sections);
    let count = |merge| {
        let image = elf_to_app_image_with(&elf, &AppImageOptions::default(), merge).unwrap();
        check_image_invariants(&image, &sections, &elf);
        image.segments.len()
    };
    assert_eq!(count(SectionMerge::TableOrder), 3);
    assert_eq!(count(SectionMerge::AddressOrder), 2);
    assert_eq!(
        count(SectionMerge::Auto),
        3,
        "ESP-IDF style ELF: esptool's way"
    );

    // With the espflash metadata section, Auto follows espflash.
    let mut with_metadata = sections.clone();
    with_metadata
        .push(Sec::with_data(".espressif.metadata", 0, b"ESP-IDF\0esp32s3\0".to_vec()).flags(0));
    let elf = build_elf(0x403C_9908, &with_metadata);
    let image = elf_to_app_image(&elf, &AppImageOptions::default()).unwrap();
    assert_eq!(image.segments.len(), 2);
}

#[test]
fn auto_falls_back_to_address_order_when_the_table_order_has_a_page_conflict() {
    // esp-hal's shape: descriptor and rodata adjacent in memory, apart in the table.
    let sections = vec![
        Sec::with_data(".rodata_desc", 0x3C00_0020, app_desc_bytes()),
        Sec::progbits(".data", 0x3FC8_90EC, 0x368),
        Sec::progbits(".rodata", 0x3C00_0120, 0x6C4),
        Sec::progbits(".text", 0x4201_0020, 0x40),
    ];
    let elf = build_elf(0x4037_88F0, &sections);
    let table = elf_to_app_image_with(&elf, &AppImageOptions::default(), SectionMerge::TableOrder)
        .unwrap_err()
        .to_string();
    assert!(
        table.contains("0x3c000020") && table.contains("0x3c000120"),
        "{table}"
    );
    assert!(table.contains("same 64 KiB flash page"), "{table}");
    let image = elf_to_app_image(&elf, &AppImageOptions::default()).unwrap();
    check_image_invariants(&image, &sections, &elf);
    // esp-hal's descriptor is left as linked, like espflash does.
    assert!(!image.app_desc_patched);
    assert_eq!(&image.bytes[0xB0..0xD0], &[0u8; 32]);
}

#[test]
fn app_descriptor_problems_are_reported() {
    let mut bad_magic = typical_app();
    bad_magic[7].data[0] = 0;
    let msg = error_of(&build_elf(0x4037_5378, &bad_magic));
    assert!(
        msg.contains(".flash.appdesc") && msg.contains("0xabcd5432"),
        "{msg}"
    );

    let mut prefilled = typical_app();
    prefilled[7].data[0x90] = 1;
    let msg = error_of(&build_elf(0x4037_5378, &prefilled));
    assert!(msg.contains("already holds an ELF SHA-256"), "{msg}");

    let mut short = typical_app();
    short[7].data.truncate(0x40);
    short[8].addr = 0x3C02_0060;
    let msg = error_of(&build_elf(0x4037_5378, &short));
    assert!(msg.contains("too short"), "{msg}");
}

#[test]
fn segments_are_sorted_with_the_descriptor_first() {
    let sections = vec![
        Sec::progbits(".iram_b", 0x4037_9000, 0x10),
        Sec::progbits(".text", 0x4201_0020, 0x10),
        Sec::progbits(".dram_b", 0x3FC9_0000, 0x10),
        Sec::progbits(".rodata_low", 0x3C00_0020, 0x10),
        Sec::with_data(".flash.appdesc", 0x3C02_0020, app_desc_bytes()),
        Sec::progbits(".dram_a", 0x3FC8_8000, 0x10),
        Sec::progbits(".iram_a", 0x4037_8000, 0x10),
    ];
    let (image, elf) = convert(&sections);
    check_image_invariants(&image, &sections, &elf);
    let flash: Vec<u32> = image
        .segments
        .iter()
        .map(|s| s.addr)
        .filter(|&a| is_flash_mapped(a))
        .collect();
    assert_eq!(flash, vec![0x3C02_0020, 0x3C00_0020, 0x4201_0020]);
    let ram: Vec<u32> = image
        .segments
        .iter()
        .map(|s| s.addr)
        .filter(|&a| a != 0 && !is_flash_mapped(a))
        .collect();
    let mut sorted = ram.clone();
    sorted.sort();
    assert_eq!(ram, sorted);
    assert_eq!(ram.len(), 4);
}

#[test]
fn only_alloc_progbits_like_sections_with_address_and_size_are_loaded() {
    let sections = vec![
        Sec::progbits(".data", 0x3FC8_8000, 0x10),
        Sec::progbits(".init_array", 0x3FC8_8100, 0x8).kind(elf::SHT_INIT_ARRAY),
        Sec::progbits(".fini_array", 0x3FC8_8200, 0x8).kind(elf::SHT_FINI_ARRAY),
        Sec::progbits(".preinit_array", 0x3FC8_8300, 0x8).kind(elf::SHT_PREINIT_ARRAY),
        Sec::progbits(".not_alloc", 0x3FC8_8400, 0x8).flags(elf::SHF_WRITE),
        Sec::progbits(".note", 0x3FC8_8500, 0x8).kind(elf::SHT_NOTE),
        Sec::nobits(".bss", 0x3FC8_8600, 0x100),
        Sec::progbits(".empty", 0x3FC8_8700, 0),
        Sec::progbits(".debug_info", 0, 0x40).flags(0),
    ];
    let info = read_elf(&build_elf(0x4037_5378, &sections)).unwrap();
    let names: Vec<&str> = info.segments.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [".data", ".init_array", ".fini_array", ".preinit_array"]
    );
}

#[test]
fn more_than_sixteen_segments_is_refused() {
    let sections: Vec<Sec> = (0..17u32)
        .map(|i| Sec::progbits(&format!(".d{i}"), 0x3FC8_8000 + i * 0x100, 0x10))
        .collect();
    let msg = error_of(&build_elf(0x4037_5378, &sections));
    assert!(
        msg.starts_with("invalid segment count 17 (max 16)"),
        "{msg}"
    );
    // Sixteen is fine.
    let (image, elf) = convert(&sections[..16]);
    check_image_invariants(&image, &sections[..16], &elf);
}

#[test]
fn bad_inputs_give_one_clear_line() {
    let valid = build_elf(0x4037_5378, &typical_app());
    let x86_64 = build_elf_for(
        Target {
            machine: elf::EM_X86_64,
            is_64: true,
            little: true,
        },
        0x40_1000,
        &[Sec::progbits(".text", 0x40_1000, 0x10)],
    );
    let xtensa_64 = build_elf_for(
        Target {
            is_64: true,
            ..XTENSA
        },
        0x4037_5378,
        &[Sec::progbits(".text", 0x4037_5378, 0x10)],
    );
    let big_endian = build_elf_for(
        Target {
            little: false,
            ..XTENSA
        },
        0x4037_5378,
        &[Sec::progbits(".text", 0x4037_5378, 0x10)],
    );
    let riscv = build_elf_for(
        Target {
            machine: elf::EM_RISCV,
            ..XTENSA
        },
        0x4200_0000,
        &[Sec::progbits(".text", 0x4200_0020, 0x10)],
    );
    let mut bad_shoff = valid.clone();
    bad_shoff[0x20..0x24].copy_from_slice(&0x00FF_FFF0u32.to_le_bytes());
    let mut bad_section_offset =
        build_elf(0x4037_5378, &[Sec::progbits(".data", 0x3FC8_8000, 0x10)]);
    let shoff = u32::from_le_bytes(bad_section_offset[0x20..0x24].try_into().unwrap()) as usize;
    // Section 1's sh_offset (header at shoff + 40, field at +16).
    bad_section_offset[shoff + 40 + 16..shoff + 40 + 20]
        .copy_from_slice(&0x0100_0000u32.to_le_bytes());

    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        (
            "empty",
            vec![],
            &["the file is empty (0 bytes)", "check the path"],
        ),
        (
            "image",
            vec![0xE9, 5, 2, 0x20, 0, 0, 0, 0],
            &["not an ELF file", "e9 05 02 20", "ESP image already"],
        ),
        ("text", b"hello world".to_vec(), &["not an ELF file"]),
        ("ident only", valid[..16].to_vec(), &["truncated ELF"]),
        ("header cut", valid[..40].to_vec(), &["ELF header"]),
        (
            "sections cut",
            valid[..valid.len() - 10].to_vec(),
            &["corrupted ELF section table"],
        ),
        (
            "e_shoff past the end",
            bad_shoff,
            &["corrupted ELF section table"],
        ),
        (
            "section data past the end",
            bad_section_offset,
            &["section .data", "0x1000000"],
        ),
        (
            "x86-64",
            x86_64,
            &[
                "this ELF is for x86-64 (e_machine 62), not Xtensa; build for xtensa-esp32s3-none-elf or -espidf",
            ],
        ),
        ("RISC-V", riscv, &["RISC-V", "e_machine 243"]),
        ("64-bit", xtensa_64, &["64-bit"]),
        ("big-endian", big_endian, &["big-endian"]),
        (
            "no loadable sections",
            build_elf(0x4037_5378, &[Sec::nobits(".bss", 0x3FC8_8000, 0x100)]),
            &["no loadable sections"],
        ),
        (
            "overlap",
            build_elf(
                0x4037_5378,
                &[
                    Sec::progbits(".data", 0x3FC8_8000, 0x100),
                    Sec::progbits(".other", 0x3FC8_8080, 0x100),
                ],
            ),
            &[".data", ".other", "overlap"],
        ),
        (
            "outside memory",
            build_elf(0x4037_5378, &[Sec::progbits(".weird", 0x1000_0000, 0x10)]),
            &[
                ".weird",
                "0x10000000",
                "outside every ESP32-S3 memory region",
            ],
        ),
        (
            "mask ROM",
            build_elf(0x4000_0400, &[Sec::progbits(".text", 0x4000_0400, 0x10)]),
            &["mask ROM"],
        ),
        (
            "mask ROM is named even after another bad section",
            build_elf(
                0x4000_0400,
                &[
                    Sec::progbits(".rodata", 0x3FF1_8C00, 0x10),
                    Sec::progbits(".text", 0x4000_0400, 0x10),
                ],
            ),
            &["mask ROM", "not an application"],
        ),
        (
            "runs off the end of DRAM",
            build_elf(0x4037_5378, &[Sec::progbits(".data", 0x3FCF_FFF0, 0x20)]),
            &[".data", "runs past the end"],
        ),
        (
            "two flash segments in one page",
            build_elf(
                0x4037_5378,
                &[
                    Sec::progbits(".rodata", 0x3C00_0020, 0x10),
                    Sec::progbits(".rodata2", 0x3C00_4000, 0x10),
                ],
            ),
            &["0x3c000020", "0x3c004000", "same 64 KiB flash page"],
        ),
    ];
    for (what, bytes, needles) in cases {
        let msg = error_of(&bytes);
        for needle in needles {
            assert!(msg.contains(needle), "{what}: {msg:?} lacks {needle:?}");
        }
        assert!(!msg.contains('\n'), "{what}: one line: {msg:?}");
        assert!(!msg.ends_with('.'), "{what}: no trailing dot: {msg:?}");
        let first = msg.chars().next().unwrap();
        assert!(!first.is_uppercase(), "{what}: lowercase start: {msg:?}");
    }
    assert!(looks_like_elf(&valid));
}

#[test]
fn every_truncation_and_single_byte_corruption_is_an_error_not_a_panic() {
    let sections = vec![
        Sec::with_data(".flash.appdesc", 0x3C00_0020, app_desc_bytes()),
        Sec::progbits(".data", 0x3FC8_8000, 0x20),
        Sec::progbits(".text", 0x4201_0020, 0x20),
    ];
    let valid = build_elf(0x4037_5378, &sections);
    for cut in 0..valid.len() {
        assert!(
            elf_to_app_image(&valid[..cut], &AppImageOptions::default()).is_err(),
            "cut at {cut}"
        );
    }
    for at in 0..valid.len() {
        for value in [0x00, 0xFF, 0x80] {
            let mut bytes = valid.clone();
            bytes[at] = value;
            // Either an error or an image that is valid in itself.
            if let Ok(image) = elf_to_app_image(&bytes, &AppImageOptions::default()) {
                let parsed = parse_image(&image.bytes).unwrap();
                assert!(parsed.checksum_ok());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Property-style test: pseudo-random layouts from fixed seeds.

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }

    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

/// A random, valid layout: flash sections in distinct pages, RAM sections in runs that are
/// sometimes adjacent, sometimes unaligned in length, shuffled in the section table.
fn random_layout(rng: &mut Lcg) -> Vec<Sec> {
    let mut sections = Vec::new();
    let mut pages: Vec<u32> = Vec::new();
    for i in 0..1 + rng.below(3) {
        let base = if rng.below(2) == 0 {
            0x3C00_0000
        } else {
            0x4200_0000
        };
        let page = base + rng.below(64) * 0x1_0000;
        // Each section uses its page and maybe the next: keep a page of distance.
        if pages.iter().any(|&p| p.abs_diff(page) <= 0x1_0000) {
            continue;
        }
        pages.push(page);
        let offset = 0x20 + 4 * rng.below(0x100);
        let len = 1 + rng.below(0x1_4000) as usize;
        sections.push(Sec::progbits(&format!(".flash{i}"), page + offset, len));
    }
    for (base, limit) in [(0x3FC8_8000u32, 0x3FCF_0000u32), (0x4037_8000, 0x403D_0000)] {
        let mut addr = base + 4 * rng.below(0x400);
        for i in 0..rng.below(4) {
            let len = 1 + rng.below(0x6000) as usize;
            if addr as usize + len >= limit as usize {
                break;
            }
            sections.push(Sec::progbits(&format!(".ram{base:x}_{i}"), addr, len));
            let end = addr + len as u32;
            // Adjacent (after alignment), or a real gap.
            addr = end.next_multiple_of(4)
                + if rng.below(2) == 0 {
                    0
                } else {
                    4 * (1 + rng.below(0x100))
                };
        }
    }
    if rng.below(3) == 0 {
        sections.push(Sec::nobits(".bss", 0x3FCF_8000, 0x400));
    }
    // Shuffle the section table.
    for i in (1..sections.len()).rev() {
        let j = rng.below(i as u32 + 1) as usize;
        sections.swap(i, j);
    }
    sections
}

#[test]
fn random_layouts_round_trip_through_the_image() {
    // What the seeds exercised, so that the test cannot pass by skipping everything.
    let (mut padded, mut split, mut merged, mut multi_flash) = (0, 0, 0, 0);
    for seed in 1..=60u64 {
        let mut rng = Lcg(seed);
        let sections = random_layout(&mut rng);
        if sections.iter().all(|s| s.sh_type == elf::SHT_NOBITS) {
            continue;
        }
        let elf = build_elf(0x4037_8000, &sections);
        for merge in [
            SectionMerge::TableOrder,
            SectionMerge::AddressOrder,
            SectionMerge::Auto,
        ] {
            let image = elf_to_app_image_with(&elf, &AppImageOptions::default(), merge)
                .unwrap_or_else(|e| panic!("seed {seed} {merge:?}: {e}\n{sections:#x?}"));
            check_image_invariants(&image, &sections, &elf);
            let loaded = image.segments.iter().filter(|s| s.addr != 0).count();
            let ram_sections = sections
                .iter()
                .filter(|s| s.sh_type != elf::SHT_NOBITS && !is_flash_mapped(s.addr))
                .count();
            let ram_segments = image
                .segments
                .iter()
                .filter(|s| s.addr != 0 && !is_flash_mapped(s.addr))
                .count();
            padded += usize::from(image.segments.iter().any(|s| s.addr == 0));
            split += usize::from(ram_segments > ram_sections);
            merged += usize::from(ram_segments < ram_sections);
            multi_flash += usize::from(loaded - ram_segments > 1);
        }
    }
    assert!(
        padded > 5 && split > 5 && merged > 5 && multi_flash > 5,
        "padded {padded} split {split} merged {merged} multi-flash {multi_flash}"
    );
}
