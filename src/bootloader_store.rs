//! The bootloaders this tool keeps for the user, so that a blank chip can be flashed without
//! hunting for one: a copy of every valid ESP32-S3 second-stage bootloader before a chip's is
//! erased or replaced, the ones saved from a board or imported from a file, an ESP-IDF build
//! folder or a merged image (MicroPython's, say). No bootloader ships with this tool; these are
//! the user's own.
//!
//! A [`BootloaderStore`] is a folder (`<cache>/bootloaders`, the user's cache directory by
//! default, see [`default_cache_dir`]): each bootloader is `ID.bin` with its record `ID.json`
//! (where it came from, the chip's MAC, when it was kept, the ESP-IDF version found in it). The
//! same bootloader is kept once, whatever flash settings were patched into its header
//! ([`identity`]). The newest is what a blank chip gets when no `bootloader` is
//! configured ([`crate::Board::flash`]).
//!
//! This module reads and writes that folder and checks images with `image::info`; it takes the
//! folder as a value (the command line fills it from `ESP32S3_CACHE_DIR`) and reads no
//! environment. Reading a chip's bootloader goes through the flasher ([`read_from_chip`]).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::error::{read_file, shown_path};
use crate::event::Event;
use crate::flasher::Flasher;
use crate::image::format::{ESP32S3_CHIP_ID, HEADER_LEN, ImageHeader, sha256};
use crate::image::info::{BinKind, ImageRole, inspect};
use crate::transport::Transport;
use crate::units::utc_date;

/// The folder inside the cache directory that holds the kept bootloaders.
pub const FOLDER: &str = "bootloaders";
/// Largest bootloader image read from a chip or a file: the space before the default partition
/// table (ESP-IDF's bootloaders are about 20 KiB).
pub const MAX_LEN: usize = 0x8000;
/// At most this many images found on the machine are named in a message.
const MAX_FOUND: usize = 5;

/// This tool's folder in the user's cache directory (`~/.cache/cargo-esp32s3` on Linux,
/// `~/Library/Caches/cargo-esp32s3` on macOS, `%LOCALAPPDATA%\cargo-esp32s3` on Windows), when
/// the platform has one.
pub fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|dir| dir.join("cargo-esp32s3"))
}

/// Why a bootloader cannot be kept, imported or found. Each message names the file or id.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The bytes are not an intact ESP32-S3 second-stage bootloader.
    #[error(
        "{what} is not an ESP32-S3 bootloader: {problem}; give ESP-IDF's bootloader.bin, its build folder, or a merged image that starts with one"
    )]
    NotABootloader {
        /// The file (or chip) it came from.
        what: String,
        /// What is wrong.
        problem: String,
    },
    /// A folder holds no bootloader where ESP-IDF puts one.
    #[error(
        "no bootloader in {}: looked for {}; build the project first (`idf.py build`), or give the bootloader .bin itself",
        shown_path(dir),
        looked.join(", ")
    )]
    NoBootloaderIn {
        /// The folder.
        dir: PathBuf,
        /// The places looked at, relative to it.
        looked: Vec<String>,
    },
    /// No kept bootloader has this id.
    #[error("no kept bootloader has the id {id:?}; {}", known_ids(ids))]
    UnknownId {
        /// The id asked for.
        id: String,
        /// The ids there are.
        ids: Vec<String>,
    },
    /// Several kept bootloaders start with this id.
    #[error("{id:?} matches several kept bootloaders ({}); give more of the id", ids.join(", "))]
    AmbiguousId {
        /// The id asked for.
        id: String,
        /// The ids it matches.
        ids: Vec<String>,
    },
    /// The chip holds no bootloader to save.
    #[error(
        "the chip on {port} has no ESP32-S3 bootloader at 0x0 ({problem}); save one from a board that boots, or import a file with `cargo esp32s3 bootloader import FILE`"
    )]
    NothingOnChip {
        /// The port.
        port: String,
        /// What is at 0x0 instead.
        problem: String,
    },
    /// A record file is damaged.
    #[error(
        "{}: {problem}; delete it and its .bin, or import the bootloader again",
        shown_path(path)
    )]
    BadRecord {
        /// The record.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

fn known_ids(ids: &[String]) -> String {
    if ids.is_empty() {
        "no bootloader is kept yet (`cargo esp32s3 bootloader import FILE` keeps one)".to_string()
    } else {
        format!(
            "kept are {} (`cargo esp32s3 bootloader list`)",
            ids.join(", ")
        )
    }
}

/// Where a kept bootloader came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Read from a chip before its flash was erased.
    Erased {
        /// The port of the board.
        port: String,
    },
    /// Read from a chip before another bootloader was written over it.
    Replaced {
        /// The port of the board.
        port: String,
    },
    /// Saved from a chip on request (`bootloader save`).
    Saved {
        /// The port of the board.
        port: String,
    },
    /// Imported from a file (`bootloader import`).
    Imported {
        /// The file or folder given.
        path: PathBuf,
        /// What it was.
        from: ImportedFrom,
    },
}

/// What an imported file was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportedFrom {
    /// A bootloader image.
    BootloaderFile,
    /// An ESP-IDF build folder (its `bootloader/bootloader.bin`).
    BuildFolder,
    /// A merged offset-0 image, whose first image is the bootloader.
    MergedImage,
}

impl Origin {
    fn to_json(&self) -> Value {
        match self {
            Origin::Erased { port } => json!({ "kind": "erased", "port": port }),
            Origin::Replaced { port } => json!({ "kind": "replaced", "port": port }),
            Origin::Saved { port } => json!({ "kind": "saved", "port": port }),
            Origin::Imported { path, from } => json!({
                "kind": "imported",
                "path": path.display().to_string(),
                "from": match from {
                    ImportedFrom::BootloaderFile => "bootloader",
                    ImportedFrom::BuildFolder => "build-folder",
                    ImportedFrom::MergedImage => "merged-image",
                },
            }),
        }
    }

    fn from_json(value: &Value) -> Option<Origin> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
        Some(match value.get("kind")?.as_str()? {
            "erased" => Origin::Erased {
                port: text("port")?,
            },
            "replaced" => Origin::Replaced {
                port: text("port")?,
            },
            "saved" => Origin::Saved {
                port: text("port")?,
            },
            "imported" => Origin::Imported {
                path: PathBuf::from(text("path")?),
                from: match text("from")?.as_str() {
                    "build-folder" => ImportedFrom::BuildFolder,
                    "merged-image" => ImportedFrom::MergedImage,
                    _ => ImportedFrom::BootloaderFile,
                },
            },
            _ => return None,
        })
    }
}

/// One kept bootloader and what is known about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptBootloader {
    /// Its id (`2025-09-11-1a2b3c4d`: the day it was kept and the start of its SHA-256).
    pub id: String,
    /// The image file.
    pub path: PathBuf,
    /// SHA-256 of the image, hex.
    pub sha256: String,
    /// Length of the image.
    pub len: usize,
    /// When it was kept (seconds since the Unix epoch).
    pub kept_at: u64,
    /// When it was kept, in nanoseconds since the Unix epoch (orders those kept within a second).
    pub kept_at_ns: u64,
    /// The ESP-IDF version in its `esp_bootloader_desc_t`, when it has one.
    pub idf_version: Option<String>,
    /// Its build date, from the same descriptor.
    pub build_date: Option<String>,
    /// The MAC of the chip it came from (kept from a chip).
    pub mac: Option<String>,
    /// Where it came from.
    pub origin: Origin,
}

impl KeptBootloader {
    /// `ESP-IDF v5.5.1` or `ESP-IDF version unknown`.
    pub fn version_text(&self) -> String {
        match &self.idf_version {
            Some(version) => format!("ESP-IDF {version}"),
            None => "ESP-IDF version unknown".to_string(),
        }
    }

    /// Where it came from, in words: `kept from the chip 7c:df:a1:00:00:01 on /dev/ttyUSB0
    /// before an erase, 2025-09-11`.
    pub fn origin_text(&self) -> String {
        let chip = match &self.mac {
            Some(mac) => format!("the chip {mac}"),
            None => "a chip".to_string(),
        };
        let day = utc_date(self.kept_at);
        match &self.origin {
            Origin::Erased { port } => format!("kept from {chip} on {port} before an erase, {day}"),
            Origin::Replaced { port } => {
                format!("kept from {chip} on {port} before another bootloader was written, {day}")
            }
            Origin::Saved { port } => format!("saved from {chip} on {port}, {day}"),
            Origin::Imported { path, from } => {
                let what = match from {
                    ImportedFrom::BootloaderFile => "",
                    ImportedFrom::BuildFolder => " (build folder)",
                    ImportedFrom::MergedImage => " (merged image)",
                };
                format!("imported from {}{what}, {day}", path.display())
            }
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "format": 1,
            "file": self.path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "sha256": self.sha256,
            "len": self.len,
            "kept_at": self.kept_at,
            "kept_at_ns": self.kept_at_ns,
            "idf_version": self.idf_version,
            "build_date": self.build_date,
            "mac": self.mac,
            "origin": self.origin.to_json(),
        })
    }
}

/// The result of keeping a bootloader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The kept bootloader (the earlier copy when the same bytes were kept before).
    pub bootloader: KeptBootloader,
    /// False when the same bytes were kept already.
    pub new: bool,
}

/// What a checked bootloader image holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedBootloader {
    /// The image, exactly (bytes after it in a file or on the chip cut off).
    pub bytes: Vec<u8>,
    /// The ESP-IDF version of its descriptor.
    pub idf_version: Option<String>,
    /// The build date of its descriptor.
    pub build_date: Option<String>,
    /// True when the bytes were the start of a merged image.
    pub from_merged: bool,
}

/// Check that `bytes` start with an intact ESP32-S3 second-stage bootloader (alone, or the start
/// of a merged image): chip id, role, checksum and SHA-256. The error says what is wrong.
pub fn check_bootloader(bytes: &[u8]) -> Result<CheckedBootloader, String> {
    let info = inspect(bytes).map_err(|e| e.to_string())?;
    let from_merged = match info.kind {
        BinKind::BootloaderImage => false,
        BinKind::MergedImage => true,
        BinKind::AppImage => {
            return Err("it is an app image (it has flash-mapped segments)".into());
        }
        BinKind::PartitionTable => return Err("it is a partition table".into()),
        BinKind::Elf => {
            return Err(
                "it is an ELF file; give the .bin ESP-IDF built next to it (bootloader.bin)".into(),
            );
        }
    };
    let Some(image) = info.images.first().filter(|i| i.file_offset == 0) else {
        return Err("there is no image at its start (a merged image that starts at the partition table has no bootloader)".into());
    };
    match image.role {
        ImageRole::Bootloader => {}
        ImageRole::App => return Err("its first image is an app".into()),
        ImageRole::RamOnly => {
            return Err(
                "it is a RAM-only image without ESP-IDF's bootloader descriptor or addresses"
                    .into(),
            );
        }
    }
    if !image.checksum_valid() {
        return Err(format!(
            "its checksum is wrong (stored 0x{:02x}, computed 0x{:02x}): the file is damaged",
            image.checksum_stored, image.checksum_computed
        ));
    }
    if image.digest_valid() == Some(false) {
        return Err("its SHA-256 digest does not match: the file is damaged".into());
    }
    let bytes = bytes
        .get(..image.total_len)
        .ok_or("it is cut short")?
        .to_vec();
    let desc = image.bootloader_desc.as_ref();
    Ok(CheckedBootloader {
        bytes,
        idf_version: desc.map(|d| d.idf_ver.clone()).filter(|v| !v.is_empty()),
        build_date: desc.map(|d| d.date_time.clone()).filter(|v| !v.is_empty()),
        from_merged,
    })
}

/// Where ESP-IDF leaves the bootloader in a build folder, relative to it.
pub const BUILD_FOLDER_PATHS: [&str; 3] = [
    "bootloader/bootloader.bin",
    "build/bootloader/bootloader.bin",
    "bootloader.bin",
];

/// The kept bootloaders: a folder of images and their records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootloaderStore {
    dir: PathBuf,
    search_roots: Vec<PathBuf>,
}

/// Seconds and nanoseconds since the Unix epoch (the nanoseconds order bootloaders kept within
/// one second).
fn now() -> (u64, u64) {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    (
        since.as_secs(),
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What makes two bootloader images the same bootloader: every byte but the flash mode, size and
/// frequency in the header (bytes 2 and 3, which every flasher patches for the chip it writes)
/// and the SHA-256 digest that covers them. A bootloader written with other flash settings and
/// kept again from the chip is the one kept before.
pub fn identity(image: &[u8]) -> String {
    let data_len = crate::image::format::parse_image(image)
        .map(|p| p.data_len)
        .unwrap_or(image.len())
        .min(image.len());
    let mut bytes = image[..data_len].to_vec();
    for byte in bytes.iter_mut().skip(2).take(2) {
        *byte = 0;
    }
    hex(&sha256(&bytes))
}

impl BootloaderStore {
    /// The store in `dir` itself (created when something is kept).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        BootloaderStore {
            dir: dir.into(),
            search_roots: Vec::new(),
        }
    }

    /// The store in the `bootloaders` folder of `cache_dir` (this tool's cache directory).
    pub fn in_cache(cache_dir: &Path) -> Self {
        Self::new(cache_dir.join(FOLDER))
    }

    /// Folders to look through for bootloader images already on this machine, named when a
    /// blank chip finds none kept ([`find_on_machine`]).
    pub fn with_search_roots(mut self, roots: Vec<PathBuf>) -> Self {
        self.search_roots = roots;
        self
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folders [`find_on_machine`] looks through.
    pub fn search_roots(&self) -> &[PathBuf] {
        &self.search_roots
    }

    /// Every kept bootloader, newest first. A folder that does not exist holds none.
    pub fn list(&self) -> crate::Result<Vec<KeptBootloader>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(crate::Error::file("read", &self.dir, e)),
        };
        let mut kept = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                kept.push(self.read_record(&path)?);
            }
        }
        kept.sort_by(|a, b| b.kept_at_ns.cmp(&a.kept_at_ns).then(b.id.cmp(&a.id)));
        Ok(kept)
    }

    /// The newest kept bootloader, if any.
    pub fn newest(&self) -> crate::Result<Option<KeptBootloader>> {
        Ok(self.list()?.into_iter().next())
    }

    /// The kept bootloader whose id is or starts with `id`.
    pub fn get(&self, id: &str) -> crate::Result<KeptBootloader> {
        let all = self.list()?;
        if let Some(exact) = all.iter().find(|k| k.id == id) {
            return Ok(exact.clone());
        }
        let matching: Vec<&KeptBootloader> = all.iter().filter(|k| k.id.starts_with(id)).collect();
        match matching.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(StoreError::UnknownId {
                id: id.to_string(),
                ids: all.iter().map(|k| k.id.clone()).collect(),
            }
            .into()),
            several => Err(StoreError::AmbiguousId {
                id: id.to_string(),
                ids: several.iter().map(|k| k.id.clone()).collect(),
            }
            .into()),
        }
    }

    /// The image bytes of a kept bootloader, checked again (a damaged file is refused).
    pub fn read(&self, kept: &KeptBootloader) -> crate::Result<Vec<u8>> {
        let bytes = read_file(&kept.path)?;
        let checked = check_bootloader(&bytes).map_err(|problem| StoreError::NotABootloader {
            what: shown_path(&kept.path),
            problem,
        })?;
        Ok(checked.bytes)
    }

    /// Keep `bytes` (which must start with an intact ESP32-S3 bootloader) with where they came
    /// from. The same image is kept once: keeping it again returns the earlier copy.
    pub fn keep(&self, bytes: &[u8], mac: Option<String>, origin: Origin) -> crate::Result<Kept> {
        let what = match &origin {
            Origin::Imported { path, .. } => shown_path(path),
            Origin::Erased { port } | Origin::Replaced { port } | Origin::Saved { port } => {
                format!("the bootloader on {port}")
            }
        };
        let checked = check_bootloader(bytes)
            .map_err(|problem| StoreError::NotABootloader { what, problem })?;
        self.keep_checked(checked, mac, origin)
    }

    fn keep_checked(
        &self,
        checked: CheckedBootloader,
        mac: Option<String>,
        origin: Origin,
    ) -> crate::Result<Kept> {
        let digest = hex(&sha256(&checked.bytes));
        let same = identity(&checked.bytes);
        for earlier in self.list()? {
            let matches = earlier.sha256 == digest
                || std::fs::read(&earlier.path).is_ok_and(|bytes| identity(&bytes) == same);
            if matches {
                return Ok(Kept {
                    bootloader: earlier,
                    new: false,
                });
            }
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| crate::Error::file("create", &self.dir, e))?;
        let (kept_at, kept_at_ns) = now();
        let id = format!("{}-{}", utc_date(kept_at), &digest[..8]);
        let path = self.dir.join(format!("{id}.bin"));
        let kept = KeptBootloader {
            id: id.clone(),
            path: path.clone(),
            sha256: digest,
            len: checked.bytes.len(),
            kept_at,
            kept_at_ns,
            idf_version: checked.idf_version,
            build_date: checked.build_date,
            mac,
            origin,
        };
        std::fs::write(&path, &checked.bytes).map_err(|e| crate::Error::file("write", &path, e))?;
        let record = self.dir.join(format!("{id}.json"));
        let text = serde_json::to_string_pretty(&kept.to_json()).unwrap_or_default();
        std::fs::write(&record, text).map_err(|e| crate::Error::file("write", &record, e))?;
        Ok(Kept {
            bootloader: kept,
            new: true,
        })
    }

    /// Keep the bootloader in `path`: a bootloader `.bin`, an ESP-IDF build folder (its
    /// `bootloader/bootloader.bin`), or a merged image whose first image is a bootloader (such
    /// as MicroPython's firmware `.bin`), which is cut out and checked.
    pub fn import(&self, path: &Path) -> crate::Result<Kept> {
        let (file, from) = if path.is_dir() {
            let found = BUILD_FOLDER_PATHS
                .iter()
                .map(|rel| path.join(rel))
                .find(|p| p.is_file());
            match found {
                Some(file) => (file, Some(ImportedFrom::BuildFolder)),
                None => {
                    return Err(StoreError::NoBootloaderIn {
                        dir: path.to_path_buf(),
                        looked: BUILD_FOLDER_PATHS.iter().map(|s| s.to_string()).collect(),
                    }
                    .into());
                }
            }
        } else {
            (path.to_path_buf(), None)
        };
        let bytes = read_file(&file)?;
        let checked = check_bootloader(&bytes).map_err(|problem| StoreError::NotABootloader {
            what: shown_path(&file),
            problem,
        })?;
        let from = from.unwrap_or(if checked.from_merged {
            ImportedFrom::MergedImage
        } else {
            ImportedFrom::BootloaderFile
        });
        let origin = Origin::Imported {
            path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
            from,
        };
        self.keep_checked(checked, None, origin)
    }

    fn read_record(&self, path: &Path) -> crate::Result<KeptBootloader> {
        let bad = |problem: String| -> crate::Error {
            StoreError::BadRecord {
                path: path.to_path_buf(),
                problem,
            }
            .into()
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| crate::Error::file("read", path, e))?;
        let value: Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not JSON ({e})")))?;
        let text_of = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
        let number = |key: &str| value.get(key).and_then(Value::as_u64);
        let id = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = text_of("file").ok_or_else(|| bad("`file` is missing".into()))?;
        Ok(KeptBootloader {
            id,
            path: self.dir.join(file),
            sha256: text_of("sha256").ok_or_else(|| bad("`sha256` is missing".into()))?,
            len: number("len").unwrap_or(0) as usize,
            kept_at: number("kept_at").unwrap_or(0),
            kept_at_ns: number("kept_at_ns")
                .unwrap_or_else(|| number("kept_at").unwrap_or(0).saturating_mul(1_000_000_000)),
            idf_version: text_of("idf_version"),
            build_date: text_of("build_date"),
            mac: text_of("mac"),
            origin: value
                .get("origin")
                .and_then(Origin::from_json)
                .ok_or_else(|| bad("`origin` is missing or unknown".into()))?,
        })
    }
}

/// The ESP32-S3 bootloader at 0x0 of the chip `flasher` talks to, exactly (its segments are
/// walked with small reads, then the image is read whole), or `None` with what is there instead
/// when the chip holds no intact ESP32-S3 bootloader.
pub fn read_from_chip<T: Transport>(
    flasher: &mut Flasher<T>,
    on_event: &mut dyn FnMut(Event),
) -> crate::Result<Result<Vec<u8>, String>> {
    let header = flasher.read_flash(0, HEADER_LEN as u32, on_event)?;
    let decoded = match ImageHeader::decode(&header) {
        Ok(h) => h,
        Err(_) => {
            let first: Vec<String> = header.iter().take(4).map(|b| format!("{b:02x}")).collect();
            return Ok(Err(format!("the flash there starts {}", first.join(" "))));
        }
    };
    if decoded.chip_id != ESP32S3_CHIP_ID {
        return Ok(Err(format!(
            "the image there is for chip id {}",
            decoded.chip_id
        )));
    }
    let mut pos = HEADER_LEN;
    for _ in 0..decoded.segment_count.min(16) {
        let seg = flasher.read_flash(pos as u32, 8, on_event)?;
        let len = u32::from_le_bytes([seg[4], seg[5], seg[6], seg[7]]) as usize;
        pos = pos.saturating_add(8).saturating_add(len);
        if pos > MAX_LEN {
            return Ok(Err(format!(
                "its segments run past 0x{MAX_LEN:x}, so it is not a bootloader"
            )));
        }
    }
    // The checksum byte ends a 16-byte line; a digest may follow.
    let mut total = (pos | 0xF) + 1;
    if decoded.hash_appended == 1 {
        total += 32;
    }
    let bytes = flasher.read_flash(0, total as u32, on_event)?;
    Ok(check_bootloader(&bytes).map(|checked| checked.bytes))
}

/// Bootloader images for the ESP32-S3 already on this machine, under `roots` (a bounded walk:
/// a few levels deep, hidden folders and build caches skipped): ESP-IDF build folders, Arduino
/// and PlatformIO packages. Each is checked to be an intact ESP32-S3 bootloader. At most five.
pub fn find_on_machine(roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut budget = 50_000usize;
    for root in roots {
        walk(root, 0, &mut budget, &mut found);
        if found.len() >= MAX_FOUND {
            break;
        }
    }
    found
}

fn walk(dir: &Path, depth: usize, budget: &mut usize, found: &mut Vec<PathBuf>) {
    const MAX_DEPTH: usize = 9;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if found.len() >= MAX_FOUND || *budget == 0 {
            return;
        }
        *budget -= 1;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            let skip = depth > 0 && name.starts_with('.') && name != ".platformio"
                || matches!(
                    name.as_str(),
                    "node_modules" | "registry" | "git" | "incremental" | "deps" | "proc" | "sys"
                );
            if !skip && depth < MAX_DEPTH {
                walk(&path, depth + 1, budget, found);
            }
        } else if kind.is_file()
            && looks_like_bootloader_name(&name, &path)
            && !found.iter().any(|f: &PathBuf| same_file(f, &path))
        {
            let small = entry
                .metadata()
                .is_ok_and(|m| m.len() as usize <= MAX_LEN && m.len() > 0);
            if small
                && std::fs::read(&path)
                    .ok()
                    .is_some_and(|bytes| check_bootloader(&bytes).is_ok_and(|c| !c.from_merged))
            {
                found.push(path);
            }
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// `bootloader.bin`, and Arduino/PlatformIO's `bootloader_qio_80m.bin` and the like under an
/// `esp32s3` folder.
fn looks_like_bootloader_name(name: &str, path: &Path) -> bool {
    if name == "bootloader.bin" {
        return true;
    }
    name.starts_with("bootloader")
        && name.ends_with(".bin")
        && path
            .to_string_lossy()
            .to_ascii_lowercase()
            .contains("esp32s3")
}
