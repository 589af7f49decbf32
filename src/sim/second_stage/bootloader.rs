//! The second-stage bootloader's own image at flash offset 0, as far as it shows in the log:
//! its header (SPI mode, speed, flash size), the RAM its segments occupy while it runs, the
//! format texts it holds, and its ESP-IDF version and compile time (from its
//! `esp_bootloader_desc_t`, or from the texts of older builds). Knows nothing of partitions.

use std::sync::OnceLock;

use regex::bytes::Regex;

use super::header::{HEADER_LEN, Header, MAX_SEGMENTS, SIXTEEN_MB, is_loaded};
use super::log_line::Texts;
use super::{Flash, c_string};

/// `esp_bootloader_desc_t` magic byte.
const BOOTLOADER_DESC_MAGIC: u8 = 0x50;

/// The bootloader image at 0x0 as far as the second stage itself uses it.
pub(super) struct BootloaderImage {
    pub(super) header: Option<Header>,
    /// The RAM its segments occupy while it runs: an app segment loaded over it is refused.
    pub(super) ram: Vec<(u32, u32)>,
    pub(super) strings: Texts,
    pub(super) idf_version: Option<String>,
    pub(super) compile_time: Option<String>,
}

impl BootloaderImage {
    pub(super) fn read(flash: &Flash<'_>) -> Self {
        let header = flash.get(0, HEADER_LEN).and_then(Header::parse);
        // The ROM already checked this image; its extent is what its segments cover.
        let mut end = HEADER_LEN;
        let mut ram = Vec::new();
        if let Some(h) = header {
            for _ in 0..h.segment_count.min(MAX_SEGMENTS) {
                let (Some(addr), Some(len)) =
                    (flash.u32_at(end), flash.u32_at(end.saturating_add(4)))
                else {
                    break;
                };
                let len = len.min(SIXTEEN_MB);
                if is_loaded(addr) {
                    ram.push((addr, addr.saturating_add(len)));
                }
                end = end.saturating_add(8).saturating_add(len);
            }
        }
        let end = usize::try_from(end)
            .unwrap_or(usize::MAX)
            .min(flash.0.len());
        let bytes = flash.0.get(..end).unwrap_or(&[]);
        let descriptor = (bytes.get(0x20) == Some(&BOOTLOADER_DESC_MAGIC))
            .then(|| (c_string(bytes, 0x28, 32), c_string(bytes, 0x48, 24)));
        let (idf_version, descriptor_time) = match descriptor {
            Some((v, t)) => (Some(v), Some(t)),
            None => (version_before_banner(bytes), None),
        };
        BootloaderImage {
            header,
            ram,
            strings: Texts::scan(bytes),
            idf_version,
            compile_time: compile_time(bytes, descriptor_time),
        }
    }
}

/// Older bootloaders (no descriptor) keep the version string just before the banner format.
fn version_before_banner(bytes: &[u8]) -> Option<String> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = RE
        .get_or_init(|| {
            Regex::new(r"(?-u)(v[0-9][\x20-\x7E]{0,30})\x00+(?:\x1b\[0;32m)?I \(%lu\) %s: ESP-IDF %s 2nd stage bootloader").ok()
        })
        .as_ref()?;
    let caps = re.captures(bytes)?;
    Some(String::from_utf8_lossy(caps.get(1)?.as_bytes()).into_owned())
}

/// The `compile time` line's text: written into the format by older bootloaders, taken from
/// the descriptor by newer ones, absent from the newest.
fn compile_time(bytes: &[u8], descriptor_time: Option<String>) -> Option<String> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = RE
        .get_or_init(|| Regex::new(r"(?-u)I \(%lu\) %s: compile time ([\x20-\x7E]*)").ok())
        .as_ref()?;
    let caps = re.captures(bytes)?;
    let literal = String::from_utf8_lossy(caps.get(1)?.as_bytes()).into_owned();
    let literal = literal
        .strip_suffix("\x1b[0m")
        .unwrap_or(&literal)
        .to_owned();
    if literal == "%s" {
        descriptor_time
    } else {
        Some(literal)
    }
}
