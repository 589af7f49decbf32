//! The error catalogue: every error `cargo esp32s3` can print has a stable code (`ES0504`), a
//! name (`ImageError::Truncated`), an example message, its usual cause and its fix, here and
//! nowhere else. The command line prints the code in front of the message
//! (`error[ES0504]: the file is truncated: …`), so a user can search for it, and `docs/errors.md`
//! is rendered from this module ([`markdown`]); `tests/error_catalogue.rs` fails when the
//! committed file is stale, so an example message that changes shows up in review.
//!
//! **Codes.** `ES` and four digits, one hundred per layer ([`LAYERS`]): `ES00xx` the command line,
//! `ES01xx` configuration, … `ES15xx` symbols. The prefix is `ES`, not rustc's `E`: rustc owns
//! `E0001`–`E0799` and this tool prints `cargo build`'s output, so `error[E0502]` would name a
//! borrow-checker error to anyone who searches for it. A code is never given to another
//! problem: when a variant goes away its code moves to [`RETIRED`].
//!
//! **Which code an error has.** [`code_of`] matches every error enum exhaustively, with no `_`
//! arm, one `catalogue!` invocation per layer (`src/catalogue/image.rs` for `ImageError`, and so
//! on). A new variant is therefore a compile error that names it, at the invocation that must
//! give it an arm: the pattern, the next free code of the layer, an example value, the cause
//! and the fix, all in one place. Wrappers carry no code of their own: context such as a file
//! name (`ImageError::InFile`, `AppFromElf`, `PartitionError::Csv`), the `#[from]` wrappers of
//! another layer's error (`FlashError::Loader`), and `ConfigError::Several` (the code of its
//! first problem) report the code of the problem inside.
//!
//! **What it must not know.** It does no I/O and prints nothing. It does not name the binary's
//! `CliError`: the command line's own errors are data here ([`command_line`]), and the binary
//! maps its variants to those codes with its own exhaustive match.

use crate::Error;

/// Declares the codes of one error enum: an exhaustive `match` from its variants to codes
/// (`$fn`), and the entries of those codes (`$entries`).
///
/// ```text
/// catalogue! {
///     /// The code of an image error.
///     pub(super) fn code(&ImageError);
///     /// The image errors' codes.
///     pub(super) const ENTRIES;
///     // Variants that wrap another error: the code of the error inside.
///     wrappers {
///         ImageError::InFile { source, .. } => code(source),
///     }
///     // One arm per problem: its pattern, its code, an example value, cause and fix.
///     ImageError::EmptyFile => ES0501 {
///         example: ImageError::EmptyFile,
///         cause: "…",
///         fix: "…",
///     },
/// }
/// ```
macro_rules! catalogue {
    (
        $(#[$fn_doc:meta])*
        $fn_vis:vis fn $fn:ident(&$ty:ty);
        $(#[$entries_doc:meta])*
        $entries_vis:vis const $entries:ident;
        wrappers { $($wrapper:pat => $inner:expr),* $(,)? }
        $(
            $pattern:pat => $code:ident {
                example: $example:expr,
                cause: $cause:expr,
                fix: $fix:expr $(,)?
            }
        ),* $(,)?
    ) => {
        $(#[$fn_doc])*
        $fn_vis fn $fn(error: &$ty) -> $crate::catalogue::Code {
            // A variant without an arm here has no code: give it one below (the layer's next
            // free code), with an example, the cause and the fix.
            match error {
                $($wrapper => $inner,)*
                $($pattern => $crate::catalogue::Code(stringify!($code)),)*
            }
        }

        $(#[$entries_doc])*
        $entries_vis const $entries: &[$crate::catalogue::Entry] = &[$(
            $crate::catalogue::Entry {
                code: $crate::catalogue::Code(stringify!($code)),
                pattern: stringify!($pattern),
                cause: $cause,
                fix: $fix,
                example: $crate::catalogue::Example::Library(|| $crate::Error::from($example)),
            }
        ),*];
    };
}

mod board;
mod bootloader_store;
mod cargo;
pub mod command_line;
mod config;
mod defmt;
mod files;
mod flasher;
mod image;
mod loader;
mod markdown;
mod monitor;
mod partition;
mod plan;
mod project;
mod symbols;
mod transport;

pub use markdown::markdown;

/// A stable error code, `ES` and four digits (`ES0504`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Code(&'static str);

impl Code {
    /// The code as text (`ES0504`).
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// One code: what it names, an example message, the usual cause and the fix.
#[derive(Debug)]
pub struct Entry {
    code: Code,
    /// The variant's pattern as written in the catalogue (`ImageError::Truncated { .. }`).
    pattern: &'static str,
    cause: &'static str,
    fix: &'static str,
    example: Example,
}

/// The example an entry shows.
#[derive(Debug, Clone, Copy)]
enum Example {
    /// A value of the library's error: its message is its `Display`, its exit code
    /// [`crate::exit::code_for`]'s.
    Library(fn() -> Error),
    /// A command-line error: a message it prints and the exit code it ends with.
    CommandLine {
        /// The message, without `error[…]: `.
        message: &'static str,
        /// The exit code.
        exit: u8,
    },
}

impl Entry {
    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// What the code names: the error variant (`ImageError::Truncated`), or for the command
    /// line's usage errors, `usage`.
    pub fn name(&self) -> &'static str {
        let end = self
            .pattern
            .find([' ', '(', '{'])
            .unwrap_or(self.pattern.len());
        &self.pattern[..end]
    }

    /// The usual cause, in a sentence or two.
    pub fn cause(&self) -> &'static str {
        self.cause
    }

    /// What to do, in a sentence or two.
    pub fn fix(&self) -> &'static str {
        self.fix
    }

    /// An example of the message (without the `error[…]: ` prefix the command line adds).
    pub fn message(&self) -> String {
        match self.example {
            Example::Library(make) => make().to_string(),
            Example::CommandLine { message, .. } => message.to_string(),
        }
    }

    /// The exit code the example ends the command with.
    pub fn exit_code(&self) -> u8 {
        match self.example {
            Example::Library(make) => crate::exit::code_for(&make()),
            Example::CommandLine { exit, .. } => exit,
        }
    }

    /// The example as a library error value, for the entries of library errors (`None` for the
    /// command line's own).
    pub fn example(&self) -> Option<Error> {
        match self.example {
            Example::Library(make) => Some(make()),
            Example::CommandLine { .. } => None,
        }
    }
}

/// A hundred codes: the errors of one layer.
#[derive(Debug)]
pub struct Layer {
    /// The first four characters of its codes (`ES05`).
    pub prefix: &'static str,
    /// Its title in `docs/errors.md` (`Images`).
    pub title: &'static str,
    /// What its errors are about, and which type they come from.
    pub about: &'static str,
    /// Its codes, in the order they were given.
    pub entries: &'static [Entry],
}

/// Every layer, in the order a command meets them.
pub const LAYERS: &[Layer] = &[
    Layer {
        prefix: "ES00",
        title: "The command line",
        about: "Problems only the command line has: its arguments (clap's usage errors and the checks clap cannot make), the port to use, what it refuses to overwrite, how a monitor or several boards ended. The binary's `CliError`.",
        entries: command_line::ENTRIES,
    },
    Layer {
        prefix: "ES01",
        title: "Configuration",
        about: "Flags, `ESP32S3_*` variables and `[package.metadata.esp32s3]` / `[workspace.metadata.esp32s3]`. `ConfigError` (`src/config.rs`).",
        entries: config::ENTRIES,
    },
    Layer {
        prefix: "ES02",
        title: "Finding the project",
        about: "The Cargo package a library script works on. `ProjectError` (`src/project.rs`).",
        entries: project::ENTRIES,
    },
    Layer {
        prefix: "ES03",
        title: "Cargo",
        about: "`cargo metadata` and `cargo build`. `CargoError` (`src/cargo.rs`).",
        entries: cargo::ENTRIES,
    },
    Layer {
        prefix: "ES04",
        title: "Files",
        about: "Reading and writing the user's files. `Error::File` (`src/error.rs`).",
        entries: files::ENTRIES,
    },
    Layer {
        prefix: "ES05",
        title: "Images",
        about: "ELF files, app and bootloader images, merged offset-0 images and prebuilt `.bin` files. `ImageError` (`src/image/error.rs`).",
        entries: image::ENTRIES,
    },
    Layer {
        prefix: "ES06",
        title: "Partition tables",
        about: "CSV and binary partition tables and their layout. `PartitionError` (`src/image/partition/error.rs`).",
        entries: partition::ENTRIES,
    },
    Layer {
        prefix: "ES07",
        title: "Plans",
        about: "What goes where, and whether the chip can boot it: refused before anything is written. `PlanError` (`src/plan.rs`).",
        entries: plan::ENTRIES,
    },
    Layer {
        prefix: "ES08",
        title: "Ports",
        about: "Serial ports, TCP and RFC 2217 bridges, the virtual chip: the byte channel itself. `TransportError` (`src/transport/mod.rs`).",
        entries: transport::ENTRIES,
    },
    Layer {
        prefix: "ES09",
        title: "The loader",
        about: "Talking to the chip's ROM loader or the flasher stub: sync, commands, replies. `LoaderError` (`src/loader/error.rs`).",
        entries: loader::ENTRIES,
    },
    Layer {
        prefix: "ES10",
        title: "Flashing",
        about: "Writing, erasing, reading and verifying flash, and the refusals that protect the chip. `FlashError` (`src/flasher/error.rs`).",
        entries: flasher::ENTRIES,
    },
    Layer {
        prefix: "ES11",
        title: "The board",
        about: "Operations a board refuses before touching the flash. `BoardError` (`src/board.rs`).",
        entries: board::ENTRIES,
    },
    Layer {
        prefix: "ES12",
        title: "Kept bootloaders",
        about: "The bootloaders this tool keeps for blank chips. `StoreError` (`src/bootloader_store.rs`).",
        entries: bootloader_store::ENTRIES,
    },
    Layer {
        prefix: "ES13",
        title: "The monitor",
        about: "Watching the chip's console. `MonitorError` (`src/monitor/mod.rs`).",
        entries: monitor::ENTRIES,
    },
    Layer {
        prefix: "ES14",
        title: "defmt",
        about: "Decoding defmt frames with the firmware ELF's table. `DefmtError` (`src/monitor/defmt.rs`).",
        entries: defmt::ENTRIES,
    },
    Layer {
        prefix: "ES15",
        title: "Symbols",
        about: "The firmware ELF used to decode code addresses. `SymbolsError` (`src/symbols.rs`).",
        entries: symbols::ENTRIES,
    },
];

/// Codes that were given once and whose error is gone. They are never given again, so a search
/// for an old code cannot find a new problem.
pub const RETIRED: &[&str] = &[];

/// The code of any library error: the code of the problem, through every wrapper.
pub fn code_of(error: &Error) -> Code {
    files::code(error)
}

/// Every entry, layer by layer.
pub fn entries() -> impl Iterator<Item = &'static Entry> {
    LAYERS.iter().flat_map(|layer| layer.entries.iter())
}

/// The entry of a code (`ES0504`), if there is one.
pub fn entry(code: &str) -> Option<&'static Entry> {
    entries().find(|entry| entry.code.as_str() == code)
}
