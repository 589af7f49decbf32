//! The serial monitor: address decoding against a synthetic ELF (symbol table only) and the real
//! ESP-IDF hello_world ELF (DWARF file:line); the library's `watch` over `sim://` (boot log,
//! hints once, `until`, timeout, callback stop); and the CLI end to end (`monitor` and
//! `flash --monitor`, non-interactive, against the in-process simulator).

use std::path::Path;
use std::time::{Duration, Instant};

use cargo_esp32s3::monitor::{Control, MonitorEvent, WatchEnd, WatchOptions, watch};
use cargo_esp32s3::symbols::Symbols;
use cargo_esp32s3::transport::sim::SimTransport;

#[path = "support/testdata.rs"]
mod testdata;
use testdata::testdata;

/// A relocatable Xtensa ELF with a symbol table and no DWARF: a C function, a mangled Rust
/// function and a ROM function the linker script provides (absolute, no size).
fn elf_with_symbols() -> Vec<u8> {
    use object::write::{Object, Symbol, SymbolSection};
    use object::{Architecture, BinaryFormat, Endianness, SymbolFlags, SymbolKind, SymbolScope};
    let mut elf = Object::new(BinaryFormat::Elf, Architecture::Xtensa, Endianness::Little);
    let text = elf.add_section(Vec::new(), b".text".to_vec(), object::SectionKind::Text);
    elf.append_section_data(text, &[0u8; 16], 4);
    let functions: [(&str, u64, u64, SymbolKind); 4] = [
        ("app_main", 0x4200_1000, 0x40, SymbolKind::Text),
        (
            "_ZN5hello5blink17he3b0c44298fc1c14E",
            0x4200_1040,
            0x20,
            SymbolKind::Text,
        ),
        ("ets_printf", 0x4000_0588, 0, SymbolKind::Text),
        ("s_counter", 0x3fc9_0000, 4, SymbolKind::Data),
    ];
    for (name, value, size, kind) in functions {
        elf.add_symbol(Symbol {
            name: name.as_bytes().to_vec(),
            value,
            size,
            kind,
            scope: SymbolScope::Linkage,
            weak: false,
            section: SymbolSection::Absolute,
            flags: SymbolFlags::None,
        });
    }
    elf.write().expect("synthetic ELF")
}

#[test]
fn symbol_table_decodes_functions_with_offsets() {
    let symbols = Symbols::from_elf_bytes(&elf_with_symbols()).expect("symbols");
    assert!(!symbols.has_debug_info());
    let check = |addr: u32, expected: Option<&str>| {
        let got = symbols.lookup(addr).map(|l| l.to_string());
        assert_eq!(got.as_deref(), expected, "address 0x{addr:08x}");
    };
    check(0x4200_1000, Some("app_main"));
    check(0x4200_101c, Some("app_main+0x1c"));
    check(0x4200_103f, Some("app_main+0x3f"));
    check(0x4200_1040, Some("hello::blink"));
    check(0x4200_1052, Some("hello::blink+0x12"));
    check(0x4200_1060, None);
    check(0x4200_0ffc, None);
    check(0x4000_0588, Some("ets_printf"));
    check(0x4000_058c, None);
    check(0x3fc9_0000, None);
}

#[test]
fn real_elf_decodes_to_file_and_line() {
    let Some(dir) = testdata() else { return };
    let path = dir.join("firmware/esp-idf-hello_world-esp32s3/hello_world.elf");
    let symbols = Symbols::from_elf_file(&path).expect("hello_world.elf");
    assert!(symbols.has_debug_info());
    let app_main = symbol_address(&path, "app_main");
    let location = symbols.lookup(app_main + 4).expect("app_main is known");
    assert_eq!(location.function.as_deref(), Some("app_main"), "{location}");
    let file = location.file.clone().unwrap_or_default();
    assert!(file.ends_with("hello_world_main.c"), "{location}");
    assert!(location.line.is_some_and(|l| l > 0), "{location}");
    // A stack address decodes to nothing.
    assert_eq!(symbols.lookup(0x3fc9_8e50), None);
}

#[test]
fn missing_or_wrong_elf_is_one_line_error() {
    let err = Symbols::from_elf_file(Path::new("/nonexistent/fw.elf")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read ELF /nonexistent/fw.elf"),
        "{err}"
    );
    let err = Symbols::from_elf_bytes(&[0xE9; 64]).unwrap_err();
    assert!(err.to_string().contains("not an ELF file"), "{err}");
    assert!(!err.to_string().contains('\n'));
}

/// The address of a symbol, read with `object` directly (independent of `Symbols`).
fn symbol_address(path: &Path, name: &str) -> u32 {
    use object::{Object as _, ObjectSymbol as _};
    let bytes = std::fs::read(path).expect("ELF");
    let elf = object::File::parse(&*bytes).expect("parse");
    let symbol = elf
        .symbols()
        .find(|s| s.name() == Ok(name))
        .unwrap_or_else(|| panic!("{name} not in the ELF"));
    u32::try_from(symbol.address()).expect("32-bit address")
}

/// Watch a simulator and collect what was delivered, rendered as text.
fn watch_sim(
    transport: &mut SimTransport,
    options: &WatchOptions,
    stop_after_lines: Option<usize>,
) -> (Vec<String>, WatchEnd) {
    let mut seen = Vec::new();
    let mut lines = 0;
    let end = watch(transport, options, &mut |event| {
        match event {
            MonitorEvent::Received(_) => {}
            MonitorEvent::Line(l) => {
                seen.push(format!("line {l}"));
                lines += 1;
                if stop_after_lines == Some(lines) {
                    return Control::Stop;
                }
            }
            MonitorEvent::Hint(h) => seen.push(format!("hint {h}")),
            MonitorEvent::Address { addr, location } => {
                seen.push(format!("addr 0x{addr:08x} {location}"))
            }
        }
        Control::Continue
    })
    .expect("watch");
    (seen, end)
}

#[test]
fn watch_blank_chip_gives_the_invalid_header_hint_once_and_times_out() {
    let mut sim = SimTransport::open("sim://?mode=spi").expect("sim");
    let options = WatchOptions {
        timeout: Some(Duration::from_millis(300)),
        hints: true,
        ..WatchOptions::default()
    };
    let started = Instant::now();
    let (seen, end) = watch_sim(&mut sim, &options, None);
    assert_eq!(end, WatchEnd::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        seen.iter().any(|l| l == "line invalid header: 0xffffffff"),
        "{seen:?}"
    );
    let hints: Vec<_> = seen.iter().filter(|l| l.starts_with("hint ")).collect();
    assert_eq!(hints.len(), 1, "{seen:?}");
    assert!(hints[0].contains("belongs at 0x0"), "{seen:?}");
}

#[test]
fn watch_stops_on_until_and_on_the_callback() {
    let options = WatchOptions {
        until: regex::Regex::new(r"^rst:0x1 \(POWERON\)").ok(),
        timeout: Some(Duration::from_secs(5)),
        ..WatchOptions::default()
    };
    let mut sim = SimTransport::open("sim://?mode=spi").expect("sim");
    let (seen, end) = watch_sim(&mut sim, &options, None);
    assert_eq!(
        end,
        WatchEnd::Matched {
            line: "rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)".into()
        },
        "{seen:?}"
    );
    assert_eq!(
        seen.first().map(String::as_str),
        Some("line ESP-ROM:esp32s3-20210327")
    );

    let mut sim = SimTransport::open("sim://?mode=spi").expect("sim");
    let (seen, end) = watch_sim(&mut sim, &WatchOptions::default(), Some(2));
    assert_eq!(end, WatchEnd::Stopped);
    assert_eq!(seen.len(), 2, "{seen:?}");
}
