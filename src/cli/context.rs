//! Gathers what [`config::resolve`] needs from the outside world (flags as typed, the process
//! environment, `cargo metadata`) and hands back the resolved [`Settings`] with the project they
//! came from. Also the small terminal helpers every command shares (colour choice, sizes, paths).
//!
//! This is the only place that reads `ESP32S3_*` variables and `CARGO`; `config` stays pure.

use std::path::PathBuf;

use cargo_esp32s3::bootloader_store::BootloaderStore;
use cargo_esp32s3::cargo::{self, BuildOptions, Project};
use cargo_esp32s3::config::{self, FlagValues, Settings, Sources};

use super::args::{BuildArgs, ConnectArgs, FlashConfigArgs, ImageArgs, ImageJobArgs, ManifestArgs};

/// Settings and the Cargo project around the command (if any).
#[derive(Debug, Clone)]
pub struct Context {
    /// The resolved settings.
    pub settings: Settings,
    /// The Cargo project, `None` when the command runs outside one.
    pub project: Option<Project>,
    /// The cargo binary to run.
    pub cargo: PathBuf,
    /// The project a remembered port belongs to (see [`super::port_memory::project_dir`]).
    pub project_dir: PathBuf,
}

/// The cargo binary: `$CARGO` (set by cargo when it runs a subcommand), else `cargo` on `PATH`.
pub fn cargo_program() -> PathBuf {
    std::env::var_os("CARGO")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("cargo"))
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Read the project (when there is one) and resolve the settings.
pub fn load(manifest: &ManifestArgs, flags: FlagValues) -> super::Result<Context> {
    let cargo = cargo_program();
    let cwd = std::env::current_dir().map_err(|e| cargo_esp32s3::Error::file("read", ".", e))?;
    let project = cargo::project(
        &cargo,
        manifest.manifest_path.as_deref(),
        manifest.package.as_deref(),
        &cwd,
    )?;
    let sources = Sources {
        flags,
        env: &process_env,
        package: project
            .as_ref()
            .and_then(|p| p.package.as_ref())
            .map(|p| (p.manifest_path.clone(), p.metadata.clone())),
        workspace: project
            .as_ref()
            .map(|p| (p.workspace_manifest.clone(), p.workspace_metadata.clone())),
    };
    let settings = config::resolve(&sources)?;
    let project_dir = super::port_memory::project_dir(manifest.manifest_path.as_deref(), &cwd);
    Ok(Context {
        settings,
        project,
        cargo,
        project_dir,
    })
}

/// This tool's folder in the user's cache directory: `ESP32S3_CACHE_DIR` when set (tests point
/// it at a temporary folder), else the platform's cache directory
/// ([`cargo_esp32s3::bootloader_store::default_cache_dir`]). Kept bootloaders and remembered
/// ports live there.
pub fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("ESP32S3_CACHE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(cargo_esp32s3::bootloader_store::default_cache_dir)
}

/// The kept bootloaders (see [`cargo_esp32s3::bootloader_store`]), searching the home folder
/// and `project_dir` for images already on this machine when a blank chip finds none kept.
pub fn bootloader_store(project_dir: &std::path::Path) -> Option<BootloaderStore> {
    let mut roots = vec![project_dir.to_path_buf()];
    if let Some(home) = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(dirs_home)
    {
        for sub in [
            "esp",
            ".espressif",
            ".arduino15/packages/esp32",
            "Library/Arduino15/packages/esp32",
            "AppData/Local/Arduino15/packages/esp32",
            ".platformio/packages",
        ] {
            roots.push(home.join(sub));
        }
    }
    cache_dir().map(|dir| BootloaderStore::in_cache(&dir).with_search_roots(roots))
}

/// The home folder when `HOME` is not set (Windows).
fn dirs_home() -> Option<PathBuf> {
    std::env::var_os("USERPROFILE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The flag values of the shared argument groups a command has.
/// The flag values of a command that makes images ([`ImageJobArgs`]), with its connection flags
/// when it talks to a chip.
pub fn job_flag_values(job: &ImageJobArgs, connect: Option<&ConnectArgs>) -> FlagValues {
    flag_values(
        connect,
        Some(&job.flash),
        Some(&job.image),
        Some(&job.build),
    )
}

/// The flag values of the argument groups a command has.
pub fn flag_values(
    connect: Option<&ConnectArgs>,
    flash: Option<&FlashConfigArgs>,
    image: Option<&ImageArgs>,
    build: Option<&BuildArgs>,
) -> FlagValues {
    let mut flags = FlagValues::default();
    if let Some(c) = connect {
        // Several ports are `flash`'s business (cli/flash_many.rs); settings keep one.
        flags.port = c.port.first().cloned();
        flags.baud = c.baud.clone();
        flags.before = c.before.clone();
        flags.after = c.after.clone();
        flags.stub = c.stub.clone();
        flags.connect_attempts = c.connect_attempts.clone();
    }
    if let Some(f) = flash {
        flags.flash_mode = f.flash_mode.clone();
        flags.flash_freq = f.flash_freq.clone();
        flags.flash_size = f.flash_size.clone();
    }
    if let Some(i) = image {
        flags.bootloader = i.bootloader.clone();
        flags.partition_table = i.partition_table.clone();
        flags.partition_table_offset = i.partition_table_offset.clone();
        flags.target_app_partition = i.target_app_partition.clone();
        flags.min_chip_rev = i.min_chip_rev.clone();
        flags.max_chip_rev = i.max_chip_rev.clone();
        if i.ignore_app_descriptor {
            flags.ignore_app_descriptor = Some(true);
        }
    }
    if let Some(b) = build {
        flags.target = b.target.clone();
    }
    flags
}

/// cargo's build options from the command line, with the target from the resolved settings.
pub fn build_options(
    manifest: &ManifestArgs,
    build: &BuildArgs,
    settings: &Settings,
) -> BuildOptions {
    BuildOptions {
        manifest_path: manifest.manifest_path.clone(),
        package: manifest.package.clone(),
        release: build.release,
        profile: build.profile.clone(),
        bin: build.bin.clone(),
        example: build.example.clone(),
        features: build.features.clone(),
        all_features: build.all_features,
        no_default_features: build.no_default_features,
        target: settings.target.clone(),
        target_dir: build.target_dir.clone(),
        locked: build.locked,
        frozen: build.frozen,
        offline: build.offline,
        unstable: build.unstable.clone(),
        ansi: console::colors_enabled_stderr(),
    }
}

/// Turn colours off when `NO_COLOR` is set to a non-empty value (<https://no-color.org>).
/// console already stays plain on non-terminals; this also covers `CLICOLOR_FORCE` and Windows.
pub fn apply_color_choice() {
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        console::set_colors_enabled(false);
        console::set_colors_enabled_stderr(false);
    }
}

/// A path for messages, the library's rule (relative to the current directory when below it).
pub use cargo_esp32s3::error::shown_path;

/// Print a note on stderr (`note: ...`), the way cargo does.
pub fn note(message: &str) {
    let prefix = console::style("note:").cyan().bold().for_stderr();
    eprintln!("{prefix} {message}");
}
