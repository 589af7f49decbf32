//! The new user's story, with the real binary and the real `cargo new`: create a crate, run
//! `cargo esp32s3 init`, look at what it wrote, run it again (nothing changes, and it says so),
//! edit a file it wrote (kept unless --force), then configure a bootloader and flash an ELF onto
//! the virtual chip (`--port sim://?flash=FILE`): the flash must then hold a bootable layout.
//!
//! The flash runs twice: with a synthetic ELF and bootloader (always, so a fresh clone tests it)
//! and with ESP-IDF's hello_world ELF and its bootloader from the shared testdata (when present).

use std::path::{Path, PathBuf};
use std::process::Command;

use cargo_esp32s3::exit;
use cargo_esp32s3::image::info::{BinKind, ImageRole, inspect};
use toml_edit::DocumentMut;

#[path = "support/cli.rs"]
mod cli;
use cli::{Outcome, Run};

#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;
use synthetic_elf::{synthetic_bootloader, synthetic_elf};

#[path = "support/testdata.rs"]
mod testdata;
use testdata::testdata;

/// `cargo-esp32s3 esp32s3 ARGS...` in `dir`, as `cargo esp32s3 ARGS...` runs it.
fn tool(dir: &Path, args: &[&str]) -> Outcome {
    Run::new(dir, &["esp32s3"]).args(args).run()
}

/// Succeeded; its stdout.
fn ok(outcome: &Outcome) -> String {
    outcome.succeeds().stdout.clone()
}

/// The report lines of an init run, each trimmed.
fn lines(stdout: &str) -> Vec<String> {
    stdout.lines().map(|l| l.trim().to_string()).collect()
}

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A fresh crate from `cargo new`.
fn new_crate(parent: &Path, name: &str) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(parent)
        .args(["new", "--quiet", "--vcs", "none", name])
        .status()
        .expect("cargo new");
    assert!(status.success());
    parent.join(name)
}

#[test]
fn init_writes_the_files_once_and_keeps_the_users_edits() {
    let temp = tempfile::tempdir().unwrap();
    let dir = new_crate(temp.path(), "fw");
    let original_manifest = read(&dir, "Cargo.toml");

    let first = lines(&ok(&tool(&dir, &["init"])));
    assert_eq!(
        first,
        [
            "updated Cargo.toml ([package.metadata.esp32s3])",
            "created .cargo/config.toml ([build] target, runner)",
            "created partitions.csv (partition table)",
        ]
    );
    let manifest = read(&dir, "Cargo.toml");
    assert!(
        manifest.starts_with(&original_manifest),
        "the user's Cargo.toml is kept as it was, the table appended:\n{manifest}"
    );
    let doc: DocumentMut = manifest.parse().unwrap();
    let table = doc["package"]["metadata"]["esp32s3"]
        .as_table()
        .expect("[package.metadata.esp32s3]");
    assert_eq!(table["chip"].as_str(), Some("esp32s3"));
    assert_eq!(table["partition-table"].as_str(), Some("partitions.csv"));
    assert!(
        manifest.contains("# bootloader = \"bootloader.bin\""),
        "{manifest}"
    );
    let config: DocumentMut = read(&dir, ".cargo/config.toml").parse().unwrap();
    assert_eq!(
        config["build"]["target"].as_str(),
        Some("xtensa-esp32s3-none-elf")
    );
    assert_eq!(
        config["target"]["xtensa-esp32s3-none-elf"]["runner"].as_str(),
        Some("cargo esp32s3 flash --monitor")
    );
    assert_eq!(
        read(&dir, "partitions.csv"),
        include_str!("../templates/partitions-single-app.csv")
    );

    // The settings init wrote are valid for the tool itself.
    ok(&tool(&dir, &["partition-table", "partitions.csv"]));

    // A second run changes nothing, and says so.
    let before: Vec<String> = ["Cargo.toml", ".cargo/config.toml", "partitions.csv"]
        .iter()
        .map(|p| read(&dir, p))
        .collect();
    let second = lines(&ok(&tool(&dir, &["init"])));
    assert_eq!(
        second,
        [
            "unchanged Cargo.toml ([package.metadata.esp32s3])",
            "unchanged .cargo/config.toml ([build] target, runner)",
            "unchanged partitions.csv (partition table)",
            "Nothing to do: the crate is already set up for the ESP32-S3.",
        ]
    );
    let after: Vec<String> = ["Cargo.toml", ".cargo/config.toml", "partitions.csv"]
        .iter()
        .map(|p| read(&dir, p))
        .collect();
    assert_eq!(before, after);

    // An edited file is named and kept; --force puts the template back.
    let edited = "# mine\nnvs, data, nvs, 0x9000, 0x6000,\nfactory, app, factory, 0x10000, 1M,\n";
    std::fs::write(dir.join("partitions.csv"), edited).unwrap();
    let kept = lines(&ok(&tool(&dir, &["init"])));
    assert!(
        kept.contains(
            &"kept partitions.csv (partition table): differs from the template; --force replaces it"
                .to_string()
        ),
        "{kept:?}"
    );
    assert_eq!(read(&dir, "partitions.csv"), edited);
    let forced = lines(&ok(&tool(&dir, &["init", "--force"])));
    assert!(
        forced.contains(&"updated partitions.csv (partition table)".to_string()),
        "{forced:?}"
    );
    assert_eq!(
        read(&dir, "partitions.csv"),
        include_str!("../templates/partitions-single-app.csv")
    );

    // A conflicting target in the user's config is not overwritten, and the run fails saying so.
    std::fs::write(
        dir.join(".cargo/config.toml"),
        "[build]\ntarget = \"riscv32imac-unknown-none-elf\"\n",
    )
    .unwrap();
    let output = tool(&dir, &["init"]);
    output.fails(exit::FAILURE, &[]);
    assert_eq!(
        output.stderr.trim(),
        "error[ES0004]: 1 setting could not be applied because the crate already has another value (listed above); change it by hand or rerun with --force"
    );
    assert!(
        output.stdout.contains(
            "not set .cargo/config.toml ([build] target, runner): [build] target is \"riscv32imac-unknown-none-elf\""
        )
    );
    assert_eq!(
        read(&dir, ".cargo/config.toml"),
        "[build]\ntarget = \"riscv32imac-unknown-none-elf\"\n"
    );
}

#[test]
fn init_and_new_refuse_with_one_line() {
    let temp = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (
            vec!["init"],
            "error[ES0004]: no Cargo.toml in .; run `cargo esp32s3 init` in a crate's directory",
        ),
        (
            vec!["init", "--path", "nowhere"],
            "error[ES0004]: no Cargo.toml in nowhere;",
        ),
    ] {
        let output = tool(temp.path(), &args);
        output.fails(exit::FAILURE, &[expected]);
        let stderr = &output.stderr;
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with(expected), "{args:?}: {stderr}");
    }
    std::fs::create_dir(temp.path().join("taken")).unwrap();
    let output = tool(temp.path(), &["new", "taken"]);
    output.fails(exit::FAILURE, &[]);
    assert_eq!(
        output.stderr.trim(),
        "error[ES0004]: taken already exists; choose another name, or run `cargo esp32s3 init --path taken` to set up the crate there"
    );
}

#[test]
fn new_creates_and_sets_up_a_crate() {
    let temp = tempfile::tempdir().unwrap();
    let stdout = ok(&tool(
        temp.path(),
        &["new", "blinky", "--partitions", "two-ota"],
    ));
    assert!(
        stdout.contains("updated Cargo.toml ([package.metadata.esp32s3])"),
        "{stdout}"
    );
    let dir = temp.path().join("blinky");
    // `new` makes an esp-hal crate, in esp-generate's layout (`--std` keeps `cargo new`'s).
    assert!(dir.join("src/bin/main.rs").is_file());
    assert_eq!(
        read(&dir, "partitions.csv"),
        include_str!("../templates/partitions-two-ota.csv")
    );
}

/// `cargo new` + `init`, a bootloader configured, then `flash --port sim://?flash=FILE ELF`: the
/// flash file is a valid merged image with the bootloader at 0x0, the table at 0x8000 and the
/// app in `factory`. Then the boot log: `flash --monitor --until BOOTED` as typed, and the runner
/// line init wrote, run the way `cargo run` runs it (through `cargo`, which finds our binary on
/// PATH, with the port and the stop condition from the environment).
fn flash_in_a_new_crate(elf: &[u8], bootloader: &[u8], project_name: Option<&str>, booted: &str) {
    let temp = tempfile::tempdir().unwrap();
    let dir = new_crate(temp.path(), "fw");
    ok(&tool(&dir, &["init"]));
    std::fs::write(dir.join("bootloader.bin"), bootloader).unwrap();
    let manifest = read(&dir, "Cargo.toml").replace(
        "# bootloader = \"bootloader.bin\"",
        "bootloader = \"bootloader.bin\"",
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    let elf_path = temp.path().join("firmware.elf");
    std::fs::write(&elf_path, elf).unwrap();
    let flash_file = temp.path().join("flash.bin");
    let port = format!("sim://?flash={}", flash_file.display());

    let output = tool(
        &dir,
        &["flash", "--port", &port, elf_path.to_str().unwrap()],
    );
    ok(&output);
    output.stderr_has(&["Flashed 3 regions"]);

    let flash = std::fs::read(&flash_file).unwrap();
    let info = inspect(&flash).unwrap();
    assert_eq!(info.kind, BinKind::MergedImage);
    assert!(info.is_valid(), "{:?}", info.problems);
    assert_eq!(info.table_offset, Some(0x8000));
    let roles: Vec<(ImageRole, u32, bool, Option<bool>)> = info
        .images
        .iter()
        .map(|i| (i.role, i.flash_offset, i.checksum_valid(), i.digest_valid()))
        .collect();
    assert_eq!(
        roles.first().map(|r| (r.1, r.2, r.3)),
        Some((0x0, true, Some(true))),
        "{roles:?}"
    );
    assert!(
        roles.contains(&(ImageRole::App, 0x10000, true, Some(true))),
        "{roles:?}"
    );
    let table = info.partition_table.expect("the partition table");
    assert_eq!(
        table
            .app_partition(None)
            .map(|p| (p.name.clone(), p.offset))
            .ok(),
        Some(("factory".to_string(), 0x10000))
    );
    if let Some(name) = project_name {
        let app = info
            .images
            .iter()
            .find(|i| i.role == ImageRole::App)
            .unwrap();
        assert_eq!(
            app.app_desc.as_ref().map(|d| d.project_name.as_str()),
            Some(name)
        );
    }

    // The monitor sees the chip boot what was flashed (all regions unchanged now).
    let output = tool(
        &dir,
        &[
            "flash",
            "--port",
            &port,
            elf_path.to_str().unwrap(),
            "--monitor",
            "--non-interactive",
            "--until",
            booted,
            "--timeout",
            "30",
        ],
    );
    let stdout = ok(&output);
    let booted_line = regex::Regex::new(booted).unwrap();
    assert!(stdout.contains("ESP-ROM:esp32s3"), "{stdout}");
    assert!(stdout.lines().any(|l| booted_line.is_match(l)), "{stdout}");

    // The runner, as `cargo run` uses it: the runner's words, then the ELF.
    let config: DocumentMut = read(&dir, ".cargo/config.toml").parse().unwrap();
    let runner = config["target"]["xtensa-esp32s3-none-elf"]["runner"]
        .as_str()
        .expect("runner")
        .to_string();
    let words: Vec<&str> = runner.split_whitespace().collect();
    let (program, args) = words.split_first().unwrap();
    let our_bin = Path::new(cli::binary()).parent().unwrap().to_path_buf();
    let path = std::env::join_paths(std::iter::once(our_bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let output = Run::program(program, &dir, args)
        .args([&elf_path])
        .env("PATH", path)
        .env("ESP32S3_PORT", &port)
        .env("ESP32S3_MONITOR_UNTIL", booted)
        .env("ESP32S3_MONITOR_TIMEOUT", "30")
        .run();
    let stdout = ok(&output);
    assert!(stdout.lines().any(|l| booted_line.is_match(l)), "{stdout}");
    output.stderr_has(&["skipped (unchanged)"]);
}

#[test]
fn a_new_crate_flashes_a_bootable_layout_onto_the_virtual_chip() {
    // The ROM loads the synthetic bootloader (which prints nothing of its own).
    flash_in_a_new_crate(
        &synthetic_elf(),
        &synthetic_bootloader(),
        None,
        "^entry 0x403c8000$",
    );
    let Some(testdata) = testdata() else {
        return;
    };
    let dir = testdata.join("firmware/esp-idf-hello_world-esp32s3");
    let elf = std::fs::read(dir.join("hello_world.elf")).unwrap();
    let bootloader = std::fs::read(dir.join("bootloader.bin")).unwrap();
    flash_in_a_new_crate(
        &elf,
        &bootloader,
        Some("hello_world"),
        r"main_task: Calling app_main\(\)",
    );
}

/// The library facade an xtask uses lays out and writes the same bytes as the command line, and
/// keeps the command line's rule that an app alone goes only onto a chip that can boot it.
#[test]
fn the_library_facade_flashes_what_the_command_line_flashes() {
    use cargo_esp32s3::flasher::Event;
    use cargo_esp32s3::image::FlashSize;
    use cargo_esp32s3::plan::Placement;
    use cargo_esp32s3::reset::After;
    use cargo_esp32s3::{Board, Project};

    let temp = tempfile::tempdir().unwrap();
    let dir = new_crate(temp.path(), "fw");
    ok(&tool(&dir, &["init"]));
    std::fs::write(dir.join("bootloader.bin"), synthetic_bootloader()).unwrap();
    let manifest = read(&dir, "Cargo.toml");
    std::fs::write(
        dir.join("Cargo.toml"),
        manifest.replace(
            "# bootloader = \"bootloader.bin\"",
            "bootloader = \"bootloader.bin\"",
        ),
    )
    .unwrap();
    let elf_path = temp.path().join("firmware.elf");
    std::fs::write(&elf_path, synthetic_elf()).unwrap();

    // The command line's flash.
    let cli_flash = temp.path().join("cli.bin");
    let port = format!("sim://?flash={}", cli_flash.display());
    ok(&tool(
        &dir,
        &["flash", "--port", &port, elf_path.to_str().unwrap()],
    ));

    // The facade's.
    let project = Project::discover(&dir).unwrap();
    assert_eq!(project.package_name(), "fw");
    assert_eq!(
        project.settings().bootloader.as_deref(),
        Some(dir.canonicalize().unwrap().join("bootloader.bin").as_path())
    );
    let plan = project.plan(&elf_path).unwrap();
    assert_eq!(plan.placement(), Placement::Layout);
    let offsets: Vec<u32> = plan.regions().iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [0x0, 0x8000, 0x10000]);
    let lib_flash = temp.path().join("lib.bin");
    let url = format!("sim://?flash={}", lib_flash.display());
    let mut board = Board::open(&url, project.settings()).unwrap();
    let mut started = Vec::new();
    let summary = board
        .flash(&plan, |event| {
            if let Event::RegionStarted { offset, .. } = event {
                started.push(offset);
            }
        })
        .unwrap();
    assert_eq!((summary.written, summary.skipped), (3, 0));
    assert_eq!(started, [0x0, 0x8000, 0x10000]);
    board.reset(After::HardReset).unwrap();
    drop(board);
    assert!(
        std::fs::read(&cli_flash).unwrap() == std::fs::read(&lib_flash).unwrap(),
        "the facade and the command line wrote different flash contents"
    );

    // The app alone: refused on a blank chip, written (here: found unchanged) on one that boots it.
    let mut bare = project.clone();
    bare.settings_mut().bootloader = None;
    let app_only = bare.plan(&elf_path).unwrap();
    assert_eq!(app_only.placement(), Placement::AppAlone);
    assert_eq!(app_only.regions().len(), 1);
    let blank = temp.path().join("blank.bin");
    let mut board = Board::open(
        &format!("sim://?flash={}", blank.display()),
        bare.settings(),
    )
    .unwrap();
    let error = board.flash(&app_only, |_| {}).unwrap_err().to_string();
    assert_eq!(
        error,
        "the chip has no bootloader at 0x0 (flash there starts ff ff ff ff); set `bootloader` in [package.metadata.esp32s3] (or pass --bootloader, or set Settings::bootloader in a script) to a second-stage bootloader .bin or ELF so the bootloader and partition table are flashed too (an ESP-IDF build leaves them at target/<triple>/<profile>/build/esp-idf-sys-*/out/build/bootloader/bootloader.bin and .../partition_table/partition-table.bin; set `partition-table` for the latter); nothing was written"
    );
    assert_eq!(
        board.read_flash(0x10000, 16, |_| {}).unwrap(),
        vec![0xFF; 16]
    );
    let mut board = Board::open(&url, bare.settings()).unwrap();
    let summary = board.flash(&app_only, |_| {}).unwrap();
    assert_eq!((summary.written, summary.skipped), (0, 1));

    // On a chip whose own table puts the app elsewhere, the app alone goes where that table says.
    let moved = "nvs, data, nvs, 0x9000, 0x6000,\nfactory, app, factory, 0x20000, 0x100000,\n";
    std::fs::write(dir.join("moved.csv"), moved).unwrap();
    let mut layout = project.clone();
    layout.settings_mut().partition_table = Some(dir.join("moved.csv"));
    let moved_flash = temp.path().join("moved.bin");
    let moved_url = format!("sim://?flash={}", moved_flash.display());
    let mut board = Board::open(&moved_url, layout.settings()).unwrap();
    board
        .flash(&layout.plan(&elf_path).unwrap(), |_| {})
        .unwrap();
    board.erase_region(0x20000, 0x10000, |_| {}).unwrap();
    let summary = board.flash(&app_only, |_| {}).unwrap();
    assert_eq!((summary.written, summary.skipped), (1, 0));
    // Laid out for the chip's 8 MB flash, as the command line does.
    let chip_size = FlashSize::from_bytes(u64::from(board.flash_size())).unwrap();
    let for_chip = app_only.for_flash_size(chip_size).unwrap();
    assert_eq!(for_chip.flash_size().bytes(), 8 << 20);
    let app = &for_chip.app().unwrap().bytes;
    let len = u32::try_from(app.len()).unwrap();
    assert_eq!(&board.read_flash(0x20000, len, |_| {}).unwrap(), app);
    assert_eq!(
        board.read_flash(0x10000, 16, |_| {}).unwrap(),
        vec![0xFF; 16]
    );

    // No project: one line that says what to do.
    let nowhere = tempfile::tempdir().unwrap();
    let error = Project::discover(nowhere.path()).unwrap_err().to_string();
    assert!(
        error.starts_with("no Cargo.toml in ")
            && error.ends_with("; run this inside a Cargo package, or create one with `cargo new`"),
        "{error}"
    );
}
