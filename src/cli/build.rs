//! `build`: run `cargo build`, then write the app image (`<elf>.bin`) and the merged offset-0
//! image (`<elf>.merged.bin`) next to the ELF, and say how full the app partition is.
//!
//! [`build_firmware`] is also what `flash` and `save-image --build` use to build.

use std::path::{Path, PathBuf};

use cargo_esp32s3::cargo::{self, BuildOutput};
use cargo_esp32s3::config;
use cargo_esp32s3::image::NO_BOOTLOADER_ADVICE;
use cargo_esp32s3::image::app::AppImage;
use cargo_esp32s3::plan::{Placement, Plan};
use cargo_esp32s3::units::human_size;

use super::CliError;
use super::args::{BuildArgs, ImageJobArgs, ManifestArgs};
use super::context::{self, Context, shown_path};
use super::progress::fill_line;

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
pub fn run(args: Args) -> super::Result {
    let flags = context::job_flag_values(&args.job, None);
    let ctx = context::load(&args.job.manifest, flags)?;
    let built = build_firmware(&ctx, &args.job.manifest, &args.job.build)?;
    let planned = Plan::from_elf(&built.executable, &ctx.settings, &built.idf())?;
    // No chip: the layout is checked for the flash size its headers name.
    let plan = planned.for_file()?;
    let app = plan_app(&plan)?;

    let app_path = app_image_path(&built.executable);
    write(&app_path, &app.bytes)?;
    print_output("app image", &app_path, app.bytes.len(), "");
    let merged_path = merged_image_path(&built.executable);
    if plan.placement() == Placement::Layout {
        let merged = plan.merged(false)?;
        write(&merged_path, &merged)?;
        print_output("merged image", &merged_path, merged.len(), ", write at 0x0");
    } else {
        // A merged image left by an earlier build holds an older app: flashing it by mistake
        // would be confusing, and it is our own output, so it goes.
        let removed = merged_path.is_file() && std::fs::remove_file(&merged_path).is_ok();
        context::note(&format!(
            "the merged image {} was not written{}: {NO_BOOTLOADER_ADVICE}",
            shown_path(&merged_path),
            if removed {
                " (the stale one from an earlier build was removed)"
            } else {
                ""
            }
        ));
    }
    print_sources(&plan);
    print_fill(&plan);
    Ok(())
}

/// Run `cargo build` with compiler messages on stderr, and refuse an executable built for
/// another chip's target (when the target came from cargo's own configuration).
pub fn build_firmware(
    ctx: &Context,
    manifest: &ManifestArgs,
    build: &BuildArgs,
) -> super::Result<BuildOutput> {
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

/// The app image of an ELF plan (every plan `build` and `save-image` make has one).
pub fn plan_app(plan: &Plan) -> super::Result<&AppImage> {
    plan.app().ok_or_else(|| {
        CliError::Refused(
            "the plan holds no app image (an internal error); please report it".into(),
        )
    })
}

/// Write a file, naming it in the error.
pub fn write(path: &Path, bytes: &[u8]) -> super::Result {
    std::fs::write(path, bytes).map_err(|e| cargo_esp32s3::Error::file("write", path, e).into())
}

/// `app image: target/.../app.bin (812 KiB)`.
pub fn print_output(what: &str, path: &Path, len: usize, extra: &str) {
    outln!(
        "{} {} ({}{extra})",
        console::style(format!("{what}:")).green().bold(),
        shown_path(path),
        human_size(len as u64)
    );
}

/// Where the bootloader and the partition table came from.
pub fn print_sources(plan: &Plan) {
    if let Some(source) = plan.bootloader_source() {
        outln!("bootloader: {source}");
    }
    if let (Some((_, source)), Some(partition)) = (plan.partition_table(), plan.app_partition()) {
        outln!(
            "partition table: {source} (app in {} at 0x{:x})",
            partition.name,
            partition.offset
        );
    }
}

/// `app partition factory: 812 KiB of 3 MiB used (26%)`, on stdout.
pub fn print_fill(plan: &Plan) {
    if let Some(cargo_esp32s3::Event::AppPartitionFill {
        partition,
        used,
        size,
    }) = plan.fill()
    {
        outln!("{}", fill_line(&partition, used, size));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
