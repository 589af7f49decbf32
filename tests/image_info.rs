//! `image::info` and the `image-info` / `partition-table` commands: agreement with esptool's
//! `image-info` logs, every real .bin identified, and bad input refused with one error line.

use std::path::{Path, PathBuf};

use cargo_esp32s3::exit;
use cargo_esp32s3::image::format::{ImageHeader, Segment, encode_image};
use cargo_esp32s3::image::info::{BinKind, ImageRole, flash_regions_for_bin, inspect};
use cargo_esp32s3::image::partition::PartitionTable;

#[path = "support/cli.rs"]
mod cli;
use cli::{Outcome, Run};

#[path = "support/testdata.rs"]
mod support_testdata;
use support_testdata::testdata;

fn bins_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            bins_under(&path, out);
        } else if path.extension().is_some_and(|e| e == "bin") {
            out.push(path);
        }
    }
}

/// Run the binary in the current directory.
fn run_cli(args: &[&std::ffi::OsStr]) -> Outcome {
    Run::new(Path::new("."), &[]).args(args).run()
}

/// What an esptool image-info log says about the image.
#[derive(Debug, Default)]
struct EsptoolLog {
    file: String,
    entry: u32,
    /// (length, load address, file offset, memory types)
    segments: Vec<(u32, u32, usize, String)>,
    checksum: (u8, bool),
    hash: Option<(String, bool)>,
}

fn hex_u32(s: &str) -> u32 {
    u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).unwrap()
}

fn parse_log(text: &str) -> EsptoolLog {
    let mut log = EsptoolLog::default();
    let mut in_segments = false;
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            log.file = line.split_whitespace().last().unwrap().to_string();
        }
        if let Some(v) = line.strip_prefix("Entry point: ") {
            log.entry = hex_u32(v);
        }
        if line.starts_with("-------") {
            in_segments = true;
            continue;
        }
        if in_segments {
            if line.trim().is_empty() {
                in_segments = false;
                continue;
            }
            let cols: Vec<&str> = line.split_whitespace().collect();
            let memory = cols[4..].join(" ");
            log.segments.push((
                hex_u32(cols[1]),
                hex_u32(cols[2]),
                hex_u32(cols[3]) as usize,
                memory,
            ));
        }
        if let Some(v) = line.strip_prefix("Checksum: ") {
            let (value, state) = v.split_once(' ').unwrap();
            log.checksum = (hex_u32(value) as u8, state == "(valid)");
        }
        if let Some(v) = line.strip_prefix("Validation hash: ") {
            let (value, state) = v.split_once(' ').unwrap();
            log.hash = Some((value.to_string(), state == "(valid)"));
        }
    }
    log
}

#[test]
fn agrees_with_esptool_image_info_logs() {
    let Some(dir) = testdata() else { return };
    let expected = dir.join("esptool/expected");
    let mut checked = 0;
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&expected)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("image-info-")
        })
        .collect();
    logs.sort();
    for log_path in logs {
        let log = parse_log(&std::fs::read_to_string(&log_path).unwrap());
        let mut file = expected.join(&log.file);
        if !file.exists() {
            // 4.8.1 outputs were byte-identical to the 5.6.0 ones and only those were kept.
            file = expected.join(log.file.replace("v4.8.1", "v5.6.0"));
        }
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let info = inspect(&bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let image = &info.images[0];
        let what = log_path.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(image.header.entry, log.entry, "{what}: entry");
        let ours: Vec<(u32, u32, usize, String)> = image
            .segments
            .iter()
            .map(|s| (s.len, s.load_addr, s.file_offset, s.memory_kinds.join(", ")))
            .collect();
        assert_eq!(ours, log.segments, "{what}: segments");
        assert_eq!(
            (image.checksum_stored, image.checksum_valid()),
            log.checksum,
            "{what}: checksum"
        );
        let hash = image.digest_stored.map(|d| {
            (
                d.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                image.digest_valid() == Some(true),
            )
        });
        assert_eq!(hash, log.hash, "{what}: validation hash");
        assert!(info.is_valid(), "{what}: {:?}", info.problems);
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} logs found");
}

#[test]
fn every_real_bin_is_identified_and_the_cli_accepts_it() {
    let Some(dir) = testdata() else { return };
    let mut bins = Vec::new();
    bins_under(&dir, &mut bins);
    assert!(bins.len() >= 20, "found only {} .bin files", bins.len());
    for path in &bins {
        let bytes = std::fs::read(path).unwrap();
        let info = inspect(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(info.is_valid(), "{}: {:?}", path.display(), info.problems);
        let is_table = bytes.starts_with(&[0xAA, 0x50]) && bytes.len() <= 0x1000;
        assert_eq!(
            is_table,
            info.kind == BinKind::PartitionTable,
            "{}",
            path.display()
        );
        if is_table {
            assert_eq!(
                info.partition_table,
                Some(PartitionTable::from_binary(&bytes).unwrap())
            );
        }
        let out = run_cli(&["image-info".as_ref(), path.as_os_str()]);
        let stdout = &out.stdout;
        out.succeeds();
        assert!(stdout.contains("Write at:"), "{}", path.display());
        assert!(
            !stdout.contains('\u{1b}'),
            "colours in a pipe with NO_COLOR"
        );
    }
}

#[test]
fn real_files_get_the_right_kind_and_offset() {
    let Some(dir) = testdata() else { return };
    let cases: &[(&str, BinKind, u32)] = &[
        (
            "firmware/micropython/ESP32_GENERIC_S3-20250911-v1.26.1.bin",
            BinKind::MergedImage,
            0,
        ),
        (
            "esptool/expected/merged-keep.v5.6.0.bin",
            BinKind::MergedImage,
            0,
        ),
        (
            "esptool/expected/merged-from-0x8000.v5.6.0.bin",
            BinKind::MergedImage,
            0x8000,
        ),
        (
            "espflash-expected/esp32s3-esp-hal.merged.bin",
            BinKind::MergedImage,
            0,
        ),
        (
            "firmware/esp-idf-hello_world-esp32s3/hello_world.bin",
            BinKind::AppImage,
            0x10000,
        ),
        (
            "esptool/expected/app-secure-pad-v2.v5.6.0.bin",
            BinKind::AppImage,
            0x10000,
        ),
        (
            "firmware/esp-idf-hello_world-esp32s3/bootloader.bin",
            BinKind::BootloaderImage,
            0,
        ),
        (
            "firmware/espflash/esp32s3-bootloader-idf-v6.1-beta1.bin",
            BinKind::BootloaderImage,
            0,
        ),
        (
            "esptool/inputs/bootloader_esp32s3.bin",
            BinKind::BootloaderImage,
            0,
        ),
        (
            "esptool/inputs/helloworld-esp32s3.bin",
            BinKind::BootloaderImage,
            0,
        ),
        (
            "esptool/inputs/single_factory_no_ota.bin",
            BinKind::PartitionTable,
            0x8000,
        ),
    ];
    for (rel, kind, offset) in cases {
        let bytes = std::fs::read(dir.join(rel)).unwrap();
        let info = inspect(&bytes).unwrap();
        assert_eq!((info.kind, info.write_at), (*kind, Some(*offset)), "{rel}");
        let regions = flash_regions_for_bin(&bytes, 0x8000).unwrap();
        assert_eq!((regions.len(), regions[0].offset), (1, *offset), "{rel}");
    }
    let hello = inspect(
        &std::fs::read(dir.join("firmware/esp-idf-hello_world-esp32s3/hello_world.bin")).unwrap(),
    )
    .unwrap();
    let desc = hello.images[0].app_desc.as_ref().unwrap();
    assert_eq!(
        (
            desc.project_name.as_str(),
            desc.version.as_str(),
            desc.idf_ver.as_str()
        ),
        ("hello_world", "1", "v5.1.4")
    );
    let helloworld =
        inspect(&std::fs::read(dir.join("esptool/inputs/helloworld-esp32s3.bin")).unwrap())
            .unwrap();
    assert_eq!(helloworld.images[0].role, ImageRole::RamOnly);
    let v6 = inspect(
        &std::fs::read(dir.join("firmware/espflash/esp32s3-bootloader-idf-v6.1-beta1.bin"))
            .unwrap(),
    )
    .unwrap();
    assert!(
        v6.images[0]
            .bootloader_desc
            .as_ref()
            .unwrap()
            .idf_ver
            .starts_with("v6.1")
    );
    let mp = inspect(
        &std::fs::read(dir.join("firmware/micropython/ESP32_GENERIC_S3-20250911-v1.26.1.bin"))
            .unwrap(),
    )
    .unwrap();
    let offsets: Vec<u32> = mp.placements.iter().map(|p| p.flash_offset).collect();
    assert_eq!(offsets, [0, 0x8000, 0x10000]);
    assert_eq!(mp.images[1].role, ImageRole::App);
}

#[test]
fn truncated_and_random_real_files_never_panic() {
    let Some(dir) = testdata() else { return };
    for rel in [
        "esptool/expected/merged-keep.v5.6.0.bin",
        "firmware/esp-idf-hello_world-esp32s3/hello_world.bin",
    ] {
        let bytes = std::fs::read(dir.join(rel)).unwrap();
        for cut in (0..bytes.len()).step_by(997) {
            let _ = inspect(&bytes[..cut]);
            let _ = flash_regions_for_bin(&bytes[..cut], 0x8000);
        }
    }
}

/// A valid one-segment image for the given chip id.
fn image_for_chip(chip_id: u16) -> Vec<u8> {
    let header = ImageHeader {
        chip_id,
        entry: 0x4008_0000,
        ..Default::default()
    };
    encode_image(
        &header,
        &[Segment {
            addr: 0x3FFB_0000,
            data: vec![0x42; 32],
        }],
    )
    .unwrap()
}

fn random_bytes(len: usize, mut seed: u32) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as u8
        })
        .collect()
}

#[test]
fn synthetic_bad_input_is_an_error_not_a_panic() {
    assert!(inspect(&[]).is_err());
    for seed in 1..200u32 {
        let mut bytes = random_bytes((seed as usize * 37) % 3000, seed);
        let _ = inspect(&bytes);
        if let Some(b) = bytes.first_mut() {
            *b = 0xE9;
        }
        let _ = inspect(&bytes);
        if bytes.len() > 2 {
            bytes[0] = 0xAA;
            bytes[1] = 0x50;
        }
        let _ = inspect(&bytes);
    }
    let good = image_for_chip(9);
    for cut in 0..good.len() {
        assert!(inspect(&good[..cut]).is_err(), "cut at {cut}");
    }
}

/// Run image-info on bytes; return (exit ok, stdout, stderr).
fn image_info_on(bytes: &[u8]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("firmware.bin");
    std::fs::write(&path, bytes).unwrap();
    let out = run_cli(&["image-info".as_ref(), path.as_os_str()]);
    (
        out.code == Some(i32::from(exit::SUCCESS)),
        out.stdout.clone(),
        out.stderr.clone(),
    )
}

#[test]
fn cli_refuses_bad_files_with_one_error_line() {
    let esp32 = image_for_chip(0);
    let good = image_for_chip(9);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "ESP32 image",
            esp32,
            "this image is for the ESP32 (chip id 0), not the ESP32-S3; build it for the ESP32-S3 (target xtensa-esp32s3-none-elf or xtensa-esp32s3-espidf)",
        ),
        ("truncated", good[..good.len() - 40].to_vec(), "truncated"),
        (
            "random",
            random_bytes(4096, 7),
            "not an ESP32-S3 image, partition table or ELF",
        ),
        ("empty", Vec::new(), "empty"),
    ];
    for (what, bytes, want) in cases {
        let (ok, _stdout, stderr) = image_info_on(&bytes);
        assert!(!ok, "{what}: exit status should be non-zero");
        let error_lines: Vec<&str> = stderr.lines().filter(|l| cli::is_error_line(l)).collect();
        assert_eq!(error_lines.len(), 1, "{what}: stderr was {stderr:?}");
        assert_eq!(stderr.lines().count(), 1, "{what}: stderr was {stderr:?}");
        assert!(error_lines[0].contains(want), "{what}: {stderr}");
    }
    // An Xtensa ELF cut after its first bytes is refused as `flash` refuses it (it used to be
    // reported as a fine ELF).
    let elf = b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x5e\0\x01\0\0\0";
    let (ok, _, stderr) = image_info_on(elf);
    assert!(
        !ok && stderr.contains("cannot make an app image from"),
        "{stderr}"
    );
    let (ok, stdout, _) = image_info_on(&good);
    assert!(ok);
    assert!(stdout.contains("Write at: 0x0"), "{stdout}");
    let mut corrupt = good.clone();
    corrupt[40] ^= 1;
    let (ok, stdout, stderr) = image_info_on(&corrupt);
    assert!(
        !ok && stdout.contains("problem: checksum") && stderr.contains("failed 2 check(s)"),
        "{stdout}{stderr}"
    );
}

#[test]
fn partition_table_cli_converts_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("partitions.csv");
    std::fs::write(&csv, "# Name, Type, SubType, Offset, Size, Flags\nnvs, data, nvs, 0x9000, 0x6000,\nphy_init, data, phy, 0xf000, 0x1000,\nfactory, app, factory, 0x10000, 1M,\n").unwrap();
    let bin = dir.path().join("partitions.bin");
    let out = run_cli(&[
        "partition-table".as_ref(),
        csv.as_os_str(),
        "--to-binary".as_ref(),
        "-o".as_ref(),
        bin.as_os_str(),
    ]);
    out.succeeds();
    let written = std::fs::read(&bin).unwrap();
    assert_eq!(written.len(), 0xC00);
    assert_eq!(
        PartitionTable::from_binary(&written).unwrap().partitions[2].size,
        1 << 20
    );

    let again = run_cli(&[
        "partition-table".as_ref(),
        csv.as_os_str(),
        "--to-binary".as_ref(),
        "-o".as_ref(),
        bin.as_os_str(),
    ]);
    let stderr = &again.stderr;
    assert!(
        again.code != Some(i32::from(exit::SUCCESS))
            && stderr.contains("--force")
            && stderr.contains("nothing is lost"),
        "{stderr}"
    );
    let forced = run_cli(&[
        "partition-table".as_ref(),
        csv.as_os_str(),
        "--to-binary".as_ref(),
        "-o".as_ref(),
        bin.as_os_str(),
        "--force".as_ref(),
    ]);
    forced.succeeds();

    let to_csv = run_cli(&[
        "partition-table".as_ref(),
        bin.as_os_str(),
        "--to-csv".as_ref(),
    ]);
    let text = to_csv.stdout;
    assert!(!text.contains('\u{FFFD}'), "not UTF-8: {text}");
    assert_eq!(
        PartitionTable::from_csv(&text).unwrap(),
        PartitionTable::from_binary(&written).unwrap()
    );

    let shown = run_cli(&["partition-table".as_ref(), bin.as_os_str()]);
    let shown = shown.stdout;
    assert!(!shown.contains('\u{FFFD}'), "not UTF-8: {shown}");
    assert!(
        shown.contains("factory") && shown.contains("0x010000") && shown.contains("(1 MiB)"),
        "{shown}"
    );

    let small = run_cli(&[
        "partition-table".as_ref(),
        csv.as_os_str(),
        "--flash-size".as_ref(),
        "1MB".as_ref(),
    ]);
    let stderr = &small.stderr;
    assert!(
        small.code != Some(i32::from(exit::SUCCESS)) && stderr.contains("beyond the 1 MiB flash"),
        "{stderr}"
    );

    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "# comment\nnvs, data, nvs, 0x9000, 0x6000\nfactory, app, factry, 0x10000, 1M\n",
    )
    .unwrap();
    let out = run_cli(&["partition-table".as_ref(), bad.as_os_str()]);
    let stderr = &out.stderr;
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("bad.csv line 3: unknown subtype `factry`") && stderr.contains("factory"),
        "{stderr}"
    );
}

#[test]
fn help_has_examples() {
    for cmd in ["image-info", "partition-table"] {
        let out = run_cli(&[cmd.as_ref(), "--help".as_ref()]);
        assert!(out.stdout.contains("Examples:"), "{cmd}");
    }
}
