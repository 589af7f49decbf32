//! `cargo esp32s3 partition-table`: convert a partition table between CSV and binary, check it
//! against a flash size, and print it as a table. The parsing and checks are
//! `image::partition`'s; this file reads and writes the files and renders.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use console::style;

use cargo_esp32s3::Error;
use cargo_esp32s3::image::FlashSize;
use cargo_esp32s3::image::partition::{DEFAULT_TABLE_OFFSET, PartitionError, PartitionTable};
use cargo_esp32s3::units::{human_size, parse_number};

/// Arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 partition-table partitions.csv
  cargo esp32s3 partition-table partitions.csv --to-binary -o partitions.bin
  cargo esp32s3 partition-table build/partition-table.bin --to-csv
  cargo esp32s3 partition-table partitions.csv --flash-size 4MB")]
pub struct Args {
    /// Partition table to read, CSV or binary
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Write the binary table (to -o FILE, or to stdout when it is not a terminal)
    #[arg(long, conflicts_with = "to_csv")]
    pub to_binary: bool,
    /// Write the table as CSV (to -o FILE, or to stdout)
    #[arg(long)]
    pub to_csv: bool,
    /// Output file for --to-binary / --to-csv
    #[arg(short = 'o', long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Check that every partition fits a flash of this size (1MB..128MB)
    #[arg(long, value_name = "SIZE")]
    pub flash_size: Option<String>,
    /// Flash offset of the table [default: 0x8000]
    #[arg(long, value_name = "OFFSET")]
    pub partition_table_offset: Option<String>,
    /// Overwrite OUT if it exists
    #[arg(long)]
    pub force: bool,
}

/// The `--partition-table-offset` value (shared with `image-info`), or the default 0x8000.
pub fn table_offset_arg(text: Option<&str>) -> Result<u32, PartitionError> {
    match text {
        Some(text) => parse_number(text).ok_or_else(|| PartitionError::BadTableOffset {
            text: text.to_string(),
        }),
        None => Ok(DEFAULT_TABLE_OFFSET),
    }
}

/// Run the command.
pub fn run(args: Args) -> super::Result<()> {
    honour_no_color();
    let table_offset = table_offset_arg(args.partition_table_offset.as_deref())?;
    let flash_size = match &args.flash_size {
        Some(text) => Some(
            FlashSize::parse(text)
                .ok_or_else(|| PartitionError::BadFlashSize { text: text.clone() })?
                .bytes(),
        ),
        None => None,
    };
    let bytes = cargo_esp32s3::error::read_file(&args.file)?;
    let table = read_table(&bytes, &args.file, table_offset)?;
    table
        .validate(flash_size, table_offset)
        .map_err(|e| e.in_file(display_name(&args.file)))?;

    if args.to_binary {
        return emit(&table.to_binary(), args.output.as_deref(), args.force, true);
    }
    if args.to_csv {
        return emit(
            table.to_csv().as_bytes(),
            args.output.as_deref(),
            args.force,
            false,
        );
    }
    if args.output.is_some() {
        return Err(super::CliError::BadArgument(
            "-o needs --to-binary or --to-csv to say which format to write".into(),
        ));
    }
    outln!(
        "{} {} (table at 0x{table_offset:x})",
        style("Partition table").bold(),
        args.file.display()
    );
    out!("{}", render_table(&table));
    Ok(())
}

/// Parse a CSV or binary table, naming the file in CSV errors.
fn read_table(bytes: &[u8], path: &Path, table_offset: u32) -> super::Result<PartitionTable> {
    let name = display_name(path);
    let result = if bytes.starts_with(&cargo_esp32s3::image::partition::ENTRY_MAGIC) {
        PartitionTable::from_binary(bytes)
    } else {
        match std::str::from_utf8(bytes) {
            Ok(text) => PartitionTable::from_csv_at(text, table_offset),
            Err(_) => PartitionTable::parse(bytes),
        }
    };
    result.map_err(|e| Error::Partition(e.in_file(name)).into())
}

fn display_name(path: &Path) -> String {
    path.display().to_string()
}

/// Write to a file (refusing to overwrite without `--force`) or to stdout.
fn emit(bytes: &[u8], output: Option<&Path>, force: bool, binary: bool) -> super::Result<()> {
    match output {
        Some(path) => write_new_file(path, bytes, force),
        None => {
            let mut stdout = std::io::stdout();
            if binary && stdout.is_terminal() {
                return Err(PartitionError::BinaryToTerminal.into());
            }
            stdout
                .write_all(bytes)
                .and_then(|()| stdout.flush())
                .map_err(|e| Error::file("write", "<stdout>", e).into())
        }
    }
}

/// Write a file that must not exist yet unless `force` is given.
pub fn write_new_file(path: &Path, bytes: &[u8], force: bool) -> super::Result<()> {
    if !force && path.exists() {
        return Err(Error::file(
            "write",
            path,
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the file exists; nothing was written and nothing is lost (pass --force to overwrite it)",
            ),
        )
        .into());
    }
    std::fs::write(path, bytes).map_err(|e| Error::file("write", path, e).into())
}

/// The table as aligned columns: name, type, subtype, offset, size, flags.
pub fn render_table(table: &PartitionTable) -> String {
    let header = ["Name", "Type", "SubType", "Offset", "Size", "", "Flags"];
    let rows: Vec<[String; 7]> = table
        .partitions
        .iter()
        .map(|p| {
            [
                p.name.clone(),
                p.type_name(),
                p.subtype_name(),
                format!("0x{:06x}", p.offset),
                format!("0x{:06x}", p.size),
                format!("({})", human_size(u64::from(p.size))),
                p.flags_text(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::from(" ");
        for (cell, w) in cells.iter().zip(widths) {
            s.push_str(&format!(" {cell:<w$}"));
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = String::new();
    let head = line(header.iter().map(|h| h.to_string()).collect());
    out.push_str(&format!("{}\n", style(head.trim_end()).bold()));
    for row in rows {
        out.push_str(&line(row.to_vec()));
    }
    out
}

/// Turn colours off when `NO_COLOR` is set. console already checks whether the output is a
/// terminal, but honours `NO_COLOR` only on Unix; this makes it hold on every platform.
pub fn honour_no_color() {
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        console::set_colors_enabled(false);
        console::set_colors_enabled_stderr(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_offset_argument() {
        for (text, expected) in [
            (None, Ok(0x8000)),
            (Some("0x9000"), Ok(0x9000)),
            (Some("36K"), Ok(0x9000)),
            (
                Some("far"),
                Err("partition table offset `far` is not a number (use 0x8000)"),
            ),
        ] {
            let got = table_offset_arg(text).map_err(|e| e.to_string());
            assert_eq!(got, expected.map_err(str::to_string), "{text:?}");
        }
    }
}
