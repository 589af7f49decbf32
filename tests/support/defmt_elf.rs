//! A defmt firmware for tests, written here because there is no Xtensa toolchain to build one:
//! an ELF with a `.defmt` table (each log statement a symbol whose name is the JSON description
//! defmt's macros write: package, tag, format string, disambiguator, crate), the
//! `_defmt_version_` and `_defmt_encoding_` symbols, optionally a defmt timestamp,
//! `.espressif.metadata` naming the log format as esp-println does, and DWARF that places each
//! statement (`DEFMT_LOG_STATEMENT` variables in namespaces, with file and line). And the other
//! side: frames as esp-println's `defmt-espflash` writes them (`FF 00`, then the frame in defmt's
//! rzCOBS encoding, which ends with `00`), with an rzCOBS encoder written from the format's
//! description.
// Each test file uses what it needs of this module.
#![allow(dead_code)]

use object::write::{Object, Symbol, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
};

/// One log statement of the firmware.
#[derive(Debug, Clone)]
pub struct Statement {
    /// `defmt_info`, `defmt_warn`, `defmt_error`, `defmt_debug`, `defmt_trace`,
    /// `defmt_println`, or `defmt_str` for an interned string.
    pub tag: &'static str,
    /// The format string (`temp {=u8} C`).
    pub format: &'static str,
    /// Module path and line, written into the DWARF (when it is written).
    pub module: &'static str,
    pub line: u64,
}

impl Statement {
    pub fn new(tag: &'static str, format: &'static str, module: &'static str, line: u64) -> Self {
        Statement {
            tag,
            format,
            module,
            line,
        }
    }

    /// The symbol name defmt gives it: a JSON object.
    pub fn symbol(&self, index: usize) -> String {
        let crate_name = self.module.split("::").next().unwrap_or("app");
        format!(
            r#"{{"package":"{crate_name}","tag":"{}","data":"{}","disambiguator":"{index}","crate_name":"{crate_name}"}}"#,
            self.tag,
            self.format.replace('\\', "\\\\").replace('"', "\\\"")
        )
    }
}

/// What to put in the ELF.
#[derive(Debug, Clone, Default)]
pub struct DefmtFirmware {
    /// The statements; statement `i` gets index `i + 1` (its address in `.defmt`).
    pub statements: Vec<Statement>,
    /// A defmt timestamp format (`{=u64:ms}`, as esp-println's `timestamp` feature).
    pub timestamp: Option<&'static str>,
    /// `espflash.LOG_FORMAT` in `.espressif.metadata` (`defmt-espflash`, `serial`).
    pub log_format: Option<&'static str>,
    /// Write DWARF locating each statement in `/home/me/app/src/<file>`.
    pub dwarf: bool,
    /// Leave the `.defmt` section out (a firmware without defmt).
    pub no_table: bool,
}

/// The source directory the DWARF names.
pub const SOURCE_DIR: &str = "/home/me/app/src";
/// The source file the DWARF names.
pub const SOURCE_FILE: &str = "main.rs";

impl DefmtFirmware {
    /// The frame index of statement `i`.
    pub fn index(i: usize) -> u16 {
        u16::try_from(i + 1).expect("few statements")
    }

    /// The ELF.
    pub fn elf(&self) -> Vec<u8> {
        let mut elf = Object::new(BinaryFormat::Elf, Architecture::Xtensa, Endianness::Little);
        let text = elf.add_section(Vec::new(), b".text".to_vec(), SectionKind::Text);
        elf.append_section_data(text, &[0u8; 16], 4);
        elf.add_symbol(Symbol {
            name: b"main".to_vec(),
            value: 0x4200_0000,
            size: 16,
            kind: SymbolKind::Text,
            scope: SymbolScope::Linkage,
            weak: false,
            section: SymbolSection::Absolute,
            flags: SymbolFlags::None,
        });
        if !self.no_table {
            let count = self.statements.len() + usize::from(self.timestamp.is_some());
            let defmt = elf.add_section(Vec::new(), b".defmt".to_vec(), SectionKind::ReadOnlyData);
            elf.append_section_data(defmt, &vec![0u8; count + 1], 1);
            let mut symbols: Vec<(u64, String)> = self
                .statements
                .iter()
                .enumerate()
                .map(|(i, s)| (u64::from(Self::index(i)), s.symbol(i)))
                .collect();
            if let Some(format) = self.timestamp {
                let stamp = Statement::new("defmt_timestamp", format, "esp_println", 0);
                symbols.push((count as u64, stamp.symbol(count)));
            }
            for (value, name) in symbols {
                elf.add_symbol(Symbol {
                    name: name.into_bytes(),
                    value,
                    size: 1,
                    kind: SymbolKind::Data,
                    scope: SymbolScope::Linkage,
                    weak: false,
                    section: SymbolSection::Section(defmt),
                    flags: SymbolFlags::None,
                });
            }
            for name in ["_defmt_version_ = 4", "_defmt_encoding_ = rzcobs"] {
                elf.add_symbol(Symbol {
                    name: name.as_bytes().to_vec(),
                    value: 0,
                    size: 0,
                    kind: SymbolKind::Data,
                    scope: SymbolScope::Linkage,
                    weak: false,
                    section: SymbolSection::Absolute,
                    flags: SymbolFlags::None,
                });
            }
        }
        if let Some(format) = self.log_format {
            let metadata = elf.add_section(
                Vec::new(),
                b".espressif.metadata".to_vec(),
                SectionKind::ReadOnlyData,
            );
            let offset = elf.append_section_data(metadata, format.as_bytes(), 1);
            elf.add_symbol(Symbol {
                name: b"espflash.LOG_FORMAT".to_vec(),
                value: offset,
                size: format.len() as u64,
                kind: SymbolKind::Data,
                scope: SymbolScope::Linkage,
                weak: false,
                section: SymbolSection::Section(metadata),
                flags: SymbolFlags::None,
            });
        }
        if self.dwarf && !self.no_table {
            for (name, data) in self.dwarf_sections() {
                let section = elf.add_section(Vec::new(), name.into_bytes(), SectionKind::Debug);
                elf.append_section_data(section, &data, 1);
            }
        }
        elf.write().expect("the defmt ELF")
    }

    /// `.debug_*` sections placing each statement: a `DEFMT_LOG_STATEMENT` variable inside the
    /// namespaces of its module, with its symbol as the linkage name, in [`SOURCE_FILE`].
    fn dwarf_sections(&self) -> Vec<(String, Vec<u8>)> {
        use gimli::write::{
            AttributeValue, DwarfUnit, EndianVec, LineProgram, LineString, Sections,
        };
        let encoding = gimli::Encoding {
            format: gimli::Format::Dwarf32,
            version: 4,
            address_size: 4,
        };
        let mut dwarf = DwarfUnit::new(encoding);
        dwarf.unit.line_program = LineProgram::new(
            encoding,
            gimli::LineEncoding::default(),
            LineString::String(b"/home/me/app".to_vec()),
            LineString::String(b"src/main.rs".to_vec()),
            None,
        );
        let directory = dwarf
            .unit
            .line_program
            .add_directory(LineString::String(SOURCE_DIR.as_bytes().to_vec()));
        let file = dwarf.unit.line_program.add_file(
            LineString::String(SOURCE_FILE.as_bytes().to_vec()),
            directory,
            None,
        );
        let root = dwarf.unit.root();
        dwarf
            .unit
            .get_mut(root)
            .set(gimli::DW_AT_stmt_list, AttributeValue::LineProgramRef);
        for (i, statement) in self.statements.iter().enumerate() {
            let mut parent = root;
            for segment in statement.module.split("::") {
                let namespace = dwarf.unit.add(parent, gimli::DW_TAG_namespace);
                let name = dwarf.strings.add(segment);
                dwarf
                    .unit
                    .get_mut(namespace)
                    .set(gimli::DW_AT_name, AttributeValue::StringRef(name));
                parent = namespace;
            }
            let variable = dwarf.unit.add(parent, gimli::DW_TAG_variable);
            let name = dwarf.strings.add("DEFMT_LOG_STATEMENT");
            let linkage = dwarf.strings.add(statement.symbol(i));
            let entry = dwarf.unit.get_mut(variable);
            entry.set(gimli::DW_AT_name, AttributeValue::StringRef(name));
            entry.set(
                gimli::DW_AT_linkage_name,
                AttributeValue::StringRef(linkage),
            );
            entry.set(
                gimli::DW_AT_decl_file,
                AttributeValue::FileIndex(Some(file)),
            );
            entry.set(
                gimli::DW_AT_decl_line,
                AttributeValue::Udata(statement.line),
            );
        }
        let mut sections = Sections::new(EndianVec::new(gimli::LittleEndian));
        dwarf.write(&mut sections).expect("DWARF");
        let mut out = Vec::new();
        sections
            .for_each(|id, data| {
                if !data.slice().is_empty() {
                    out.push((id.name().to_string(), data.slice().to_vec()));
                }
                Ok::<(), gimli::write::Error>(())
            })
            .expect("sections");
        out
    }
}

/// A frame as esp-println's `defmt-espflash` writes it: `FF 00`, then the rzCOBS encoding of
/// `payload` (the index, the timestamp, the arguments), ending with `00`.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0xFF, 0x00];
    out.extend(rzcobs(payload));
    out.push(0x00);
    out
}

/// The payload of statement `i` with these encoded arguments (and a u64 timestamp first, when
/// `timestamp` is given).
pub fn payload(i: usize, timestamp: Option<u64>, args: &[u8]) -> Vec<u8> {
    let mut out = DefmtFirmware::index(i).to_le_bytes().to_vec();
    if let Some(t) = timestamp {
        out.extend_from_slice(&t.to_le_bytes());
    }
    out.extend_from_slice(args);
    out
}

/// rzCOBS ("reverse zero-compressing COBS"), the encoding defmt frames travel in: no zero byte
/// inside, so `00` ends a frame. Bytes go in groups of seven: a group with zeros is its non-zero
/// bytes followed by a byte whose bits mark the zeros; seven non-zero bytes in a row start a run
/// of up to 134 non-zero bytes, closed by `0x80 | (run - 7)` at the next zero or by `0xFF` when
/// the run is full. The decoder reads it backwards.
pub fn rzcobs(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut run: u8 = 0;
    let mut zeros: u8 = 0;
    for &byte in data {
        if run < 7 {
            if byte == 0 {
                zeros |= 1 << run;
            } else {
                out.push(byte);
            }
            run += 1;
            if run == 7 && zeros != 0 {
                out.push(zeros);
                run = 0;
                zeros = 0;
            }
        } else if byte != 0 {
            out.push(byte);
            run += 1;
            if run == 134 {
                out.push(0xFF);
                run = 0;
            }
        } else {
            out.push(0x80 | (run - 7));
            run = 0;
        }
    }
    // The end: an unfinished group marks its missing bytes as zeros (the decoder's extra
    // trailing zeros are ignored); an unfinished run is closed.
    if run > 0 && run < 7 {
        out.push((zeros | (0x7F << run)) & 0x7F);
    } else if run >= 7 {
        out.push(0x80 | (run - 7));
    }
    out
}
