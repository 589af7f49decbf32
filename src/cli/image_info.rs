//! `cargo esp32s3 image-info`: say what a prebuilt file is, whether it is intact and for the
//! ESP32-S3, what it holds, and where each part must be written. The identification and checks
//! are `image::info`'s; this file only reads the file and renders the report.

use std::fmt::Write as _;
use std::path::PathBuf;

use console::style;

use cargo_esp32s3::image::ImageError;
use cargo_esp32s3::image::app::{AppImageOptions, elf_to_app_image};
use cargo_esp32s3::image::elf::looks_like_elf;
use cargo_esp32s3::image::format::chip_name;
use cargo_esp32s3::image::info::{BinKind, ImageDetails, ImageInfo, ImageRole, inspect_at};
use cargo_esp32s3::image::partition::DEFAULT_TABLE_OFFSET;

use super::partition_table::{honour_no_color, render_table, table_offset_arg};

/// Arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 image-info ESP32_GENERIC_S3-20250911-v1.26.1.bin
  cargo esp32s3 image-info target/xtensa-esp32s3-none-elf/release/app.bin
  cargo esp32s3 image-info build/bootloader/bootloader.bin

It tells a bare app image (goes at 0x10000) from a merged offset-0 image (goes at 0x0),
so the app is never written where the bootloader belongs.")]
pub struct Args {
    /// The .bin (app, bootloader, merged image or partition table) or ELF to inspect
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Flash offset of the partition table [default: 0x8000]
    #[arg(long, value_name = "OFFSET")]
    pub partition_table_offset: Option<String>,
}

/// Run the command.
pub fn run(args: Args) -> super::Result<()> {
    honour_no_color();
    let table_offset = table_offset_arg(args.partition_table_offset.as_deref())?;
    let bytes = cargo_esp32s3::error::read_file(&args.file)?;
    let file = args.file.display().to_string();
    if looks_like_elf(&bytes) {
        return run_elf(&file, &bytes, table_offset);
    }
    let info = inspect_at(&bytes, table_offset).map_err(|e| ImageError::InFile {
        file: file.clone(),
        source: Box::new(e),
    })?;
    out!("{}", render(&file, &info));
    if info.problems.is_empty() {
        Ok(())
    } else {
        Err(ImageError::FailedChecks {
            file,
            problems: info.problems,
        }
        .into())
    }
}

/// An ELF is shown as the app image `flash` and `save-image` make of it (segments, descriptor,
/// checks), with default flash settings; one that cannot be converted is refused with the same
/// message `flash` gives, so a truncated or foreign ELF never looks fine here.
fn run_elf(file: &str, bytes: &[u8], table_offset: u32) -> super::Result<()> {
    let app = elf_to_app_image(bytes, &AppImageOptions::default()).map_err(|source| {
        ImageError::AppFromElf {
            file: file.to_string(),
            source: Box::new(source),
        }
    })?;
    let info = inspect_at(&app.bytes, table_offset).map_err(|e| ImageError::InFile {
        file: file.to_string(),
        source: Box::new(e),
    })?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}     {file} ({} bytes)",
        style("File:").bold(),
        bytes.len()
    );
    let _ = writeln!(
        out,
        "{}     ELF file (Xtensa); below, the app image `flash` makes of it ({} bytes, default flash settings DIO, 4MB, 40m; `save-image` writes it)",
        style("Kind:").bold(),
        app.bytes.len()
    );
    render_body(&mut out, &info);
    out!("{out}");
    if info.problems.is_empty() {
        Ok(())
    } else {
        Err(ImageError::FailedChecks {
            file: file.to_string(),
            problems: info.problems,
        }
        .into())
    }
}

fn heading(out: &mut String, text: &str) {
    let _ = writeln!(out, "\n{}", style(text).bold().underlined());
}

fn kind_text(info: &ImageInfo) -> &'static str {
    match info.kind {
        BinKind::AppImage => "app image (ESP32-S3)",
        BinKind::BootloaderImage => match info.images.first().map(|i| i.role) {
            Some(ImageRole::RamOnly) => "RAM-only image (ESP32-S3)",
            _ => "bootloader image (ESP32-S3)",
        },
        BinKind::MergedImage => "merged flash image (ESP32-S3)",
        BinKind::PartitionTable => "partition table",
        BinKind::Elf => "ELF file",
    }
}

fn rev(full: u16) -> String {
    format!("v{}.{}", full / 100, full % 100)
}

/// The whole report as text.
pub fn render(name: &str, info: &ImageInfo) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}     {name} ({} bytes)",
        style("File:").bold(),
        info.file_len
    );
    let _ = writeln!(out, "{}     {}", style("Kind:").bold(), kind_text(info));
    if let Some(at) = info.write_at {
        let _ = writeln!(
            out,
            "{} 0x{at:x} (write this file there)",
            style("Write at:").bold()
        );
    }
    render_body(&mut out, info);
    out
}

/// Everything after the file's own lines: its images, table, placements and checks.
fn render_body(out: &mut String, info: &ImageInfo) {
    for image in &info.images {
        render_image(out, image);
    }
    if let Some(table) = &info.partition_table {
        heading(
            out,
            &format!(
                "Partition table at 0x{:x}",
                info.table_offset.unwrap_or(DEFAULT_TABLE_OFFSET)
            ),
        );
        out.push_str(&render_table(table));
    }
    if !info.placements.is_empty() {
        heading(out, "Where each part goes");
        for p in &info.placements {
            let _ = writeln!(
                out,
                "  0x{:08x}  {:<18} 0x{:x} bytes (file offset 0x{:x})",
                p.flash_offset, p.label, p.len, p.file_offset
            );
        }
    }
    if !info.notes.is_empty() || !info.problems.is_empty() {
        heading(out, "Checks");
        for n in &info.notes {
            let _ = writeln!(out, "  {} {n}", style("note:").cyan());
        }
        for p in &info.problems {
            let _ = writeln!(out, "  {} {p}", style("problem:").red().bold());
        }
    }
}

fn render_image(out: &mut String, image: &ImageDetails) {
    let role = match image.role {
        ImageRole::App => "App image",
        ImageRole::Bootloader => "Bootloader image",
        ImageRole::RamOnly => "RAM-only image",
    };
    heading(
        out,
        &format!("{role} (flash offset 0x{:x})", image.flash_offset),
    );
    let h = &image.header;
    let _ = writeln!(out, "  Entry point:   0x{:08x}", h.entry);
    let _ = writeln!(out, "  Segments:      {}", h.segment_count);
    let _ = writeln!(
        out,
        "  Flash:         mode {}, size {}, freq {}",
        h.mode()
            .map(|m| m.name().to_uppercase())
            .unwrap_or_else(|| format!("unknown (0x{:02x})", h.flash_mode)),
        h.size()
            .map(|s| s.name().to_string())
            .unwrap_or_else(|| format!("unknown (0x{:x})", h.flash_size_freq >> 4)),
        h.freq()
            .map(|f| f.name().to_string())
            .unwrap_or_else(|| format!("unknown (0x{:x})", h.flash_size_freq & 0xF)),
    );
    let _ = writeln!(
        out,
        "  Chip:          {} (chip id {})",
        chip_name(h.chip_id).unwrap_or("unknown"),
        h.chip_id
    );
    let (min, max) = image.revision_range();
    let _ = writeln!(
        out,
        "  Chip revision: {} to {} (header: min_rev {}, min_rev_full {}, max_rev_full {})",
        rev(min),
        max.map(rev).unwrap_or_else(|| "any".into()),
        h.min_rev,
        h.min_rev_full,
        h.max_rev_full
    );
    let _ = writeln!(
        out,
        "  WP pin:        {}",
        if h.wp_pin == 0xEE {
            "disabled".to_string()
        } else {
            format!("0x{:02x}", h.wp_pin)
        }
    );
    let _ = writeln!(
        out,
        "\n  {}",
        style("Segment  Length   Load addr   File offs  Memory types").bold()
    );
    for (i, s) in image.segments.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {i:>7}  0x{:05x}  0x{:08x}  0x{:08x}  {}",
            s.len,
            s.load_addr,
            s.file_offset,
            s.memory_kinds.join(", ")
        );
    }
    let valid = |ok: bool| {
        if ok {
            style("valid").green().to_string()
        } else {
            style("INVALID").red().bold().to_string()
        }
    };
    let _ = writeln!(
        out,
        "\n  Checksum:      0x{:02x} ({})",
        image.checksum_stored,
        valid(image.checksum_valid())
    );
    match image.digest_stored {
        Some(d) => {
            let _ = writeln!(
                out,
                "  SHA-256:       {} ({})",
                hex(&d),
                valid(image.digest_valid() == Some(true))
            );
        }
        None => {
            let _ = writeln!(out, "  SHA-256:       none appended");
        }
    }
    let _ = writeln!(out, "  Image length:  0x{:x} bytes", image.total_len);
    if let Some(d) = &image.app_desc {
        let _ = writeln!(out, "\n  {}", style("App descriptor").bold());
        let _ = writeln!(out, "  Project:       {}", d.project_name);
        let _ = writeln!(out, "  Version:       {}", d.version);
        let _ = writeln!(out, "  ESP-IDF:       {}", d.idf_ver);
        let _ = writeln!(out, "  Built:         {} {}", d.date, d.time);
        let _ = writeln!(out, "  ELF SHA-256:   {}", hex(&d.app_elf_sha256));
        let _ = writeln!(out, "  Secure ver.:   {}", d.secure_version);
        let _ = writeln!(
            out,
            "  eFuse blk rev: {} to {}",
            rev(d.min_efuse_blk_rev_full),
            if d.max_efuse_blk_rev_full == 0xFFFF {
                "any".to_string()
            } else {
                rev(d.max_efuse_blk_rev_full)
            }
        );
        if let Some(page) = d.mmu_page_size() {
            let _ = writeln!(out, "  MMU page:      {} KiB", page / 1024);
        }
    }
    if let Some(d) = &image.bootloader_desc {
        let _ = writeln!(out, "\n  {}", style("Bootloader descriptor").bold());
        let _ = writeln!(out, "  Version:       {}", d.version);
        let _ = writeln!(out, "  ESP-IDF:       {}", d.idf_ver);
        let _ = writeln!(out, "  Built:         {}", d.date_time);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
