//! Tidy checks: the architecture's rules about absence, checked as an ordinary test (as
//! rust-analyzer does) so `cargo test` fails when a file breaks one.
//!
//! Each rule greps the source text outside comments. A failure names the file, the line and the
//! rule. The few files that legitimately break a rule are listed in [`ALLOWED`] with the reason.
//! Some rules leave test code alone: `#[cfg(test)]` items, and files declared as
//! `#[cfg(test)] mod name;` (with everything below them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Files allowed to name something a rule forbids, each with why. Keep this list short: a new
/// entry needs a reason a reviewer would accept.
const ALLOWED: &[(&str, &str, &str)] = &[
    // (file, forbidden name, reason)
    (
        "src/main.rs",
        "*",
        "the binary's entry point is part of the command line, like src/cli/",
    ),
    (
        "tests/xtask_template.rs",
        EXIT_CODE,
        "it runs the xtask that `init` generates, whose exit codes (0, 1, 2) are its own, not cli::exit's",
    ),
];

/// A path-like name and where it may appear.
struct Confined {
    /// The texts to look for, each matched as a whole word.
    needles: &'static [&'static str],
    /// The only files or folders (ending in `/`) that may contain it.
    allowed_in: &'static [&'static str],
    /// The rule, as the failure message states it.
    rule: &'static str,
}

const CLI_ONLY: &[&str] = &["src/cli/", "src/main.rs"];

const CONFINED: &[Confined] = &[
    Confined {
        needles: &["serialport"],
        allowed_in: &["src/transport/serial.rs"],
        rule: "only src/transport/serial.rs names the serialport crate",
    },
    Confined {
        needles: &["clap::"],
        allowed_in: CLI_ONLY,
        rule: "only src/cli/ uses clap",
    },
    Confined {
        needles: &["console::"],
        allowed_in: CLI_ONLY,
        rule: "only src/cli/ uses the console crate",
    },
    Confined {
        needles: &["indicatif::"],
        allowed_in: CLI_ONLY,
        rule: "only src/cli/ draws progress bars (indicatif)",
    },
    Confined {
        needles: &[
            "crossterm::",
            "ctrlc::",
            "signal_hook::",
            "toml_edit::",
            "clap_complete::",
        ],
        allowed_in: CLI_ONLY,
        rule: "only src/cli/ owns the terminal, signals and the TOML editing of init (the library builds without the `cli` feature's crates)",
    },
    Confined {
        needles: &["env::var", "env::var_os", "env::vars", "env::vars_os"],
        allowed_in: CLI_ONLY,
        rule: "only src/cli/ reads environment variables (the library takes values, not the environment)",
    },
    Confined {
        needles: &["println!", "eprintln!", "print!", "eprint!"],
        allowed_in: CLI_ONLY,
        rule: "the library never prints: only src/cli/ prints (report progress as events)",
    },
    Confined {
        needles: &["println!", "print!"],
        allowed_in: &["src/cli/out.rs", "src/cli/monitor/"],
        rule: "commands print to stdout through outln!/out! (src/cli/out.rs), so a closed pipe ends them quietly instead of a panic (the monitor handles its own stdout)",
    },
    Confined {
        needles: &["dbg!"],
        allowed_in: &[],
        rule: "no dbg! left in the code",
    },
    Confined {
        needles: &[
            "Loader::connect(",
            "Flasher::new(",
            "ConnectOptions {",
            "FlashOptions {",
        ],
        allowed_in: &["src/board.rs", "src/loader/", "src/flasher/"],
        rule: "one flash path: only src/board.rs turns settings into connect and flash options and connects (the loader and flasher define them)",
    },
    Confined {
        needles: &[
            "flash_regions_for_bin(",
            "offset0_regions(",
            "chip_app_partition(",
            "read_chip_table(",
            "split_offset0_image",
            "RegionKind::App,",
        ],
        allowed_in: &["src/plan.rs", "src/image/"],
        rule: "one flash path: only src/plan.rs decides what goes where (image/ does the byte work)",
    },
    Confined {
        needles: &["defmt_decoder"],
        allowed_in: &["src/monitor/defmt.rs"],
        rule: "defmt is decoded in one place: only src/monitor/defmt.rs names defmt_decoder (the simulator plays bytes and knows nothing of defmt)",
    },
    Confined {
        needles: &["cli::", "mod cli"],
        allowed_in: CLI_ONLY,
        rule: "the library does not know the command line: src/cli/ is part of the binary and only src/main.rs names it",
    },
];

/// What starts an error line by hand, and the one file that may write it: the command line's
/// renderer, which puts the catalogue code in (`error[ES0504]:`). Only the command line prints.
const ERROR_LINE_STARTS: &[&str] = &["\"error:", "\"error[", "\"error\""];
const ERROR_RENDERER: &str = "src/cli/exit.rs";

/// Where the error catalogue lives: every error type is named there (`catalogue!` matches it
/// exhaustively), except the few in [`UNCATALOGUED_ERRORS`].
const CATALOGUE: &str = "src/catalogue/";

/// Error types that never reach the user as they are, each with what carries its code instead.
const UNCATALOGUED_ERRORS: &[(&str, &str)] = &[
    (
        "MemoryError",
        "the baud ladder's memory file: shown as a warning (the flash goes on), never an error that ends a command",
    ),
    (
        "CliError",
        "the binary's own error: src/cli/exit.rs maps each variant to a code of catalogue::command_line",
    ),
    (
        "ChipLacks",
        "the reason inside PlanError::CannotBootApp and NoBootloaderKept, which have the codes",
    ),
    (
        "ReplyError",
        "the loader turns it into LoaderError::Command or LoaderError::BadReply",
    ),
    (
        "SequenceError",
        "the configuration turns it into ConfigError::BadValue",
    ),
    (
        "SimError",
        "src/transport/sim.rs and src/cli/sim.rs turn it into a TransportError or an Error::File",
    ),
];

/// Folders that do no I/O at all: bytes and values in, bytes and values out.
/// The monitor's classification of log lines and its defmt decoding are pure too: bytes and
/// values in, values out (the command line colours and prints).
const PURE: &[&str] = &[
    "src/image/",
    "src/protocol/",
    "src/monitor/levels.rs",
    "src/monitor/defmt.rs",
];

/// What the pure folders must not name.
const IMPURE: &[&str] = &[
    "std::fs",
    "std::process",
    "std::env",
    "std::net",
    "Instant",
    "SystemTime",
];

/// The only paths below `crate::` that `src/sim/` may name: the simulator itself and the two
/// pure codecs it shares with the host (SLIP framing and telnet). Everything else of the host's
/// (transport, loader, flasher, image, board, cli, units, ...) is out of its reach, so a host bug
/// cannot be mirrored by the chip model.
const SIM_MAY_NAME: &[&str] = &["sim", "protocol::slip", "protocol::telnet"];

/// Where the simulator reads images with its own parser (file, or folder ending in `/`).
const SIM_IMAGE_READERS: &[&str] = &[
    "src/sim/boot.rs",
    "src/sim/second_stage.rs",
    "src/sim/second_stage/",
];

/// The one port-URL parser.
const URL_MODULE: &str = "src/transport/url.rs";

/// The one place with Espressif's USB ids, and the ids.
const USB_ID_MODULE: &str = "src/transport/usb.rs";
const USB_IDS: &[u64] = &[0x303A, 0x1001];

#[test]
fn tidy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();

    let sources: Vec<(String, String)> = rust_files(root, "src")
        .into_iter()
        .map(|file| {
            let text = read(root, &file);
            (file, text)
        })
        .collect();
    let test_modules = test_module_files(&sources);
    for (file, text) in &sources {
        check_module_doc(file, text, &mut problems);
        check_confined(file, text, &mut problems);
        check_pure(file, text, &mut problems);
        check_sim_reach(file, text, &mut problems);
        check_sim_image_parser(file, text, &mut problems);
        check_error_lines(file, text, &mut problems);
        let test_file = is_allowed_in(file, &test_modules);
        let test_lines = test_code_lines(text);
        let is_product = |number: usize| !test_file && !test_lines.contains(&number);
        check_url_parsing(file, text, &is_product, &mut problems);
        check_usb_ids(file, text, &is_product, &mut problems);
    }
    for folder in ["src", "tests", "benches", "xtask"] {
        for file in rust_files(root, folder) {
            check_test_attributes(&file, &read(root, &file), &mut problems);
        }
    }
    for file in rust_files(root, "tests") {
        check_exit_code_names(&file, &read(root, &file), &mut problems);
    }
    check_readme_has_test_command(root, &mut problems);
    check_code_map(root, &mut problems);
    check_image_layers(root, &mut problems);
    check_no_binaries(root, &mut problems);
    check_errors_catalogued(&sources, &mut problems);

    assert!(
        problems.is_empty(),
        "{} tidy problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The command line writes error lines only through its renderer, so each carries its code.
fn check_error_lines(file: &str, text: &str, problems: &mut Vec<String>) {
    if !is_allowed_in(file, CLI_ONLY) || file == ERROR_RENDERER {
        return;
    }
    for (number, code) in code_lines(text) {
        for needle in ERROR_LINE_STARTS {
            if contains_word(code, needle) {
                problems.push(format!(
                    "{file}:{number}: every error line carries its catalogue code: print errors with exit::report, or start the line with exit::error_prefix(code) ({ERROR_RENDERER}), never a bare \"error:\" (found `{needle}`)"
                ));
            }
        }
    }
}

/// Every error type (a `thiserror::Error` derive in `src/`) is named in the catalogue, whose
/// exhaustive matches then give each variant a code, or is one of [`UNCATALOGUED_ERRORS`], and
/// that list names only types that exist.
fn check_errors_catalogued(sources: &[(String, String)], problems: &mut Vec<String>) {
    let catalogue: Vec<&str> = sources
        .iter()
        .filter(|(file, _)| file.starts_with(CATALOGUE))
        .flat_map(|(_, text)| code_lines(text).map(|(_, code)| code))
        .collect();
    let mut found = Vec::new();
    for (file, text) in sources {
        let lines: Vec<(usize, &str)> = code_lines(text).collect();
        for (at, (number, code)) in lines.iter().enumerate() {
            if !code.contains("thiserror::Error") {
                continue;
            }
            let Some(name) = lines[at + 1..]
                .iter()
                .find_map(|(_, next)| error_type_name(next))
            else {
                continue;
            };
            found.push(name);
            let named = catalogue.iter().any(|line| contains_word(line, name));
            let exempt = UNCATALOGUED_ERRORS.iter().any(|(n, _)| *n == name);
            if !named && !exempt {
                problems.push(format!(
                    "{file}:{number}: every error has a code in the catalogue: give {name} a `catalogue!` in {CATALOGUE} (and a layer in LAYERS), or list it in UNCATALOGUED_ERRORS with what carries its code"
                ));
            }
        }
    }
    for (name, _) in UNCATALOGUED_ERRORS {
        if !found.contains(name) {
            problems.push(format!(
                "tests/tidy.rs:1: UNCATALOGUED_ERRORS names {name}, which is no error type in src/; keep the list true"
            ));
        }
    }
}

/// `Name` of a `pub enum Name {` or `pub struct Name {` line.
fn error_type_name(code: &str) -> Option<&str> {
    let rest = code.trim_start().strip_prefix("pub ")?;
    let rest = rest
        .strip_prefix("enum ")
        .or_else(|| rest.strip_prefix("struct "))?;
    rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .filter(|name| !name.is_empty())
}

/// Every source file opens with a `//!` paragraph saying what it owns.
fn check_module_doc(file: &str, text: &str, problems: &mut Vec<String>) {
    if !text.starts_with("//!") {
        problems.push(format!(
            "{file}:1: every src/**/*.rs starts with a `//!` paragraph saying what the module owns and must not know"
        ));
    }
}

fn check_confined(file: &str, text: &str, problems: &mut Vec<String>) {
    for rule in CONFINED {
        if is_allowed_in(file, rule.allowed_in) {
            continue;
        }
        for (number, code) in code_lines(text) {
            for needle in rule.needles {
                if contains_word(code, needle) && !is_allow_listed(file, needle) {
                    problems.push(format!("{file}:{number}: {} (found `{needle}`)", rule.rule));
                }
            }
        }
    }
}

fn check_pure(file: &str, text: &str, problems: &mut Vec<String>) {
    if !is_allowed_in(file, PURE) {
        return;
    }
    for (number, code) in code_lines(text) {
        for needle in IMPURE {
            if contains_word(code, needle) && !is_allow_listed(file, needle) {
                problems.push(format!(
                    "{file}:{number}: src/image/, src/protocol/, src/monitor/levels.rs and src/monitor/defmt.rs do no I/O: no files, processes, environment, network or clocks (found `{needle}`)"
                ));
            }
        }
    }
}

/// `src/sim/` names nothing of the crate but itself and the shared codecs ([`SIM_MAY_NAME`]),
/// tests included: no other `crate::` path, no `crate::{...}` group (it hides what is named), and
/// no `super::` chain that climbs out of `src/sim/`.
fn check_sim_reach(file: &str, text: &str, problems: &mut Vec<String>) {
    const RULE: &str = "src/sim/ names only crate::sim, crate::protocol::slip and crate::protocol::telnet (tests included), so the simulator shares no host code but the codecs";
    if !file.starts_with("src/sim/") {
        return;
    }
    let code = blank_non_code(text);
    for (number, line) in code.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        for (start, _) in line.match_indices("crate::") {
            let before = line.get(..start).unwrap_or("");
            if before.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            let path = line.get(start + "crate::".len()..).unwrap_or("");
            if !SIM_MAY_NAME
                .iter()
                .any(|allowed| starts_with_path(path, allowed))
            {
                let named: String = path
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '{'))
                    .collect();
                problems.push(format!("{file}:{number}: {RULE} (found `crate::{named}`)"));
            }
        }
        if contains_word(line, "cargo_esp32s3::") {
            problems.push(format!("{file}:{number}: {RULE} (found `cargo_esp32s3::`)"));
        }
    }
    let depth = module_depth(file);
    for (number, supers, inline_depth) in super_chains(&code) {
        if supers >= depth + inline_depth {
            problems.push(format!(
                "{file}:{number}: {RULE} (a chain of {supers} `super::` climbs out of src/sim/; write crate::sim::... instead)"
            ));
        }
    }
}

/// Whether `path` (the text after `crate::`) starts with the module path `prefix`, ending there
/// or going on with `::`, `;`, `,`, `}` or a space (so `sim` does not match `simulate`).
fn starts_with_path(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
}

/// How deep the module of `file` sits below the crate root: `src/sim/mod.rs` is 1 (`sim`),
/// `src/sim/boot.rs` 2 (`sim::boot`), `src/sim/second_stage/tests.rs` 3.
fn module_depth(file: &str) -> usize {
    let parts: Vec<&str> = file.split('/').skip(1).collect();
    match parts.last() {
        Some(&"mod.rs") => parts.len() - 1,
        _ => parts.len(),
    }
}

/// `(line, number of super::, inline modules around it)` for each `super::` chain in `code`
/// (comments and strings blanked).
fn super_chains(code: &str) -> Vec<(usize, usize, usize)> {
    let mut chains = Vec::new();
    // One entry per open brace: whether it opened an inline `mod name { ... }`.
    let mut braces: Vec<bool> = Vec::new();
    let mut line = 1;
    let mut index = 0;
    let bytes = code.as_bytes();
    while let Some(&byte) = bytes.get(index) {
        match byte {
            b'\n' => line += 1,
            b'{' => {
                let before = code.get(..index).unwrap_or("").trim_end();
                let mut words = before.rsplit(|c: char| c.is_whitespace());
                let name = words.next().unwrap_or("");
                let keyword = words.find(|w| !w.is_empty()).unwrap_or("");
                let is_mod = keyword == "mod"
                    && !name.is_empty()
                    && name.chars().all(|c| c.is_alphanumeric() || c == '_');
                braces.push(is_mod);
            }
            b'}' => {
                braces.pop();
            }
            b's' if code
                .get(index..)
                .is_some_and(|rest| rest.starts_with("super::"))
                && !code
                    .get(..index)
                    .unwrap_or("")
                    .ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') =>
            {
                let mut supers = 0;
                while code
                    .get(index..)
                    .is_some_and(|rest| rest.starts_with("super::"))
                {
                    supers += 1;
                    index += "super::".len();
                }
                let inline = braces.iter().filter(|is_mod| **is_mod).count();
                chains.push((line, supers, inline));
                continue;
            }
            _ => {}
        }
        index += 1;
    }
    chains
}

/// The simulator's image readers never use the host's image code, not even in their tests, so
/// a layout the host's writer gets wrong does not boot on the virtual chip either.
fn check_sim_image_parser(file: &str, text: &str, problems: &mut Vec<String>) {
    if !is_allowed_in(file, SIM_IMAGE_READERS) {
        return;
    }
    let code = blank_non_code(text);
    for (number, line) in code.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        for needle in ["crate::image", "cargo_esp32s3::image"] {
            if line.match_indices(needle).any(|(start, _)| {
                !line
                    .get(..start)
                    .unwrap_or("")
                    .ends_with(|c: char| c.is_alphanumeric() || c == '_')
                    && starts_with_path(line.get(start..).unwrap_or(""), needle)
            }) {
                problems.push(format!(
                    "{file}:{number}: src/sim/boot.rs and src/sim/second_stage/ read images with their own parser and never name crate::image, tests included (build test images with sim::test_image) (found `{needle}`)"
                ));
            }
        }
    }
}

/// Port URLs are taken apart only in [`URL_MODULE`]: elsewhere in `src/` no `"://"` literal and
/// no call given a literal with `://` (`strip_prefix("sim://")`, `starts_with("rfc2217://")`),
/// and in `src/transport/` no `?`, `&` or `%` literal (query splitting, percent-decoding).
/// Test code may spell URLs as it likes.
fn check_url_parsing(
    file: &str,
    text: &str,
    is_product: &dyn Fn(usize) -> bool,
    problems: &mut Vec<String>,
) {
    const RULE: &str = "port URLs are parsed only in src/transport/url.rs (use url::scheme, url::PortUrl or url::NetUrl)";
    if file == URL_MODULE {
        return;
    }
    // `'?'` also finds `b'?'`.
    let query_literals = ["'?'", "\"?\"", "'&'", "\"&\"", "'%'", "\"%\""];
    for (number, code) in code_lines(text) {
        if !is_product(number) {
            continue;
        }
        let mut found = calls_with_scheme_literal(code);
        if found.is_empty() && code.contains("\"://\"") {
            found.push("\"://\"".to_owned());
        }
        if file.starts_with("src/transport/") {
            found.extend(
                query_literals
                    .iter()
                    .filter(|literal| contains_literal(code, literal))
                    .map(|literal| (*literal).to_owned()),
            );
        }
        for what in found {
            if !is_allow_listed(file, "://") || !what.contains("://") {
                problems.push(format!("{file}:{number}: {RULE} (found `{what}`)"));
            }
        }
    }
}

/// `.name("...://...")` calls in `code`: a method given a string literal that holds `://`.
fn calls_with_scheme_literal(code: &str) -> Vec<String> {
    let mut calls = Vec::new();
    for (open, _) in code.match_indices("(\"") {
        let before = code.get(..open).unwrap_or("");
        let name = before
            .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        if name.is_empty()
            || !before
                .get(..before.len() - name.len())
                .unwrap_or("")
                .ends_with('.')
        {
            continue;
        }
        let literal = code.get(open + 2..).unwrap_or("");
        let end = literal.find('"').unwrap_or(literal.len());
        let content = literal.get(..end).unwrap_or("");
        if content.contains("://") {
            calls.push(format!(".{name}(\"{content}\")"));
        }
    }
    calls
}

/// Whether `code` holds the literal `literal` (`'?'`, `"&"`) as a token, not as the tail of a
/// longer one (`b'?'` for `'?'` is still a match: it is the same character).
fn contains_literal(code: &str, literal: &str) -> bool {
    code.match_indices(literal).any(|(start, _)| {
        let before = code.get(..start).unwrap_or("");
        let after = code.get(start + literal.len()..).unwrap_or("");
        !before.ends_with(|c: char| c.is_alphanumeric() && c != 'b' || c == '\\' || c == '\'')
            && !after.starts_with(|c: char| c.is_alphanumeric() || c == '\'' || c == '"')
    })
}

/// Espressif's USB ids are written as numbers only in [`USB_ID_MODULE`] (tests may use the
/// literals).
fn check_usb_ids(
    file: &str,
    text: &str,
    is_product: &dyn Fn(usize) -> bool,
    problems: &mut Vec<String>,
) {
    if file == USB_ID_MODULE {
        return;
    }
    let code = blank_non_code(text);
    for (number, line) in code.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        if !is_product(number) {
            continue;
        }
        for (literal, value) in hex_literals(line) {
            if USB_IDS.contains(&value) && !is_allow_listed(file, &literal) {
                problems.push(format!(
                    "{file}:{number}: Espressif's USB ids are defined once, in src/transport/usb.rs: use transport::usb::ESPRESSIF_VID / USB_JTAG_SERIAL_PID (found `{literal}`)"
                ));
            }
        }
    }
}

/// Each `0x...` integer literal in `code` with its value (underscores and a type suffix allowed).
fn hex_literals(code: &str) -> Vec<(String, u64)> {
    let mut literals = Vec::new();
    for (start, _) in code.match_indices("0x").chain(code.match_indices("0X")) {
        let before = code.get(..start).unwrap_or("");
        if before.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let digits: String = code
            .get(start + 2..)
            .unwrap_or("")
            .chars()
            .take_while(|c| c.is_ascii_hexdigit() || *c == '_')
            .collect();
        if let Ok(value) = u64::from_str_radix(&digits.replace('_', ""), 16) {
            literals.push((format!("0x{digits}"), value));
        }
    }
    literals
}

/// Files that are test code as a whole: declared as `#[cfg(test)] mod name;`, and everything in
/// such a module's folder. Entries are files or folders ending in `/`, for [`is_allowed_in`].
fn test_module_files(sources: &[(String, String)]) -> Vec<String> {
    let mut tests = Vec::new();
    for (file, text) in sources {
        let code = blank_non_code(text);
        let folder = match file.rsplit_once('/') {
            Some((dir, "mod.rs" | "lib.rs" | "main.rs")) => dir.to_owned(),
            Some((dir, name)) => format!("{dir}/{}", name.trim_end_matches(".rs")),
            None => continue,
        };
        for (start, end) in test_items(&code) {
            let item = code.get(start..end).unwrap_or("");
            let declaration = item.split(']').next_back().unwrap_or("").trim();
            if let Some(name) = declaration
                .strip_suffix(';')
                .and_then(|d| d.trim().rsplit_once("mod "))
                .map(|(_, name)| name.trim())
            {
                tests.push(format!("{folder}/{name}.rs"));
                tests.push(format!("{folder}/{name}/"));
            }
        }
    }
    tests
}

/// The line numbers (1-based) inside `#[cfg(test)]` items (a test module, a test helper).
fn test_code_lines(text: &str) -> Vec<usize> {
    let code = blank_non_code(text);
    let line_of = |index: usize| code.get(..index).unwrap_or("").matches('\n').count() + 1;
    let mut lines = Vec::new();
    for (start, end) in test_items(&code) {
        lines.extend(line_of(start)..=line_of(end.saturating_sub(1)));
    }
    lines
}

/// Byte ranges of the items under a `#[cfg(test)]` (or `#[cfg(all(test, ...))]`) attribute in
/// `code` (comments and strings blanked): from the attribute to the item's closing brace or
/// semicolon.
fn test_items(code: &str) -> Vec<(usize, usize)> {
    let mut items = Vec::new();
    for (start, _) in code.match_indices("#[cfg(") {
        let Some(close) = code.get(start..).and_then(|rest| rest.find(")]")) else {
            continue;
        };
        let condition = code
            .get(start + "#[cfg(".len()..start + close)
            .unwrap_or("");
        let is_test = condition == "test"
            || condition.starts_with("all(")
                && condition.split([',', '(', ')', ' ']).any(|w| w == "test");
        if !is_test {
            continue;
        }
        let body_start = start + close + ")]".len();
        let mut depth = 0usize;
        let mut end = code.len();
        for (offset, c) in code.get(body_start..).unwrap_or("").char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = body_start + offset + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = body_start + offset + 1;
                    break;
                }
                _ => {}
            }
        }
        items.push((start, end));
    }
    items
}

/// `text` with comments and the insides of string and character literals replaced by spaces
/// (line breaks kept, so line numbers stay), for rules that look at code structure: braces,
/// paths and numbers in prose or messages do not count.
fn blank_non_code(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let is_ident = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while chars.get(i).is_some_and(|&c| c != '\n') {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while let Some(&c) = chars.get(i) {
                let next = chars.get(i + 1).copied();
                if c == '/' && next == Some('*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c == '*' && next == Some('/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(c));
                    i += 1;
                }
            }
        } else if c == 'r' && !is_ident(i.checked_sub(1).and_then(|p| chars.get(p)))
            || c == 'r'
                && i.checked_sub(1).and_then(|p| chars.get(p)) == Some(&'b')
                && !is_ident(i.checked_sub(2).and_then(|p| chars.get(p)))
        {
            // A raw string r"..." or r#"..."# (also after b), else an identifier starting with r.
            let hashes = chars
                .get(i + 1..)
                .unwrap_or(&[])
                .iter()
                .take_while(|&&c| c == '#')
                .count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            for _ in 0..hashes + 2 {
                out.push(chars.get(i).copied().unwrap_or(' '));
                i += 1;
            }
            let closing: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            while let Some(&c) = chars.get(i) {
                if chars.get(i..i + closing.len()) == Some(closing.as_slice()) {
                    break;
                }
                out.push(blank(c));
                i += 1;
            }
            for &c in &closing {
                out.push(c);
                i += 1;
            }
        } else if c == '"' {
            out.push('"');
            i += 1;
            while let Some(&c) = chars.get(i) {
                if c == '\\' {
                    out.push(' ');
                    out.push(blank(chars.get(i + 1).copied().unwrap_or(' ')));
                    i += 2;
                } else if c == '"' {
                    out.push('"');
                    i += 1;
                    break;
                } else {
                    out.push(blank(c));
                    i += 1;
                }
            }
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{1F600}'); otherwise a lifetime or label.
            let end = if next == Some('\\') {
                chars
                    .get(i + 2..)
                    .unwrap_or(&[])
                    .iter()
                    .skip(1)
                    .position(|&c| c == '\'')
                    .map(|p| i + 3 + p)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    out.push('\'');
                    for _ in i + 1..end {
                        out.push(' ');
                    }
                    out.push('\'');
                    i = end + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Tests that expect a panic or are skipped hide what they check; tests return a clear failure
/// instead, and optional tiers say "skipped" and pass.
fn check_test_attributes(file: &str, text: &str, problems: &mut Vec<String>) {
    // Built at run time so this file does not contain the attributes it forbids.
    let forbidden = [format!("#[{}", "should_panic"), format!("#[{}", "ignore")];
    for (number, code) in code_lines(text) {
        for attribute in &forbidden {
            if code.contains(attribute.as_str()) {
                problems.push(format!(
                    "{file}:{number}: no `{attribute}]` tests: assert on the error value, or print `skipped: ...` and return when an optional tier cannot run"
                ));
            }
        }
    }
}

/// The name under which [`ALLOWED`] lists files exempt from [`check_exit_code_names`].
const EXIT_CODE: &str = "exit code";

/// Tests name the exit codes they expect by their constant (`exit::IMAGE`), so a reader sees
/// which failure is meant and a renumbering cannot leave a test checking the wrong thing.
///
/// Detected: `fails(` followed by a number (the CLI harness's `Outcome::fails`), and `Some(`
/// followed by a number right after `code,`, `code ==`, `code !=` or `code(),` (an
/// `assert_eq!(outcome.code, Some(5))` or `status.code(), Some(5)` comparison).
fn check_exit_code_names(file: &str, text: &str, problems: &mut Vec<String>) {
    if is_allow_listed(file, EXIT_CODE) {
        return;
    }
    // Strings are blanked first, so examples of the pattern in a string do not count.
    for (number, code) in code_lines(&blank_non_code(text)) {
        if let Some(found) = literal_exit_code(code) {
            problems.push(format!(
                "{file}:{number}: tests name exit codes by their constant: write `fails(exit::IMAGE, ..)` or `code, Some(i32::from(exit::SUCCESS))` with `cargo_esp32s3::exit`, not a number (found `{found}`)"
            ));
        }
    }
}

/// The first literal exit code in an assertion pattern on this line, as written.
fn literal_exit_code(code: &str) -> Option<String> {
    let starts_with_digit =
        |rest: &str| rest.trim_start().starts_with(|c: char| c.is_ascii_digit());
    for (at, _) in code.match_indices("fails(") {
        let before = code.get(..at).unwrap_or("");
        let rest = code.get(at + "fails(".len()..).unwrap_or("");
        if !before.ends_with(|c: char| c.is_alphanumeric() || c == '_') && starts_with_digit(rest) {
            return Some(format!(
                "fails({}",
                rest.trim_start()
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap_or("")
            ));
        }
    }
    for (at, _) in code.match_indices("Some(") {
        let before = code.get(..at).unwrap_or("").trim_end();
        let rest = code.get(at + "Some(".len()..).unwrap_or("");
        let compares_a_code = ["code,", "code ==", "code !=", "code(),"]
            .iter()
            .any(|pattern| before.ends_with(pattern));
        if compares_a_code && starts_with_digit(rest) {
            let digits = rest
                .trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap_or("");
            return Some(format!("Some({digits}"));
        }
    }
    None
}

/// The modules of `src/image/` form layers: none may reach itself through the modules it uses
/// (`use super::X`, `crate::image::X`, `super::X::` in a path). A folder module (`partition/`)
/// counts as one module; its files may use each other.
fn check_image_layers(root: &Path, problems: &mut Vec<String>) {
    let files: Vec<(String, String)> = rust_files(root, "src/image")
        .into_iter()
        .map(|file| {
            let text = read(root, &file);
            (file, text)
        })
        .collect();
    let graph = module_graph("src/image/", &files);
    if let Some(cycle) = find_cycle(&graph) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|pair| {
                let (file, line) = &graph[&pair[0]][&pair[1]];
                format!("{} uses {} at {file}:{line}", pair[0], pair[1])
            })
            .collect();
        let (file, line) = &graph[&cycle[0]][&cycle[1]];
        problems.push(format!(
            "{file}:{line}: the modules of src/image/ must not use each other in a cycle: {} ({}); move what they share into a module below them (see the layers in src/image/mod.rs)",
            cycle.join(" -> "),
            steps.join(", ")
        ));
    }
}

/// Module → module it uses → where (file, line) it first does, for the files of one folder
/// (`folder` ends in `/`; its `mod.rs` is the parent and is left out).
type ModuleGraph = BTreeMap<String, BTreeMap<String, (String, usize)>>;

fn module_graph(folder: &str, files: &[(String, String)]) -> ModuleGraph {
    // Each file's module path below the folder: `elf.rs` is [elf], `partition/csv.rs` is
    // [partition, csv], `partition/mod.rs` is [partition].
    let path_of = |file: &str| -> Vec<String> {
        let relative = file.strip_prefix(folder).unwrap_or(file);
        let relative = relative.strip_suffix(".rs").unwrap_or(relative);
        let mut parts: Vec<String> = relative.split('/').map(str::to_string).collect();
        if parts.last().is_some_and(|last| last == "mod") {
            parts.pop();
        }
        parts
    };
    let modules: Vec<String> = files
        .iter()
        .filter_map(|(file, _)| path_of(file).first().cloned())
        .collect();
    let mut graph = ModuleGraph::new();
    for (file, text) in files {
        let path = path_of(file);
        let Some(module) = path.first() else {
            continue;
        };
        graph.entry(module.clone()).or_default();
        for (line, used) in used_siblings(&path, text) {
            if modules.contains(&used) && used != *module {
                graph
                    .entry(module.clone())
                    .or_default()
                    .entry(used)
                    .or_insert_with(|| (file.clone(), line));
            }
        }
    }
    graph
}

/// `(line, module)` for each path in `text` that leaves the file's top module for a sibling in
/// the same folder: `super::X` (as many `super`s as the file and its inline modules are deep),
/// `crate::image::X`, and each `X` of a `{...}` group at that point.
fn used_siblings(path: &[String], text: &str) -> Vec<(usize, String)> {
    let tokens = tokens(&blank_non_code(text));
    let mut found = Vec::new();
    let mut depth = 0usize;
    // Inline modules (`mod tests {`) open at a brace depth and add a level to `super`.
    let mut inline: Vec<usize> = Vec::new();
    let mut index = 0;
    while let Some((line, token)) = tokens.get(index) {
        let token = token.as_str();
        let previous = index
            .checked_sub(1)
            .and_then(|i| tokens.get(i))
            .map(|(_, t)| t.as_str());
        match token {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                while inline.last().is_some_and(|&open| open > depth) {
                    inline.pop();
                }
            }
            "mod" if tokens.get(index + 2).is_some_and(|(_, t)| t == "{") => {
                inline.push(depth + 1);
            }
            "super" | "crate" if previous != Some("::") => {
                // Walk the prefix: `super::super::` or `crate::image::`.
                let mut at = index;
                let mut ups = 0;
                let mut from_root = false;
                if token == "crate" {
                    let is_image = tokens.get(at + 1).is_some_and(|(_, t)| t == "::")
                        && tokens.get(at + 2).is_some_and(|(_, t)| t == "image")
                        && tokens.get(at + 3).is_some_and(|(_, t)| t == "::");
                    if !is_image {
                        index += 1;
                        continue;
                    }
                    from_root = true;
                    at += 4;
                } else {
                    while tokens.get(at).is_some_and(|(_, t)| t == "super")
                        && tokens.get(at + 1).is_some_and(|(_, t)| t == "::")
                    {
                        ups += 1;
                        at += 2;
                    }
                }
                let levels = path.len() + inline.len();
                if from_root || ups == levels {
                    for name in path_heads(&tokens, at) {
                        found.push((*line, name));
                    }
                }
                // `pub(super)` and other bare `super`s are not paths: step past them.
                index = at.max(index + 1);
                continue;
            }
            _ => {}
        }
        index += 1;
    }
    found
}

/// The first name of the path at `tokens[at]`, or of each item of the `{...}` group there.
fn path_heads(tokens: &[(usize, String)], at: usize) -> Vec<String> {
    let is_name = |t: &str| t.starts_with(|c: char| c.is_alphabetic() || c == '_');
    match tokens.get(at).map(|(_, t)| t.as_str()) {
        Some("{") => {
            let mut heads = Vec::new();
            let mut depth = 0;
            let mut item_start = true;
            for (_, token) in tokens.iter().skip(at + 1) {
                match token.as_str() {
                    "{" => depth += 1,
                    "}" if depth == 0 => break,
                    "}" => depth -= 1,
                    "," if depth == 0 => {
                        item_start = true;
                        continue;
                    }
                    name if item_start && depth == 0 && is_name(name) => {
                        heads.push(name.to_string())
                    }
                    _ => {}
                }
                item_start = false;
            }
            heads
        }
        Some(name) if is_name(name) => vec![name.to_string()],
        _ => Vec::new(),
    }
}

/// Identifiers, `::` and single punctuation characters, each with its line number.
fn tokens(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (index, line) in code.lines().enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let mut at = 0;
        while let Some(&c) = chars.get(at) {
            if c.is_alphanumeric() || c == '_' {
                let start = at;
                while chars
                    .get(at)
                    .is_some_and(|&c| c.is_alphanumeric() || c == '_')
                {
                    at += 1;
                }
                out.push((index + 1, chars[start..at].iter().collect()));
                continue;
            }
            if c == ':' && chars.get(at + 1) == Some(&':') {
                out.push((index + 1, "::".to_string()));
                at += 2;
                continue;
            }
            if !c.is_whitespace() {
                out.push((index + 1, c.to_string()));
            }
            at += 1;
        }
    }
    out
}

/// A cycle in the graph as `[a, b, ..., a]`, or `None` when it has none.
fn find_cycle(graph: &ModuleGraph) -> Option<Vec<String>> {
    fn visit(
        graph: &ModuleGraph,
        node: &str,
        stack: &mut Vec<String>,
        done: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.iter().any(|n| n == node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(BTreeMap::keys) {
            if let Some(cycle) = visit(graph, next, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.push(node.to_string());
        None
    }
    let mut done = Vec::new();
    graph
        .keys()
        .find_map(|node| visit(graph, node, &mut Vec::new(), &mut done))
}

/// The README tells contributors the same test command CI runs.
fn check_readme_has_test_command(root: &Path, problems: &mut Vec<String>) {
    let Ok(ci) = std::fs::read_to_string(root.join(".ci/run")) else {
        problems.push(".ci/run:1: .ci/run is missing: CI runs nothing".to_owned());
        return;
    };
    let commands: Vec<&str> = ci
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("cargo ") && !line.contains("--version"))
        .collect();
    let Ok(readme) = std::fs::read_to_string(root.join("README.md")) else {
        problems
            .push("README.md:1: README.md is missing: it must give the test command".to_owned());
        return;
    };
    if commands.is_empty() {
        problems.push(".ci/run:1: .ci/run runs no `cargo` test command".to_owned());
    }
    for command in commands {
        if !readme.contains(command) {
            problems.push(format!(
                "README.md:1: the README must show the test command that .ci/run runs: `{command}`"
            ));
        }
    }
}

/// ARCHITECTURE.md has the one code map, and it is true: every file and folder directly under
/// `src/` is named there (as `` `src/NAME` ``, a folder as `` `src/NAME/` ``), every `src/` path it
/// names exists, and `src/lib.rs` keeps no second map.
fn check_code_map(root: &Path, problems: &mut Vec<String>) {
    let Ok(map) = std::fs::read_to_string(root.join("ARCHITECTURE.md")) else {
        problems.push("ARCHITECTURE.md:1: ARCHITECTURE.md is missing".to_owned());
        return;
    };
    let Ok(entries) = std::fs::read_dir(root.join("src")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let shown = if entry.path().is_dir() {
            format!("`src/{name}/`")
        } else {
            format!("`src/{name}`")
        };
        if !map.contains(&shown) {
            problems.push(format!(
                "ARCHITECTURE.md:1: the code map does not name {shown}; add a row saying what it owns"
            ));
        }
    }
    for (number, line) in map.lines().enumerate() {
        for (start, _) in line.match_indices("`src/") {
            let rest = &line[start + 1..];
            let Some(end) = rest.find('`') else { continue };
            let path = &rest[..end];
            // `src/image/elf.rs`, `app.rs`: only the first path of a cell is a full path.
            if path.contains(['*', ' ', '<']) {
                continue;
            }
            if !root.join(path.trim_end_matches('/')).exists() {
                problems.push(format!(
                    "ARCHITECTURE.md:{}: names {path}, which does not exist; keep the code map true",
                    number + 1
                ));
            }
        }
    }
    if std::fs::read_to_string(root.join("src/lib.rs")).is_ok_and(|lib| lib.contains("# Code map"))
    {
        problems.push(
            "src/lib.rs:1: the code map lives in ARCHITECTURE.md only; link to it instead of keeping a second one".to_owned(),
        );
    }
}

/// No bootloader, stub or firmware image is in the repository: no file named `*.bin` or `*.elf`
/// and none that starts with the ELF magic or an ESP image header (`e9` then a segment count of
/// 1..16), outside build output, version control and virtual environments.
fn check_no_binaries(root: &Path, problems: &mut Vec<String>) {
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                let skipped = name == "target" || name == ".git" || name.starts_with(".venv");
                if !skipped {
                    pending.push(path);
                }
                continue;
            }
            let by_name = name.ends_with(".bin") || name.ends_with(".elf");
            let head = std::fs::File::open(&path).ok().and_then(|mut file| {
                use std::io::Read as _;
                let mut head = [0u8; 4];
                file.read_exact(&mut head).ok().map(|()| head)
            });
            let by_content = head.is_some_and(|h| {
                h == *b"\x7fELF" || (h[0] == 0xE9 && (1..=16).contains(&h[1]) && h[2] <= 3)
            });
            if by_name || by_content {
                problems.push(format!(
                    "{}:1: no third-party binaries in the repository (a bootloader, stub or firmware image); tests build their own images and the tool keeps the user's",
                    relative(root, &path)
                ));
            }
        }
    }
}

/// `(line number, code)` for each line, with `//` comments (including doc comments) removed.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(index, line)| {
        let code = strip_comment(line);
        (!code.trim().is_empty()).then_some((index + 1, code))
    })
}

/// The part of `line` before a `//` comment that is not inside a string literal.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut in_string = false;
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        match byte {
            b'\\' if in_string => index += 1,
            b'"' => in_string = !in_string,
            // A char literal (`'"'`, `'\''`) must not open a string; a lifetime has no closing quote.
            b'\'' if !in_string => {
                if bytes.get(index + 1) == Some(&b'\\') {
                    // Skip the quote, the backslash and the escaped character, then find the end.
                    index += 3;
                    while bytes.get(index).is_some_and(|&b| b != b'\'') {
                        index += 1;
                    }
                } else if bytes.get(index + 2) == Some(&b'\'') {
                    index += 2;
                }
            }
            b'/' if !in_string && bytes.get(index + 1) == Some(&b'/') => {
                return line.get(..index).unwrap_or(line);
            }
            _ => {}
        }
        index += 1;
    }
    line
}

/// Whether `needle` occurs in `code` starting at a word boundary and, when it ends in an
/// identifier character, ending at one (so `print!` does not match `eprint!`, and `Instant`
/// does not match `InstantLike`). A crate name (`console::`) reached through a path
/// (`crate::sim::console::`) is a module of ours, so such a match right after `::` does not count.
fn contains_word(code: &str, needle: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    code.match_indices(needle).any(|(start, _)| {
        let before = code.get(..start).unwrap_or("");
        let after = code.get(start + needle.len()..).unwrap_or("");
        let is_crate_path = needle.ends_with("::");
        let starts_word = !(before.ends_with(is_ident) || is_crate_path && before.ends_with("::"));
        let ends_word = !needle.ends_with(is_ident) || !after.starts_with(is_ident);
        starts_word && ends_word
    })
}

fn is_allowed_in<S: AsRef<str>>(file: &str, places: &[S]) -> bool {
    places.iter().map(AsRef::as_ref).any(|place| {
        if place.ends_with('/') {
            file.starts_with(place)
        } else {
            file == place
        }
    })
}

fn is_allow_listed(file: &str, needle: &str) -> bool {
    ALLOWED
        .iter()
        .any(|(path, name, _reason)| *path == file && (*name == "*" || *name == needle))
}

/// Every `.rs` file under `root/folder`, as sorted `/`-separated paths relative to `root`.
fn rust_files(root: &Path, folder: &str) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending = vec![root.join(folder)];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                // Build output inside a member crate is not source.
                if path.file_name().is_some_and(|name| name != "target") {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(relative(root, &path));
            }
        }
    }
    files.sort();
    files
}

fn relative(root: &Path, path: &Path) -> String {
    let relative: PathBuf = path.strip_prefix(root).unwrap_or(path).to_path_buf();
    relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn read(root: &Path, file: &str) -> String {
    std::fs::read_to_string(root.join(file))
        .unwrap_or_else(|e| panic!("{file}:1: cannot read the file: {e}"))
}

/// The rule helpers themselves, on small inputs: each case is (input, expected).
#[test]
fn tidy_helpers() {
    let words = [
        ("println!(\"x\")", "println!", true),
        ("eprintln!(\"x\")", "println!", false),
        ("eprintln!(\"x\")", "eprintln!", true),
        ("print!(\"x\")", "print!", true),
        ("eprint!(\"x\")", "print!", false),
        ("use std::time::Instant;", "Instant", true),
        ("let x = InstantLike;", "Instant", false),
        ("use console::style;", "console::", true),
        ("use crate::sim::console::Boot;", "console::", false),
        ("boot_console::x", "console::", false),
        ("serialport::new(path, baud)", "serialport", true),
        ("let serialports = 1;", "serialport", false),
        ("std::env::var_os(\"X\")", "env::var", false),
        ("std::env::var_os(\"X\")", "env::var_os", true),
        ("std::env::var(\"X\")", "env::var", true),
    ];
    for (code, needle, expected) in words {
        assert_eq!(contains_word(code, needle), expected, "{needle} in {code}");
    }

    let comments = [
        ("let a = 1; // println!", "let a = 1; "),
        ("/// println!", ""),
        ("let url = \"sim://x\"; // c", "let url = \"sim://x\"; "),
        ("let s = \"a\\\"//b\";", "let s = \"a\\\"//b\";"),
        ("let q = b'\"'; // println!", "let q = b'\"'; "),
        ("let q = '\\''; // x", "let q = '\\''; "),
        ("fn f<'a>(x: &'a str) {} // x", "fn f<'a>(x: &'a str) {} "),
    ];
    for (line, expected) in comments {
        assert_eq!(strip_comment(line), expected, "{line}");
    }

    let blanked = [
        ("let a = \"x{\"; // {", "let a = \"  \";     "),
        (
            "let c = '{'; let l: &'a str;",
            "let c = ' '; let l: &'a str;",
        ),
        (
            "let e = '\\''; f(r#\"a\"b\"#)",
            "let e = '  '; f(r#\"   \"#)",
        ),
        ("x /* a /* b */ { */ y", "x                   y"),
        ("br\"}\" + b'}'", "br\" \" + b' '"),
    ];
    for (code, expected) in blanked {
        assert_eq!(blank_non_code(code), expected, "{code}");
    }

    let items = "fn a() {}\n#[cfg(test)]\nmod tests {\n    fn b() { \"}\" }\n}\nfn c() {}\n";
    assert_eq!(test_code_lines(items), vec![2, 3, 4, 5]);
    assert_eq!(
        test_code_lines("#[cfg(test)]\nmod tests;\nfn a() {}"),
        vec![1, 2]
    );

    let chains =
        super_chains("use super::x;\nmod t {\n    use super::super::y;\n}\nfn f() { super::z() }");
    assert_eq!(chains, vec![(1, 1, 0), (3, 2, 1), (5, 1, 0)]);
    assert_eq!(module_depth("src/sim/mod.rs"), 1);
    assert_eq!(module_depth("src/sim/boot.rs"), 2);
    assert_eq!(module_depth("src/sim/second_stage/tests.rs"), 3);
    assert!(starts_with_path("sim::rom;", "sim"));
    assert!(!starts_with_path("simulate", "sim"));
    assert!(starts_with_path(
        "protocol::telnet::{IAC}",
        "protocol::telnet"
    ));
    assert!(!starts_with_path("protocol::telnets", "protocol::telnet"));

    assert_eq!(
        calls_with_scheme_literal("if port.starts_with(\"rfc2217://\") && f(\"sim://\")"),
        vec![".starts_with(\"rfc2217://\")".to_owned()]
    );
    assert!(calls_with_scheme_literal("Board::open(\"sim://\")").is_empty());
    assert!(contains_literal("s.split_once('?')", "'?'"));
    assert!(contains_literal("bytes[i] == b'%'", "'%'"));
    assert!(!contains_literal("\"a '?' b\"", "\"?\""));

    assert_eq!(
        hex_literals("[0x303A, 0x10_01u16, x0x1001, 0XFF]"),
        vec![
            ("0x303A".to_owned(), 0x303A),
            ("0x10_01".to_owned(), 0x1001),
            ("0xFF".to_owned(), 0xFF),
        ]
    );
    let exit_codes = [
        ("outcome.fails(5, &[\"x\"]);", Some("fails(5")),
        ("outcome.fails(exit::IMAGE, &[]);", None),
        (
            "assert_eq!(out.code, Some(2), \"{}\", out.dump());",
            Some("Some(2"),
        ),
        ("assert!(out.code == Some(0));", Some("Some(0")),
        ("assert_eq!(status.code(), Some( 1));", Some("Some(1")),
        ("assert_eq!(out.code, Some(i32::from(exit::USAGE)));", None),
        ("assert_eq!(security.chip_id, Some(9));", None),
        ("t.never_fails(3);", None),
    ];
    for (line, expected) in exit_codes {
        assert_eq!(literal_exit_code(line).as_deref(), expected, "{line}");
    }

    let files = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(file, text)| (file.to_string(), text.to_string()))
            .collect()
    };
    let layered = files(&[
        ("src/image/mod.rs", "pub mod a; pub use a::X;"),
        (
            "src/image/a.rs",
            "use super::b::X;\nuse super::{c::Y, format};\n// use super::d;\nlet s = \"super::d::\";\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::d::Z;\n}\n",
        ),
        ("src/image/b.rs", "fn f() { crate::image::c::g('{'); }"),
        (
            "src/image/c.rs",
            "use crate::units::human_size;\npub(super) fn g(_: char) {}",
        ),
        ("src/image/d/mod.rs", "mod e;\npub use e::Q;"),
        ("src/image/d/e.rs", "use super::Q;\nuse super::super::c::W;"),
        ("src/image/format.rs", ""),
    ]);
    let graph = module_graph("src/image/", &layered);
    let edges: Vec<(&str, Vec<&str>)> = graph
        .iter()
        .map(|(from, to)| (from.as_str(), to.keys().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        edges,
        [
            ("a", vec!["b", "c", "d", "format"]),
            ("b", vec!["c"]),
            ("c", vec![]),
            ("d", vec!["c"]),
            ("format", vec![]),
        ]
    );
    assert_eq!(find_cycle(&graph), None);
    let cyclic = files(&[
        ("src/image/a.rs", "use super::b::X;"),
        ("src/image/b.rs", "use super::c::X;"),
        ("src/image/c.rs", "fn f() { super::a::g() }"),
    ]);
    assert_eq!(
        find_cycle(&module_graph("src/image/", &cyclic)),
        Some(["a", "b", "c", "a"].map(String::from).to_vec())
    );

    for (code, expected) in [
        ("pub enum ImageError {", Some("ImageError")),
        ("    pub struct SequenceError {", Some("SequenceError")),
        ("pub(crate) enum Hidden {", None),
        ("pub fn enum_like() {", None),
    ] {
        assert_eq!(error_type_name(code), expected, "{code}");
    }
    let errors = files(&[
        (
            "src/a.rs",
            "#[derive(Debug, thiserror::Error)]\npub enum AError {}\n#[derive(Debug, thiserror::Error)]\n#[error(\"x\")]\npub struct BError {}",
        ),
        ("src/catalogue/a.rs", "fn code(e: &AError) {}\n// BError"),
    ]);
    let mut problems = Vec::new();
    check_errors_catalogued(&errors, &mut problems);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("src/a.rs:3: ") && p.contains("BError")),
        "{problems:?}"
    );
    assert!(
        !problems.iter().any(|p| p.contains("AError")),
        "{problems:?}"
    );
}
