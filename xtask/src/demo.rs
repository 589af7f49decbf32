//! `cargo xtask demo`: the main job end to end on the virtual ESP32-S3, with nothing but this
//! repository: build the tool, write a demo firmware ELF and a demo second-stage bootloader
//! ELF, turn the bootloader into an image with `cargo esp32s3 save-image`, then
//! `cargo esp32s3 flash --monitor` the firmware onto a virtual chip whose flash is kept in
//! `target/demo/flash.bin`: reset into the loader, connect, write, verify, reset, and the boot
//! log (ROM, second-stage bootloader, app startup) up to `app_main`.
//!
//! The demo files are made for the simulator only: they are well-formed ESP32-S3 images (headers,
//! segments, checksums, SHA-256, app descriptor) around placeholder code, and do not run on
//! hardware. Their ELFs are written here with a few lines of std (this crate has no
//! dependencies); everything after that is the tool itself.

use std::path::{Path, PathBuf};

use crate::run::{self, Result};

/// The boot log line that ends the demo: the demo app's startup reached `app_main`.
const UNTIL: &str = "Calling app_main";

/// Where the demo files go, under the workspace's `target/`.
fn demo_dir() -> PathBuf {
    run::repo_root().join("target/demo")
}

/// Parses `cargo xtask demo` arguments (none).
pub fn parse(args: &[String]) -> Result<()> {
    match args.first() {
        None => Ok(()),
        Some(other) => Err(format!(
            "unknown argument `{other}` for `demo` (it takes none)"
        )),
    }
}

/// Runs the demo.
pub fn run() -> Result {
    let dir = demo_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;

    println!("==> building cargo-esp32s3");
    let mut build = run::cargo();
    build.args(["build", "--quiet", "--bin", "cargo-esp32s3"]);
    run::run_inherit(build)?;
    let tool = run::repo_root()
        .join("target/debug")
        .join(format!("cargo-esp32s3{}", std::env::consts::EXE_SUFFIX));

    println!(
        "==> writing the demo firmware and bootloader (for the simulator; they do not run on hardware)"
    );
    let firmware = dir.join("demo-firmware.elf");
    let bootloader_elf = dir.join("demo-bootloader.elf");
    let bootloader = dir.join("demo-bootloader.bin");
    write(&firmware, &demo_firmware_elf())?;
    write(&bootloader_elf, &demo_bootloader_elf())?;
    // save-image phrases its output for apps; only its failure is worth showing here.
    let mut save = std::process::Command::new(&tool);
    save.arg("save-image").arg(&bootloader_elf).arg(&bootloader);
    let text = run::describe(&save);
    let output = save
        .output()
        .map_err(|e| format!("cannot start `{text}`: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`{text}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }

    let flash = dir.join("flash.bin");
    let port = format!("sim://?flash={}", flash.display());
    println!(
        "==> cargo esp32s3 flash --port {port} --bootloader {} {} --monitor --until {UNTIL:?}",
        shown(&bootloader),
        shown(&firmware)
    );
    let mut command = std::process::Command::new(&tool);
    command
        .args(["flash", "--port", &port, "--bootloader"])
        .arg(&bootloader)
        .arg(&firmware)
        .args([
            "--monitor",
            "--non-interactive",
            "--until",
            UNTIL,
            "--timeout",
            "30",
        ]);
    run::run_inherit(command)?;
    println!(
        "\nDone: the virtual chip was reset into its loader, flashed, verified, reset, and booted \
         the demo firmware. Its flash is {}; run the demo again and the unchanged regions are \
         skipped (target/debug/cargo-esp32s3 image-info {} shows what it holds).",
        shown(&flash),
        shown(&flash)
    );
    Ok(())
}

fn shown(path: &Path) -> String {
    path.strip_prefix(run::repo_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn write(path: &Path, bytes: &[u8]) -> Result {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// One ALLOC section of a demo ELF.
struct Section {
    name: &'static str,
    addr: u32,
    data: Vec<u8>,
    executable: bool,
}

/// The demo app: an ESP-IDF app descriptor and a message in flash-mapped data, placeholder code
/// in flash-mapped text and in IRAM (where the entry point is).
fn demo_firmware_elf() -> Vec<u8> {
    // The log format texts an ESP-IDF app carries: the virtual chip prints a startup line only
    // when the app holds its text, as the real startup code would.
    let mut message = b"Hello from the cargo-esp32s3 demo firmware (simulator only)\n\0".to_vec();
    for text in [
        "\x1b[0;32mI (%lu) %s: Multicore app\x1b[0m\n",
        "\x1b[0;32mI (%lu) %s: Pro cpu start user code\x1b[0m\n",
        "\x1b[0;32mI (%lu) %s: Application information:\x1b[0m\n",
        "\x1b[0;32mI (%lu) %s: Project name:     %s\x1b[0m\n",
        "\x1b[0;32mI (%lu) %s: App version:      %s\x1b[0m\n",
        "\x1b[0;32mI (%lu) %s: Compile time:     %s %s\x1b[0m\n",
        "\x1b[0;32mI (%lu) %s: Started on CPU%d\x1b[0m\n",
        "\x1b[0;32mI (%lu) %s: Calling app_main()\x1b[0m\n",
        "app_init",
    ] {
        message.extend_from_slice(text.as_bytes());
        message.push(0);
    }
    elf(
        0x4037_8000,
        &[
            Section {
                name: ".flash.appdesc",
                addr: 0x3C00_0020,
                data: app_descriptor("cargo-esp32s3-demo", "0.1.0-demo", "demo, not ESP-IDF"),
                executable: false,
            },
            Section {
                name: ".flash.rodata",
                addr: 0x3C00_0120,
                data: message,
                executable: false,
            },
            Section {
                name: ".flash.text",
                addr: 0x4200_0020,
                data: placeholder_code(512),
                executable: true,
            },
            Section {
                name: ".iram0.text",
                addr: 0x4037_8000,
                data: placeholder_code(128),
                executable: true,
            },
        ],
    )
}

/// The demo second-stage bootloader: RAM-only code where ESP-IDF links its bootloader.
fn demo_bootloader_elf() -> Vec<u8> {
    elf(
        0x403C_9700,
        &[
            Section {
                name: ".dram0.data",
                addr: 0x3FCE_3800,
                data: bootloader_texts(),
                executable: false,
            },
            Section {
                name: ".iram_loader.text",
                addr: 0x403C_9700,
                data: placeholder_code(256),
                executable: true,
            },
        ],
    )
}

/// The demo bootloader's data: a label and the log format texts of ESP-IDF's second-stage
/// bootloader, so the virtual chip prints its boot log (it prints a line only when the
/// bootloader holds the line's text, as the real one would).
fn bootloader_texts() -> Vec<u8> {
    let mut data = b"cargo-esp32s3 demo bootloader (simulator only)\0".to_vec();
    for text in [
        "\x1b[0;32mI (%lu) %s: ESP-IDF %s 2nd stage bootloader\x1b[0m\n",
        "\x1b[0;32mI (%lu) %s: Multicore bootloader\x1b[0m\n",
        "\x1b[0;32mI (%lu) %s: chip revision: v%d.%d\x1b[0m\n",
        "\x1b[0;32mI (%lu) %s: Boot SPI Speed : %s\x1b[0m\n",
        "\x1b[0;32mI (%lu) %s: Enabling RNG early entropy source...\x1b[0m\n",
    ] {
        data.extend_from_slice(text.as_bytes());
        data.push(0);
    }
    data
}

/// Xtensa `nop.n` (0x20f0) repeated: code-shaped bytes that nothing executes.
fn placeholder_code(len: usize) -> Vec<u8> {
    [0xF0u8, 0x20].iter().copied().cycle().take(len).collect()
}

/// `esp_app_desc_t` (256 bytes): magic, secure version, version, project name, time, date,
/// ESP-IDF version; the ELF SHA-256 field is left zero for the image tool to fill.
fn app_descriptor(project: &str, version: &str, idf: &str) -> Vec<u8> {
    let mut d = vec![0u8; 256];
    let mut put = |at: usize, field_len: usize, bytes: &[u8]| {
        let n = bytes.len().min(field_len - 1);
        d[at..at + n].copy_from_slice(&bytes[..n]);
    };
    put(16, 32, version.as_bytes());
    put(48, 32, project.as_bytes());
    put(80, 16, b"00:00:00");
    put(96, 16, b"Jan  1 2026");
    put(112, 32, idf.as_bytes());
    d[0..4].copy_from_slice(&0xABCD_5432u32.to_le_bytes());
    // max_efuse_blk_rev_full = 199 (v1.99: ESP-IDF 5.x's default for the ESP32-S3, whose chips
    // carry eFuse block revision 1.x, and which the second stage checks); mmu_page_size = 2^16.
    d[178..180].copy_from_slice(&199u16.to_le_bytes());
    d[180] = 16;
    d
}

/// A little-endian ELF32 executable for Xtensa (e_machine 94) holding `sections` as ALLOC
/// PROGBITS sections, with a section-name string table. No program headers: the image tool reads
/// sections.
fn elf(entry: u32, sections: &[Section]) -> Vec<u8> {
    const EHSIZE: usize = 52;
    const SHENTSIZE: usize = 40;
    let mut shstrtab = vec![0u8];
    let mut name_offsets = Vec::new();
    for section in sections {
        name_offsets.push(shstrtab.len() as u32);
        shstrtab.extend_from_slice(section.name.as_bytes());
        shstrtab.push(0);
    }
    let shstrtab_name = shstrtab.len() as u32;
    shstrtab.extend_from_slice(b".shstrtab\0");

    let mut body = Vec::new();
    let mut offsets = Vec::new();
    for section in sections {
        while !(EHSIZE + body.len()).is_multiple_of(4) {
            body.push(0);
        }
        offsets.push((EHSIZE + body.len()) as u32);
        body.extend_from_slice(&section.data);
    }
    let shstrtab_offset = (EHSIZE + body.len()) as u32;
    body.extend_from_slice(&shstrtab);
    while !(EHSIZE + body.len()).is_multiple_of(4) {
        body.push(0);
    }
    let shoff = (EHSIZE + body.len()) as u32;
    let shnum = sections.len() as u16 + 2;

    let mut out = Vec::new();
    out.extend_from_slice(&[0x7F, b'E', b'L', b'F', 1, 1, 1, 0]);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    out.extend_from_slice(&94u16.to_le_bytes()); // EM_XTENSA
    out.extend_from_slice(&1u32.to_le_bytes()); // EV_CURRENT
    out.extend_from_slice(&entry.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // e_phoff
    out.extend_from_slice(&shoff.to_le_bytes());
    out.extend_from_slice(&0x300u32.to_le_bytes()); // e_flags, as the Xtensa toolchain writes
    out.extend_from_slice(&(EHSIZE as u16).to_le_bytes());
    out.extend_from_slice(&32u16.to_le_bytes()); // e_phentsize
    out.extend_from_slice(&0u16.to_le_bytes()); // e_phnum
    out.extend_from_slice(&(SHENTSIZE as u16).to_le_bytes());
    out.extend_from_slice(&shnum.to_le_bytes());
    out.extend_from_slice(&(shnum - 1).to_le_bytes()); // e_shstrndx
    out.extend_from_slice(&body);

    let mut header = |name: u32, kind: u32, flags: u32, addr: u32, offset: u32, size: u32| {
        for word in [name, kind, flags, addr, offset, size, 0, 0, 4, 0] {
            out.extend_from_slice(&word.to_le_bytes());
        }
    };
    header(0, 0, 0, 0, 0, 0);
    for ((section, name), offset) in sections.iter().zip(&name_offsets).zip(&offsets) {
        // SHF_ALLOC (2), plus SHF_EXECINSTR (4) for code.
        let flags = if section.executable { 6 } else { 2 };
        header(
            *name,
            1,
            flags,
            section.addr,
            *offset,
            section.data.len() as u32,
        );
    }
    header(
        shstrtab_name,
        3,
        0,
        0,
        shstrtab_offset,
        shstrtab.len() as u32,
    );
    out
}
