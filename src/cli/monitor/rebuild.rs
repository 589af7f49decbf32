//! Ctrl+T F: rebuild the project with the cargo arguments the monitor was started with, flash
//! what changed over the monitor's own port (the board skips regions the flash already holds),
//! reset, and hand the port back to the monitor. A build that fails leaves the port and the
//! chip alone: the old firmware keeps running and the monitor goes on.
//!
//! As cargo's runner (`flash --monitor target/<triple>/<profile>/<name>`) the cargo arguments
//! are not known, so they are read back from the ELF's path: the target, the profile, and
//! `--bin` or `--example`. Features given to `cargo run` cannot be recovered from a path; they
//! are not passed (the rebuild says what it runs).

use std::path::{Path, PathBuf};

use cargo_esp32s3::Board;
use cargo_esp32s3::cargo::triple_from_path;
use cargo_esp32s3::flasher::WriteSummary;
use cargo_esp32s3::plan::Plan;
use cargo_esp32s3::transport::shared::SharedTransport;
use cargo_esp32s3::transport::{AnyTransport, Transport as _};

use super::super::CliError;
use super::super::args::{BuildArgs, ManifestArgs};
use super::super::build::build_firmware;
use super::super::context::Context;
use super::super::flash::flash_board;
use super::super::progress::{Progress, reset_line};
use super::reset_into_firmware;

/// How to rebuild the firmware the monitor watches.
#[derive(Debug, Clone)]
pub struct Rebuild {
    ctx: Context,
    manifest: ManifestArgs,
    build: BuildArgs,
}

/// Where a rebuild failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Building or making the image: nothing was touched.
    Build,
    /// Connecting or flashing: the chip was reset to run what its flash holds.
    Flash,
}

/// What a rebuild did.
#[derive(Debug)]
pub struct Rebuilt {
    /// The new ELF.
    pub elf: PathBuf,
    /// What the write did (regions written and skipped).
    pub summary: WriteSummary,
}

impl Rebuild {
    /// Rebuild as `build` says, in the Cargo project of `ctx`; `None` outside a Cargo project.
    pub fn new(ctx: &Context, manifest: &ManifestArgs, build: &BuildArgs) -> Option<Rebuild> {
        ctx.project.as_ref()?;
        Some(Rebuild {
            ctx: ctx.clone(),
            manifest: manifest.clone(),
            build: build.clone(),
        })
    }

    /// Rebuild the executable `elf`, which this project's build made (cargo's runner passes
    /// one): the target, profile and binary are read from its path where `build` does not set
    /// them. `None` when `elf` is no output of the project's build (a prebuilt file).
    pub fn for_file(
        ctx: &Context,
        manifest: &ManifestArgs,
        build: &BuildArgs,
        elf: &Path,
    ) -> Option<Rebuild> {
        let mut rebuild = Rebuild::new(ctx, manifest, build)?;
        let target_dir = ctx.project.as_ref()?.target_directory.clone();
        rebuild.read_args_from(elf, &target_dir).then_some(rebuild)
    }

    /// `target/<triple>/<profile>/[examples/]<name>` → `--target`, the profile, `--bin` or
    /// `--example` (where not given already); false when `elf` is not below `target_dir`.
    fn read_args_from(&mut self, elf: &Path, target_dir: &Path) -> bool {
        let elf = std::path::absolute(elf).unwrap_or_else(|_| elf.to_path_buf());
        let target_dir = std::path::absolute(target_dir).unwrap_or_else(|_| target_dir.into());
        let Ok(relative) = elf.strip_prefix(&target_dir) else {
            return false;
        };
        let mut parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if let Some(triple) = triple_from_path(&elf, &target_dir) {
            if parts.first() == Some(&triple) {
                parts.remove(0);
            }
            if self.ctx.settings.target.is_none() {
                self.ctx.settings.target = Some(triple);
            }
        }
        let (profile, rest) = match parts.split_first() {
            Some((profile, rest)) if !rest.is_empty() => (profile.clone(), rest.to_vec()),
            _ => return false,
        };
        if !self.build.release && self.build.profile.is_none() {
            match profile.as_str() {
                "debug" => {}
                "release" => self.build.release = true,
                other => self.build.profile = Some(other.to_string()),
            }
        }
        if self.build.bin.is_none() && self.build.example.is_none() {
            match rest.as_slice() {
                [name] => self.build.bin = Some(name.clone()),
                [examples, name] if examples == "examples" => {
                    self.build.example = Some(name.clone())
                }
                _ => return false,
            }
        }
        true
    }

    /// What the rebuild runs, for the monitor's notice.
    pub fn describe(&self) -> String {
        let mut words = vec!["cargo build".to_string()];
        if let Some(target) = &self.ctx.settings.target {
            words.push(format!("--target {target}"));
        }
        if self.build.release {
            words.push("--release".into());
        }
        if let Some(profile) = &self.build.profile {
            words.push(format!("--profile {profile}"));
        }
        if let Some(bin) = &self.build.bin {
            words.push(format!("--bin {bin}"));
        }
        if let Some(example) = &self.build.example {
            words.push(format!("--example {example}"));
        }
        if !self.build.features.is_empty() {
            words.push(format!("--features {}", self.build.features.join(",")));
        }
        if let Some(package) = &self.manifest.package {
            words.push(format!("--package {package}"));
        }
        words.join(" ")
    }

    /// Build, flash what changed through `transport`, reset into the new firmware; the port
    /// comes back in every case (at the monitor's speed). A failed build touches nothing.
    pub fn run(
        &self,
        transport: AnyTransport,
    ) -> (AnyTransport, Result<Rebuilt, (Stage, CliError)>) {
        let built = match build_firmware(&self.ctx, &self.manifest, &self.build) {
            Ok(built) => built,
            Err(e) => return (transport, Err((Stage::Build, e))),
        };
        let plan = match Plan::from_elf(&built.executable, &self.ctx.settings, &built.idf()) {
            Ok(plan) => plan,
            Err(e) => return (transport, Err((Stage::Build, e.into()))),
        };
        let shared = SharedTransport::new(transport);
        let result = self.flash(&shared, &plan);
        let mut transport: AnyTransport = match shared.into_inner() {
            Ok(transport) => transport,
            Err(still_shared) => Box::new(still_shared),
        };
        if result.is_err() {
            // Whatever state the failure left the chip in, let it run what it has and listen
            // at the monitor's speed again.
            let _ = transport.set_baud(self.ctx.settings.monitor_baud);
            let _ = reset_into_firmware(
                &mut *transport,
                self.ctx.settings.hard_reset_sequence.as_ref(),
            );
        }
        let result = result
            .map(|summary| Rebuilt {
                elf: built.executable,
                summary,
            })
            .map_err(|e| (Stage::Flash, e));
        (transport, result)
    }

    fn flash(&self, shared: &SharedTransport, plan: &Plan) -> super::super::Result<WriteSummary> {
        let mut progress = Progress::new();
        // The same speed settings as any flash (the remembered rate, the stub found).
        let settings = &crate::cli::speed::prepare(&self.ctx.settings, &mut progress);
        let mut board = Board::open_on(Box::new(shared.clone()), settings, progress.callback())?;
        let summary = flash_board(&mut board, plan, &mut progress)?;
        match board.reset_into_monitor(settings.after) {
            Ok(done) => progress.info(reset_line(done)),
            // The chip's own USB re-enumerates as it restarts: the monitor waits for it.
            Err(e) if super::reset_lost_the_port(&e, settings.after) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cargo_esp32s3::cargo::Project;
    use cargo_esp32s3::config::Settings;

    fn rebuild_for(elf: &str, build: BuildArgs) -> Rebuild {
        let ctx = Context {
            project_dir: PathBuf::from("/p"),
            settings: Settings::default(),
            project: Some(Project {
                workspace_manifest: PathBuf::from("/p/Cargo.toml"),
                workspace_metadata: serde_json::Value::Null,
                package: None,
                target_directory: PathBuf::from("/p/target"),
            }),
            cargo: PathBuf::from("cargo"),
        };
        Rebuild::for_file(&ctx, &ManifestArgs::default(), &build, Path::new(elf))
            .expect("an ELF of the project")
    }

    #[test]
    fn a_runners_elf_gives_the_cargo_arguments_back() {
        let check = |elf: &str, build: BuildArgs, expected: &str| {
            assert_eq!(rebuild_for(elf, build).describe(), expected, "{elf}");
        };
        check(
            "/p/target/xtensa-esp32s3-none-elf/release/blinky",
            BuildArgs::default(),
            "cargo build --target xtensa-esp32s3-none-elf --release --bin blinky",
        );
        check(
            "/p/target/xtensa-esp32s3-none-elf/debug/examples/wifi",
            BuildArgs::default(),
            "cargo build --target xtensa-esp32s3-none-elf --example wifi",
        );
        check(
            "/p/target/xtensa-esp32s3-espidf/lto/app",
            BuildArgs::default(),
            "cargo build --target xtensa-esp32s3-espidf --profile lto --bin app",
        );
        // What the command line said wins.
        let given = BuildArgs {
            bin: Some("other".into()),
            features: vec!["psram".into()],
            ..BuildArgs::default()
        };
        check(
            "/p/target/xtensa-esp32s3-none-elf/debug/app",
            given,
            "cargo build --target xtensa-esp32s3-none-elf --bin other --features psram",
        );
    }

    #[test]
    fn a_file_from_elsewhere_is_not_rebuilt() {
        let ctx = Context {
            project_dir: PathBuf::from("/p"),
            settings: Settings::default(),
            project: Some(Project {
                workspace_manifest: PathBuf::from("/p/Cargo.toml"),
                workspace_metadata: serde_json::Value::Null,
                package: None,
                target_directory: PathBuf::from("/p/target"),
            }),
            cargo: PathBuf::from("cargo"),
        };
        let none = |file: &str| {
            Rebuild::for_file(
                &ctx,
                &ManifestArgs::default(),
                &BuildArgs::default(),
                Path::new(file),
            )
            .is_none()
        };
        assert!(none("/tmp/fw.elf"));
        assert!(none("/p/target/fw.bin"));
        assert!(Rebuild::new(&ctx, &ManifestArgs::default(), &BuildArgs::default()).is_some());
        let outside = Context {
            project: None,
            ..ctx.clone()
        };
        assert!(Rebuild::new(&outside, &ManifestArgs::default(), &BuildArgs::default()).is_none());
    }
}
