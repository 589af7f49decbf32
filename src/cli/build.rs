//! `build`: run `cargo build`, then write the app image (`<elf>.bin`) and the merged offset-0
//! image (`<elf>.merged.bin`) next to the ELF, and say how full the app partition is.
//!
//! [`build_firmware`] is also what `flash` and `save-image --build` use to build.

use std::path::{Path, PathBuf};

use crate::cargo::{self, BuildOutput};
use crate::config;

use super::args::{BuildArgs, ImageJobArgs, ManifestArgs};
use super::context::{self, Context, shown_path};
use super::images::{self, DEFAULT_FLASH_SIZE, IdfOutputs, Prepared};
use crate::units::human_size;

/// Arguments of `build`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 build --release
  cargo esp32s3 build --example blinky --features psram
  cargo esp32s3 build --flash-size 16mb --partition-table partitions.csv

Settings come from flags, then ESP32S3_* variables, then [package.metadata.esp32s3], then
[workspace.metadata.esp32s3] in Cargo.toml (see the README, section Configuration).")]
pub struct Args {
    /// Package, build, flash settings, bootloader and partition table.
    #[command(flatten)]
    pub job: ImageJobArgs,
}

/// Build, write both images, print where they are.
pub fn run(args: Args) -> crate::Result<()> {
    let flags = context::job_flag_values(&args.job, None);
    let ctx = context::load(&args.job.manifest, flags)?;
    let built = build_firmware(&ctx, &args.job.manifest, &args.job.build)?;
    let flash_size = ctx.settings.flash_size.unwrap_or(DEFAULT_FLASH_SIZE);
    let prepared = images::prepare(
        &built.executable,
        &ctx.settings,
        &idf_outputs(&built),
        flash_size,
    )?;

    let app_path = app_image_path(&built.executable);
    write(&app_path, &prepared.app.bytes)?;
    print_output("app image", &app_path, prepared.app.bytes.len(), "");
    let merged_path = merged_image_path(&built.executable);
    match merged_image(&prepared, None)? {
        Some(merged) => {
            write(&merged_path, &merged)?;
            print_output("merged image", &merged_path, merged.len(), ", write at 0x0");
        }
        None => {
            // A merged image left by an earlier build holds an older app: flashing it by
            // mistake would be confusing, and it is our own output, so it goes.
            let removed = merged_path.is_file() && std::fs::remove_file(&merged_path).is_ok();
            context::note(&images::no_bootloader_note(&format!(
                "the merged image {} was not written{}",
                shown_path(&merged_path),
                if removed {
                    " (the stale one from an earlier build was removed)"
                } else {
                    ""
                }
            )));
        }
    }
    print_sources(&prepared);
    println!(
        "{}",
        images::fill_line(prepared.app.bytes.len(), &prepared.app_partition)
    );
    Ok(())
}

/// Run `cargo build` with compiler messages on stderr, and refuse an executable built for
/// another chip's target (when the target came from cargo's own configuration).
pub fn build_firmware(
    ctx: &Context,
    manifest: &ManifestArgs,
    build: &BuildArgs,
) -> crate::Result<BuildOutput> {
    let options = context::build_options(manifest, build, &ctx.settings);
    let built = cargo::build(&ctx.cargo, &options, &mut |diagnostic| {
        eprint!("{diagnostic}");
        if !diagnostic.ends_with('\n') {
            eprintln!();
        }
    })?;
    if ctx.settings.target.is_none() {
        let target_dir = build
            .target_dir
            .clone()
            .or_else(|| ctx.project.as_ref().map(|p| p.target_directory.clone()));
        if let Some(triple) = target_dir
            .as_deref()
            .and_then(|dir| cargo::triple_from_path(&built.executable, dir))
        {
            config::check_target(&triple, "build.target in cargo's configuration")?;
        }
    }
    Ok(built)
}

/// What esp-idf-sys built, for the image pipeline.
pub fn idf_outputs(built: &BuildOutput) -> IdfOutputs {
    IdfOutputs {
        bootloader: built.idf_bootloader.clone(),
        partition_table: built.idf_partition_table.clone(),
    }
}

/// What an ESP-IDF build left next to an ELF given by path (as `cargo run` gives it): cargo puts
/// the ELF at `target/<triple>/<profile>/<name>` (examples one level deeper) and esp-idf-sys's
/// CMake build under `target/<triple>/<profile>/build/esp-idf-sys-<hash>/out/build/`. When
/// several esp-idf-sys builds are there, the most recently built bootloader wins, as cargo's
/// own build would have used that one. Nothing is found for an ELF outside a cargo target dir.
pub fn idf_outputs_near(elf: &Path) -> IdfOutputs {
    let elf = elf.canonicalize().unwrap_or_else(|_| elf.to_path_buf());
    let Some(mut profile_dir) = elf.parent() else {
        return IdfOutputs::default();
    };
    if profile_dir.file_name().is_some_and(|n| n == "examples") {
        profile_dir = profile_dir.parent().unwrap_or(profile_dir);
    }
    let Ok(entries) = std::fs::read_dir(profile_dir.join("build")) else {
        return IdfOutputs::default();
    };
    let newest = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("esp-idf-sys-"))
        .map(|e| e.path().join("out").join("build"))
        .filter_map(|build| {
            let bootloader = build.join("bootloader").join("bootloader.bin");
            let modified = std::fs::metadata(&bootloader)
                .and_then(|m| m.modified())
                .ok()?;
            Some((modified, build, bootloader))
        })
        .max_by_key(|(modified, _, _)| *modified);
    match newest {
        Some((_, build, bootloader)) => {
            let table = build.join("partition_table").join("partition-table.bin");
            IdfOutputs {
                bootloader: Some(bootloader),
                partition_table: table.is_file().then_some(table),
            }
        }
        None => IdfOutputs::default(),
    }
}

/// `target/.../app` → `target/.../app.bin` (an `.elf` extension is replaced).
pub fn app_image_path(elf: &Path) -> PathBuf {
    with_suffix(elf, ".bin")
}

/// `target/.../app` → `target/.../app.merged.bin`.
pub fn merged_image_path(elf: &Path) -> PathBuf {
    with_suffix(elf, ".merged.bin")
}

fn with_suffix(elf: &Path, suffix: &str) -> PathBuf {
    let stem = if elf
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("elf"))
    {
        elf.with_extension("")
    } else {
        elf.to_path_buf()
    };
    let mut name = stem.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    stem.with_file_name(name)
}

/// The merged offset-0 image, padded to `pad_to` bytes when asked; `None` without a bootloader.
pub fn merged_image(prepared: &Prepared, pad_to: Option<u32>) -> crate::Result<Option<Vec<u8>>> {
    match &prepared.regions {
        Some(regions) => Ok(Some(crate::image::merge::merge_regions(regions, pad_to)?)),
        None => Ok(None),
    }
}

/// Write a file, naming it in the error.
pub fn write(path: &Path, bytes: &[u8]) -> crate::Result<()> {
    std::fs::write(path, bytes).map_err(|e| crate::Error::file("write", path, e))
}

/// `app image: target/.../app.bin (812 KiB)`.
pub fn print_output(what: &str, path: &Path, len: usize, extra: &str) {
    println!(
        "{} {} ({}{extra})",
        console::style(format!("{what}:")).green().bold(),
        shown_path(path),
        human_size(len as u64)
    );
}

/// Where the bootloader and the partition table came from.
pub fn print_sources(prepared: &Prepared) {
    if let Some(source) = &prepared.bootloader_source {
        println!("bootloader: {source}");
    }
    println!(
        "partition table: {} (app in {} at 0x{:x})",
        prepared.table_source, prepared.app_partition.name, prepared.app_partition.offset
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idf_outputs_next_to_an_elf() {
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("xtensa-esp32s3-espidf/debug");
        let put = |rel: &str| {
            let path = profile.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"x").unwrap();
            path
        };
        let elf = put("app");
        let example = put("examples/demo");
        assert!(idf_outputs_near(&elf).bootloader.is_none());
        let bootloader = put("build/esp-idf-sys-1234/out/build/bootloader/bootloader.bin");
        let table = put("build/esp-idf-sys-1234/out/build/partition_table/partition-table.bin");
        put("build/other-5678/out/build/bootloader/bootloader.bin");
        for path in [&elf, &example] {
            let found = idf_outputs_near(path);
            assert_eq!(found.bootloader.as_ref(), Some(&bootloader));
            assert_eq!(found.partition_table.as_ref(), Some(&table));
        }
    }

    #[test]
    fn output_paths() {
        for (elf, app, merged) in [
            (
                "t/release/app",
                "t/release/app.bin",
                "t/release/app.merged.bin",
            ),
            (
                "t/release/app.elf",
                "t/release/app.bin",
                "t/release/app.merged.bin",
            ),
            (
                "t/release/my.app",
                "t/release/my.app.bin",
                "t/release/my.app.merged.bin",
            ),
        ] {
            assert_eq!(app_image_path(Path::new(elf)), Path::new(app));
            assert_eq!(merged_image_path(Path::new(elf)), Path::new(merged));
        }
    }
}
