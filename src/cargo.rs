//! The only place that runs cargo: `cargo metadata` to find the package and its
//! `[package.metadata.esp32s3]` table, and `cargo build` with JSON messages to find the executable
//! that was built (and, for esp-idf-sys projects, the bootloader and partition table ESP-IDF built).
//!
//! It does not print: compiler diagnostics go to a callback, and cargo's own progress goes to the
//! inherited stderr of the child. It does not read the environment either: the caller says which
//! cargo binary to run (the CLI honours `$CARGO`). It knows nothing of images or chips beyond the
//! output file names of esp-idf-sys.

use std::ffi::OsString;
use std::io::BufReader;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use cargo_metadata::{Message, Metadata, MetadataCommand, Package};
use serde_json::Value;

/// A cargo failure, phrased for the user.
#[derive(Debug, thiserror::Error)]
pub enum CargoError {
    /// cargo could not be started.
    #[error(
        "cannot run {program}: {source}; install Rust with rustup, or set CARGO to the cargo binary"
    )]
    Spawn {
        /// The program we tried.
        program: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// `cargo metadata` failed (broken manifest, unknown path, …).
    #[error("cannot read the Cargo project at {manifest}: {detail}")]
    Metadata {
        /// The manifest (or directory) we asked about.
        manifest: String,
        /// What cargo said, on one line.
        detail: String,
    },
    /// `--package` names no member of the workspace.
    #[error("package {spec:?} is not in the workspace at {workspace}; members: {members}")]
    UnknownPackage {
        /// The spec given.
        spec: String,
        /// Workspace root.
        workspace: String,
        /// The members' names.
        members: String,
    },
    /// `cargo build` exited with an error.
    #[error("`cargo build` failed ({status}); the messages above say why")]
    BuildFailed {
        /// Exit status as text.
        status: String,
    },
    /// Reading cargo's output failed.
    #[error("cannot read the output of `cargo build`: {0}")]
    Output(#[source] std::io::Error),
    /// The build produced no executable.
    #[error(
        "`cargo build` produced no executable (only libraries or nothing); build a package with a binary, or pick one with --bin NAME or --example NAME"
    )]
    NoExecutable,
    /// The build produced several executables.
    #[error("`cargo build` produced {} executables ({}); pick one with --bin NAME or --example NAME", .names.len(), .names.join(", "))]
    SeveralExecutables {
        /// `name (kind of package)` for each.
        names: Vec<String>,
    },
}

/// What `cargo metadata` says about the project around the current directory.
#[derive(Debug, Clone)]
pub struct Project {
    /// The workspace root's Cargo.toml.
    pub workspace_manifest: PathBuf,
    /// The whole `[workspace.metadata]` table (JSON null when absent).
    pub workspace_metadata: Value,
    /// The package settings come from (`--package`, else the one around the current directory,
    /// else the root package); `None` in a virtual workspace when none applies.
    pub package: Option<ProjectPackage>,
    /// Where cargo puts build outputs.
    pub target_directory: PathBuf,
}

/// One package of the workspace.
#[derive(Debug, Clone)]
pub struct ProjectPackage {
    /// Package name.
    pub name: String,
    /// Its Cargo.toml.
    pub manifest_path: PathBuf,
    /// Its whole `[package.metadata]` table (JSON null when absent).
    pub metadata: Value,
}

/// The nearest Cargo.toml in `dir` or its ancestors, as cargo itself would find it.
pub fn find_manifest(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join("Cargo.toml"))
        .find(|candidate| candidate.is_file())
}

/// Run `cargo metadata --no-deps` and pick the package. Returns `Ok(None)` when there is no
/// Cargo project at all (no `manifest_path` given and no Cargo.toml above `cwd`), so that commands
/// on prebuilt files work anywhere.
pub fn project(
    cargo: &Path,
    manifest_path: Option<&Path>,
    package: Option<&str>,
    cwd: &Path,
) -> Result<Option<Project>, CargoError> {
    let manifest = match manifest_path {
        Some(path) => path.to_path_buf(),
        None => match find_manifest(cwd) {
            Some(path) => path,
            None => return Ok(None),
        },
    };
    let metadata = MetadataCommand::new()
        .cargo_path(cargo)
        .manifest_path(&manifest)
        .current_dir(cwd)
        .no_deps()
        .exec()
        .map_err(|e| metadata_error(&manifest, cargo, e))?;
    let selected = select_package(&metadata, package, cwd)?.map(|p| ProjectPackage {
        name: p.name.clone(),
        manifest_path: p.manifest_path.clone().into_std_path_buf(),
        metadata: p.metadata.clone(),
    });
    Ok(Some(Project {
        workspace_manifest: metadata
            .workspace_root
            .join("Cargo.toml")
            .into_std_path_buf(),
        workspace_metadata: metadata.workspace_metadata.clone(),
        package: selected,
        target_directory: metadata.target_directory.clone().into_std_path_buf(),
    }))
}

fn metadata_error(manifest: &Path, cargo: &Path, error: cargo_metadata::Error) -> CargoError {
    match error {
        cargo_metadata::Error::Io(source) => CargoError::Spawn {
            program: cargo.display().to_string(),
            source,
        },
        cargo_metadata::Error::CargoMetadata { stderr } => CargoError::Metadata {
            manifest: manifest.display().to_string(),
            detail: one_line(&stderr),
        },
        other => CargoError::Metadata {
            manifest: manifest.display().to_string(),
            detail: other.to_string(),
        },
    }
}

/// Cargo's multi-line error report as one line: `error:` prefixes and `Caused by:` headers
/// dropped, the causes joined with `: `.
pub fn one_line(stderr: &str) -> String {
    let parts: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && *line != "Caused by:")
        .map(|line| line.strip_prefix("error:").map(str::trim).unwrap_or(line))
        .collect();
    if parts.is_empty() {
        "cargo gave no reason".to_string()
    } else {
        parts.join(": ")
    }
}

/// The package cargo itself would build: `--package` (name, or `name@version`), else the member
/// whose directory holds `cwd` (the deepest one), else the root package.
pub fn select_package<'m>(
    metadata: &'m Metadata,
    spec: Option<&str>,
    cwd: &Path,
) -> Result<Option<&'m Package>, CargoError> {
    let members = metadata.workspace_packages();
    if let Some(spec) = spec {
        let (name, version) = match spec.split_once('@') {
            Some((name, version)) => (name, Some(version)),
            None => (spec, None),
        };
        let found = members.iter().find(|p| {
            p.name == name && version.is_none_or(|v| version_matches(&p.version.to_string(), v))
        });
        return match found {
            Some(package) => Ok(Some(package)),
            None => Err(CargoError::UnknownPackage {
                spec: spec.to_string(),
                workspace: metadata.workspace_root.to_string(),
                members: members
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        };
    }
    let around_cwd = members
        .iter()
        .filter_map(|p| {
            let dir = p.manifest_path.parent()?.as_std_path();
            cwd.starts_with(dir)
                .then_some((dir.components().count(), *p))
        })
        .max_by_key(|(depth, _)| *depth)
        .map(|(_, p)| p);
    Ok(around_cwd.or_else(|| metadata.root_package()))
}

/// True when `version` is `partial` or starts with it followed by a component boundary, as
/// cargo reads `name@1.2`: `1.2.3` matches, `1.20.0` does not.
fn version_matches(version: &str, partial: &str) -> bool {
    version
        .strip_prefix(partial)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '-', '+']))
}

/// What to build: cargo's own selection flags, passed through.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildOptions {
    /// `--manifest-path`.
    pub manifest_path: Option<PathBuf>,
    /// `--package`.
    pub package: Option<String>,
    /// `--release`.
    pub release: bool,
    /// `--profile`.
    pub profile: Option<String>,
    /// `--bin`.
    pub bin: Option<String>,
    /// `--example`.
    pub example: Option<String>,
    /// `--features` (each entry may itself be a space or comma separated list).
    pub features: Vec<String>,
    /// `--all-features`.
    pub all_features: bool,
    /// `--no-default-features`.
    pub no_default_features: bool,
    /// `--target`; `None` leaves the choice to cargo (`build.target` in `.cargo/config.toml`).
    pub target: Option<String>,
    /// `--target-dir`.
    pub target_dir: Option<PathBuf>,
    /// `--locked`.
    pub locked: bool,
    /// `--frozen`.
    pub frozen: bool,
    /// `--offline`.
    pub offline: bool,
    /// `-Z` flags.
    pub unstable: Vec<String>,
    /// Ask for diagnostics rendered with ANSI colours (for a terminal).
    pub ansi: bool,
}

impl BuildOptions {
    /// The arguments after `cargo`.
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["build".into(), "--message-format".into()];
        args.push(if self.ansi {
            "json-diagnostic-rendered-ansi".into()
        } else {
            "json".into()
        });
        let mut value = |flag: &str, v: &Option<String>| {
            if let Some(v) = v {
                args.push(flag.into());
                args.push(v.into());
            }
        };
        value("--package", &self.package);
        value("--profile", &self.profile);
        value("--bin", &self.bin);
        value("--example", &self.example);
        value("--target", &self.target);
        for path in [
            ("--manifest-path", &self.manifest_path),
            ("--target-dir", &self.target_dir),
        ] {
            if let (flag, Some(p)) = path {
                args.push(flag.into());
                args.push(p.into());
            }
        }
        if !self.features.is_empty() {
            args.push("--features".into());
            args.push(self.features.join(",").into());
        }
        for (flag, on) in [
            ("--release", self.release),
            ("--all-features", self.all_features),
            ("--no-default-features", self.no_default_features),
            ("--locked", self.locked),
            ("--frozen", self.frozen),
            ("--offline", self.offline),
        ] {
            if on {
                args.push(flag.into());
            }
        }
        for flag in &self.unstable {
            args.push("-Z".into());
            args.push(flag.into());
        }
        args
    }
}

/// What a build produced.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildOutput {
    /// The one executable (the firmware ELF).
    pub executable: PathBuf,
    /// Its target name (binary or example name).
    pub name: String,
    /// The second-stage bootloader ESP-IDF built (esp-idf-sys projects), if it exists.
    pub idf_bootloader: Option<PathBuf>,
    /// The partition table ESP-IDF built (esp-idf-sys projects), if it exists.
    pub idf_partition_table: Option<PathBuf>,
}

impl BuildOutput {
    /// What ESP-IDF built next to the firmware (esp-idf-sys projects), for the plan.
    pub fn idf(&self) -> IdfOutputs {
        IdfOutputs {
            bootloader: self.idf_bootloader.clone(),
            partition_table: self.idf_partition_table.clone(),
        }
    }
}

/// Files ESP-IDF built for an esp-idf-sys project: the second-stage bootloader and the
/// partition table a plan uses when the settings name none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdfOutputs {
    /// `bootloader/bootloader.bin`.
    pub bootloader: Option<PathBuf>,
    /// `partition_table/partition-table.bin`.
    pub partition_table: Option<PathBuf>,
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

/// Run `cargo build`, sending every rendered compiler message (and any non-JSON line) to
/// `on_diagnostic`, and return the single executable it produced.
pub fn build(
    cargo: &Path,
    options: &BuildOptions,
    on_diagnostic: &mut dyn FnMut(&str),
) -> Result<BuildOutput, CargoError> {
    let spawn_error = |source| CargoError::Spawn {
        program: cargo.display().to_string(),
        source,
    };
    let mut child = Command::new(cargo)
        .args(options.args())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .stdin(Stdio::null())
        .spawn()
        .map_err(spawn_error)?;
    let Some(stdout) = child.stdout.take() else {
        return Err(CargoError::Output(std::io::Error::other("no stdout pipe")));
    };
    let mut collected = Collected::default();
    let mut read_error = None;
    for message in Message::parse_stream(BufReader::new(stdout)) {
        match message {
            Ok(message) => collected.take(message, on_diagnostic),
            Err(e) => {
                read_error = Some(e);
                break;
            }
        }
    }
    // Leaving the loop dropped the pipe, so a cargo still writing gets EPIPE and ends: waiting
    // cannot hang. A read error comes first, as the failure it then causes is only its echo.
    let status = child.wait().map_err(CargoError::Output)?;
    if let Some(e) = read_error {
        return Err(CargoError::Output(e));
    }
    if !status.success() {
        return Err(CargoError::BuildFailed {
            status: status.to_string(),
        });
    }
    collected.finish()
}

/// What the message stream told us so far.
#[derive(Debug, Default)]
struct Collected {
    executables: Vec<(PathBuf, String, String)>,
    idf_out_dir: Option<PathBuf>,
}

impl Collected {
    fn take(&mut self, message: Message, on_diagnostic: &mut dyn FnMut(&str)) {
        match message {
            Message::CompilerMessage(m) => {
                if let Some(rendered) = &m.message.rendered {
                    on_diagnostic(rendered);
                }
            }
            Message::CompilerArtifact(artifact) => {
                let is_build_script = artifact
                    .target
                    .kind
                    .iter()
                    .any(|k| k.to_string() == "custom-build");
                if let (Some(executable), false) = (artifact.executable, is_build_script) {
                    let kind = artifact
                        .target
                        .kind
                        .first()
                        .map(|k| k.to_string())
                        .unwrap_or_default();
                    let package = package_name(&artifact.package_id.repr);
                    self.executables.push((
                        executable.into_std_path_buf(),
                        artifact.target.name.clone(),
                        format!("{} ({kind} of {package})", artifact.target.name),
                    ));
                }
            }
            Message::BuildScriptExecuted(script)
                if package_name(&script.package_id.repr) == "esp-idf-sys" =>
            {
                self.idf_out_dir = Some(script.out_dir.into_std_path_buf());
            }
            Message::TextLine(line) if !line.trim().is_empty() => on_diagnostic(&line),
            _ => {}
        }
    }

    fn finish(mut self) -> Result<BuildOutput, CargoError> {
        if self.executables.len() > 1 {
            return Err(CargoError::SeveralExecutables {
                names: self.executables.into_iter().map(|(_, _, n)| n).collect(),
            });
        }
        let Some((executable, name, _)) = self.executables.pop() else {
            return Err(CargoError::NoExecutable);
        };
        // esp-idf-sys builds ESP-IDF with CMake under its out dir; these are ESP-IDF's own paths.
        let idf_file = |relative: &str| {
            self.idf_out_dir
                .as_ref()
                .map(|dir| dir.join("build").join(relative))
                .filter(|path| path.is_file())
        };
        Ok(BuildOutput {
            idf_bootloader: idf_file("bootloader/bootloader.bin"),
            idf_partition_table: idf_file("partition_table/partition-table.bin"),
            executable,
            name,
        })
    }
}

/// The package name inside a cargo package id, in either of cargo's formats:
/// `registry+https://…#esp-idf-sys@0.36.1`, `path+file:///…/esp-idf-sys#0.36.1`, or the old
/// `esp-idf-sys 0.36.1 (registry+…)`.
pub fn package_name(id: &str) -> String {
    if let Some((source, fragment)) = id.rsplit_once('#') {
        return match fragment.split_once('@') {
            Some((name, _)) => name.to_string(),
            // `…/dir#1.0.0`: the fragment is only a version; the name is the last path segment.
            None => source
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or(source)
                .to_string(),
        };
    }
    id.split_whitespace().next().unwrap_or(id).to_string()
}

/// The target triple an executable was built for, read from where cargo put it below the target
/// directory (`<triple>/<profile>/<name>` or `<triple>/<profile>/examples/<name>`); `None` for a
/// host build (`<profile>/<name>`) or a path outside `target_directory`.
pub fn triple_from_path(executable: &Path, target_directory: &Path) -> Option<String> {
    let relative = executable.strip_prefix(target_directory).ok()?;
    let parts: Vec<String> = relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let cross = match parts.len() {
        0..=2 => false,
        3 => parts.get(1).is_some_and(|p| p != "examples"),
        _ => true,
    };
    parts.first().filter(|_| cross).cloned()
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
    fn package_names() {
        for (id, expected) in [
            (
                "registry+https://github.com/rust-lang/crates.io-index#esp-idf-sys@0.36.1",
                "esp-idf-sys",
            ),
            ("path+file:///home/u/esp-idf-sys#0.36.1", "esp-idf-sys"),
            ("path+file:///home/u/app#my-app@0.1.0", "my-app"),
            (
                "esp-idf-sys 0.33.0 (registry+https://github.com/rust-lang/crates.io-index)",
                "esp-idf-sys",
            ),
        ] {
            assert_eq!(package_name(id), expected, "{id}");
        }
    }

    #[test]
    fn package_versions() {
        for (version, partial, expected) in [
            ("1.2.3", "1.2.3", true),
            ("1.2.3", "1.2", true),
            ("1.2.3", "1", true),
            ("1.20.0", "1.2", false),
            ("11.0.0", "1", false),
            ("1.0.0-alpha.1", "1.0.0-alpha.1", true),
            ("1.0.0-alpha.1", "1.0.0", true),
            ("1.0.0", "1.0.0-alpha", false),
        ] {
            assert_eq!(
                version_matches(version, partial),
                expected,
                "{version} @ {partial}"
            );
        }
    }

    #[test]
    fn triples_from_paths() {
        let target = Path::new("/p/target");
        for (path, expected) in [
            (
                "/p/target/xtensa-esp32s3-none-elf/release/app",
                Some("xtensa-esp32s3-none-elf"),
            ),
            (
                "/p/target/xtensa-esp32s3-none-elf/debug/examples/blink",
                Some("xtensa-esp32s3-none-elf"),
            ),
            ("/p/target/debug/app", None),
            ("/p/target/debug/examples/blink", None),
            ("/elsewhere/app", None),
        ] {
            assert_eq!(
                triple_from_path(Path::new(path), target).as_deref(),
                expected,
                "{path}"
            );
        }
    }

    #[test]
    fn build_args() {
        let options = BuildOptions {
            release: true,
            bin: Some("app".into()),
            features: vec!["a b".into(), "c".into()],
            target: Some("xtensa-esp32s3-none-elf".into()),
            unstable: vec!["build-std=core".into()],
            ..BuildOptions::default()
        };
        let args: Vec<String> = options
            .args()
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "build",
                "--message-format",
                "json",
                "--bin",
                "app",
                "--target",
                "xtensa-esp32s3-none-elf",
                "--features",
                "a b,c",
                "--release",
                "-Z",
                "build-std=core"
            ]
        );
    }

    /// Feed cargo's JSON lines through the collector, as `build` does.
    fn collect(lines: &[String]) -> (Result<BuildOutput, CargoError>, Vec<String>) {
        let text = lines.join("\n");
        let mut collected = Collected::default();
        let mut diagnostics = Vec::new();
        for message in Message::parse_stream(text.as_bytes()) {
            let message = message.expect("in-memory read");
            collected.take(message, &mut |d| diagnostics.push(d.to_string()));
        }
        (collected.finish(), diagnostics)
    }

    fn artifact(package: &str, name: &str, kind: &str, executable: Option<&str>) -> String {
        serde_json::json!({
            "reason": "compiler-artifact",
            "package_id": format!("path+file:///w/{package}#0.1.0"),
            "manifest_path": format!("/w/{package}/Cargo.toml"),
            "target": {
                "name": name, "kind": [kind], "crate_types": [kind],
                "required-features": [], "src_path": "/w/src/main.rs", "edition": "2021",
                "doctest": false, "test": true, "doc": true
            },
            "profile": {
                "opt_level": "0", "debuginfo": 2, "debug_assertions": true,
                "overflow_checks": true, "test": false
            },
            "features": [], "filenames": [], "executable": executable, "fresh": false
        })
        .to_string()
    }

    #[test]
    fn messages_pick_the_executable_and_the_idf_outputs() {
        let out_dir = tempfile::tempdir().expect("temporary directory");
        let build = out_dir.path().join("build");
        std::fs::create_dir_all(build.join("bootloader")).expect("mkdir");
        std::fs::write(build.join("bootloader/bootloader.bin"), [0xE9]).expect("write");
        let script = serde_json::json!({
            "reason": "build-script-executed",
            "package_id": "registry+https://github.com/rust-lang/crates.io-index#esp-idf-sys@0.36.1",
            "linked_libs": [], "linked_paths": [], "cfgs": [], "env": [],
            "out_dir": out_dir.path().to_str().expect("utf-8 temp path")
        })
        .to_string();
        let diagnostic = serde_json::json!({
            "reason": "compiler-message",
            "package_id": "path+file:///w/app#0.1.0",
            "manifest_path": "/w/app/Cargo.toml",
            "target": {
                "name": "app", "kind": ["bin"], "crate_types": ["bin"],
                "required-features": [], "src_path": "/w/src/main.rs", "edition": "2021",
                "doctest": false, "test": true, "doc": true
            },
            "message": {
                "message": "unused variable", "code": null, "level": "warning",
                "spans": [], "children": [], "rendered": "warning: unused variable\n"
            }
        })
        .to_string();
        let (output, diagnostics) = collect(&[
            artifact(
                "esp-idf-sys",
                "build-script-build",
                "custom-build",
                Some("/t/build/x"),
            ),
            script,
            artifact("lib", "lib", "lib", None),
            diagnostic,
            "not json at all".to_string(),
            artifact(
                "app",
                "app",
                "bin",
                Some("/t/xtensa-esp32s3-espidf/debug/app"),
            ),
        ]);
        let output = output.expect("one executable");
        assert_eq!(
            output.executable,
            Path::new("/t/xtensa-esp32s3-espidf/debug/app")
        );
        assert_eq!(output.name, "app");
        assert_eq!(
            output.idf_bootloader,
            Some(build.join("bootloader/bootloader.bin"))
        );
        // The partition table file is absent, so it is not offered.
        assert_eq!(output.idf_partition_table, None);
        assert_eq!(
            diagnostics,
            ["warning: unused variable\n", "not json at all"]
        );

        let (output, _) = collect(&[
            artifact("a", "one", "bin", Some("/t/debug/one")),
            artifact("b", "demo", "example", Some("/t/debug/examples/demo")),
        ]);
        match output {
            Err(CargoError::SeveralExecutables { names }) => {
                assert_eq!(names, ["one (bin of a)", "demo (example of b)"])
            }
            other => panic!("expected several executables, got {other:?}"),
        }
        let (output, _) = collect(&[artifact("l", "l", "lib", None)]);
        assert!(matches!(output, Err(CargoError::NoExecutable)));
    }

    #[test]
    fn one_line_errors() {
        let stderr = "error: failed to parse manifest at `/x/Cargo.toml`\n\nCaused by:\n  missing field `name`\n";
        assert_eq!(
            one_line(stderr),
            "failed to parse manifest at `/x/Cargo.toml`: missing field `name`"
        );
    }
}
