//! Code addresses → function and `file:line`, from the firmware's ELF: the DWARF line and
//! function tables through `addr2line`, with the ELF symbol table as the fallback when an ELF has
//! no debug information (a stripped release build) or the DWARF does not cover an address.
//!
//! This module owns the lookup only. It knows nothing of serial ports, panics or the text format
//! of a backtrace (that is `crate::monitor`); it does no I/O except reading the ELF in
//! [`Symbols::from_elf_file`].

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use addr2line::gimli;
use object::{Object as _, ObjectSection as _, ObjectSymbol as _, SymbolKind};

/// The DWARF reader: owns its section bytes, so [`Symbols`] does not borrow the ELF.
type Reader = gimli::EndianArcSlice<gimli::RunTimeEndian>;

/// Why an ELF could not be loaded for address decoding.
#[derive(Debug, thiserror::Error)]
pub enum SymbolsError {
    /// The ELF file could not be read.
    #[error("cannot read ELF {}: {source}; check the path given with --elf", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not an ELF file object can parse.
    #[error(
        "{what} is not an ELF file ({detail}); give the firmware ELF (target/xtensa-esp32s3-*/…/NAME), not a .bin"
    )]
    NotElf {
        /// The file (or "the input" for bytes).
        what: String,
        /// What the parser said.
        detail: String,
    },
    /// The ELF's debug information is malformed.
    #[error("the debug information in {what} is malformed ({detail}); rebuild the firmware")]
    BadDwarf {
        /// The file (or "the input" for bytes).
        what: String,
        /// What gimli said.
        detail: String,
    },
}

/// Where a code address lies in the firmware's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The function (demangled), innermost inlined one first when DWARF says so.
    pub function: Option<String>,
    /// How far the address lies past the start of `function`, when known from the symbol table.
    pub offset: Option<u32>,
    /// The source file, as the compiler recorded it.
    pub file: Option<String>,
    /// The line in `file`.
    pub line: Option<u32>,
}

impl fmt::Display for Location {
    /// `app_main at /src/main.c:12`, `app_main+0x1c`, or `?? at /src/main.c:12`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.function {
            Some(name) => f.write_str(name)?,
            None => f.write_str("??")?,
        }
        if let Some(offset) = self.offset.filter(|o| *o != 0) {
            write!(f, "+0x{offset:x}")?;
        }
        if let Some(file) = &self.file {
            write!(f, " at {file}")?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
        }
        Ok(())
    }
}

/// A function from the ELF symbol table.
#[derive(Debug, Clone)]
struct FunctionSymbol {
    start: u32,
    size: u32,
    name: String,
}

/// The address-to-source tables of one firmware ELF.
pub struct Symbols {
    dwarf: Option<addr2line::Context<Reader>>,
    /// Sized functions, sorted by start address.
    functions: Vec<FunctionSymbol>,
    /// Labels without a size (ROM functions the linker script provides), sorted by address;
    /// they match only their exact address.
    labels: Vec<FunctionSymbol>,
}

impl fmt::Debug for Symbols {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Symbols")
            .field("dwarf", &self.dwarf.is_some())
            .field("functions", &self.functions.len())
            .field("labels", &self.labels.len())
            .finish()
    }
}

impl Symbols {
    /// Load the tables of the ELF at `path`.
    pub fn from_elf_file(path: &Path) -> Result<Self, SymbolsError> {
        let bytes = std::fs::read(path).map_err(|source| SymbolsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&bytes, &path.display().to_string())
    }

    /// Load the tables of an ELF held in memory.
    pub fn from_elf_bytes(bytes: &[u8]) -> Result<Self, SymbolsError> {
        Self::parse(bytes, "the input")
    }

    fn parse(bytes: &[u8], what: &str) -> Result<Self, SymbolsError> {
        let elf = object::File::parse(bytes).map_err(|e| SymbolsError::NotElf {
            what: what.to_string(),
            detail: e.to_string(),
        })?;
        let (functions, labels) = symbol_table(&elf);
        let dwarf = load_dwarf(&elf).map_err(|e| SymbolsError::BadDwarf {
            what: what.to_string(),
            detail: e.to_string(),
        })?;
        Ok(Symbols {
            dwarf,
            functions,
            labels,
        })
    }

    /// True when the ELF carries DWARF line information (file:line is possible).
    pub fn has_debug_info(&self) -> bool {
        self.dwarf.is_some()
    }

    /// Where `addr` lies: function and file:line from DWARF, else the function from the symbol
    /// table; `None` when neither knows the address.
    pub fn lookup(&self, addr: u32) -> Option<Location> {
        let from_symbols = self.symbol_at(addr);
        let from_dwarf = self.dwarf_at(addr);
        match (from_dwarf, from_symbols) {
            (Some(mut dwarf), Some(symbol)) => {
                if dwarf.function.is_none() {
                    dwarf.function = Some(symbol.name.clone());
                    dwarf.offset = addr.checked_sub(symbol.start);
                }
                Some(dwarf)
            }
            (Some(dwarf), None) => Some(dwarf),
            (None, Some(symbol)) => Some(Location {
                function: Some(symbol.name.clone()),
                offset: addr.checked_sub(symbol.start),
                file: None,
                line: None,
            }),
            (None, None) => None,
        }
    }

    fn symbol_at(&self, addr: u32) -> Option<&FunctionSymbol> {
        let after = self.functions.partition_point(|f| f.start <= addr);
        let sized = after
            .checked_sub(1)
            .and_then(|i| self.functions.get(i))
            .filter(|f| addr - f.start < f.size);
        sized.or_else(|| {
            self.labels
                .binary_search_by_key(&addr, |l| l.start)
                .ok()
                .and_then(|i| self.labels.get(i))
        })
    }

    fn dwarf_at(&self, addr: u32) -> Option<Location> {
        let context = self.dwarf.as_ref()?;
        let mut frames = context.find_frames(u64::from(addr)).skip_all_loads().ok()?;
        let mut function = None;
        let mut file = None;
        let mut line = None;
        // The first frame is the innermost (inlined) function; its location is where the
        // address is. Later frames only fill in what the first lacks.
        while let Ok(Some(frame)) = frames.next() {
            if function.is_none() {
                function = frame
                    .function
                    .as_ref()
                    .and_then(|name| name.demangle().ok().map(Cow::into_owned));
            }
            if file.is_none() {
                if let Some(location) = &frame.location {
                    file = location.file.map(windows_absolute_tail);
                    line = location.line;
                }
            }
            if function.is_some() && file.is_some() {
                break;
            }
        }
        (function.is_some() || file.is_some()).then_some(Location {
            function,
            offset: None,
            file,
            line,
        })
    }
}

/// A path as addr2line joined it, cut to its last Windows absolute part: on a Unix host a
/// `D:/...` directory recorded by a Windows build is not recognised as absolute, so it gets
/// appended to the compilation directory (`D:\proj\build\D:/proj/main\x.c`).
fn windows_absolute_tail(path: &str) -> String {
    let bytes = path.as_bytes();
    let restart = (1..bytes.len().saturating_sub(2))
        .rev()
        .find(|&i| {
            bytes.get(i).is_some_and(u8::is_ascii_alphabetic)
                && bytes.get(i + 1) == Some(&b':')
                && matches!(bytes.get(i + 2), Some(b'/' | b'\\'))
                && matches!(bytes.get(i - 1), Some(b'/' | b'\\'))
        })
        .unwrap_or(0);
    path.get(restart..).unwrap_or(path).to_string()
}

/// Functions and labels from the ELF symbol table, demangled and sorted.
fn symbol_table(elf: &object::File<'_>) -> (Vec<FunctionSymbol>, Vec<FunctionSymbol>) {
    let mut functions = Vec::new();
    let mut labels = Vec::new();
    for symbol in elf.symbols() {
        let Ok(raw) = symbol.name() else { continue };
        let Ok(start) = u32::try_from(symbol.address()) else {
            continue;
        };
        if raw.is_empty() || start == 0 || symbol.is_undefined() {
            continue;
        }
        let name = addr2line::demangle_auto(Cow::Borrowed(raw), None).into_owned();
        let size = u32::try_from(symbol.size()).unwrap_or(u32::MAX);
        match symbol.kind() {
            SymbolKind::Text if size > 0 => functions.push(FunctionSymbol { start, size, name }),
            SymbolKind::Text | SymbolKind::Unknown if size == 0 && is_code_address(start) => {
                labels.push(FunctionSymbol { start, size, name })
            }
            _ => {}
        }
    }
    functions.sort_by_key(|f| f.start);
    labels.sort_by_key(|f| f.start);
    labels.dedup_by_key(|f| f.start);
    (functions, labels)
}

/// Instruction addresses of the ESP32-S3: ROM and IRAM at 0x40xx_xxxx, flash code at 0x42xx_xxxx.
pub fn is_code_address(addr: u32) -> bool {
    matches!(addr >> 24, 0x40 | 0x42)
}

/// The DWARF sections as an addr2line context; `None` when the ELF has no line information.
fn load_dwarf(elf: &object::File<'_>) -> Result<Option<addr2line::Context<Reader>>, gimli::Error> {
    if elf.section_by_name(".debug_line").is_none() && elf.section_by_name(".debug_info").is_none()
    {
        return Ok(None);
    }
    let endian = if elf.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let dwarf = gimli::Dwarf::load(|id| -> Result<Reader, gimli::Error> {
        let data: Arc<[u8]> = elf
            .section_by_name(id.name())
            .and_then(|section| section.uncompressed_data().ok())
            .map(|data| Arc::from(data.as_ref()))
            .unwrap_or_else(|| Arc::from(&[][..]));
        Ok(gimli::EndianArcSlice::new(data, endian))
    })?;
    addr2line::Context::from_dwarf(dwarf).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_forms() {
        let check = |location: Location, expected: &str| assert_eq!(location.to_string(), expected);
        check(
            Location {
                function: Some("app_main".into()),
                offset: None,
                file: Some("/p/main.c".into()),
                line: Some(12),
            },
            "app_main at /p/main.c:12",
        );
        check(
            Location {
                function: Some("app_main".into()),
                offset: Some(0x1c),
                file: None,
                line: None,
            },
            "app_main+0x1c",
        );
        check(
            Location {
                function: None,
                offset: None,
                file: Some("/p/main.c".into()),
                line: None,
            },
            "?? at /p/main.c",
        );
    }

    #[test]
    fn windows_paths_joined_on_unix_are_cut() {
        let check = |joined: &str, expected: &str| {
            assert_eq!(windows_absolute_tail(joined), expected, "{joined}");
        };
        check(
            r"D:\p\build\D:/p/main\hello_world_main.c",
            r"D:/p/main\hello_world_main.c",
        );
        check("/home/u/p/main/main.c", "/home/u/p/main/main.c");
        check(r"C:\p\main.c", r"C:\p\main.c");
        check("main.c", "main.c");
        check("", "");
    }

    #[test]
    fn code_address_ranges() {
        for (addr, code) in [
            (0x4200_abcd, true),
            (0x4037_0000, true),
            (0x4000_0588, true),
            (0x3fc9_0000, false),
            (0x3c00_0000, false),
            (0x4100_0000, false),
        ] {
            assert_eq!(is_code_address(addr), code, "0x{addr:08x}");
        }
    }

    #[test]
    fn garbage_is_not_an_elf() {
        let err = Symbols::from_elf_bytes(b"\xe9\x03\x02\x20 not an elf").unwrap_err();
        assert!(err.to_string().contains("is not an ELF file"), "{err}");
    }
}
