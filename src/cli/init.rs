//! `init` (in an existing crate) and `new NAME --std` (`cargo new`, then `init`): set a crate up
//! for the ESP32-S3 from the files in `templates/`. `new NAME` (an esp-hal crate) writes its files
//! in `new.rs` and is then set up here.
//!
//! What it writes: `[package.metadata.esp32s3]` with commented defaults in Cargo.toml, the target
//! and the runner in `.cargo/config.toml`, a `partitions.csv`, and with `--xtask` an `xtask/`
//! crate that uses this library (plus its alias and its workspace membership). TOML files are
//! edited with `toml_edit`, so the user's formatting and comments stay as they were.
//!
//! The rules: everything is planned before anything is written; a second run changes nothing and
//! says so; a file or setting the user already has with other content is kept and named (and
//! replaced only with `--force`). Files that are wholly ours (`partitions.csv`, the xtask crate)
//! are simply kept; a conflicting setting that the setup needs (the build target, the runner,
//! the alias, the workspace membership) makes the command exit non-zero after the rest is done,
//! because what was asked could not be done.

use std::path::{Path, PathBuf};
use std::process::Command;

use toml_edit::{Array, DocumentMut, Item, Table, value};

use super::CliError;
use super::context::cargo_program;

/// The firmware target every generated file names.
pub const TARGET: &str = "xtensa-esp32s3-none-elf";
/// The runner `cargo run` calls with the ELF path.
pub const RUNNER: &str = "cargo esp32s3 flash --monitor";
/// The `cargo xtask` alias. `--target host-tuple` builds the xtask for the host even though
/// `[build] target` names the chip.
pub const XTASK_ALIAS: &str = "run --package xtask --target host-tuple --";

const METADATA_TEMPLATE: &str = include_str!("../../templates/package-metadata.toml");
const CONFIG_TEMPLATE: &str = include_str!("../../templates/cargo-config.toml");
const XTASK_MANIFEST_TEMPLATE: &str = include_str!("../../templates/xtask/Cargo.toml");
const XTASK_MAIN_TEMPLATE: &str = include_str!("../../templates/xtask/src/main.rs");
const SINGLE_APP_TABLE: &str = include_str!("../../templates/partitions-single-app.csv");
const TWO_OTA_TABLE: &str = include_str!("../../templates/partitions-two-ota.csv");
/// Where the xtask manifest template takes the library dependency.
const DEPENDENCY_PLACEHOLDER: &str = "{{cargo-esp32s3}}";

/// Which partition table to start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Partitions {
    /// One factory app partition up to the end of a 4 MB flash.
    SingleApp,
    /// Two OTA app slots and otadata, no factory app.
    TwoOta,
}

/// Options shared by `init` and `new`.
#[derive(Debug, Clone, clap::Args)]
pub struct SetupArgs {
    /// Also write an xtask crate (`cargo xtask flash`, `cargo xtask test-on-device`)
    #[arg(long)]
    pub xtask: bool,
    /// Replace files and settings that differ from the templates
    #[arg(long)]
    pub force: bool,
    /// The partition table to start from
    #[arg(long, value_enum, default_value = "single-app")]
    pub partitions: Partitions,
    /// Make the xtask depend on the cargo-esp32s3 library at DIR (a checkout) [default: the
    /// source this tool was built from]
    #[arg(long, value_name = "DIR")]
    pub library_path: Option<PathBuf>,
}

/// Arguments of `init`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 init                  set up the crate in the current directory
  cargo esp32s3 init --xtask          also add an xtask crate (cargo xtask flash / test-on-device)
  cargo esp32s3 init --path fw --force

Running it again changes nothing. Files and settings you changed are kept (and named) unless you
pass --force.")]
pub struct InitArgs {
    /// The crate's directory
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub path: PathBuf,
    /// What to write.
    #[command(flatten)]
    pub setup: SetupArgs,
}

/// Arguments of `new`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 new blinky            a no_std esp-hal crate for the ESP32-S3, set up like init
  cargo esp32s3 new blinky --xtask    with an xtask crate too
  cargo esp32s3 new app --std         cargo new app, then cargo esp32s3 init in it

The esp-hal crate has the layout esp-generate writes for a minimal app: src/bin/main.rs (with the
app descriptor ESP-IDF's bootloader checks, esp-println and esp-backtrace), src/lib.rs, build.rs
(esp-hal's linker script), .cargo/config.toml (the xtensa-esp32s3-none-elf target, build-std and
`runner = \"cargo esp32s3 flash --monitor\"`) and rust-toolchain.toml (the esp toolchain:
install it with `espup install`). Then `cargo run --release` builds, flashes and monitors it.")]
pub struct NewArgs {
    /// Name (and directory) of the new crate
    pub name: String,
    /// Make the crate with `cargo new` (a std `main`) and set it up like `init`, instead of the
    /// no_std esp-hal crate
    #[arg(long)]
    pub std: bool,
    /// What to write.
    #[command(flatten)]
    pub setup: SetupArgs,
}

/// What happens to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It did not exist and is written.
    Create,
    /// It exists and is edited (or replaced with --force).
    Update,
    /// It already says what the templates say.
    Unchanged,
    /// It differs and is left alone; the text says how.
    Kept(String),
    /// A setting the setup needs differs and is left alone; the command fails at the end.
    Conflict(String),
}

/// One planned file.
#[derive(Debug, Clone)]
pub struct Change {
    /// Relative to the crate's directory.
    pub path: PathBuf,
    /// What happens.
    pub outcome: Outcome,
    /// The new contents (for Create and Update).
    pub contents: Option<String>,
    /// What the change is about (`[package.metadata.esp32s3]`, `runner`, …), for the report.
    pub what: String,
}

/// `init`.
pub fn run_init(args: InitArgs) -> super::Result<()> {
    setup(&args.path, &args.setup)
}

/// `new`: the esp-hal crate ([`super::new`]), or with `--std` `cargo new NAME`, then `init` in
/// it.
pub fn run_new(args: NewArgs) -> super::Result<()> {
    if !args.std {
        return super::new::run_esp_hal(args);
    }
    let dir = PathBuf::from(&args.name);
    if dir.exists() {
        return Err(CliError::Refused(format!(
            "{} already exists; choose another name, or run `cargo esp32s3 init --path {}` to set up the crate there",
            args.name, args.name
        )));
    }
    let cargo = cargo_program();
    let status = Command::new(&cargo)
        .arg("new")
        .arg("--bin")
        .arg(&args.name)
        .status()
        .map_err(|e| {
            CliError::Refused(format!(
                "cannot run {} ({e}); install Rust with rustup or set CARGO",
                cargo.display()
            ))
        })?;
    if !status.success() {
        return Err(CliError::Refused(format!(
            "`cargo new {}` failed ({status}); see its message above",
            args.name
        )));
    }
    setup(&dir, &args.setup)
}

/// Plan, write, report.
pub fn setup(dir: &Path, options: &SetupArgs) -> super::Result<()> {
    let changes = plan(dir, options)?;
    apply(dir, &changes)?;
    let mut conflicts = 0;
    for change in &changes {
        outln!("{}", report_line(change));
        if matches!(change.outcome, Outcome::Conflict(_)) {
            conflicts += 1;
        }
    }
    if changes.iter().all(|c| c.outcome == Outcome::Unchanged) {
        outln!("Nothing to do: the crate is already set up for the ESP32-S3.");
    }
    if conflicts > 0 {
        return Err(CliError::Refused(format!(
            "{conflicts} setting{} could not be applied because the crate already has another value (listed above); change {} by hand or rerun with --force",
            if conflicts == 1 { "" } else { "s" },
            if conflicts == 1 { "it" } else { "them" }
        )));
    }
    Ok(())
}

/// `created   .cargo/config.toml ([build] target, runner)`.
pub fn report_line(change: &Change) -> String {
    let (word, note) = match &change.outcome {
        Outcome::Create => ("created", String::new()),
        Outcome::Update => ("updated", String::new()),
        Outcome::Unchanged => ("unchanged", String::new()),
        Outcome::Kept(why) => ("kept", format!(": {why}")),
        Outcome::Conflict(why) => ("not set", format!(": {why}")),
    };
    format!(
        "{word:>9} {} ({}){note}",
        change.path.display(),
        change.what
    )
}

/// Write the Create and Update changes. Every file was planned first, so a bad Cargo.toml stops
/// the command before anything is written.
pub fn apply(dir: &Path, changes: &[Change]) -> super::Result<()> {
    for change in changes {
        let (Outcome::Create | Outcome::Update, Some(contents)) =
            (&change.outcome, &change.contents)
        else {
            continue;
        };
        let path = dir.join(&change.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| cargo_esp32s3::Error::file("create", parent, e))?;
        }
        std::fs::write(&path, contents)
            .map_err(|e| cargo_esp32s3::Error::file("write", &path, e))?;
    }
    Ok(())
}

/// Decide every change without writing anything.
pub fn plan(dir: &Path, options: &SetupArgs) -> super::Result<Vec<Change>> {
    let manifest_path = dir.join("Cargo.toml");
    let manifest_text = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::Refused(format!(
                "no Cargo.toml in {}; run `cargo esp32s3 init` in a crate's directory (or pass --path), or create a crate with `cargo esp32s3 new NAME`",
                dir.display()
            )));
        }
        Err(e) => return Err(cargo_esp32s3::Error::file("read", &manifest_path, e).into()),
    };
    let mut changes = Vec::new();
    changes.extend(plan_manifest(&manifest_path, &manifest_text, dir, options)?);
    changes.push(plan_cargo_config(dir, options)?);
    let table = match options.partitions {
        Partitions::SingleApp => SINGLE_APP_TABLE,
        Partitions::TwoOta => TWO_OTA_TABLE,
    };
    changes.push(plan_whole_file(
        dir,
        "partitions.csv",
        table,
        "partition table",
        options.force,
    )?);
    if options.xtask {
        // Without --library-path, a dependency chosen in an earlier run (a path, a version)
        // stays: only an explicit --library-path changes it.
        let dependency = match (&options.library_path, existing_dependency(dir)) {
            (None, Some(existing)) => existing,
            (path, _) => xtask_dependency(path.as_deref())?,
        };
        changes.push(plan_whole_file(
            dir,
            "xtask/Cargo.toml",
            &XTASK_MANIFEST_TEMPLATE.replace(DEPENDENCY_PLACEHOLDER, &dependency),
            "xtask crate",
            options.force,
        )?);
        changes.push(plan_whole_file(
            dir,
            "xtask/src/main.rs",
            XTASK_MAIN_TEMPLATE,
            "cargo xtask flash, test-on-device",
            options.force,
        )?);
    }
    Ok(changes)
}

/// The `cargo-esp32s3` dependency of an existing `xtask/Cargo.toml`, as written there.
fn existing_dependency(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("xtask/Cargo.toml")).ok()?;
    let doc = text.parse::<DocumentMut>().ok()?;
    let item = doc.get("dependencies")?.get("cargo-esp32s3")?;
    Some(item.as_value()?.to_string().trim().to_string())
}

/// The dependency line for the xtask: a path to the library's source, `library_path` or else the
/// source this binary was built from (`cargo install --path` leaves it where it was; a registry
/// install keeps it in cargo's registry cache). The library is not on crates.io, so a version
/// requirement would leave the user's workspace unable to build at all: without a source this
/// is refused instead.
fn xtask_dependency(library_path: Option<&Path>) -> super::Result<String> {
    let path = match library_path {
        Some(path) => path,
        None => {
            let built_from = Path::new(env!("CARGO_MANIFEST_DIR"));
            if !is_library_source(built_from) {
                return Err(CliError::Refused(format!(
                    "--xtask needs the cargo-esp32s3 library, which is not published on crates.io, and the source this tool was built from ({}) is gone; pass --library-path DIR with a cargo-esp32s3 checkout",
                    built_from.display()
                )));
            }
            built_from
        }
    };
    let absolute = path
        .canonicalize()
        .map_err(|e| cargo_esp32s3::Error::file("read", path, e))?;
    if !absolute.join("Cargo.toml").is_file() {
        return Err(CliError::BadArgument(format!(
            "--library-path {}: no Cargo.toml there; give the directory of a cargo-esp32s3 checkout",
            path.display()
        )));
    }
    let mut inline = toml_edit::InlineTable::new();
    inline.insert("path", absolute.display().to_string().into());
    // A script needs the library, not the command line's crates (clap, terminals, bars).
    inline.insert("default-features", false.into());
    Ok(inline.to_string().trim().to_string())
}

/// A directory whose Cargo.toml is the cargo-esp32s3 package.
fn is_library_source(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .ok()
        .and_then(|text| text.parse::<DocumentMut>().ok())
        .and_then(|doc| {
            doc.get("package")?
                .get("name")?
                .as_str()
                .map(|name| name == env!("CARGO_PKG_NAME"))
        })
        .unwrap_or(false)
}

/// Cargo.toml: the metadata table, and with --xtask the workspace membership.
fn plan_manifest(
    path: &Path,
    text: &str,
    dir: &Path,
    options: &SetupArgs,
) -> super::Result<Vec<Change>> {
    let doc = parse(path, text)?;
    let Some(package) = doc.get("package").and_then(Item::as_table_like) else {
        return Err(CliError::Refused(format!(
            "{} has no [package] (a virtual workspace?); run init in the directory of the firmware crate",
            path.display()
        )));
    };
    let has_metadata = package
        .get("metadata")
        .and_then(Item::as_table_like)
        .is_some_and(|m| m.contains_key(cargo_esp32s3::config::TABLE));
    let mut changes = Vec::new();
    let mut new_text = text.to_string();
    let mut what = Vec::new();
    if !has_metadata {
        // Appended as text so the template's comments come out as written; then checked by
        // parsing, which catches a `metadata = { ... }` inline table the header would clash with.
        if !new_text.ends_with('\n') && !new_text.is_empty() {
            new_text.push('\n');
        }
        new_text.push_str(METADATA_TEMPLATE);
        let checked = new_text.parse::<DocumentMut>();
        if checked.is_err() {
            changes.push(Change {
                path: "Cargo.toml".into(),
                outcome: Outcome::Conflict(
                    "[package] defines `metadata` inline, so the table cannot be added; add [package.metadata.esp32s3] by hand (see `cargo esp32s3 --help`)".into(),
                ),
                contents: None,
                what: "[package.metadata.esp32s3]".into(),
            });
            new_text = text.to_string();
        } else {
            what.push("[package.metadata.esp32s3]");
        }
    }
    if options.xtask {
        match add_workspace_member(&new_text, path, dir)? {
            Membership::Added(text) => {
                new_text = text;
                what.push("workspace member xtask");
            }
            Membership::Present => {}
            Membership::Conflict(why) => changes.push(Change {
                path: "Cargo.toml".into(),
                outcome: Outcome::Conflict(why),
                contents: None,
                what: "workspace member xtask".into(),
            }),
        }
    }
    let outcome = if new_text == text {
        Outcome::Unchanged
    } else {
        Outcome::Update
    };
    let what = if what.is_empty() {
        let mut done = vec!["[package.metadata.esp32s3]"];
        if options.xtask {
            done.push("workspace member xtask");
        }
        done.join(", ")
    } else {
        what.join(", ")
    };
    changes.insert(
        0,
        Change {
            path: "Cargo.toml".into(),
            contents: (outcome == Outcome::Update).then_some(new_text),
            outcome,
            what,
        },
    );
    // A conflict line and an "unchanged" line for the same file say the same twice.
    if changes.len() > 1
        && changes
            .first()
            .is_some_and(|c| c.outcome == Outcome::Unchanged)
    {
        changes.remove(0);
    }
    Ok(changes)
}

enum Membership {
    Added(String),
    Present,
    Conflict(String),
}

/// Make `xtask` a member of the workspace whose root is this Cargo.toml.
fn add_workspace_member(text: &str, path: &Path, dir: &Path) -> super::Result<Membership> {
    let mut doc = parse(path, text)?;
    if doc.get("workspace").is_none() {
        // A crate inside another workspace cannot become a workspace root itself.
        let parent = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.parent().map(Path::to_path_buf))
            .and_then(|p| cargo_esp32s3::cargo::find_manifest(&p))
            .filter(|m| {
                std::fs::read_to_string(m)
                    .ok()
                    .and_then(|t| t.parse::<DocumentMut>().ok())
                    .is_some_and(|d| d.get("workspace").is_some())
            });
        if let Some(root) = parent {
            return Ok(Membership::Conflict(format!(
                "the crate belongs to the workspace of {}; add \"xtask\" (with its path) to that workspace's members by hand",
                root.display()
            )));
        }
        // Appended as text, so it lands at the end of the file where a reader looks for it.
        let mut text = text.to_string();
        if !text.ends_with('\n') && !text.is_empty() {
            text.push('\n');
        }
        text.push_str("\n# Written by `cargo esp32s3 init --xtask`: the xtask crate builds with this one.\n[workspace]\nmembers = [\"xtask\"]\n");
        return Ok(Membership::Added(text));
    }
    let Some(workspace) = doc.get_mut("workspace").and_then(Item::as_table_like_mut) else {
        return Ok(Membership::Conflict(
            "`workspace` in Cargo.toml is not a table; add xtask to the workspace members by hand"
                .into(),
        ));
    };
    match workspace.get_mut("members") {
        None => {
            let mut members = Array::new();
            members.push("xtask");
            workspace.insert("members", value(members));
        }
        Some(item) => {
            let Some(members) = item.as_array_mut() else {
                return Ok(Membership::Conflict(
                    "[workspace] members is not an array; add \"xtask\" to it by hand".into(),
                ));
            };
            if members.iter().any(|m| m.as_str() == Some("xtask")) {
                return Ok(Membership::Present);
            }
            members.push("xtask");
        }
    }
    Ok(Membership::Added(doc.to_string()))
}

/// `.cargo/config.toml`: the target, the runner and (with --xtask) the alias, merged into
/// what is there.
fn plan_cargo_config(dir: &Path, options: &SetupArgs) -> super::Result<Change> {
    let rel = PathBuf::from(".cargo/config.toml");
    let path = dir.join(&rel);
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(cargo_esp32s3::Error::file("read", &path, e).into()),
    };
    let base = existing
        .clone()
        .unwrap_or_else(|| CONFIG_TEMPLATE.to_string());
    let mut doc = parse(&path, &base)?;
    let mut conflicts = Vec::new();
    let mut set = |doc: &mut DocumentMut, keys: &[&str], wanted: &str, name: &str| {
        let current = lookup(doc, keys);
        match current {
            Some(Some(value)) if value == wanted => {}
            Some(other) if !options.force => conflicts.push(format!(
                "{name} is {} (init sets {wanted:?})",
                other.map_or_else(|| "not a string".to_string(), |v| format!("{v:?}"))
            )),
            _ => insert(doc, keys, wanted),
        }
    };
    set(&mut doc, &["build", "target"], TARGET, "[build] target");
    set(
        &mut doc,
        &["target", TARGET, "runner"],
        RUNNER,
        &format!("[target.{TARGET}] runner"),
    );
    if options.xtask {
        set(&mut doc, &["alias", "xtask"], XTASK_ALIAS, "[alias] xtask");
    }
    let mut what = vec!["[build] target", "runner"];
    if options.xtask {
        what.push("[alias] xtask");
    }
    let new_text = doc.to_string();
    let outcome = if !conflicts.is_empty() {
        Outcome::Conflict(conflicts.join("; "))
    } else if existing.is_none() {
        Outcome::Create
    } else if existing.as_deref() == Some(new_text.as_str()) {
        Outcome::Unchanged
    } else {
        Outcome::Update
    };
    // With a conflict nothing in the file changes: a half-merged config is worse than none.
    let contents = matches!(outcome, Outcome::Create | Outcome::Update).then_some(new_text);
    Ok(Change {
        path: rel,
        outcome,
        contents,
        what: what.join(", "),
    })
}

/// `None`: the key is absent; `Some(None)`: present but not a string; `Some(Some(s))`: a string.
fn lookup(doc: &DocumentMut, keys: &[&str]) -> Option<Option<String>> {
    let mut item: &Item = doc.as_item();
    for key in keys {
        item = item.as_table_like()?.get(key)?;
    }
    Some(item.as_str().map(str::to_string))
}

/// Set a string at a dotted path, creating the tables on the way.
fn insert(doc: &mut DocumentMut, keys: &[&str], wanted: &str) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut table: &mut dyn toml_edit::TableLike = doc.as_table_mut();
    for key in parents {
        let entry = table.entry(key).or_insert_with(|| {
            let mut t = Table::new();
            // `[target.xtensa-esp32s3-none-elf]` rather than an empty `[target]` above it.
            t.set_implicit(true);
            Item::Table(t)
        });
        if entry.as_table_like().is_none() {
            *entry = Item::Table(Table::new());
        }
        let Some(next) = entry.as_table_like_mut() else {
            return;
        };
        table = next;
    }
    table.insert(last, value(wanted));
}

/// A file that is ours as a whole: create it, keep a differing one (or replace it with --force).
fn plan_whole_file(
    dir: &Path,
    rel: &str,
    template: &str,
    what: &str,
    force: bool,
) -> super::Result<Change> {
    let path = dir.join(rel);
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Some(String::new()),
        Err(e) => return Err(cargo_esp32s3::Error::file("read", &path, e).into()),
    };
    let outcome = match existing {
        None => Outcome::Create,
        Some(text) if text == template => Outcome::Unchanged,
        Some(_) if force => Outcome::Update,
        Some(_) => Outcome::Kept("differs from the template; --force replaces it".into()),
    };
    Ok(Change {
        path: rel.into(),
        contents: matches!(outcome, Outcome::Create | Outcome::Update)
            .then(|| template.to_string()),
        outcome,
        what: what.into(),
    })
}

fn parse(path: &Path, text: &str) -> super::Result<DocumentMut> {
    text.parse::<DocumentMut>().map_err(|e| {
        let message = e.to_string();
        let first = message
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("invalid TOML");
        CliError::Refused(format!(
            "cannot read {} as TOML ({}); fix it and run again",
            path.display(),
            first.trim()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(xtask: bool, force: bool) -> SetupArgs {
        SetupArgs {
            xtask,
            force,
            partitions: Partitions::SingleApp,
            library_path: None,
        }
    }

    /// Plan on a crate made of `files`, apply, and return (report lines, files after).
    fn run(files: &[(&str, &str)], options: &SetupArgs) -> (Vec<String>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let changes = plan(dir.path(), options).unwrap();
        apply(dir.path(), &changes).unwrap();
        (changes.iter().map(report_line).collect(), dir)
    }

    fn read(dir: &tempfile::TempDir, path: &str) -> String {
        std::fs::read_to_string(dir.path().join(path)).unwrap()
    }

    const MANIFEST: &str = "[package]\nname = \"fw\" # my comment\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n";

    #[test]
    fn config_merge_keeps_the_users_settings_and_comments() {
        let existing = "# mine\n[build]\nrustflags = [\"-C\", \"link-arg=-Tlinkall.x\"] # keep\n\n[env]\nESP_LOG = \"info\"\n";
        let (lines, dir) = run(
            &[("Cargo.toml", MANIFEST), (".cargo/config.toml", existing)],
            &options(true, false),
        );
        let text = read(&dir, ".cargo/config.toml");
        assert!(text.starts_with("# mine\n[build]\nrustflags"), "{text}");
        assert!(text.contains("# keep"), "{text}");
        assert!(text.contains("ESP_LOG = \"info\""), "{text}");
        let doc: DocumentMut = text.parse().unwrap();
        assert_eq!(
            lookup(&doc, &["build", "target"]),
            Some(Some(TARGET.into()))
        );
        assert_eq!(
            lookup(&doc, &["target", TARGET, "runner"]),
            Some(Some(RUNNER.into()))
        );
        assert_eq!(
            lookup(&doc, &["alias", "xtask"]),
            Some(Some(XTASK_ALIAS.into()))
        );
        assert!(!text.contains("[target]\n"), "{text}");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("  updated .cargo/config.toml")),
            "{lines:?}"
        );
    }

    #[test]
    fn conflicting_settings_are_named_and_left_alone_unless_forced() {
        let existing = "[build]\ntarget = \"riscv32imac-unknown-none-elf\"\n";
        for (force, expect_line, expect_target) in [
            (
                false,
                "  not set .cargo/config.toml ([build] target, runner): [build] target is \"riscv32imac-unknown-none-elf\" (init sets \"xtensa-esp32s3-none-elf\")",
                "riscv32imac-unknown-none-elf",
            ),
            (
                true,
                "  updated .cargo/config.toml ([build] target, runner)",
                TARGET,
            ),
        ] {
            let (lines, dir) = run(
                &[("Cargo.toml", MANIFEST), (".cargo/config.toml", existing)],
                &options(false, force),
            );
            assert!(lines.iter().any(|l| l == expect_line), "{lines:?}");
            let doc: DocumentMut = read(&dir, ".cargo/config.toml").parse().unwrap();
            assert_eq!(
                lookup(&doc, &["build", "target"]),
                Some(Some(expect_target.into()))
            );
        }
    }

    #[test]
    fn manifest_gets_the_table_and_the_member_once() {
        let cases: [(&str, &str); 3] = [
            (MANIFEST, "[workspace]\nmembers = [\"xtask\"]\n"),
            (
                "[package]\nname = \"fw\"\nversion = \"0.1.0\"\n\n[workspace]\nmembers = [\"lib\"]\n",
                "members = [\"lib\", \"xtask\"]",
            ),
            (
                "[package]\nname = \"fw\"\nversion = \"0.1.0\"\n\n[package.metadata.esp32s3]\nbaud = 921600\n\n[workspace]\nmembers = [\"xtask\"]\n",
                "baud = 921600",
            ),
        ];
        for (manifest, expected) in cases {
            let (_, dir) = run(&[("Cargo.toml", manifest)], &options(true, false));
            let text = read(&dir, "Cargo.toml");
            assert!(text.contains(expected), "{text}");
            assert_eq!(
                text.matches("[package.metadata.esp32s3]").count(),
                1,
                "{text}"
            );
            assert!(text.starts_with(manifest.lines().next().unwrap()), "{text}");
            let doc: DocumentMut = text.parse().unwrap();
            assert!(doc["package"]["metadata"]["esp32s3"].is_table_like());
            // A second run over the result changes nothing.
            let changes = plan(dir.path(), &options(true, false)).unwrap();
            assert!(
                changes.iter().all(|c| c.outcome == Outcome::Unchanged),
                "{changes:?}"
            );
        }
    }

    #[test]
    fn a_second_xtask_run_keeps_the_dependency_chosen_first() {
        let library = tempfile::tempdir().unwrap();
        std::fs::write(library.path().join("Cargo.toml"), "[package]\n").unwrap();
        let first = SetupArgs {
            library_path: Some(library.path().to_path_buf()),
            ..options(true, false)
        };
        let (_, dir) = run(&[("Cargo.toml", MANIFEST)], &first);
        let written = read(&dir, "xtask/Cargo.toml");
        let expected = format!(
            "cargo-esp32s3 = {{ path = \"{}\", default-features = false }}",
            library.path().canonicalize().unwrap().display()
        );
        assert!(written.contains(&expected), "{written}");
        let changes = plan(dir.path(), &options(true, false)).unwrap();
        assert!(
            changes.iter().all(|c| c.outcome == Outcome::Unchanged),
            "{changes:?}"
        );
        // Without any earlier choice the source this binary was built from is used (the
        // library is not on crates.io: a version requirement would not build).
        let (_, fresh) = run(&[("Cargo.toml", MANIFEST)], &options(true, false));
        let text = read(&fresh, "xtask/Cargo.toml");
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .canonicalize()
            .unwrap();
        let expected = format!(
            "cargo-esp32s3 = {{ path = \"{}\", default-features = false }}",
            source.display()
        );
        assert!(text.contains(&expected), "{text}");
        assert!(is_library_source(&source));
        assert!(!is_library_source(fresh.path()));
    }

    #[test]
    fn errors_name_the_problem() {
        for (manifest, expected) in [
            (None, "no Cargo.toml in"),
            (
                Some("[workspace]\nmembers = [\"a\"]\n"),
                "has no [package] (a virtual workspace?)",
            ),
            (Some("[package\nname = 1"), "as TOML ("),
        ] {
            let dir = tempfile::tempdir().unwrap();
            if let Some(text) = manifest {
                std::fs::write(dir.path().join("Cargo.toml"), text).unwrap();
            }
            let error = plan(dir.path(), &options(false, false))
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{error}");
            assert_eq!(error.lines().count(), 1, "{error}");
        }
    }
}
