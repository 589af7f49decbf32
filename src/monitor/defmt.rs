//! defmt on the console: the frames esp-println's `defmt-espflash` feature writes between plain
//! text, and their decoding with the firmware ELF's `.defmt` table (the `defmt-decoder` crate).
//!
//! The framing, as esp-println writes it and espflash's monitor reads it: each frame starts with
//! the bytes `FF 00` (never valid UTF-8, so never part of text), followed by the frame in defmt's
//! rzCOBS encoding, which ends with its own `00`. Everything outside frames is text.
//! [`FrameSplitter`] takes that apart across reads (a frame or its `FF 00` may be split
//! anywhere); [`DefmtDecoder`] turns a frame into a [`DefmtLine`]: the message, its level, the
//! defmt timestamp, and `file:line` and module from the ELF's DWARF when it has them, laid out
//! by an [`OutputFormat`] (defmt's log format syntax, `{t} [{L}] {s}` and so on).
//!
//! [`detect_log_format`] says whether an ELF's console speaks defmt: its `.espressif.metadata`
//! names the format (esp-println writes `espflash.LOG_FORMAT`), else a `.defmt` table means
//! defmt. This module reads bytes it is given; it never prints and knows nothing of terminals,
//! colours or ports.

use std::fmt;

use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

use super::levels::Level;

/// The bytes esp-println writes before each defmt frame.
pub const FRAME_START: [u8; 2] = [0xFF, 0x00];

/// The longest frame kept: a stray `FF 00` in binary garbage (a wrong baud rate) must not
/// swallow the console until the next zero byte forever. defmt frames are a few dozen bytes.
pub const MAX_FRAME_LEN: usize = 16 * 1024;

/// What a piece of the console stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Plain text (or anything that is not a frame), in order.
    Text(&'a [u8]),
    /// One defmt frame, rzCOBS-encoded, without `FF 00` and without its closing `00`.
    Frame(&'a [u8]),
}

/// Where the splitter is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum SplitState {
    /// In text.
    #[default]
    Text,
    /// A `FF` was the last byte: a frame may start.
    AfterFf,
    /// Inside a frame.
    Frame,
}

/// Splits the console stream into text and defmt frames, across reads.
#[derive(Debug, Default, Clone)]
pub struct FrameSplitter {
    state: SplitState,
    frame: Vec<u8>,
}

impl FrameSplitter {
    /// An empty splitter, in text.
    pub fn new() -> Self {
        Self::default()
    }

    /// Take `bytes` apart; `out` gets the text and the frames they complete, in order. A `FF`
    /// at the end is held until the next byte says whether it starts a frame.
    pub fn push(&mut self, bytes: &[u8], out: &mut dyn FnMut(Piece<'_>)) {
        let mut text_start = 0;
        for (index, &byte) in bytes.iter().enumerate() {
            let was_text = self.state == SplitState::Text;
            match self.state {
                SplitState::Text => {
                    if byte == 0xFF {
                        if index > text_start {
                            out(Piece::Text(
                                bytes.get(text_start..index).unwrap_or_default(),
                            ));
                        }
                        self.state = SplitState::AfterFf;
                    }
                }
                SplitState::AfterFf => match byte {
                    0x00 => {
                        self.state = SplitState::Frame;
                        self.frame.clear();
                    }
                    // The held FF was text; this one may start a frame.
                    0xFF => out(Piece::Text(&[0xFF])),
                    _ => {
                        out(Piece::Text(&[0xFF]));
                        self.state = SplitState::Text;
                        text_start = index;
                        continue;
                    }
                },
                SplitState::Frame => {
                    if byte == 0x00 {
                        // rzCOBS frames never start with a zero: leading zeros are separators.
                        if !self.frame.is_empty() {
                            out(Piece::Frame(&self.frame));
                            self.frame.clear();
                            self.state = SplitState::Text;
                        }
                    } else if self.frame.len() >= MAX_FRAME_LEN {
                        // Not a frame after all: give up on it rather than swallow the console.
                        self.frame.clear();
                        self.state = SplitState::Text;
                    } else {
                        self.frame.push(byte);
                    }
                }
            }
            // A byte that was not text (or that ended a frame) is not part of the next text.
            if !was_text || self.state != SplitState::Text {
                text_start = index + 1;
            }
        }
        if self.state == SplitState::Text && text_start < bytes.len() {
            out(Piece::Text(bytes.get(text_start..).unwrap_or_default()));
        }
    }

    /// The stream ended: a held `FF` is text after all (an unfinished frame is dropped).
    pub fn finish(&mut self, out: &mut dyn FnMut(Piece<'_>)) {
        if self.state == SplitState::AfterFf {
            out(Piece::Text(&[0xFF]));
        }
        self.state = SplitState::Text;
        self.frame.clear();
    }
}

/// How a firmware writes its console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Text only.
    Plain,
    /// defmt frames (esp-println's `defmt-espflash` framing) between text.
    Defmt,
}

impl LogFormat {
    /// `defmt` or `plain` (`serial`, espflash's name, also works).
    pub fn parse(text: &str) -> Option<LogFormat> {
        match text.trim().to_ascii_lowercase().as_str() {
            "defmt" | "defmt-espflash" => Some(LogFormat::Defmt),
            "plain" | "serial" | "text" => Some(LogFormat::Plain),
            _ => None,
        }
    }
}

/// The ELF section esp-println and esp-hal put their build facts in.
const METADATA_SECTION: &str = ".espressif.metadata";
/// The symbol in it that names the log format (`defmt-espflash` or `serial`).
const LOG_FORMAT_SYMBOL: &str = "espflash.LOG_FORMAT";

/// Whether the firmware in `elf` writes defmt frames: as its `.espressif.metadata` says
/// (`espflash.LOG_FORMAT`, which esp-println sets to `defmt-espflash` or `serial`), else defmt
/// when it has a `.defmt` table.
pub fn detect_log_format(elf: &[u8]) -> Result<LogFormat, DefmtError> {
    let file = object::File::parse(elf).map_err(|e| DefmtError::NotElf {
        detail: e.to_string(),
    })?;
    if let Some(declared) = declared_log_format(&file) {
        if let Some(format) = LogFormat::parse(&declared) {
            return Ok(format);
        }
    }
    let has_table = file.sections().any(|s| {
        s.name()
            .is_ok_and(|n| n == ".defmt" || n.starts_with(".defmt."))
    });
    Ok(if has_table {
        LogFormat::Defmt
    } else {
        LogFormat::Plain
    })
}

/// The text of `espflash.LOG_FORMAT` in `.espressif.metadata`, if the ELF has it.
fn declared_log_format(file: &object::File<'_>) -> Option<String> {
    let section = file.section_by_name(METADATA_SECTION)?;
    let symbol = file.symbols().find(|s| {
        s.name() == Ok(LOG_FORMAT_SYMBOL) && s.section_index() == Some(section.index())
    })?;
    let bytes = section
        .data_range(symbol.address(), symbol.size())
        .ok()
        .flatten()?;
    let text = String::from_utf8_lossy(bytes);
    Some(text.trim_end_matches('\0').to_string())
}

/// Why defmt decoding cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DefmtError {
    /// The bytes are no ELF.
    #[error(
        "the firmware file is not an ELF ({detail}); give the firmware ELF with --elf to decode defmt"
    )]
    NotElf {
        /// What the parser said.
        detail: String,
    },
    /// The ELF has no `.defmt` table.
    #[error(
        "the ELF has no defmt table (no .defmt section), so defmt frames cannot be decoded; give the ELF of the firmware that uses defmt with --elf, or use --log-format plain"
    )]
    NoTable,
    /// The `.defmt` table is unreadable (or from a defmt version this decoder does not know).
    #[error(
        "cannot read the ELF's defmt table ({detail}); rebuild the firmware, or use --log-format plain"
    )]
    Table {
        /// What the decoder said, on one line.
        detail: String,
    },
    /// The firmware uses an encoding that cannot share the console with text.
    #[error(
        "the firmware's defmt encoding is {encoding}, which cannot be mixed with text on the console; use esp-println's defmt-espflash feature (rzCOBS, defmt's default encoding)"
    )]
    Encoding {
        /// The encoding the table names.
        encoding: String,
    },
    /// An `--output-format` that is not a defmt log format.
    #[error(
        "--output-format {format:?} is not a defmt log format ({problem}); use oneline, full, or a format such as \"{{t}} [{{L}}] {{s}}\""
    )]
    OutputFormat {
        /// The format as given.
        format: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// Where a defmt log statement is in the source (from the ELF's DWARF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefmtLocation {
    /// The source file, as the compiler recorded it.
    pub file: String,
    /// The line.
    pub line: u64,
    /// The module path (`my_app::net`).
    pub module: String,
}

/// One decoded defmt frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefmtLine {
    /// The frame laid out by the [`OutputFormat`] (may hold a line break with `full`).
    pub text: String,
    /// The message alone.
    pub message: String,
    /// Its level; `None` for `defmt::println!`.
    pub level: Option<Level>,
    /// The defmt timestamp, formatted, when the firmware defines one.
    pub timestamp: Option<String>,
    /// Where the statement is, when the ELF has the DWARF for it.
    pub location: Option<DefmtLocation>,
}

/// A frame that did not decode with the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UndecodableFrame;

/// Decodes defmt frames with a firmware's table.
pub struct DefmtDecoder {
    table: defmt_decoder::Table,
    locations: Option<defmt_decoder::Locations>,
    format: OutputFormat,
}

impl fmt::Debug for DefmtDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefmtDecoder")
            .field("locations", &self.locations.is_some())
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl DefmtDecoder {
    /// Read the defmt table (and the statements' locations, when the DWARF has them) from the
    /// firmware's `elf`; lay frames out with `format` (the default one-line format when `None`).
    pub fn from_elf(elf: &[u8], format: Option<OutputFormat>) -> Result<Self, DefmtError> {
        object::File::parse(elf).map_err(|e| DefmtError::NotElf {
            detail: e.to_string(),
        })?;
        let table = defmt_decoder::Table::parse(elf)
            .map_err(|e| DefmtError::Table {
                detail: one_line(&e.to_string()),
            })?
            .ok_or(DefmtError::NoTable)?;
        let encoding = table.encoding();
        if !matches!(encoding, defmt_decoder::Encoding::Rzcobs) {
            return Err(DefmtError::Encoding {
                encoding: format!("{encoding:?}").to_ascii_lowercase(),
            });
        }
        // Location info is a bonus: DWARF that is missing or incomplete leaves it out.
        let locations = table
            .get_locations(elf)
            .ok()
            .filter(|l| !l.is_empty() && table.indices().all(|i| l.contains_key(&(i as u64))));
        Ok(DefmtDecoder {
            table,
            locations,
            format: format.unwrap_or_default(),
        })
    }

    /// Whether the frames' source locations are known (the ELF has the DWARF).
    pub fn has_locations(&self) -> bool {
        self.locations.is_some()
    }

    /// Whether the firmware defines a defmt timestamp.
    pub fn has_timestamp(&self) -> bool {
        self.table.has_timestamp()
    }

    /// Decode one frame as [`FrameSplitter`] delivered it.
    pub fn decode(&self, frame: &[u8]) -> Result<DefmtLine, UndecodableFrame> {
        let mut stream = self.table.new_stream_decoder();
        stream.received(frame);
        stream.received(&[0]);
        let frame = stream.decode().map_err(|_| UndecodableFrame)?;
        let level = frame.level().and_then(|l| Level::parse(l.as_str()));
        let message = frame.display_message().to_string();
        let timestamp = frame.display_timestamp().map(|t| t.to_string());
        let location = self
            .locations
            .as_ref()
            .and_then(|l| l.get(&frame.index()))
            .map(|l| DefmtLocation {
                file: l.file.display().to_string(),
                line: l.line,
                module: l.module.clone(),
            });
        let mut line = DefmtLine {
            text: String::new(),
            message,
            level,
            timestamp,
            location,
        };
        line.text = self.format.render(&line, self.has_timestamp());
        Ok(line)
    }
}

/// One line of a defmt log format, without line breaks.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// How decoded frames are laid out: defmt's log format syntax (the defmt book's "Custom log
/// output"): `{s}` the message, `{L}` the level, `{t}` the timestamp, `{m}` the module path,
/// `{c}` the crate, `{F}` the file path, `{f}`, `{ff}`, `{fff}` its last components, `{l}` the
/// line; parameters after `:` (`{L:<5}`, `{f:>10}`, `{l:04}`) set width, alignment and zero
/// padding; groups nest with `%` parameters (`{[{L}]%<7}`). Colour and style parameters
/// (`red`, `bold`, `severity`, ...) are accepted and left out: the text is plain, and the
/// command line colours each line by its level. A `defmt::println!` frame (no level) is its
/// message alone, as in defmt's own tools.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutputFormat {
    kind: FormatKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
enum FormatKind {
    /// `[{L}] {s}`, with `{t} ` in front when there is a timestamp and ` ({c} {fff}:{l})`
    /// behind when the location is known.
    #[default]
    OneLine,
    /// `{t} {L} {s}`, then `└─ {m} @ {F}:{l}` on a second line when the location is known.
    Full,
    /// A format string.
    Custom(Vec<Segment>),
}

/// A piece of a format string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Field(Field, Params),
    Group(Vec<Segment>, Params),
}

/// What a `{...}` stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Message,
    Level,
    Timestamp,
    Module,
    Crate,
    FilePath,
    /// The last n components of the file path.
    FileName(usize),
    Line,
}

/// Width, alignment and padding of a field or group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Params {
    width: Option<usize>,
    align: Option<Align>,
    zero_pad: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
    Center,
}

/// The colour and style words defmt's formats accept.
const STYLE_WORDS: &[&str] = &[
    "severity",
    "werror",
    "bold",
    "italic",
    "underline",
    "strike",
    "dimmed",
    "black",
    "red",
    "green",
    "yellow",
    "blue",
    "magenta",
    "purple",
    "cyan",
    "white",
    "bright_black",
    "bright_red",
    "bright_green",
    "bright_yellow",
    "bright_blue",
    "bright_magenta",
    "bright_purple",
    "bright_cyan",
    "bright_white",
];

impl OutputFormat {
    /// `oneline` (the default), `full` (defmt's two-line format), or a format string.
    pub fn parse(text: &str) -> Result<OutputFormat, DefmtError> {
        let kind = match text.trim() {
            "oneline" => FormatKind::OneLine,
            "full" | "default" => FormatKind::Full,
            _ => {
                let fail = |problem: String| DefmtError::OutputFormat {
                    format: text.to_string(),
                    problem,
                };
                let segments = parse_segments(text).map_err(fail)?;
                if !mentions_message(&segments) {
                    return Err(fail(
                        "it has no {s}, so the message would not be shown".into(),
                    ));
                }
                FormatKind::Custom(segments)
            }
        };
        Ok(OutputFormat { kind })
    }

    /// Lay `line` out (its `text` is not used). `has_timestamp`: the firmware defines one.
    fn render(&self, line: &DefmtLine, has_timestamp: bool) -> String {
        if line.level.is_none() {
            return line.message.clone();
        }
        match &self.kind {
            FormatKind::OneLine => {
                let mut text = String::new();
                if has_timestamp {
                    text.push_str(&value(line, Field::Timestamp));
                    text.push(' ');
                }
                text.push('[');
                text.push_str(&padded(&value(line, Field::Level), Params::default(), 5));
                text.push_str("] ");
                text.push_str(&line.message);
                if line.location.is_some() {
                    text.push_str(&format!(
                        " ({} {}:{})",
                        value(line, Field::Crate),
                        value(line, Field::FileName(3)),
                        value(line, Field::Line)
                    ));
                }
                text
            }
            FormatKind::Full => {
                let mut text = String::new();
                if has_timestamp {
                    text.push_str(&value(line, Field::Timestamp));
                    text.push(' ');
                }
                text.push_str(&padded(&value(line, Field::Level), Params::default(), 5));
                text.push(' ');
                text.push_str(&line.message);
                if line.location.is_some() {
                    text.push_str(&format!(
                        "\n└─ {} @ {}:{}",
                        value(line, Field::Module),
                        value(line, Field::FilePath),
                        value(line, Field::Line)
                    ));
                }
                text
            }
            FormatKind::Custom(segments) => render_segments(segments, line),
        }
    }
}

fn mentions_message(segments: &[Segment]) -> bool {
    segments.iter().any(|s| match s {
        Segment::Field(Field::Message, _) => true,
        Segment::Group(inner, _) => mentions_message(inner),
        _ => false,
    })
}

fn render_segments(segments: &[Segment], line: &DefmtLine) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Literal(text) => out.push_str(text),
            Segment::Field(field, params) => {
                let default_width = match field {
                    Field::Level => 5,
                    Field::Line => 4,
                    _ => 0,
                };
                out.push_str(&padded(&value(line, *field), *params, default_width));
            }
            Segment::Group(inner, params) => {
                out.push_str(&padded(&render_segments(inner, line), *params, 0));
            }
        }
    }
    out
}

/// The text a field stands for in `line` (defmt's placeholders when it is unknown).
fn value(line: &DefmtLine, field: Field) -> String {
    let location = line.location.as_ref();
    match field {
        Field::Message => line.message.clone(),
        Field::Level => line.level.map_or("<lvl>", Level::name).to_string(),
        Field::Timestamp => line.timestamp.clone().unwrap_or_else(|| "<time>".into()),
        Field::Module => location.map_or_else(|| "<mod path>".into(), |l| l.module.clone()),
        Field::Crate => location
            .and_then(|l| {
                let mut parts = l.module.split("::");
                let first = parts.next()?;
                parts.next().map(|_| first.to_string())
            })
            .unwrap_or_else(|| "<crate>".into()),
        Field::FilePath => location.map_or_else(|| "<file>".into(), |l| l.file.clone()),
        Field::FileName(n) => location.map_or_else(
            || "<file>".into(),
            |l| {
                let parts: Vec<&str> = l
                    .file
                    .split(['/', '\\'])
                    .filter(|p| !p.is_empty())
                    .collect();
                parts
                    .get(parts.len().saturating_sub(n)..)
                    .unwrap_or_default()
                    .join("/")
            },
        ),
        Field::Line => location.map_or_else(|| "0".into(), |l| l.line.to_string()),
    }
}

/// `text` padded to the width the parameters (or the field's default) ask for.
fn padded(text: &str, params: Params, default_width: usize) -> String {
    let width = params.width.unwrap_or(default_width);
    let len = text.chars().count();
    if len >= width {
        return text.to_string();
    }
    let fill = width - len;
    let pad = |n: usize| {
        if params.zero_pad {
            "0".repeat(n)
        } else {
            " ".repeat(n)
        }
    };
    match params.align.unwrap_or(if params.zero_pad {
        Align::Right
    } else {
        Align::Left
    }) {
        Align::Left => format!("{text}{}", pad(fill)),
        Align::Right => format!("{}{text}", pad(fill)),
        Align::Center => format!("{}{text}{}", pad(fill / 2), pad(fill - fill / 2)),
    }
}

/// Parse a format string into segments.
fn parse_segments(text: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        match c {
            '{' => {
                let end = matching_brace(rest)
                    .ok_or_else(|| format!("the {{ at {:?} is never closed", excerpt(rest)))?;
                let inner = rest.get(1..end).unwrap_or_default();
                if !literal.is_empty() {
                    segments.push(Segment::Literal(std::mem::take(&mut literal)));
                }
                segments.push(parse_braced(inner)?);
                rest = rest.get(end + 1..).unwrap_or_default();
            }
            '}' => return Err(format!("a }} at {:?} closes nothing", excerpt(rest))),
            '%' => {
                return Err(
                    "a % outside {...} (defmt formats cannot print % or braces)".to_string()
                );
            }
            _ => {
                literal.push(c);
                rest = rest.get(c.len_utf8()..).unwrap_or_default();
            }
        }
    }
    if !literal.is_empty() {
        segments.push(Segment::Literal(literal));
    }
    Ok(segments)
}

fn excerpt(text: &str) -> String {
    text.chars().take(12).collect()
}

/// The byte index of the `}` closing the `{` that `text` starts with.
fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (index, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(index);
                }
            }
            _ => {}
        }
    }
    None
}

/// What is between a pair of braces: a field with `:` parameters, or a group with `%` ones.
fn parse_braced(inner: &str) -> Result<Segment, String> {
    if inner.contains('{') {
        // A group: the parameters follow the last `%` outside nested braces.
        let mut depth = 0usize;
        let mut cuts = Vec::new();
        for (index, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                '%' if depth == 0 => cuts.push(index),
                _ => {}
            }
        }
        let body_end = cuts.first().copied().unwrap_or(inner.len());
        let body = parse_segments(inner.get(..body_end).unwrap_or_default())?;
        let params = parse_params(
            inner
                .get(body_end..)
                .unwrap_or_default()
                .split('%')
                .filter(|p| !p.is_empty()),
        )?;
        return Ok(Segment::Group(body, params));
    }
    let mut parts = inner.split(':');
    let name = parts.next().unwrap_or_default();
    let field = match name {
        "s" => Field::Message,
        "L" => Field::Level,
        "t" => Field::Timestamp,
        "m" => Field::Module,
        "c" => Field::Crate,
        "F" => Field::FilePath,
        "l" => Field::Line,
        f if !f.is_empty() && f.len() <= 255 && f.chars().all(|c| c == 'f') => {
            Field::FileName(f.len())
        }
        other => {
            return Err(format!(
                "{{{other}}} is no field; use s, L, t, m, c, F, f (ff, fff, ...) or l"
            ));
        }
    };
    Ok(Segment::Field(field, parse_params(parts)?))
}

/// `<5`, `>10`, `^8`, `04`, and the colour and style words (accepted, not applied).
fn parse_params<'a>(params: impl Iterator<Item = &'a str>) -> Result<Params, String> {
    let mut out = Params::default();
    for param in params {
        if STYLE_WORDS.contains(&param) {
            continue;
        }
        let (align, digits) = match param.chars().next() {
            Some('<') => (Some(Align::Left), param.get(1..).unwrap_or_default()),
            Some('>') => (Some(Align::Right), param.get(1..).unwrap_or_default()),
            Some('^') => (Some(Align::Center), param.get(1..).unwrap_or_default()),
            _ => (None, param),
        };
        let width = digits
            .parse::<usize>()
            .ok()
            .filter(|_| !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
            .ok_or_else(|| {
                format!(
                    "{param:?} is no parameter; use a width such as 5, <5, >5, ^5 or 05, a colour or a style"
                )
            })?;
        out.width = Some(width);
        out.align = align;
        out.zero_pad = digits.starts_with('0') && digits.len() > 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<String> {
        let mut splitter = FrameSplitter::new();
        let mut out = Vec::new();
        let mut record = |piece: Piece<'_>| match piece {
            Piece::Text(t) => out.push(format!(
                "text {}",
                String::from_utf8_lossy(t).escape_debug()
            )),
            Piece::Frame(f) => out.push(format!("frame {f:02x?}")),
        };
        for chunk in chunks {
            splitter.push(chunk, &mut record);
        }
        splitter.finish(&mut record);
        // Adjacent text pieces are one stream of text.
        let mut merged: Vec<String> = Vec::new();
        for piece in out {
            match (merged.last_mut(), piece.strip_prefix("text ")) {
                (Some(last), Some(text)) if last.starts_with("text ") => last.push_str(text),
                _ => merged.push(piece),
            }
        }
        merged
    }

    #[test]
    fn frames_between_text_in_any_split() {
        let stream: &[u8] =
            b"boot\r\n\xff\x00\x01\x02\x00mid\xff\x00\x03\x00\xff\x00\x04\x05\x00end";
        let want = [
            "text boot\\r\\n",
            "frame [01, 02]",
            "text mid",
            "frame [03]",
            "frame [04, 05]",
            "text end",
        ];
        assert_eq!(split(&[stream]), want);
        // Every split point, and byte by byte.
        for cut in 0..stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(split(&[a, b]), want, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(split(&bytes), want);
    }

    #[test]
    fn lone_ff_bytes_and_zeros_stay_text() {
        assert_eq!(split(&[b"a\xffb"]), ["text a\u{fffd}b"]);
        assert_eq!(split(&[b"a\xff"]), ["text a\u{fffd}"]);
        assert_eq!(
            split(&[b"\xff\xff\x00\x07\x00"]),
            ["text \u{fffd}", "frame [07]"]
        );
        assert_eq!(split(&[b"a\x00b"]), ["text a\\0b"]);
        // Leading zeros after FF 00 separate, they do not end an empty frame.
        assert_eq!(
            split(&[b"\xff\x00\x00\x00\x09\x00x"]),
            ["frame [09]", "text x"]
        );
    }

    #[test]
    fn a_runaway_frame_is_dropped_and_text_resumes() {
        let mut stream = b"\xff\x00".to_vec();
        stream.extend(std::iter::repeat_n(0x41u8, MAX_FRAME_LEN + 1));
        stream.extend_from_slice(b"ok");
        let pieces = split(&[&stream]);
        assert_eq!(pieces, ["text ok"]);
    }

    #[test]
    fn log_format_names() {
        assert_eq!(LogFormat::parse("defmt"), Some(LogFormat::Defmt));
        assert_eq!(LogFormat::parse("defmt-espflash"), Some(LogFormat::Defmt));
        assert_eq!(LogFormat::parse("serial"), Some(LogFormat::Plain));
        assert_eq!(LogFormat::parse("Plain"), Some(LogFormat::Plain));
        assert_eq!(LogFormat::parse("rtt"), None);
    }

    fn sample(level: Option<Level>, located: bool) -> DefmtLine {
        DefmtLine {
            text: String::new(),
            message: "temp 21".into(),
            level,
            timestamp: Some("1.250".into()),
            location: located.then(|| DefmtLocation {
                file: "/home/me/app/src/sensor/mod.rs".into(),
                line: 42,
                module: "app::sensor".into(),
            }),
        }
    }

    #[test]
    fn output_formats() {
        let info = sample(Some(Level::Info), true);
        let bare = sample(Some(Level::Warn), false);
        let render = |format: &str, line: &DefmtLine, ts: bool| {
            OutputFormat::parse(format).expect(format).render(line, ts)
        };
        assert_eq!(
            render("oneline", &info, false),
            "[INFO ] temp 21 (app src/sensor/mod.rs:42)"
        );
        assert_eq!(render("oneline", &bare, true), "1.250 [WARN ] temp 21");
        assert_eq!(
            render("full", &info, true),
            "1.250 INFO  temp 21\n└─ app::sensor @ /home/me/app/src/sensor/mod.rs:42"
        );
        assert_eq!(render("{L} {s}", &info, false), "INFO  temp 21");
        assert_eq!(render("{L:<1}|{s}", &info, false), "INFO|temp 21");
        assert_eq!(
            render("{t:>8} {[{L}]%<8}{s:bold} {f}:{l:1}", &info, true),
            "   1.250 [INFO ] temp 21 mod.rs:42"
        );
        assert_eq!(
            render("{m}: {s} {l:05}", &info, false),
            "app::sensor: temp 21 00042"
        );
        assert_eq!(
            render("{c}/{ff} {s:^11}!", &info, false),
            "app/sensor/mod.rs   temp 21  !"
        );
        assert_eq!(
            render("{m} {F} {s}", &bare, false),
            "<mod path> <file> temp 21"
        );
        // println! frames are their message.
        assert_eq!(render("{L} {s}", &sample(None, true), false), "temp 21");
    }

    #[test]
    fn bad_output_formats_say_what_is_wrong() {
        for (format, needle) in [
            ("{L}", "no {s}"),
            ("{s} {x}", "{x} is no field"),
            ("{s", "never closed"),
            ("{s}}", "closes nothing"),
            ("{s:wide}", "\"wide\" is no parameter"),
            ("100% {s}", "a % outside"),
        ] {
            let err = OutputFormat::parse(format).unwrap_err().to_string();
            assert!(err.contains(needle), "{format}: {err}");
            assert!(
                err.starts_with(&format!("--output-format {format:?}")),
                "{err}"
            );
        }
    }
}
