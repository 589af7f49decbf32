//! ELF → ESP32-S3 app image: which sections become which segments, where each segment goes in
//! the file so that flash-mapped code and data land on the right 64 KiB MMU pages, the app
//! descriptor's ELF SHA-256, and the header fields (flash mode/size/frequency, chip revisions).
//!
//! The byte format itself (headers, checksum, digest) lives in `format.rs`; reading the ELF lives
//! in `elf.rs`. This module decides layout only, and knows nothing of files, ports or cargo.
//! Facts: `esp32s3-facts.md` §10, `espflash-anchor.md` §3.2.
//!
//! # Two ways of merging sections, one layout
//!
//! Neighbouring sections become one segment, because an image holds at most 16 segments and
//! flash-mapped data must not share a 64 KiB page with another segment. ESP-IDF's `elf2image`
//! (esptool) merges only sections that follow each other in the section table
//! ([`SectionMerge::TableOrder`]); espflash sorts them by address first
//! ([`SectionMerge::AddressOrder`]). Each ecosystem's tool is the reference its users compare
//! against, and the two give different bytes for the same ELF (esptool keeps ESP-IDF's two
//! `.iram.text` bootloader sections apart; espflash joins esp-hal's `.vectors` and `.rwtext`).
//! [`SectionMerge::Auto`] therefore follows espflash for ELFs made for it (they carry an
//! `.espressif.metadata` section) and esptool otherwise, falling back to address order when
//! table order would put two flash segments in one page (esptool rejects such ELFs, e.g. esp-hal
//! ones whose `.rodata_desc` and `.rodata` are apart in the table).
//!
//! The placement after merging is the same for both and matches what both tools do: flash
//! segments in address order (the one with the app descriptor first), each preceded, where
//! needed, by a filler segment so that its data sits at a file offset congruent to its address
//! modulo 64 KiB. A filler is a slice of the next RAM segment when one is left (no bytes are
//! wasted), else zeros loaded at address 0. Fillers are as short as possible. esptool inserts
//! 64 KiB more when the flash segment's offset within its page is more than 8 bytes above the
//! current file position's offset within its page; with the page offset 0x20 that ESP-IDF and
//! esp-hal linker scripts use, that happens only right after a segment ending less than 0x18
//! bytes past a page boundary, and only then do our bytes differ from esptool's.

use std::collections::VecDeque;

use super::app_desc::APP_DESC_ELF_SHA_OFFSET;
use super::elf::{AppDescKind, ElfInfo, LoadSegment, read_elf};
use super::error::ImageError;
use super::format::{
    FlashParams, HEADER_LEN, ImageHeader, MMU_PAGE, SEGMENT_HEADER_LEN, Segment, encode_image,
    is_flash_mapped, memory_kinds,
};

/// Largest segment the bootloader accepts (esptool's limit: below 16 MiB).
pub const MAX_SEGMENT_LEN: usize = 16 * 1024 * 1024;

/// Choices for turning an ELF into an app image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppImageOptions {
    /// Flash mode, size and frequency for the header; `None` fields mean DIO, 4MB, 40m.
    pub flash: FlashParams,
    /// Lowest chip revision the app runs on, major*100+minor (default 0).
    pub min_rev_full: u16,
    /// Highest chip revision the app runs on, major*100+minor (default 99, i.e. v0.99, as ESP-IDF
    /// records it).
    pub max_rev_full: u16,
    /// Append the SHA-256 of the image (default true; the bootloader checks it).
    pub append_digest: bool,
}

impl Default for AppImageOptions {
    fn default() -> Self {
        AppImageOptions {
            flash: FlashParams::default(),
            min_rev_full: 0,
            max_rev_full: 99,
            append_digest: true,
        }
    }
}

/// An app image and what went into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppImage {
    /// The image file, ready to write at the app partition's offset.
    pub bytes: Vec<u8>,
    /// Entry point from the ELF.
    pub entry: u32,
    /// Segments in file order, fillers (load address 0) included.
    pub segments: Vec<Segment>,
    /// True when the ELF's SHA-256 was written into the ESP-IDF app descriptor.
    pub app_desc_patched: bool,
}

/// How neighbouring ELF sections are merged into segments (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SectionMerge {
    /// espflash's way for ELFs made for espflash, esptool's otherwise, and address order when
    /// table order cannot give a valid image.
    #[default]
    Auto,
    /// esptool's way: merge a section into the previous one in the section table when it starts
    /// right where that one (padded to 4 bytes) ends.
    TableOrder,
    /// espflash's way: sort sections by address and merge those separated by less than the
    /// 4-byte alignment, filling the gap with zeros.
    AddressOrder,
}

/// Build an app image from ELF bytes with the default merge policy.
pub fn elf_to_app_image(elf: &[u8], opts: &AppImageOptions) -> Result<AppImage, ImageError> {
    elf_to_app_image_with(elf, opts, SectionMerge::Auto)
}

/// Build an app image from ELF bytes with a chosen merge policy.
pub fn elf_to_app_image_with(
    elf: &[u8],
    opts: &AppImageOptions,
    merge: SectionMerge,
) -> Result<AppImage, ImageError> {
    let info = read_elf(elf)?;
    build_app_image(&info, opts, merge)
}

/// Build an app image from an ELF that was already read.
pub fn build_app_image(
    info: &ElfInfo,
    opts: &AppImageOptions,
    merge: SectionMerge,
) -> Result<AppImage, ImageError> {
    let (mut flash, ram) = merged_blocks(info, merge)?;
    let app_desc_patched = patch_app_desc(info, &mut flash)?;
    let segments = place(flash, ram);

    let mut header = ImageHeader {
        entry: info.entry,
        // The legacy byte holds only the major revision.
        min_rev: u8::try_from(opts.min_rev_full / 100).unwrap_or(u8::MAX),
        min_rev_full: opts.min_rev_full,
        max_rev_full: opts.max_rev_full,
        hash_appended: u8::from(opts.append_digest),
        ..ImageHeader::default()
    };
    opts.flash
        .apply(&mut header.flash_mode, &mut header.flash_size_freq);
    let bytes = encode_image(&header, &segments)?;
    Ok(AppImage {
        bytes,
        entry: info.entry,
        segments,
        app_desc_patched,
    })
}

/// One or more merged sections on their way to becoming a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Block {
    addr: u32,
    data: Vec<u8>,
    names: Vec<String>,
}

impl Block {
    fn end(&self) -> u64 {
        u64::from(self.addr) + self.data.len() as u64
    }

    fn contains(&self, addr: u32) -> bool {
        addr >= self.addr && u64::from(addr) < self.end()
    }

    fn pad_to_word(&mut self) {
        let padded = self.data.len().next_multiple_of(4);
        self.data.resize(padded, 0);
    }

    fn from_section(section: &LoadSegment) -> Block {
        Block {
            addr: section.addr,
            data: section.data.clone(),
            names: vec![section.name.clone()],
        }
    }
}

/// Merge the ELF's sections and split them into flash blocks (app descriptor first, then by
/// address) and RAM blocks (bootloader descriptor first, then by address), all padded to 4.
fn merged_blocks(
    info: &ElfInfo,
    merge: SectionMerge,
) -> Result<(Vec<Block>, Vec<Block>), ImageError> {
    let split = |blocks: Vec<Block>| -> (Vec<Block>, Vec<Block>) {
        let (mut flash, mut ram): (Vec<Block>, Vec<Block>) =
            blocks.into_iter().partition(|b| is_flash_mapped(b.addr));
        flash.sort_by_key(|b| b.addr);
        ram.sort_by_key(|b| b.addr);
        let app_desc_addr = info.app_desc.as_ref().map(|d| d.addr);
        move_first(&mut flash, app_desc_addr);
        move_first(&mut ram, info.bootloader_desc_addr);
        (flash, ram)
    };
    let by_address = || split(merge_address_order(&info.segments));
    let (flash, ram) = match merge {
        SectionMerge::AddressOrder => by_address(),
        SectionMerge::TableOrder => split(merge_table_order(&info.segments)),
        SectionMerge::Auto if info.has_espflash_metadata => by_address(),
        SectionMerge::Auto => {
            let table = split(merge_table_order(&info.segments));
            if find_page_conflict(&table.0).is_some() {
                by_address()
            } else {
                table
            }
        }
    };
    if let Some((first, second)) = find_page_conflict(&flash) {
        return Err(ImageError::SharedFlashPage {
            first: first.addr,
            first_sections: first.names.clone(),
            second: second.addr,
            second_sections: second.names.clone(),
        });
    }
    for block in flash.iter().chain(&ram) {
        if block.data.len() >= MAX_SEGMENT_LEN {
            return Err(ImageError::SegmentTooLarge {
                addr: block.addr,
                sections: block.names.clone(),
                len: block.data.len(),
            });
        }
    }
    if let Some(block) = flash.iter().find(|b| b.addr % 4 != 0) {
        return Err(ImageError::UnalignedFlashSegment {
            addr: block.addr,
            sections: block.names.clone(),
        });
    }
    Ok((flash, ram))
}

/// Move the block holding `addr` (if any) to the front, keeping the others in order.
fn move_first(blocks: &mut [Block], addr: Option<u32>) {
    if let Some(index) = addr.and_then(|a| blocks.iter().position(|b| b.contains(a))) {
        blocks[..=index].rotate_right(1);
    }
}

/// esptool's merge: each section (padded to 4) joins the previous one in table order when it
/// starts exactly where that one ends and lies in the same kind of memory.
fn merge_table_order(sections: &[LoadSegment]) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    for section in sections {
        let mut block = Block::from_section(section);
        block.pad_to_word();
        match blocks.last_mut() {
            Some(prev)
                if u64::from(block.addr) == prev.end()
                    && memory_kinds(prev.addr) == memory_kinds(block.addr) =>
            {
                prev.data.extend_from_slice(&block.data);
                prev.names.append(&mut block.names);
            }
            _ => blocks.push(block),
        }
    }
    blocks
}

/// espflash's merge: sections sorted by address join the previous one when the gap between them
/// is only what aligning the previous one to 4 bytes would add anyway; the gap becomes zeros.
fn merge_address_order(sections: &[LoadSegment]) -> Vec<Block> {
    let mut sorted: Vec<&LoadSegment> = sections.iter().collect();
    sorted.sort_by_key(|s| s.addr);
    let mut blocks: Vec<Block> = Vec::new();
    for section in sorted {
        match blocks.last_mut() {
            Some(prev)
                if u64::from(section.addr) >= prev.end()
                    && u64::from(section.addr) <= prev.end().next_multiple_of(4)
                    && memory_kinds(prev.addr) == memory_kinds(section.addr) =>
            {
                let gap = (u64::from(section.addr) - prev.end()) as usize;
                prev.data.resize(prev.data.len() + gap, 0);
                prev.data.extend_from_slice(&section.data);
                prev.names.push(section.name.clone());
            }
            _ => blocks.push(Block::from_section(section)),
        }
    }
    for block in &mut blocks {
        block.pad_to_word();
    }
    blocks
}

/// Two flash blocks on the same bus whose 64 KiB pages overlap, if any (blocks sorted by address
/// except possibly the first, so every pair is compared).
fn find_page_conflict(flash: &[Block]) -> Option<(&Block, &Block)> {
    let pages = |b: &Block| {
        let first = u64::from(b.addr) / u64::from(MMU_PAGE);
        let last = (b.end().max(u64::from(b.addr) + 1) - 1) / u64::from(MMU_PAGE);
        (first, last)
    };
    for (i, a) in flash.iter().enumerate() {
        for b in flash.iter().skip(i + 1) {
            let ((a_first, a_last), (b_first, b_last)) = (pages(a), pages(b));
            if a_first <= b_last && b_first <= a_last {
                return Some(if a.addr <= b.addr { (a, b) } else { (b, a) });
            }
        }
    }
    None
}

/// Write the SHA-256 of the ELF into an ESP-IDF app descriptor. Returns whether it did.
fn patch_app_desc(info: &ElfInfo, flash: &mut [Block]) -> Result<bool, ImageError> {
    let Some(desc) = info
        .app_desc
        .as_ref()
        .filter(|d| d.kind == AppDescKind::EspIdf)
    else {
        return Ok(false);
    };
    if !desc.magic_ok {
        return Err(ImageError::AppDescBadMagic {
            section: desc.section.clone(),
            addr: desc.addr,
        });
    }
    let needed = APP_DESC_ELF_SHA_OFFSET + 32;
    let field = flash
        .iter_mut()
        .find(|b| b.contains(desc.addr))
        .filter(|_| desc.size >= needed)
        .and_then(|b| {
            let start = (desc.addr - b.addr + APP_DESC_ELF_SHA_OFFSET) as usize;
            b.data.get_mut(start..start + 32)
        });
    let Some(field) = field else {
        return Err(ImageError::AppDescTooShort {
            section: desc.section.clone(),
            addr: desc.addr,
            needed,
        });
    };
    if field.iter().any(|&b| b != 0) {
        return Err(ImageError::AppDescShaAlreadySet {
            section: desc.section.clone(),
            addr: desc.addr,
        });
    }
    field.copy_from_slice(&info.sha256);
    Ok(true)
}

/// Length of the filler segment's data needed before a flash segment at `addr` when the next
/// segment header would start at file offset `pos`, or `None` when its data already lands at an
/// offset congruent to `addr` modulo 64 KiB.
fn filler_len(pos: usize, addr: u32) -> Option<usize> {
    let page = MMU_PAGE as usize;
    let header = SEGMENT_HEADER_LEN;
    // How far the flash segment's header must move so its data is congruent to its address.
    let shift = ((addr as usize % page) + 2 * page - header - pos % page) % page;
    if shift == 0 {
        return None;
    }
    // The filler needs room for its own header and at least one word of data.
    let shift = if shift < header + 4 {
        shift + page
    } else {
        shift
    };
    Some(shift - header)
}

/// Lay out flash blocks at MMU-congruent file offsets, filling the gaps with slices of RAM
/// blocks or zero padding, then the RAM that is left. Returns segments in file order.
fn place(flash: Vec<Block>, ram: Vec<Block>) -> Vec<Segment> {
    let mut ram: VecDeque<Block> = ram.into();
    let mut out: Vec<Segment> = Vec::new();
    let mut pos = HEADER_LEN;
    for block in flash {
        while let Some(len) = filler_len(pos, block.addr) {
            // esptool's rule: slices of at most 8 bytes are not worth splitting RAM for.
            let piece = match ram.front_mut() {
                Some(front) if len > SEGMENT_HEADER_LEN => {
                    let take = len.min(front.data.len());
                    let rest = front.data.split_off(take);
                    let slice = Segment {
                        addr: front.addr,
                        data: std::mem::replace(&mut front.data, rest),
                    };
                    // RAM addresses are below 4 GiB and `take` fits in the block.
                    front.addr = front.addr.wrapping_add(take as u32);
                    if front.data.is_empty() {
                        ram.pop_front();
                    }
                    slice
                }
                _ => Segment {
                    addr: 0,
                    data: vec![0; len],
                },
            };
            pos += SEGMENT_HEADER_LEN + piece.data.len();
            out.push(piece);
        }
        pos += SEGMENT_HEADER_LEN + block.data.len();
        out.push(Segment {
            addr: block.addr,
            data: block.data,
        });
    }
    out.extend(ram.into_iter().map(|b| Segment {
        addr: b.addr,
        data: b.data,
    }));
    // More than 16 segments is refused by `encode_image`, which every caller goes through.
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(addr: u32, len: usize, name: &str) -> Block {
        Block {
            addr,
            data: vec![0xA5; len],
            names: vec![name.into()],
        }
    }

    fn section(addr: u32, len: usize, name: &str) -> LoadSegment {
        LoadSegment {
            addr,
            data: vec![0x11; len],
            name: name.into(),
        }
    }

    #[test]
    fn filler_lengths() {
        // (pos, addr, expected filler data length)
        let cases: &[(usize, u32, Option<usize>)] = &[
            (0x18, 0x3C00_0020, None),
            (0x18, 0x4201_0020, None),
            (0x7DC, 0x4201_0020, Some(0x10000 - 0x7DC - 8 + 0x20 - 8)),
            (0x100, 0x4200_0120, Some(0x10)),
            // Only room for a header: take a whole page more rather than an empty segment.
            (0x100, 0x4200_0110, Some(0x10000)),
            (0x100, 0x4200_010C, Some(0x10000 - 4)),
            (0xFFFC, 0x4200_0000, Some(0x10000 - 0xC)),
        ];
        for &(pos, addr, expected) in cases {
            let got = filler_len(pos, addr);
            assert_eq!(got, expected, "pos 0x{pos:x} addr 0x{addr:08x}");
            let data_at = pos + got.map_or(0, |l| l + SEGMENT_HEADER_LEN) + SEGMENT_HEADER_LEN;
            assert_eq!(data_at % 0x10000, addr as usize % 0x10000);
        }
    }

    #[test]
    fn table_order_merges_only_neighbours_in_the_table() {
        let sections = [
            section(0x4037_9700, 3, ".iram.text"),
            section(0x3FCE_3818, 0x14, ".dram0.data"),
            section(0x3FCE_382C, 0x10, ".dram0.rodata"),
            section(0x4037_9704, 8, ".iram.text"),
        ];
        let blocks = merge_table_order(&sections);
        let summary: Vec<(u32, usize)> = blocks.iter().map(|b| (b.addr, b.data.len())).collect();
        assert_eq!(
            summary,
            vec![(0x4037_9700, 4), (0x3FCE_3818, 0x24), (0x4037_9704, 8)]
        );
        let by_address = merge_address_order(&sections);
        let summary: Vec<(u32, usize)> =
            by_address.iter().map(|b| (b.addr, b.data.len())).collect();
        assert_eq!(summary, vec![(0x3FCE_3818, 0x24), (0x4037_9700, 12)]);
        assert_eq!(&by_address[1].data[..4], &[0x11, 0x11, 0x11, 0]);
    }

    #[test]
    fn address_order_does_not_bridge_real_gaps() {
        let sections = [section(0x3FC8_8000, 8, "a"), section(0x3FC8_800C, 4, "b")];
        assert_eq!(merge_address_order(&sections).len(), 2);
    }

    #[test]
    fn page_conflicts_are_found_across_the_page_span() {
        let ok = [
            block(0x3C00_0020, 0x100, "a"),
            block(0x3C01_0020, 0x10, "b"),
        ];
        assert!(find_page_conflict(&ok).is_none());
        let same_page = [
            block(0x3C00_0020, 0x100, "a"),
            block(0x3C00_0400, 0x10, "b"),
        ];
        assert!(find_page_conflict(&same_page).is_some());
        let spills = [
            block(0x3C00_0020, 0x10000, "a"),
            block(0x3C01_8000, 0x10, "b"),
        ];
        assert!(find_page_conflict(&spills).is_some());
    }

    #[test]
    fn placement_splits_ram_then_pads() {
        let flash = vec![
            block(0x3C00_0020, 0x100, "rodata"),
            block(0x4201_0020, 0x40, "text"),
        ];
        let ram = vec![
            block(0x3FC8_8000, 0x200, "data"),
            block(0x4037_8000, 0x30000, "iram"),
        ];
        let segs = place(flash, ram);
        let mut pos = HEADER_LEN;
        let mut total_ram = 0;
        for seg in &segs {
            if is_flash_mapped(seg.addr) {
                assert_eq!((pos + 8) % 0x10000, seg.addr as usize % 0x10000);
            } else if seg.addr != 0 {
                total_ram += seg.data.len();
            }
            pos += 8 + seg.data.len();
        }
        assert_eq!(total_ram, 0x30200);
        // Header, rodata, all of .data, a slice of iram, text, the rest of iram: no padding.
        let addrs: Vec<u32> = segs.iter().map(|s| s.addr).collect();
        assert_eq!(
            addrs[..4],
            [0x3C00_0020, 0x3FC8_8000, 0x4037_8000, 0x4201_0020]
        );
        assert!(!addrs.contains(&0));
    }
}
