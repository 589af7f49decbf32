//! The daily flash workflow on the virtual chip, end to end: a bootloader kept before an erase and
//! written back onto the blank chip with the next app; bootloaders imported from a merged image
//! and a build folder; a program run from RAM (the test reads the virtual chip's RAM and the entry
//! it jumped to) and a flash-mapped ELF refused; partitions erased while flashing; `verify`
//! passing and failing; a protocol trace that decodes every command; and the board utilities.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use cargo_esp32s3::config::Settings;
use cargo_esp32s3::image::info::{BinKind, ImageRole, inspect};
use cargo_esp32s3::plan::{PlanError, RamImage};
use cargo_esp32s3::protocol::command::Opcode;
use cargo_esp32s3::reset::Before;
use cargo_esp32s3::transport::sim::SimTransport;
use cargo_esp32s3::transport::{Transport, TransportError};
use cargo_esp32s3::{Board, Error, Event, exit};

#[path = "support/cli.rs"]
mod cli;
use cli::Bench;

#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;
use synthetic_elf::{
    RAM_ELF_ENTRY, app_image, bootloader_with_descriptor, offset0_image, ram_sections,
    synthetic_elf, synthetic_elf_with, synthetic_ram_elf,
};

#[path = "support/testdata.rs"]
mod testdata;

/// Size of the simulated flash ([`Bench::new`]'s 8 MB).
const SIM_SIZE: usize = 8 << 20;

/// The chip's flash (erased when nothing was ever written).
fn flash_contents(bench: &Bench) -> Vec<u8> {
    let mut bytes = bench.flash_file().unwrap_or_default();
    bytes.resize(SIM_SIZE, 0xFF);
    bytes
}

fn is_erased(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0xFF)
}

/// `cargo esp32s3 bootloader list` of the bench's cache, one line per kept bootloader.
fn kept(bench: &Bench) -> Vec<String> {
    let out = bench.run(&["bootloader", "list"]);
    out.succeeds();
    out.stdout.lines().map(str::to_string).collect()
}

/// The id at the start of a `bootloader list` line.
fn id_of(line: &str) -> String {
    line.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn an_erased_bootloader_is_kept_and_a_blank_chip_gets_it_back_with_the_next_app() {
    // A 4 MB chip for the 4 MB image: its bootloader is written exactly as it is (a larger
    // chip's size would be written into its header), so the kept copy equals the file's.
    let bench = Bench::with_size("4MB");
    let bootloader = bootloader_with_descriptor("v5.5.1");
    let merged = bench.write(
        "fw.bin",
        &offset0_image(&bootloader, &app_image(9, 0), 4 << 20),
    );
    bench.on_chip(&["flash", &merged]).succeeds();
    assert!(
        kept(&bench).is_empty(),
        "nothing kept before anything was erased"
    );

    // The whole-chip erase keeps the ESP32-S3 bootloader it erases, and says so.
    let erase = bench.on_chip(&["erase"]);
    erase.succeeds();
    erase.stderr_has(&[
        "Kept the chip's bootloader (ESP-IDF v5.5.1) as ",
        "before erasing it",
    ]);
    assert!(is_erased(&flash_contents(&bench)));
    let list = kept(&bench);
    assert_eq!(list.len(), 1, "{list:?}");
    for part in [
        "ESP-IDF v5.5.1",
        "kept from the chip 7c:df:a1:00:00:01 on sim://",
        "before an erase",
    ] {
        assert!(list[0].contains(part), "{part:?} not in {list:?}");
    }
    assert!(
        list[0].ends_with("(newest: used for blank chips)"),
        "{list:?}"
    );
    let id = id_of(&list[0]);
    let image = std::fs::read(
        bench
            .cache_dir()
            .join("bootloaders")
            .join(format!("{id}.bin")),
    )
    .expect("the kept image");
    assert_eq!(
        image, bootloader,
        "the kept bytes are the bootloader that was on the chip"
    );

    // Erasing it again keeps nothing new.
    bench.on_chip(&["flash", &merged]).succeeds();
    bench
        .on_chip(&["erase"])
        .stderr_has(&["is kept already, as ", &id]);
    assert_eq!(kept(&bench).len(), 1);

    // A later flash of an app onto the blank chip, with no `bootloader` set, uses it: one line
    // with where it came from, then bootloader, partition table and app are written.
    let elf = bench.write("app.elf", &synthetic_elf());
    let flash = bench.on_chip(&["flash", &elf]);
    flash.succeeds();
    flash.stderr_has(&[
        "note: the chip has no bootloader and none is configured: writing the newest kept one, ",
        &id,
        "(ESP-IDF v5.5.1; kept from the chip 7c:df:a1:00:00:01 on sim://",
        "Flashed 3 regions",
    ]);
    let chip = flash_contents(&bench);
    let info = inspect(&chip).expect("the flash reads as a merged image");
    assert_eq!(info.kind, BinKind::MergedImage);
    assert!(info.is_valid(), "{:?}", info.problems);
    let roles: Vec<(ImageRole, u32)> = info
        .images
        .iter()
        .map(|i| (i.role, i.flash_offset))
        .collect();
    assert_eq!(
        roles,
        [(ImageRole::Bootloader, 0), (ImageRole::App, 0x10000)]
    );
    assert_eq!(
        info.images[0]
            .bootloader_desc
            .as_ref()
            .map(|d| d.idf_ver.as_str()),
        Some("v5.5.1")
    );

    // Flashing a different bootloader keeps the one it replaces (here: kept already).
    let newer = bench.write("newer.bin", &bootloader_with_descriptor("v6.0"));
    let replace = bench.on_chip(&["flash", "--at", "0x0", &newer]);
    replace.succeeds();
    replace.stderr_has(&["The chip's bootloader (ESP-IDF v5.5.1) is kept already"]);
    let again = bench.on_chip(&["flash", "--at", "0x0", &merged]);
    again.succeeds();
    again.stderr_has(&[
        "Kept the chip's bootloader (ESP-IDF v6.0) as ",
        "before writing another one over it",
    ]);
    assert_eq!(kept(&bench).len(), 2);
    // The same bootloader written again keeps nothing.
    let same = bench.on_chip(&["flash", "--at", "0x0", &merged]);
    same.succeeds();
    assert!(!same.stderr.contains("Kept the chip's"), "{}", same.stderr);
}

#[test]
fn a_blank_chip_with_nothing_kept_lists_every_way_to_get_a_bootloader() {
    let bench = Bench::new();
    // An ESP-IDF project somewhere under the home folder has built a bootloader.
    let homes = tempfile::tempdir().unwrap();
    let home = homes.path().join("home");
    let found = home.join("esp/blink/build/bootloader/bootloader.bin");
    std::fs::create_dir_all(found.parent().unwrap()).unwrap();
    std::fs::write(&found, bootloader_with_descriptor("v5.3")).unwrap();
    let elf = bench.write("app.elf", &synthetic_elf());
    let port = bench.port();
    let out = bench
        .cmd(&["flash", &elf, "--port", &port])
        .env("HOME", &home)
        .run();
    let line = out.fails(
        1,
        &[
            "the chip has no bootloader at 0x0 (flash there starts ff ff ff ff)",
            "set `bootloader` in [package.metadata.esp32s3] (or pass --bootloader",
            "bootloader/bootloader.bin",
            "cargo esp32s3 bootloader import FILE",
            "cargo esp32s3 bootloader save",
            "ESP32-S3 bootloaders found on this machine",
            "nothing was written",
        ],
    );
    assert!(
        line.contains("esp/blink/build/bootloader/bootloader.bin"),
        "{line}"
    );
    assert_eq!(
        line.matches("bootloader/bootloader.bin").count(),
        2,
        "named once: {line}"
    );
    assert!(is_erased(&flash_contents(&bench)));
    // With nothing on the machine either, it says that too.
    let empty = homes.path().join("empty-home");
    std::fs::create_dir_all(&empty).unwrap();
    bench
        .cmd(&["flash", &elf, "--port", &port])
        .env("HOME", &empty)
        .run()
        .fails(
            1,
            &["no ESP32-S3 bootloader image was found on this machine"],
        );
    // Importing the one it named makes the same command work.
    bench
        .run(&["bootloader", "import", found.to_str().unwrap()])
        .succeeds()
        .stdout_has(&["ESP-IDF v5.3"]);
    bench.on_chip(&["flash", &elf]).succeeds();
}

#[test]
fn bootloaders_are_imported_from_a_merged_image_a_build_folder_or_a_bin() {
    let bench = Bench::new();
    let bootloader = bootloader_with_descriptor("v5.4.2");
    let merged = bench.write(
        "micro.bin",
        &offset0_image(&bootloader, &app_image(9, 0), 4 << 20),
    );
    let out = bench.run(&["bootloader", "import", &merged]);
    out.succeeds();
    out.stdout_has(&["Kept ", "micro.bin (ESP-IDF v5.4.2, "]);
    let list = kept(&bench);
    assert_eq!(list.len(), 1);
    assert!(list[0].contains("imported from "), "{list:?}");
    assert!(list[0].contains("micro.bin (merged image)"), "{list:?}");
    // What was cut out of the merged image is the bootloader, exactly.
    let show = bench.run(&["bootloader", "show"]);
    show.succeeds();
    show.stdout_has(&[
        "esp-idf:     v5.4.2",
        "built:       Sep 11 2025 05:06:05",
        "entry:       0x403c8000",
    ]);
    let id = id_of(&list[0]);
    let kept_image = std::fs::read(
        bench
            .cache_dir()
            .join("bootloaders")
            .join(format!("{id}.bin")),
    )
    .unwrap();
    assert_eq!(kept_image, bootloader);
    // The same bytes again: kept once.
    bench
        .run(&["bootloader", "import", &merged])
        .succeeds()
        .stdout_has(&["is kept already, as "]);

    // An ESP-IDF build folder.
    bench.write(
        "proj/build/bootloader/bootloader.bin",
        &bootloader_with_descriptor("v5.1"),
    );
    bench
        .run(&["bootloader", "import", "proj/build"])
        .succeeds()
        .stdout_has(&["ESP-IDF v5.1"]);
    let list = kept(&bench);
    assert!(
        list.iter().any(|l| l.contains("(build folder)")),
        "{list:?}"
    );
    // `show` takes the start of an id when it is unique.
    let imported = list
        .iter()
        .map(|l| id_of(l))
        .find(|i| *i != id)
        .expect("the second id");
    let prefix = &imported[..imported.len() - 2];
    if !id.starts_with(prefix) {
        bench
            .run(&["bootloader", "show", prefix])
            .succeeds()
            .stdout_has(&[&format!("id:          {imported}")]);
    }

    // `bootloader save` reads it from a board; a blank board has none to save.
    let port = bench.port();
    bench.run(&["bootloader", "save", "--port", &port]).fails(
        1,
        &[
            "has no ESP32-S3 bootloader at 0x0",
            "bootloader import FILE",
        ],
    );
    let other = bench.write(
        "other.bin",
        &offset0_image(
            &bootloader_with_descriptor("v4.4"),
            &app_image(9, 0),
            4 << 20,
        ),
    );
    bench.on_chip(&["flash", &other]).succeeds();
    let saved = bench.run(&["bootloader", "save", "--port", &port]);
    saved.succeeds();
    saved.stdout_has(&["Kept the chip's bootloader (ESP-IDF v4.4, "]);
    assert!(
        kept(&bench)[0].contains("saved from the chip 7c:df:a1:00:00:01 on sim://"),
        "{:?}",
        kept(&bench)
    );

    // What is not a bootloader is refused, saying what it is.
    let app = bench.write("app.bin", &app_image(9, 0));
    bench.run(&["bootloader", "import", &app]).fails(
        exit::IMAGE,
        &["app.bin is not an ESP32-S3 bootloader", "app image"],
    );
    std::fs::create_dir_all(bench.path("empty")).unwrap();
    bench.run(&["bootloader", "import", "empty"]).fails(
        exit::IMAGE,
        &["no bootloader in empty", "bootloader/bootloader.bin"],
    );
    bench
        .run(&["bootloader", "show", "nope"])
        .fails(exit::USAGE, &["no kept bootloader has the id \"nope\""]);

    // MicroPython's real firmware image, when the shared testdata is there.
    if let Some(micropython) = testdata::micropython() {
        let file = bench.write("mp.bin", &micropython);
        let out = bench.run(&["bootloader", "import", &file]);
        out.succeeds();
        out.stdout_has(&["ESP-IDF v"]);
        let info = inspect(&micropython).unwrap();
        let size = info.images[0].total_len as u64;
        out.stdout_has(&[&cargo_esp32s3::units::human_size(size)]);
        let show = bench.run(&["bootloader", "show"]);
        show.succeeds();
        show.stdout_has(&["(merged image)", &format!("size:        {size} bytes")]);
    }
}

/// A transport that forwards to a virtual chip the test keeps a handle on.
struct Shared(Arc<Mutex<SimTransport>>);

impl Shared {
    fn with<R>(&self, f: impl FnOnce(&mut SimTransport) -> R) -> R {
        f(&mut self.0.lock().expect("the chip"))
    }
}

impl Transport for Shared {
    fn read(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
        self.with(|t| t.read(buf, deadline))
    }
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.with(|t| t.write_all(bytes))
    }
    fn flush(&mut self) -> Result<(), TransportError> {
        self.with(|t| t.flush())
    }
    fn clear_input(&mut self) -> Result<(), TransportError> {
        self.with(|t| t.clear_input())
    }
    fn set_dtr(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.with(|t| t.set_dtr(asserted))
    }
    fn set_rts(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.with(|t| t.set_rts(asserted))
    }
    fn set_baud(&mut self, baud: u32) -> Result<(), TransportError> {
        self.with(|t| t.set_baud(baud))
    }
    fn baud(&self) -> u32 {
        self.with(|t| t.baud())
    }
    fn describe(&self) -> String {
        self.with(|t| t.describe())
    }
    fn time(&self) -> cargo_esp32s3::transport::LinkTime {
        self.with(|t| t.time())
    }
    fn pause(&mut self, duration: std::time::Duration) {
        self.with(|t| t.pause(duration))
    }
}

#[test]
fn a_ram_elf_is_loaded_into_ram_and_started_without_touching_the_flash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ram.elf");
    std::fs::write(&path, synthetic_ram_elf()).unwrap();
    let image = RamImage::from_elf(&path).expect("all sections are in RAM");
    assert_eq!(image.entry, RAM_ELF_ENTRY);
    // Neighbouring sections go in one MEM_BEGIN.
    assert_eq!(image.segments.len(), 2);

    let chip = Arc::new(Mutex::new(SimTransport::open("sim://").unwrap()));
    let settings = Settings {
        before: Before::NoReset,
        baud: 115_200,
        ..Settings::default()
    };
    let mut board = Board::open_on(Box::new(Shared(Arc::clone(&chip))), &settings, |_| {})
        .expect("connect to the virtual chip");
    let mut events = Vec::new();
    board
        .run_from_ram(&image, |e| events.push(e))
        .expect("load and start");
    assert_eq!(
        events.last(),
        Some(&Event::RamStarted {
            entry: RAM_ELF_ENTRY
        })
    );
    drop(board);
    let port = chip.lock().unwrap();
    let chip = port.chip();
    // What the chip holds in RAM, and where it jumped, are the ELF's.
    for (name, addr, data) in ram_sections() {
        let mut ram = vec![0u8; data.len()];
        chip.read_memory(addr, &mut ram);
        assert_eq!(ram, data, "{}", String::from_utf8_lossy(name));
    }
    assert_eq!(chip.ram_entry(), Some(RAM_ELF_ENTRY));
    assert!(is_erased(chip.flash().contents()), "the flash was touched");
}

#[test]
fn an_elf_with_flash_mapped_sections_is_refused_for_ram() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.elf");
    // Its code in flash (IROM) is the first flash-mapped section (no app descriptor before it).
    std::fs::write(&path, synthetic_elf_with(None)).unwrap();
    match RamImage::from_elf(&path) {
        Err(Error::Plan(PlanError::RamImage { problem, .. })) => {
            for part in [
                ".text",
                "0x42000020",
                "maps from flash",
                "IROM",
                "without --ram",
            ] {
                assert!(problem.contains(part), "{part:?} not in {problem}");
            }
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The command line says the same, exits 5, and never connects.
    let bench = Bench::new();
    let elf = bench.write("app.elf", &synthetic_elf_with(None));
    let out = bench.on_chip(&["flash", "--ram", &elf]);
    out.fails(
        exit::IMAGE,
        &["app.elf cannot run from RAM", "maps from flash"],
    );
    assert!(!out.stderr.contains("Connecting"), "{}", out.stderr);
    bench.assert_flash_untouched();
}

#[test]
fn flash_ram_then_monitor_on_the_same_connection() {
    let bench = Bench::new();
    let elf = bench.write("ram.elf", &synthetic_ram_elf());
    let out = bench
        .cmd(&[
            "flash",
            "--ram",
            &elf,
            "--monitor",
            "--non-interactive",
            "--until",
            "ping",
            "--timeout",
            "20",
            "--port",
            "sim://",
        ])
        .stdin(b"ping\r")
        .run();
    out.succeeds();
    out.stderr_has(&[
        "Loaded 9 KiB into RAM at 0x40380000",
        "Loaded 64 bytes into RAM at 0x3fca0000",
        "Started the program at 0x40380008",
        "monitoring the program started from RAM",
    ]);
    // The program's console (the virtual chip echoes, as for every app it cannot run).
    out.stdout_has(&["ping"]);
}

/// The default table's data partitions for a 4 MB flash: nvs at 0x9000 (24 KiB), phy_init at
/// 0xF000 (4 KiB).
const NVS: (usize, usize) = (0x9000, 0x6000);
const PHY: (usize, usize) = (0xF000, 0x1000);

#[test]
fn erase_parts_while_flashing_erases_only_those_partitions() {
    let bench = Bench::new();
    let bootloader = bench.write("bl.bin", &bootloader_with_descriptor("v5.5.1"));
    let elf = bench.write("app.elf", &synthetic_elf());
    let data = bench.write("data.bin", &[0x42; 0x1000]);
    let layout = [
        "flash",
        &elf,
        "--bootloader",
        &bootloader,
        "--flash-size",
        "4MB",
    ];
    let with = |extra: &[&str]| {
        let mut args = layout.to_vec();
        args.extend_from_slice(extra);
        bench.on_chip(&args)
    };
    let prepare = || {
        with(&[]).succeeds();
        bench
            .on_chip(&["flash", "--at", "0x9000", &data, "--at", "0xf000", &data])
            .succeeds();
        let chip = flash_contents(&bench);
        assert!(!is_erased(&chip[NVS.0..NVS.0 + 0x1000]));
        assert!(!is_erased(&chip[PHY.0..PHY.0 + PHY.1]));
        chip
    };
    let before = prepare();
    let out = with(&["--erase-parts", "nvs"]);
    out.succeeds();
    out.stderr_has(&["Erasing partition nvs (0x9000, 24 KiB)"]);
    let after = flash_contents(&bench);
    assert!(is_erased(&after[NVS.0..NVS.0 + NVS.1]), "nvs is erased");
    // Everything else is as it was: phy_init's data, bootloader, table, app.
    assert_eq!(after[..NVS.0], before[..NVS.0]);
    assert_eq!(after[NVS.0 + NVS.1..], before[NVS.0 + NVS.1..]);

    // By data type: `phy` erases phy_init and nothing else.
    let before = prepare();
    with(&["--erase-data-parts", "phy"])
        .succeeds()
        .stderr_has(&["Erasing partition phy_init (0xf000, 4 KiB)"]);
    let after = flash_contents(&bench);
    assert!(is_erased(&after[PHY.0..PHY.0 + PHY.1]));
    assert_eq!(after[..PHY.0], before[..PHY.0]);
    assert_eq!(after[PHY.0 + PHY.1..], before[PHY.0 + PHY.1..]);

    // A name the table does not have is refused before any chip is touched.
    let before = flash_contents(&bench);
    let out = with(&["--erase-parts", "nvs,otadata"]);
    out.fails(
        exit::USAGE,
        &[
            "--erase-parts otadata",
            "the partition table being written has no partition \"otadata\"",
            "nvs, phy_init, factory",
        ],
    );
    assert!(!out.stderr.contains("Connecting"), "{}", out.stderr);
    with(&["--erase-data-parts", "frobs"]).fails(
        exit::USAGE,
        &["--erase-data-parts frobs: not a data partition type", "nvs"],
    );
    assert_eq!(flash_contents(&bench), before);

    // An app written alone erases partitions of the chip's own table.
    let before = prepare();
    bench
        .on_chip(&["flash", &elf, "--erase-parts", "phy_init"])
        .succeeds()
        .stderr_has(&["Erasing partition phy_init (0xf000, 4 KiB)"]);
    let after = flash_contents(&bench);
    assert!(is_erased(&after[PHY.0..PHY.0 + PHY.1]));
    assert_eq!(after[NVS.0..NVS.0 + NVS.1], before[NVS.0..NVS.0 + NVS.1]);

    // `erase --partition` takes several names, and checks them all first.
    prepare();
    bench
        .on_chip(&["erase", "--partition", "nvs,phy_init"])
        .succeeds();
    let after = flash_contents(&bench);
    assert!(is_erased(&after[NVS.0..PHY.0 + PHY.1]));
    let before = prepare();
    bench
        .on_chip(&["erase", "--partition", "nvs", "--partition", "nope"])
        .fails(exit::USAGE, &["no partition \"nope\""]);
    assert_eq!(flash_contents(&bench), before);
}

#[test]
fn verify_passes_on_what_was_flashed_and_names_the_first_difference() {
    let bench = Bench::new();
    let image = offset0_image(
        &bootloader_with_descriptor("v5.5.1"),
        &app_image(9, 0),
        4 << 20,
    );
    let fw = bench.write("fw.bin", &image);
    // Before anything is written: it differs, exit 7, nothing is written.
    bench.on_chip(&["verify", &fw]).fails(
        exit::FLASH,
        &["the chip does not hold merged image from", "0x0"],
    );
    bench.assert_flash_untouched();

    bench.on_chip(&["flash", &fw]).succeeds();
    let ok = bench.on_chip(&["verify", &fw]);
    ok.succeeds();
    ok.stdout_has(&["matches"]);
    ok.stderr_has(&["Verified 1 region: the chip holds what `flash` would write"]);
    let flashed = flash_contents(&bench);

    // Four bytes changed in the app, 0x2344 bytes into it: named, down to its 4 KiB.
    let junk = bench.write("junk.bin", &[0x00; 4]);
    bench
        .on_chip(&["flash", "--at", "0x12344", &junk])
        .succeeds();
    let out = bench.on_chip(&["verify", &fw]);
    out.fails(
        exit::FLASH,
        &[
            "merged image from",
            "fw.bin at 0x0",
            "the first difference is in the 4 KiB at 0x12000",
        ],
    );
    out.stdout_has(&["DIFFERS (first difference in the 4 KiB at 0x12000)"]);
    // verify wrote nothing.
    let mut expected = flashed.clone();
    expected[0x12344..0x12348].copy_from_slice(&[0; 4]);
    assert_eq!(flash_contents(&bench), expected);

    // --at pairs are compared too.
    let app = bench.write("app.bin", &app_image(9, 0));
    bench
        .on_chip(&["verify", "--at", "0x20000", &app])
        .fails(exit::FLASH, &["0x20000"]);
    bench
        .on_chip(&["verify", "--at", "0x12344", &junk])
        .succeeds();
}

#[test]
fn a_trace_of_a_flash_decodes_every_command() {
    let bench = Bench::new();
    let image = offset0_image(
        &bootloader_with_descriptor("v5.5.1"),
        &app_image(9, 0),
        4 << 20,
    );
    let fw = bench.write("fw.bin", &image);
    let trace_path = bench.path("flash.trace");
    let out = bench.on_chip(&["flash", &fw, "--trace", trace_path.to_str().unwrap()]);
    out.succeeds();
    let trace = std::fs::read_to_string(&trace_path).expect("the trace file");
    assert!(
        trace.starts_with("# cargo-esp32s3 protocol trace of sim://"),
        "{trace}"
    );
    let names: Vec<&str> = Opcode::ALL.iter().map(|o| o.name()).collect();
    let mut commands = Vec::new();
    let mut replies = 0;
    for line in trace.lines().skip(1) {
        let (time, rest) = line.split_once("] ").expect("a timestamp");
        assert!(
            time.starts_with('[') && time[1..].trim().parse::<f64>().is_ok(),
            "{line}"
        );
        if let Some(packet) = rest.strip_prefix("host→chip ") {
            let (decoded, raw) = packet.split_once(" | ").expect("decoded | raw");
            let name = decoded.split_whitespace().next().unwrap_or_default();
            assert!(names.contains(&name), "not decoded: {line}");
            assert!(raw.starts_with("00 "), "raw bytes of a command: {line}");
            commands.push(name.to_string());
        } else if let Some(packet) = rest.strip_prefix("chip→host ") {
            if packet.starts_with("console ") {
                continue;
            }
            let (decoded, _raw) = packet.split_once(" | ").expect("decoded | raw");
            let name = decoded.split_whitespace().next().unwrap_or_default();
            assert!(names.contains(&name), "reply not decoded: {line}");
            assert!(decoded.contains("status=ok"), "{line}");
            replies += 1;
        }
    }
    for expected in [
        "SYNC",
        "GET_SECURITY_INFO",
        "READ_REG",
        "CHANGE_BAUDRATE",
        "SPI_ATTACH",
        "SPI_SET_PARAMS",
        "SPI_FLASH_MD5",
        "FLASH_DEFL_BEGIN",
        "FLASH_DEFL_DATA",
        "WRITE_REG",
    ] {
        assert!(
            commands.iter().any(|c| c == expected),
            "no {expected} in {commands:?}"
        );
    }
    assert!(replies >= commands.len(), "every command was answered");
    assert!(
        trace.contains("FLASH_DEFL_BEGIN size=0x"),
        "fields are decoded"
    );
    assert!(trace.contains("lines DTR="), "line changes are traced");
    assert!(trace.trim_end().ends_with("end of trace"));
}

#[test]
fn errors_that_end_a_connection_point_to_the_trace() {
    let bench = Bench::new();
    // A chip that boots from its (blank) flash and is not reset never answers SYNC.
    let args = [
        "board-info",
        "--port",
        "sim://?mode=spi",
        "--before",
        "no-reset",
        "--connect-attempts",
        "1",
    ];
    let line = bench
        .run(&args)
        .fails(exit::CONNECT, &["run again with --trace FILE"]);
    assert!(line.contains("attach FILE to a bug report"), "{line}");
    let trace = bench.path("fail.trace");
    let mut with_trace = args.to_vec();
    with_trace.extend(["--trace", trace.to_str().unwrap()]);
    bench
        .run(&with_trace)
        .fails(exit::CONNECT, &["the protocol trace is in", "fail.trace"]);
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(text.contains("host→chip SYNC"), "{text}");
}

#[test]
fn board_utilities() {
    let bench = Bench::new();
    let port = bench.port();
    // checksum-md5 of erased flash: the MD5 of 0xFF bytes.
    let md5 = bench.run(&["checksum-md5", "0x1000", "0x100", "--port", &port]);
    md5.succeeds();
    assert_eq!(md5.stdout.trim(), "827f263ef9fb63d05499d14fcef32f60");
    // read-mem: the chip-detect word and the MAC's eFuse words.
    let mem = bench.run(&["read-mem", "0x40001000", "--port", &port]);
    mem.succeeds();
    assert_eq!(mem.stdout.trim(), "0x40001000: 0x00000009");
    let words = bench.run(&["read-mem", "0x60007044", "2", "--port", &port]);
    words.succeeds();
    assert_eq!(words.stdout.lines().count(), 2, "{}", words.stdout);
    // An unmapped or unaligned address is refused before connecting (the ROM would crash).
    let bad = bench.run(&["read-mem", "0x12345678", "--port", &port]);
    bad.fails(exit::USAGE, &["0x12345678 is not mapped on the ESP32-S3"]);
    assert!(!bad.stderr.contains("Connecting"), "{}", bad.stderr);
    bench
        .run(&["write-mem", "0x60008001", "1", "--port", &port])
        .fails(exit::USAGE, &["not a multiple of 4"]);
    bench
        .run(&[
            "write-mem",
            "0x600080B0",
            "0x50D83AA1",
            "--after",
            "no-reset",
            "--port",
            &port,
        ])
        .succeeds()
        .stdout_has(&["Wrote 0x50d83aa1 to 0x600080b0 (mask 0xffffffff)"]);
    // reset and hold-in-reset move the lines without a loader.
    let reset = bench.run(&["reset", "--port", &port]);
    reset.succeeds();
    reset.stderr_has(&["Hard resetting via RTS pin..."]);
    assert!(!reset.stderr.contains("Connecting"), "{}", reset.stderr);
    bench
        .run(&["hold-in-reset", "--seconds", "0.2", "--port", &port])
        .succeeds()
        .stderr_has(&[
            "Holding the chip on",
            "in reset for 0.2 s",
            "Released the reset",
        ]);
    bench
        .cmd(&["hold-in-reset", "--port", &port])
        .stdin(b"\n")
        .run()
        .succeeds()
        .stderr_has(&["until stdin ends"]);
}

#[test]
fn a_port_given_by_a_usb_identity_no_port_has_is_named() {
    let bench = Bench::new();
    bench
        .run(&["board-info", "--port", "usb-serial:NO-SUCH-BOARD-0001"])
        .fails(
            exit::CONNECT,
            &[
                "no serial port has the USB identity usb-serial:NO-SUCH-BOARD-0001",
                "list-ports",
            ],
        );
    bench.run(&["board-info", "--port", "usb:zz:1"]).fails(
        exit::CONNECT,
        &["usb: takes the vendor and product id in hex"],
    );
}
