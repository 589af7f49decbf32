//! Tidy checks: the architecture's rules about absence, checked as an ordinary test (as
//! rust-analyzer does) so `cargo test` fails when a file breaks one.
//!
//! Each rule greps the source text outside comments. A failure names the file, the line and the
//! rule. The few files that legitimately break a rule are listed in [`ALLOWED`] with the reason.

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
        needles: &["cli::", "mod cli"],
        allowed_in: CLI_ONLY,
        rule: "the library does not know the command line: src/cli/ is part of the binary and only src/main.rs names it",
    },
];

/// Folders that do no I/O at all: bytes and values in, bytes and values out.
const PURE: &[&str] = &["src/image/", "src/protocol/"];

/// What the pure folders must not name.
const IMPURE: &[&str] = &[
    "std::fs",
    "std::process",
    "std::env",
    "std::net",
    "Instant",
    "SystemTime",
];

#[test]
fn tidy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();

    for file in rust_files(root, "src") {
        let text = read(root, &file);
        check_module_doc(&file, &text, &mut problems);
        check_confined(&file, &text, &mut problems);
        check_pure(&file, &text, &mut problems);
    }
    for folder in ["src", "tests", "benches", "xtask"] {
        for file in rust_files(root, folder) {
            check_test_attributes(&file, &read(root, &file), &mut problems);
        }
    }
    check_readme_has_test_command(root, &mut problems);
    check_code_map(root, &mut problems);

    assert!(
        problems.is_empty(),
        "{} tidy problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
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
                    "{file}:{number}: src/image/ and src/protocol/ do no I/O: no files, processes, environment, network or clocks (found `{needle}`)"
                ));
            }
        }
    }
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

fn is_allowed_in(file: &str, places: &[&str]) -> bool {
    places.iter().any(|place| {
        if place.ends_with('/') {
            file.starts_with(place)
        } else {
            file == *place
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
}
