//! The library facade for automation (`cargo xtask` scripts, test rigs): find a Cargo project and
//! its settings, build it, and turn an ELF into the image that goes onto the chip.
//!
//! It wraps what the command line uses ([`crate::config`], [`crate::cargo`], [`crate::plan`]),
//! so a script lays out exactly the bytes `cargo esp32s3 flash` would. It never prints and never
//! reads environment variables on its own: a script that wants `ESP32S3_*` variables to count
//! passes a lookup in [`Discover::env`]. Talking to a chip is [`crate::Board`]'s job.
//!
//! ```
//! # fn main() -> cargo_esp32s3::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! # std::fs::write(dir.path().join("Cargo.toml"),
//! #     "[package]\nname = \"fw\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
//! #      [package.metadata.esp32s3]\nflash-size = \"8MB\"\n").unwrap();
//! # std::fs::create_dir(dir.path().join("src")).unwrap();
//! # std::fs::write(dir.path().join("src/main.rs"), "fn main() {}\n").unwrap();
//! use cargo_esp32s3::Project;
//! use cargo_esp32s3::image::FlashSize;
//!
//! let project = Project::discover(dir.path())?;
//! assert_eq!(project.package_name(), "fw");
//! assert_eq!(project.settings().flash_size, Some(FlashSize::S8Mb));
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};

use crate::cargo::IdfOutputs;
use crate::cargo::{self, BuildOptions, BuildOutput};
use crate::config::{self, FlagValues, Settings, Sources};
use crate::plan::Plan;

/// A problem finding the project.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// No Cargo.toml at or above the directory.
    #[error(
        "no Cargo.toml in {dir} or any directory above it; run this inside a Cargo package, or create one with `cargo new`"
    )]
    NoManifest {
        /// The directory searched from.
        dir: String,
    },
    /// The manifest is a virtual workspace and no member was chosen.
    #[error(
        "{manifest} is a workspace without a [package]; point at one of its members (its directory or its Cargo.toml), or choose one with Discover::package"
    )]
    NotAPackage {
        /// The workspace manifest.
        manifest: String,
    },
}

/// A lookup of environment variables by name (`&|name| std::env::var(name).ok()`).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// How [`Project::discover_with`] finds the project and resolves the settings.
///
/// The default reads only the manifests (package and workspace metadata) and the built-in
/// defaults, runs `cargo` from `PATH`, and picks the package the directory belongs to.
#[derive(Default)]
pub struct Discover<'a> {
    /// The package to use in a workspace (`--package`); `None` picks the one around the path.
    pub package: Option<String>,
    /// Values that override everything else, as typed on a command line.
    pub flags: FlagValues,
    /// An environment lookup for the `ESP32S3_*` variables (for example
    /// `&|name| std::env::var(name).ok()`); `None` ignores the environment.
    pub env: Option<EnvLookup<'a>>,
    /// The cargo binary (a script started by cargo finds it in `$CARGO`); `None` runs `cargo`.
    pub cargo: Option<PathBuf>,
}

/// A Cargo package with its resolved `cargo esp32s3` settings.
#[derive(Debug, Clone)]
pub struct Project {
    cargo: PathBuf,
    meta: cargo::Project,
    package: cargo::ProjectPackage,
    settings: Settings,
}

/// What [`Project::build`] produced: the firmware ELF and, for esp-idf-sys projects, the
/// bootloader and partition table ESP-IDF built next to it.
pub type Built = BuildOutput;

impl Project {
    /// The package whose directory holds `path` (a directory or a `Cargo.toml`), with settings
    /// from its `[package.metadata.esp32s3]`, the workspace's `[workspace.metadata.esp32s3]` and
    /// the defaults. Runs `cargo metadata --no-deps`.
    pub fn discover(path: impl AsRef<Path>) -> crate::Result<Project> {
        Self::discover_with(path, &Discover::default())
    }

    /// [`Project::discover`] with flags, an environment, a package choice or a cargo binary.
    pub fn discover_with(path: impl AsRef<Path>, options: &Discover<'_>) -> crate::Result<Project> {
        let path = path.as_ref();
        let dir = if path.is_file() {
            path.parent().unwrap_or(Path::new(".")).to_path_buf()
        } else {
            path.to_path_buf()
        };
        let dir = dir.canonicalize().unwrap_or(dir);
        let manifest = if path.is_file() {
            path.to_path_buf()
        } else {
            cargo::find_manifest(&dir).ok_or_else(|| ProjectError::NoManifest {
                dir: dir.display().to_string(),
            })?
        };
        let cargo_program = options.cargo.clone().unwrap_or_else(|| "cargo".into());
        let meta = cargo::project(
            &cargo_program,
            Some(&manifest),
            options.package.as_deref(),
            &dir,
        )?
        .ok_or_else(|| ProjectError::NoManifest {
            dir: dir.display().to_string(),
        })?;
        let package = meta
            .package
            .clone()
            .ok_or_else(|| ProjectError::NotAPackage {
                manifest: manifest.display().to_string(),
            })?;
        let no_env = |_: &str| None;
        let sources = Sources {
            flags: options.flags.clone(),
            env: options.env.unwrap_or(&no_env),
            package: Some((package.manifest_path.clone(), package.metadata.clone())),
            workspace: Some((
                meta.workspace_manifest.clone(),
                meta.workspace_metadata.clone(),
            )),
        };
        let settings = config::resolve(&sources)?;
        Ok(Project {
            cargo: cargo_program,
            meta,
            package,
            settings,
        })
    }

    /// The resolved settings (port, baud, flash settings, bootloader, partition table, …).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The settings, to change before building or flashing (for example the port).
    pub fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    /// The package's name.
    pub fn package_name(&self) -> &str {
        &self.package.name
    }

    /// The package's `Cargo.toml`.
    pub fn manifest_path(&self) -> &Path {
        &self.package.manifest_path
    }

    /// The workspace root's `Cargo.toml`.
    pub fn workspace_manifest(&self) -> &Path {
        &self.meta.workspace_manifest
    }

    /// Where cargo puts build outputs.
    pub fn target_directory(&self) -> &Path {
        &self.meta.target_directory
    }

    /// Run `cargo build` for this package (with the configured target unless `options` names
    /// one) and return the firmware ELF. Compiler messages, rendered, go to `on_diagnostic`.
    ///
    /// Cargo runs in the process's current directory, as `cargo build` typed there would, so
    /// it reads the `.cargo/config.toml` files above that directory.
    pub fn build(
        &self,
        options: &BuildOptions,
        on_diagnostic: impl FnMut(&str),
    ) -> crate::Result<Built> {
        let mut on_diagnostic = on_diagnostic;
        let mut options = options.clone();
        if options.manifest_path.is_none() {
            options.manifest_path = Some(self.package.manifest_path.clone());
        }
        if options.package.is_none() {
            options.package = Some(self.package.name.clone());
        }
        if options.target.is_none() {
            options.target = self.settings.target.clone();
        }
        if let Some(triple) = &options.target {
            config::check_target(triple, "the build options")?;
        }
        Ok(cargo::build(&self.cargo, &options, &mut on_diagnostic)?)
    }

    /// The plan for an ELF: the app image, and with a configured bootloader the whole offset-0
    /// layout (bootloader at 0x0, partition table, app in its partition). The flash size is the
    /// configured one, else 4 MB until [`crate::Board::flash`] learns the chip's.
    pub fn plan(&self, elf: impl AsRef<Path>) -> crate::Result<Plan> {
        Plan::from_elf(elf.as_ref(), &self.settings, &IdfOutputs::default())
    }

    /// [`Project::plan`] for a build's output: an esp-idf-sys build's own bootloader and
    /// partition table are used when the settings name none.
    pub fn plan_of(&self, built: &Built) -> crate::Result<Plan> {
        Plan::from_elf(&built.executable, &self.settings, &built.idf())
    }
}
