//! `bootloader save | import PATH | list | show [ID]`: the ESP32-S3 bootloaders this tool keeps
//! in the user's cache directory ([`cargo_esp32s3::bootloader_store`]), so that a blank chip can
//! be flashed without hunting for one. The store is the library's; this file only parses,
//! connects for `save` and prints.

use std::path::PathBuf;

use cargo_esp32s3::bootloader_store::{BootloaderStore, KeptBootloader};
use cargo_esp32s3::image::info::inspect;
use cargo_esp32s3::units::{human_size, utc_date_time};

use super::CliError;
use super::args::{ConnectArgs, ManifestArgs};
use super::connect;
use super::context::{self, shown_path};
use super::progress::{Progress, reset_line};

/// Arguments of `bootloader`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 bootloader import ~/esp/hello_world/build      an ESP-IDF build folder
  cargo esp32s3 bootloader import bootloader.bin
  cargo esp32s3 bootloader import ESP32_GENERIC_S3-20250911-v1.26.1.bin   cut out of a merged image
  cargo esp32s3 bootloader save --port /dev/ttyACM0            read it from a board that boots
  cargo esp32s3 bootloader list
  cargo esp32s3 bootloader show                                the newest (what a blank chip gets)

A copy of the chip's bootloader is also kept before `erase` erases it and before `flash` writes a
different one. When an app is flashed onto a chip with no bootloader and no `bootloader` setting,
the newest kept one is written with it. The folder is `bootloaders` in this tool's cache
directory (ESP32S3_CACHE_DIR overrides it).")]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// What `bootloader` does.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Read the bootloader from a board and keep it
    // Boxed: the connection arguments would make the enum large on every platform.
    Save(Box<SaveArgs>),
    /// Keep a bootloader from a .bin, an ESP-IDF build folder or a merged image
    Import(ImportArgs),
    /// List the kept bootloaders, newest first
    List,
    /// Show one kept bootloader (the newest by default)
    Show(ShowArgs),
}

/// Arguments of `bootloader save`.
#[derive(Debug, clap::Args)]
pub struct SaveArgs {
    /// Package and manifest.
    #[command(flatten)]
    pub manifest: ManifestArgs,
    /// How to reach the chip.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Arguments of `bootloader import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// A bootloader .bin, an ESP-IDF build folder (its bootloader/bootloader.bin), or a merged
    /// offset-0 image whose first image is the bootloader
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
}

/// Arguments of `bootloader show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The id (or its start) from `bootloader list` [default: the newest]
    #[arg(value_name = "ID")]
    pub id: Option<String>,
}

/// The store, or why there is none.
fn store() -> super::Result<BootloaderStore> {
    let cwd = std::env::current_dir().map_err(|e| cargo_esp32s3::Error::file("read", ".", e))?;
    let project = super::port_memory::project_dir(None, &cwd);
    context::bootloader_store(&project).ok_or_else(|| {
        CliError::Refused(
            "this system has no cache directory for kept bootloaders; set ESP32S3_CACHE_DIR to a folder".into(),
        )
    })
}

/// Run `bootloader`.
pub fn run(args: Args) -> super::Result<()> {
    match args.action {
        Action::Save(save) => run_save(*save),
        Action::Import(import) => {
            let store = store()?;
            let kept = store.import(&import.path)?;
            let b = &kept.bootloader;
            if kept.new {
                outln!(
                    "Kept {} ({}, {}) as {} in {}",
                    shown_path(&import.path),
                    b.version_text(),
                    human_size(b.len as u64),
                    b.id,
                    shown_path(&b.path)
                );
            } else {
                outln!(
                    "{} is kept already, as {} ({})",
                    shown_path(&import.path),
                    b.id,
                    b.origin_text()
                );
            }
            Ok(())
        }
        Action::List => {
            let store = store()?;
            let all = store.list()?;
            if all.is_empty() {
                eprintln!(
                    "No bootloader is kept in {} yet; `cargo esp32s3 bootloader import FILE` or `bootloader save` keeps one",
                    shown_path(store.dir())
                );
                return Ok(());
            }
            for (index, kept) in all.iter().enumerate() {
                let newest = if index == 0 {
                    "  (newest: used for blank chips)"
                } else {
                    ""
                };
                outln!(
                    "{}  {:<24} {:>9}  {}{newest}",
                    kept.id,
                    kept.version_text(),
                    human_size(kept.len as u64),
                    kept.origin_text()
                );
            }
            Ok(())
        }
        Action::Show(show) => {
            let store = store()?;
            let kept = match &show.id {
                Some(id) => store.get(id)?,
                None => store.newest()?.ok_or_else(|| {
                    CliError::Refused(format!(
                        "no bootloader is kept in {} yet; `cargo esp32s3 bootloader import FILE` or `bootloader save` keeps one",
                        shown_path(store.dir())
                    ))
                })?,
            };
            let bytes = store.read(&kept)?;
            for line in show_lines(&kept, &bytes) {
                outln!("{line}");
            }
            Ok(())
        }
    }
}

fn run_save(args: SaveArgs) -> super::Result<()> {
    let store = store()?;
    let flags = context::flag_values(Some(&args.connect), None, None, None);
    let ctx = context::load(&args.manifest, flags)?;
    let mut progress = Progress::new();
    let mut board = connect::open_board(&ctx, &args.connect, &mut progress)?;
    let kept = board.save_bootloader(&store, progress.callback())?;
    let b = &kept.bootloader;
    if kept.new {
        outln!(
            "Kept the chip's bootloader ({}, {}) as {} in {}",
            b.version_text(),
            human_size(b.len as u64),
            b.id,
            shown_path(&b.path)
        );
    } else {
        outln!(
            "The chip's bootloader is kept already, as {} ({})",
            b.id,
            b.origin_text()
        );
    }
    let done = board.reset(ctx.settings.after)?;
    eprintln!("{}", reset_line(done));
    Ok(())
}

/// What `bootloader show` prints.
pub fn show_lines(kept: &KeptBootloader, bytes: &[u8]) -> Vec<String> {
    let mut lines = vec![
        format!("id:          {}", kept.id),
        format!("file:        {}", kept.path.display()),
        format!("size:        {} bytes", kept.len),
        format!("sha256:      {}", kept.sha256),
        format!(
            "esp-idf:     {}",
            kept.idf_version
                .as_deref()
                .unwrap_or("unknown (no bootloader descriptor)")
        ),
    ];
    if let Some(date) = &kept.build_date {
        lines.push(format!("built:       {date}"));
    }
    if let Some(mac) = &kept.mac {
        lines.push(format!("chip MAC:    {mac}"));
    }
    lines.push(format!("kept:        {} UTC", utc_date_time(kept.kept_at)));
    lines.push(format!("origin:      {}", kept.origin_text()));
    if let Ok(info) = inspect(bytes) {
        if let Some(image) = info.images.first() {
            lines.push(format!("entry:       0x{:08x}", image.header.entry));
            for segment in &image.segments {
                lines.push(format!(
                    "segment:     0x{:08x} {:>6} bytes ({})",
                    segment.load_addr,
                    segment.len,
                    segment.memory_kinds.join(", ")
                ));
            }
        }
    }
    lines
}
