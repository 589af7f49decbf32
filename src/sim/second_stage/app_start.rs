//! What happens once an app image checked out: the bootloader's last lines, what the app is
//! (its `esp_app_desc_t`, ESP-IDF or MicroPython or anything else, told from its read-only data)
//! and the lines ESP-IDF's startup code prints up to `app_main` when the app's log level and
//! format texts allow them. What the app prints afterwards belongs to `sim::app_console`.

use std::sync::OnceLock;

use regex::bytes::Regex;

use super::app_image::{LoadedApp, Loader};
use super::header::Header;
use super::log_line::{Log, Text, Texts};
use super::{AppInfo, AppKind, MicroPython, Outcome, c_string, le_u32};

/// `esp_app_desc_t` magic.
const APP_DESC_MAGIC: u32 = 0xABCD_5432;

/// The bootloader's last lines, then what the ESP-IDF startup code of the app prints up to
/// `app_main`.
pub(super) fn start_app(loader: &Loader<'_>, app: LoadedApp, log: &mut Log) -> Outcome {
    let (ctx, flash) = (loader.ctx, loader.flash);
    log.info(
        "boot",
        &format!(
            "Loaded app from partition at offset 0x{:x}",
            app.partition_offset
        ),
    );
    log.info("boot", "Disabling RNG early entropy source...");

    // Texts are read from the flash-mapped read-only data, where rodata lives.
    let mut rodata = Texts::default();
    let mut micropython = None;
    let mut descriptor = None;
    for (index, seg) in app.segments.iter().enumerate() {
        if !(0x3C00_0000..0x3E00_0000).contains(&seg.addr) {
            continue;
        }
        let Some(data) = flash.get(seg.data_at, seg.len) else {
            continue;
        };
        if index == 0 && le_u32(data, 0) == APP_DESC_MAGIC {
            descriptor = Some(data);
        }
        rodata.merge(Texts::scan(data));
        if micropython.is_none() {
            micropython = find_micropython(data);
        }
    }
    let is_esp_idf = rodata.has(Text::CallingAppMain) || rodata.has(Text::AppInformation);
    let kind = match micropython {
        Some(mp) => AppKind::MicroPython(mp),
        None if is_esp_idf => AppKind::EspIdf,
        None => AppKind::Other,
    };

    let mut info = AppInfo {
        partition_offset: app.partition_offset,
        entry: app.header.entry,
        has_descriptor: descriptor.is_some(),
        project: String::new(),
        version: String::new(),
        idf_version: String::new(),
        compile_date: String::new(),
        compile_time: String::new(),
        elf_sha256: [0; 32],
        kind,
    };
    if let Some(d) = descriptor {
        info.version = c_string(d, 0x10, 32);
        info.project = c_string(d, 0x30, 32);
        info.compile_time = c_string(d, 0x50, 16);
        info.compile_date = c_string(d, 0x60, 16);
        info.idf_version = c_string(d, 0x70, 32);
        if let Some(sha) = d.get(0x90..0xB0) {
            info.elf_sha256.copy_from_slice(sha);
        }
    }

    // The app's own log: its default level is INFO for ESP-IDF apps, ERROR for MicroPython.
    log.info = matches!(info.kind, AppKind::EspIdf);
    log.colors = rodata.has(Text::Colors);
    if log.info {
        app_startup_lines(&info, &app.header, ctx.chip_revision, rodata, log);
    }
    Outcome::App(Box::new(info))
}

fn app_startup_lines(
    info: &AppInfo,
    header: &Header,
    chip_revision: (u8, u8),
    texts: Texts,
    log: &mut Log,
) {
    if texts.has(Text::MulticoreApp) {
        log.info("cpu_start", "Multicore app");
    }
    if texts.has(Text::ProCpuStart) {
        log.info("cpu_start", "Pro cpu start user code");
    }
    if texts.has(Text::AppInformation) {
        let tag = if texts.has(Text::AppInitTag) {
            "app_init"
        } else {
            "cpu_start"
        };
        log.info(tag, "Application information:");
        if texts.has(Text::ProjectName) {
            log.info(tag, &format!("Project name:     {}", info.project));
        }
        if texts.has(Text::AppVersion) {
            log.info(tag, &format!("App version:      {}", info.version));
        }
        if texts.has(Text::CompileTime) {
            log.info(
                tag,
                &format!(
                    "Compile time:     {} {}",
                    info.compile_date, info.compile_time
                ),
            );
        }
        let sha: String = info
            .elf_sha256
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        log.info(tag, &format!("ELF file SHA256:  {sha}..."));
        log.info(tag, &format!("ESP-IDF:          {}", info.idf_version));
        let rev_tag = if texts.has(Text::EfuseInitTag) {
            "efuse_init"
        } else {
            tag
        };
        log.info(
            rev_tag,
            &format!(
                "Min chip rev:     v{}.{}",
                header.min_rev_full / 100,
                header.min_rev_full % 100
            ),
        );
        log.info(
            rev_tag,
            &format!(
                "Max chip rev:     v{}.{} ",
                header.max_rev_full / 100,
                header.max_rev_full % 100
            ),
        );
        let (major, minor) = chip_revision;
        log.info(rev_tag, &format!("Chip rev:         v{major}.{minor}"));
    }
    if texts.has(Text::StartedOnCpu) {
        log.info("main_task", "Started on CPU0");
    }
    if texts.has(Text::CallingAppMain) {
        log.info("main_task", "Calling app_main()");
    }
}

/// MicroPython's banner (`MicroPython v… on …` then `; <board> with <mcu>`), the line after it
/// and the help text, as they sit in the image's read-only data.
fn find_micropython(data: &[u8]) -> Option<MicroPython> {
    static BANNER: OnceLock<Option<Regex>> = OnceLock::new();
    static HELP: OnceLock<Option<Regex>> = OnceLock::new();
    let banner_re = BANNER
        .get_or_init(|| {
            Regex::new(
                r#"(?-u)\x00(MicroPython v[\x20-\x7E]+ on [\x20-\x7E]+)\x00+(; [\x20-\x7E]+ with [\x20-\x7E]+)\x00+(Type "help\(\)" for more information\.)?"#,
            )
            .ok()
        })
        .as_ref()?;
    let caps = banner_re.captures(data)?;
    let text = |i: usize| {
        caps.get(i)
            .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
    };
    let banner = format!("{}{}", text(1)?, text(2)?);
    let hint = text(3);
    let help = HELP
        .get_or_init(|| Regex::new(r"(?-u)Welcome to MicroPython[\x09\x0A\x0D\x20-\x7E]*").ok())
        .as_ref()
        .and_then(|re| re.find(data))
        .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned());
    Some(MicroPython { banner, hint, help })
}
