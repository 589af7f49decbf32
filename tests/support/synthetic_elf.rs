//! Synthetic firmware for tests that need some to build, convert or flash, so that no real
//! firmware or toolchain is needed: a minimal linked ESP32-S3 ELF (written with
//! `object::write`), a second-stage bootloader stand-in, a small app image, and an offset-0
//! image made of those with the library.
// Each test file uses what it needs of this module.
#![allow(dead_code)]

use cargo_esp32s3::image::format::{ImageHeader, Segment, encode_image};
use cargo_esp32s3::image::merge::{Offset0Inputs, merge_regions, offset0_regions};
use cargo_esp32s3::image::partition::PartitionTable;
use cargo_esp32s3::image::{FlashParams, FlashSize};
use cargo_esp32s3::loader::{ConnectOptions, StubImage};
use cargo_esp32s3::reset::Before;

/// An `esp_app_desc_t` (256 bytes) naming `project`, as esp-hal's `esp_app_desc!()` links it:
/// magic 0xABCD5432, version 0.1.0, no eFuse block revision limits, 64 KiB MMU pages.
pub fn app_descriptor(project: &str) -> Vec<u8> {
    let field = |text: &str, len: usize| {
        let mut f = text.as_bytes().to_vec();
        f.resize(len, 0);
        f
    };
    let mut d = 0xABCD_5432u32.to_le_bytes().to_vec();
    d.extend([0; 12]);
    d.extend(field("0.1.0", 32));
    d.extend(field(project, 32));
    d.extend(field("12:00:00", 16));
    d.extend(field("Jan  1 2025", 16));
    d.extend(field("esp-hal", 32));
    d.extend([0; 32]); // app_elf_sha256
    d.extend(0u16.to_le_bytes()); // min_efuse_blk_rev_full
    d.extend(0xFFFFu16.to_le_bytes()); // max_efuse_blk_rev_full
    d.push(16); // mmu_page_size, log2
    d.resize(256, 0);
    d
}

/// A minimal linked Xtensa ELF: an app descriptor in `.rodata_desc` (DROM), one `.text` section
/// in flash (IROM, linked where it follows the descriptor in the image without a filler) and one
/// in IRAM.
pub fn synthetic_elf() -> Vec<u8> {
    synthetic_elf_with(Some(&app_descriptor("synthetic")))
}

/// [`synthetic_elf`] with `descriptor` as its `.rodata_desc` (`None`: an esp-hal app built without
/// `esp_app_desc!()`, whose first flash segment is its code).
pub fn synthetic_elf_with(descriptor: Option<&[u8]>) -> Vec<u8> {
    // With a descriptor the code follows it in the image (its data lands at 0x128); without, it
    // starts the image as the first flash segment would.
    let text_addr = if descriptor.is_some() {
        0x4200_0128
    } else {
        0x4200_0020
    };
    let mut sections: Vec<(&[u8], u32, &[u8])> = vec![
        (b".text", text_addr, &[0x36u8; 256]),
        (b".iram0.text", 0x4037_8000, &[0x06u8; 64]),
    ];
    if let Some(descriptor) = descriptor {
        sections.insert(0, (b".rodata_desc", 0x3C00_0020, descriptor));
    }
    elf_with(&sections, 0x4037_8000)
}

/// The entry point of [`synthetic_ram_elf`].
pub const RAM_ELF_ENTRY: u32 = 0x4038_0008;

/// The sections of [`synthetic_ram_elf`]: (name, address, bytes), all in RAM.
pub fn ram_sections() -> Vec<(&'static [u8], u32, Vec<u8>)> {
    vec![
        (
            b".iram0.text",
            0x4038_0000,
            (0..0x2400u32).map(|i| (i * 13 + 5) as u8).collect(),
        ),
        (
            b".dram0.data",
            0x3FCA_0000,
            b"Hello world!\n\0\0\0".to_vec(),
        ),
        (b".dram0.rodata", 0x3FCA_0010, vec![0x5A; 48]),
    ]
}

/// A linked Xtensa ELF whose every section lies in RAM (IRAM code bigger than one MEM_DATA
/// block, DRAM data), as `flash --ram` takes it; entry [`RAM_ELF_ENTRY`].
pub fn synthetic_ram_elf() -> Vec<u8> {
    let sections = ram_sections();
    let refs: Vec<(&[u8], u32, &[u8])> = sections
        .iter()
        .map(|(name, addr, data)| (*name, *addr, data.as_slice()))
        .collect();
    elf_with(&refs, RAM_ELF_ENTRY)
}

/// A linked Xtensa ELF of `sections` (name, address, bytes; each PROGBITS, ALLOC) entered at
/// `entry`.
pub fn elf_with(sections: &[(&[u8], u32, &[u8])], entry: u32) -> Vec<u8> {
    use object::elf;
    use object::write::elf::{FileHeader, SectionHeader, Writer};
    let mut out = Vec::new();
    let mut writer = Writer::new(object::Endianness::Little, false, &mut out);
    writer.reserve_file_header();
    let mut reserved = Vec::new();
    for &(name, addr, data) in sections {
        let name = writer.add_section_name(name);
        writer.reserve_section_index();
        let offset = writer.reserve(data.len(), 4);
        reserved.push((name, addr, data, offset));
    }
    writer.reserve_shstrtab_section_index();
    writer.reserve_shstrtab();
    writer.reserve_section_headers();
    writer
        .write_file_header(&FileHeader {
            os_abi: 0,
            abi_version: 0,
            e_type: elf::ET_EXEC,
            e_machine: elf::EM_XTENSA,
            e_entry: u64::from(entry),
            e_flags: 0x300,
        })
        .expect("ELF header");
    for (_, _, data, _) in &reserved {
        writer.write_align(4);
        writer.write(data);
    }
    writer.write_shstrtab();
    writer.write_null_section_header();
    for (name, addr, data, offset) in &reserved {
        writer.write_section_header(&SectionHeader {
            name: Some(*name),
            sh_type: elf::SHT_PROGBITS,
            sh_flags: u64::from(elf::SHF_ALLOC | elf::SHF_EXECINSTR),
            sh_addr: u64::from(*addr),
            sh_offset: *offset as u64,
            sh_size: data.len() as u64,
            sh_link: 0,
            sh_info: 0,
            sh_addralign: 4,
            sh_entsize: 0,
        });
    }
    writer.write_shstrtab_section_header();
    out
}

/// A second-stage bootloader stand-in that carries ESP-IDF's `esp_bootloader_desc_t` (magic
/// 0x50, version 1, `idf_ver`, build date) at the start of its first (DRAM) segment, as
/// ESP-IDF 5.x bootloaders do, then [`synthetic_bootloader`]'s IRAM code. Different `idf_ver`s
/// make different bootloaders.
pub fn bootloader_with_descriptor(idf_ver: &str) -> Vec<u8> {
    let mut desc = vec![0u8; 80];
    desc[0] = 0x50;
    desc[4..8].copy_from_slice(&1u32.to_le_bytes());
    desc[8..8 + idf_ver.len()].copy_from_slice(idf_ver.as_bytes());
    let date = b"Sep 11 2025 05:06:05";
    desc[40..40 + date.len()].copy_from_slice(date);
    let header = ImageHeader {
        entry: 0x403C_8000,
        ..ImageHeader::default()
    };
    let segments = [
        Segment {
            addr: 0x3FCE_2820,
            data: desc,
        },
        Segment {
            addr: 0x403C_8000,
            data: (0..2048u32).map(|i| (i * 7) as u8).collect(),
        },
    ];
    encode_image(&header, &segments).expect("bootloader image")
}

/// A small ESP32-S3 image that passes for a second-stage bootloader: one 2 KiB IRAM segment,
/// entry 0x403C8000 (the ROM boots it: banner, `load:0x403c8000,len:0x800`, `entry`).
pub fn synthetic_bootloader() -> Vec<u8> {
    let header = ImageHeader {
        entry: 0x403C_8000,
        ..ImageHeader::default()
    };
    let segments = [Segment {
        addr: 0x403C_8000,
        data: (0..2048u32).map(|i| (i * 7) as u8).collect(),
    }];
    encode_image(&header, &segments).expect("bootloader image")
}

/// A small app image for `chip_id` (9 is the ESP32-S3) with the given minimum revision
/// (major*100+minor): one DROM segment (starting with an app descriptor) and one IRAM segment.
pub fn app_image(chip_id: u16, min_rev_full: u16) -> Vec<u8> {
    let header = ImageHeader {
        entry: 0x4037_8000,
        chip_id,
        min_rev_full,
        min_rev: u8::try_from(min_rev_full / 100).unwrap_or(u8::MAX),
        ..ImageHeader::default()
    };
    let mut drom = app_descriptor("synthetic");
    drom.extend((0..40_000u32 - 256).map(|i| (i % 251) as u8));
    let segments = [
        Segment {
            addr: 0x3C00_0020,
            data: drom,
        },
        Segment {
            addr: 0x4037_8000,
            data: vec![0x06; 4096],
        },
    ];
    encode_image(&header, &segments).expect("app image")
}

/// An ESP32-S3 image of `segments` entered at `entry` (default header otherwise).
pub fn image_of(entry: u32, segments: &[Segment]) -> Vec<u8> {
    let header = ImageHeader {
        entry,
        ..ImageHeader::default()
    };
    encode_image(&header, segments).expect("encode an image")
}

/// An offset-0 image made with the library: `bootloader` at 0x0, the default partition table
/// for `flash_size` bytes at 0x8000 and `app` in its app partition, default flash settings.
pub fn offset0_image(bootloader: &[u8], app: &[u8], flash_size: u32) -> Vec<u8> {
    let table = PartitionTable::default_for_flash(flash_size);
    let regions = offset0_regions(&Offset0Inputs {
        bootloader,
        table: &table,
        table_offset: 0x8000,
        app,
        app_partition: None,
        flash: FlashParams::default(),
        flash_size: Some(flash_size),
    })
    .expect("offset-0 regions");
    merge_regions(&regions, None).expect("merged image")
}

/// A 4 MB offset-0 image: [`synthetic_bootloader`], the default partition table at 0x8000 and
/// an ESP32-S3 [`app_image`] in its factory partition.
pub fn synthetic_offset0_image() -> Vec<u8> {
    offset0_image(
        &synthetic_bootloader(),
        &app_image(9, 0),
        FlashSize::S4Mb.bytes(),
    )
}

/// A flasher stub for the simulator: code and data at the real stub's addresses (the simulator
/// runs its own flasher stub behind any stub the host uploads, so the bytes do not matter).
pub fn synthetic_stub() -> StubImage {
    StubImage {
        text: vec![0x11; 0x2000],
        text_start: 0x4037_8000,
        data: vec![0x22; 64],
        data_start: 0x3FCB_2DC4,
        entry: 0x4037_95A8,
    }
}

/// How the flasher tests connect to a simulator already in download mode: no reset, one
/// attempt, 115200 baud, and [`synthetic_stub`] when `with_stub`.
pub fn connect_options(with_stub: bool) -> ConnectOptions {
    ConnectOptions {
        before: Before::NoReset,
        attempts: 1,
        baud: 115_200,
        stub: with_stub.then(synthetic_stub),
        ..ConnectOptions::default()
    }
}
