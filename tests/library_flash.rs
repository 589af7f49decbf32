//! Everything the command line can flash, flashed by the library alone — an ELF with and without
//! a bootloader, prebuilt `.bin` files placed by their content, `--at` pairs, several boards at
//! once — with the same refusals and the same notes (as [`Event`]s) that `cargo esp32s3 flash`
//! prints. A script (`cargo xtask`) is as capable as a terminal user: one [`Plan`], one
//! [`Board`].
//!
//! Also: a plan reads each input file once. Its files are deleted or overwritten after it is
//! made, and flashing it (laid out again for a chip's larger flash) still writes what was read.

use std::path::{Path, PathBuf};

use cargo_esp32s3::cargo::IdfOutputs;
use cargo_esp32s3::config::Settings;
use cargo_esp32s3::event::AppAloneWhy;
use cargo_esp32s3::image::format::parse_image;
use cargo_esp32s3::image::{FlashSize, ImageError};
use cargo_esp32s3::plan::{AppInput, ChipLacks, Placement, PlanError};
use cargo_esp32s3::{Board, Error, Event, Plan};

#[path = "support/synthetic_elf.rs"]
mod synthetic_elf;
use synthetic_elf::{app_image, synthetic_bootloader, synthetic_elf};

/// A bare ESP32-S3 app image (a prebuilt `app.bin`).
fn synthetic_app_image() -> Vec<u8> {
    app_image(9, 0)
}

/// A folder with the inputs, and virtual chips whose flash lives in files there.
struct Rig {
    dir: tempfile::TempDir,
}

impl Rig {
    fn new() -> Rig {
        Rig {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write input");
        path
    }

    /// A virtual chip (`size` of flash) whose flash is kept in `<name>.flash`.
    fn chip(&self, name: &str, size: &str) -> String {
        format!(
            "sim://?flash={}&size={size}",
            self.path(&format!("{name}.flash")).display()
        )
    }

    fn flash_of(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(&format!("{name}.flash"))).expect("the chip's flash file")
    }

    /// The ELF's plan with the synthetic bootloader and the default table.
    fn layout_settings(&self) -> Settings {
        Settings {
            bootloader: Some(self.write("bootloader.bin", &synthetic_bootloader())),
            ..Settings::default()
        }
    }
}

/// Flash `plan` onto the chip at `url`, collecting the events.
fn flash(url: &str, settings: &Settings, plan: &Plan) -> (cargo_esp32s3::Result<u32>, Vec<Event>) {
    let mut events = Vec::new();
    let result = Board::open(url, settings).and_then(|mut board| {
        let summary = board.flash(plan, |event| events.push(event))?;
        Ok(summary.written)
    });
    (result, events)
}

fn holds(flash: &[u8], at: u32, bytes: &[u8]) -> bool {
    let at = at as usize;
    flash.get(at..at + bytes.len()) == Some(bytes)
}

fn erased(flash: &[u8], at: u32, len: usize) -> bool {
    flash[at as usize..at as usize + len]
        .iter()
        .all(|&b| b == 0xFF)
}

#[test]
fn an_elf_with_a_bootloader_is_a_whole_layout_laid_out_for_the_chips_flash() {
    let rig = Rig::new();
    let elf = rig.write("app.elf", &synthetic_elf());
    let settings = rig.layout_settings();
    let plan = Plan::from_elf(&elf, &settings, &IdfOutputs::default()).unwrap();
    assert_eq!(plan.placement(), Placement::Layout);
    // Made for the default 4 MB until a chip says otherwise.
    assert_eq!(plan.flash_size(), FlashSize::S4Mb);

    let url = rig.chip("a", "16MB");
    let (written, events) = flash(&url, &settings, &plan);
    assert_eq!(written.unwrap(), 3);
    assert!(
        events.iter().any(|e| matches!(
            e,
            // The synthetic app: descriptor, code, IRAM, checksum and digest.
            Event::AppPartitionFill { partition, used: 672, .. } if partition == "factory"
        )),
        "{events:?}"
    );
    // The app's header says 16 MB: the plan was laid out for this chip's flash.
    let chip = rig.flash_of("a");
    let app = parse_image(&chip[0x10000..]).expect("an app at 0x10000");
    assert_eq!(app.header.size(), Some(FlashSize::S16Mb));
    let for_chip = plan.for_flash_size(FlashSize::S16Mb).unwrap();
    for region in for_chip.regions() {
        assert!(
            holds(&chip, region.offset, &region.data),
            "{}",
            region.label
        );
    }
}

#[test]
fn an_elf_alone_goes_only_onto_a_chip_that_boots_it_into_the_chips_own_partition() {
    let rig = Rig::new();
    let elf = rig.write("app.elf", &synthetic_elf());
    let bare = Settings::default();
    let plan = Plan::from_elf(&elf, &bare, &IdfOutputs::default()).unwrap();
    assert_eq!(plan.placement(), Placement::AppAlone);

    // A blank chip: refused with the reason and the advice, nothing written.
    let blank = rig.chip("blank", "8MB");
    let (result, _) = flash(&blank, &bare, &plan);
    match result {
        Err(Error::Plan(PlanError::CannotBootApp {
            reason: ChipLacks::NoBootloader { first_bytes },
            app: AppInput::Elf,
        })) => assert_eq!(first_bytes, [0xFF; 4]),
        other => panic!("expected CannotBootApp, got {other:?}"),
    }
    assert!(erased(&rig.flash_of("blank"), 0, 0x20000));

    // Erasing everything first would leave nothing to boot the app: refused before connecting.
    let erase_all = Settings {
        erase_all: true,
        ..Settings::default()
    };
    assert!(matches!(
        plan.check_choices(&erase_all),
        Err(Error::Plan(PlanError::EraseAllAppAlone))
    ));

    // A chip holding a layout whose factory partition is at 0x20000 gets the app there.
    let moved = rig.write(
        "moved.csv",
        b"nvs, data, nvs, 0x9000, 0x6000,\nfactory, app, factory, 0x20000, 0x100000,\n",
    );
    let layout = Settings {
        partition_table: Some(moved.clone()),
        ..rig.layout_settings()
    };
    let url = rig.chip("chip", "8MB");
    let installed = Plan::from_elf(&elf, &layout, &IdfOutputs::default()).unwrap();
    flash(&url, &layout, &installed).0.unwrap();
    Board::open(&url, &bare)
        .unwrap()
        .erase_region(0x20000, 0x10000, |_| {})
        .unwrap();
    let (written, events) = flash(&url, &bare, &plan);
    assert_eq!(written.unwrap(), 1);
    assert!(
        events.contains(&Event::AppAlone {
            offset: 0x20000,
            partition: "factory".into(),
            why: AppAloneWhy::NoBootloaderConfigured,
        }),
        "{events:?}"
    );
    let chip = rig.flash_of("chip");
    let app = &plan
        .for_flash_size(FlashSize::S8Mb)
        .unwrap()
        .app()
        .unwrap()
        .bytes
        .clone();
    assert!(holds(&chip, 0x20000, app));

    // With its own table that disagrees, the chip's table still decides, and the event says so.
    let own_table = Settings {
        partition_table: Some(rig.write(
            "default.csv",
            b"nvs, data, nvs, 0x9000, 0x6000,\nfactory, app, factory, 0x10000, 0x100000,\n",
        )),
        ..Settings::default()
    };
    let plan = Plan::from_elf(&elf, &own_table, &IdfOutputs::default()).unwrap();
    assert_eq!(plan.placement(), Placement::AppAlone);
    let (written, events) = flash(&url, &own_table, &plan);
    assert_eq!(written.unwrap(), 0, "the app is already there: skipped");
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::AppMovedByChipTable { planned_by: Some(table), planned_offset: 0x10000, offset: 0x20000, .. }
                if table.ends_with("default.csv")
        )),
        "{events:?}"
    );
}

#[test]
fn prebuilt_bins_are_placed_by_their_content_with_the_same_checks() {
    let rig = Rig::new();
    let settings = rig.layout_settings();
    let elf = rig.write("app.elf", &synthetic_elf());
    let merged = Plan::from_elf(&elf, &settings, &IdfOutputs::default())
        .unwrap()
        .merged(false)
        .unwrap();
    let merged_file = rig.write("firmware.bin", &merged);

    // A merged image goes to 0x0 as it is (made for 4 MB, onto a 4 MB chip: a larger chip's
    // size would be written into its bootloader header).
    let plan = Plan::from_file(&merged_file, &Settings::default()).unwrap();
    assert_eq!(plan.placement(), Placement::Fixed);
    assert_eq!(plan.placed().len(), 1);
    assert_eq!(plan.placed()[0].offset, 0);
    assert_eq!(plan.placed()[0].what, "merged image");
    let url = rig.chip("a", "4MB");
    assert_eq!(flash(&url, &Settings::default(), &plan).0.unwrap(), 1);
    assert!(holds(&rig.flash_of("a"), 0, &merged));

    // A bare app image goes into the chip's app partition; onto a blank chip it is refused.
    let app_file = rig.write("app.bin", &synthetic_app_image());
    let plan = Plan::from_bin(&app_file, &Settings::default()).unwrap();
    assert_eq!(plan.placement(), Placement::AppAlone);
    let blank = rig.chip("blank", "8MB");
    match flash(&blank, &Settings::default(), &plan).0 {
        Err(Error::Plan(PlanError::CannotBootApp {
            app: AppInput::AppImageFile,
            ..
        })) => {}
        other => panic!("expected CannotBootApp, got {other:?}"),
    }
    let (written, events) = flash(&url, &Settings::default(), &plan);
    assert_eq!(written.unwrap(), 1);
    assert!(events.contains(&Event::AppAlone {
        offset: 0x10000,
        partition: "factory".into(),
        why: AppAloneWhy::AppImageFile,
    }));
    assert!(holds(&rig.flash_of("a"), 0x10000, &synthetic_app_image()));

    // What is not an image is refused before any chip is touched, naming the file.
    let junk = rig.write("junk.bin", &[0x12; 64]);
    let error = Plan::from_file(&junk, &Settings::default()).unwrap_err();
    assert!(
        matches!(&error, Error::Image(ImageError::InFile { .. })),
        "{error}"
    );
    assert!(error.to_string().contains("junk.bin"), "{error}");
}

#[test]
fn at_pairs_are_written_where_they_say_and_a_table_that_moves_the_app_is_announced() {
    let rig = Rig::new();
    let bootloader = rig.write("bootloader.bin", &synthetic_bootloader());
    let table_at_0x20000 = cargo_esp32s3::image::partition::PartitionTable::from_csv(
        "nvs, data, nvs, 0x9000, 0x6000,\nfactory, app, factory, 0x20000, 0x100000,\n",
    )
    .unwrap();
    let table = rig.write("table.bin", &table_at_0x20000.to_binary());
    let app = rig.write("app.bin", &synthetic_app_image());
    let pairs = [
        (0x0, bootloader.clone()),
        (0x8000, table),
        (0x20000, app.clone()),
    ];
    let plan = Plan::from_at(&pairs, &Settings::default()).unwrap();
    let url = rig.chip("a", "8MB");
    assert_eq!(flash(&url, &Settings::default(), &plan).0.unwrap(), 3);
    let chip = rig.flash_of("a");
    assert!(holds(&chip, 0x20000, &synthetic_app_image()));

    // The default layout's table puts the app back at 0x10000: said before writing.
    let elf = rig.write("app.elf", &synthetic_elf());
    let settings = rig.layout_settings();
    let plan = Plan::from_elf(&elf, &settings, &IdfOutputs::default()).unwrap();
    let (written, events) = flash(&url, &settings, &plan);
    written.unwrap();
    let note = events
        .iter()
        .position(|e| {
            *e == Event::TableMovesApp {
                chip_partition: "factory".into(),
                chip_offset: 0x20000,
                new_partition: "factory".into(),
                new_offset: 0x10000,
            }
        })
        .unwrap_or_else(|| panic!("no TableMovesApp in {events:?}"));
    let first_write = events
        .iter()
        .position(|e| matches!(e, Event::RegionStarted { .. }))
        .unwrap();
    assert!(note < first_write, "the note comes before writing");

    // An ELF has no offset of its own.
    let error = Plan::from_at(&[(0x10000, elf)], &Settings::default()).unwrap_err();
    assert!(
        matches!(error, Error::Image(ImageError::ElfWithAt { .. })),
        "{error}"
    );
}

#[test]
fn several_boards_at_once_each_get_the_plan_laid_out_for_their_own_flash() {
    let rig = Rig::new();
    let elf = rig.write("app.elf", &synthetic_elf());
    let settings = rig.layout_settings();
    let plan = Plan::from_elf(&elf, &settings, &IdfOutputs::default()).unwrap();
    let boards = [("a", "4MB"), ("b", "8MB"), ("c", "16MB")];
    let urls: Vec<String> = boards
        .iter()
        .map(|(name, size)| rig.chip(name, size))
        .collect();
    let results: Vec<cargo_esp32s3::Result<u32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = urls
            .iter()
            .map(|url| {
                let (plan, settings) = (&plan, &settings);
                scope.spawn(move || flash(url, settings, plan).0)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for ((name, size), result) in boards.iter().zip(results) {
        assert_eq!(result.unwrap(), 3, "{name}");
        let chip = rig.flash_of(name);
        let app = parse_image(&chip[0x10000..]).expect("an app at 0x10000");
        assert_eq!(
            app.header.size(),
            FlashSize::parse(size),
            "board {name} holds an image for its own flash size"
        );
    }
}

#[test]
fn a_plan_reads_each_file_once_and_keeps_the_bytes() {
    let rig = Rig::new();
    let elf = rig.write("app.elf", &synthetic_elf());
    let table = rig.write(
        "partitions.csv",
        b"nvs, data, nvs, 0x9000, 0x6000,\nfactory, app, factory, 0x10000, 0x100000,\n",
    );
    let settings = Settings {
        partition_table: Some(table.clone()),
        ..rig.layout_settings()
    };
    let plan = Plan::from_elf(&elf, &settings, &IdfOutputs::default()).unwrap();
    let expected = plan.for_flash_size(FlashSize::S16Mb).unwrap().into_owned();

    // Gone or changed after planning: neither the layout for a larger chip nor the write
    // looks at the files again.
    std::fs::remove_file(&elf).unwrap();
    std::fs::write(settings.bootloader.as_ref().unwrap(), b"not a bootloader").unwrap();
    std::fs::write(&table, b"garbage").unwrap();
    let url = rig.chip("a", "16MB");
    assert_eq!(flash(&url, &settings, &plan).0.unwrap(), 3);
    let chip = rig.flash_of("a");
    for region in expected.regions() {
        assert!(
            holds(&chip, region.offset, &region.data),
            "{}",
            region.label
        );
    }
    assert_eq!(
        expected.elf_path(),
        Some(Path::new(&elf)),
        "the plan still names its ELF"
    );
}

#[test]
fn a_partition_is_erased_by_name_from_the_chips_own_table() {
    let rig = Rig::new();
    let elf = rig.write("app.elf", &synthetic_elf());
    let settings = rig.layout_settings();
    let plan = Plan::from_elf(&elf, &settings, &IdfOutputs::default()).unwrap();
    let url = rig.chip("a", "8MB");
    flash(&url, &settings, &plan).0.unwrap();
    let mut board = Board::open(&url, &settings).unwrap();
    let mut events = Vec::new();
    let nvs = board.erase_partition("nvs", |e| events.push(e)).unwrap();
    assert_eq!((nvs.offset, nvs.size), (0x9000, 0x6000));
    assert!(events.contains(&Event::ErasingPartition {
        name: "nvs".into(),
        offset: 0x9000,
        size: 0x6000
    }));
    let error = board.erase_partition("nope", |_| {}).unwrap_err();
    assert_eq!(
        cargo_esp32s3::exit::code_for(&error),
        cargo_esp32s3::exit::USAGE
    );
    assert!(
        error.to_string().contains("has no partition \"nope\""),
        "{error}"
    );
}
