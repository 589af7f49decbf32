//! `ES00xx`: the codes of the command line's own errors, as data. The command line is part of
//! the binary, so its `CliError` is not named here: the binary maps each of its variants to one
//! of these constants with an exhaustive `match` (`src/cli/exit.rs`), and clap's usage errors
//! to [`USAGE`]. A `CliError` variant carries its message as text built where it happens, so a
//! code here names a kind of problem and its example is one of those messages.

use super::{Code, Entry, Example};
use crate::exit;

/// clap's usage errors: an unknown flag or command, a missing or malformed value.
pub const USAGE: Code = Code("ES0001");
/// `CliError::BadArgument`: an argument clap cannot check.
pub const BAD_ARGUMENT: Code = Code("ES0002");
/// `CliError::NoPort`: no port was given and none (or several) could be chosen.
pub const NO_PORT: Code = Code("ES0003");
/// `CliError::Refused`: the command refuses to go on (an existing file, a cancelled choice).
pub const REFUSED: Code = Code("ES0004");
/// `CliError::MonitorTimeout`: the monitor's `--timeout` passed.
pub const MONITOR_TIMEOUT: Code = Code("ES0005");
/// `CliError::MonitorEnded`: the port closed before `--until` matched.
pub const MONITOR_ENDED: Code = Code("ES0006");
/// `CliError::Differs`: `verify` found a region the chip does not hold.
pub const DIFFERS: Code = Code("ES0007");
/// `CliError::BoardsFailed`: some of several boards flashed at once failed.
pub const BOARDS_FAILED: Code = Code("ES0008");
/// Standard output cannot be written (other than a reader that went away, which is no error).
pub const STDOUT: Code = Code("ES0009");

/// `ES00xx`: the command line.
pub(super) const ENTRIES: &[Entry] = &[
    Entry {
        code: USAGE,
        pattern: "usage",
        cause: "The command line does not parse: an unknown command or flag, a flag without its value, a value that is not one of the choices. clap prints the usage of the command after this line.",
        fix: "Check the spelling against `cargo esp32s3 help COMMAND`; the tip clap prints below the line often names the flag that was meant.",
        example: Example::CommandLine {
            message: "unexpected argument '--frobnicate' found",
            exit: exit::USAGE,
        },
    },
    Entry {
        code: BAD_ARGUMENT,
        pattern: "CliError::BadArgument",
        cause: "An argument is wrong in a way clap cannot check: an offset or size that is not a whole sector, an option that works on one board given several ports, an --until that is no regular expression.",
        fix: "Do what the message says; `cargo esp32s3 help COMMAND` describes each argument.",
        example: Example::CommandLine {
            message: "--region 0x9100 0x1000: offset and size must be multiples of 4 KiB (0x1000) and the size not 0; for example --region 0x9000 0x6000",
            exit: exit::USAGE,
        },
    },
    Entry {
        code: NO_PORT,
        pattern: "CliError::NoPort",
        cause: "No port was given and none could be chosen: no board is connected (or the cable carries power only), several are and there is no terminal to ask, or a port to serve on is taken.",
        fix: "Connect the board and choose its port with --port or ESP32S3_PORT (`cargo esp32s3 list-ports` shows them), or use --port sim:// for the simulator.",
        example: Example::CommandLine {
            message: "no serial port found; connect the board (check the cable carries data) and choose its port with --port or ESP32S3_PORT (`cargo esp32s3 list-ports` shows them), or use --port sim:// for the simulator",
            exit: exit::CONNECT,
        },
    },
    Entry {
        code: REFUSED,
        pattern: "CliError::Refused",
        cause: "The command refuses to go on: it would overwrite a file or a setting that exists, a choice was cancelled, or something it needs (a cache directory, cargo) is missing.",
        fix: "Do what the message says: choose another name or file, or pass --force where the message offers it.",
        example: Example::CommandLine {
            message: "taken already exists; choose another name, or run `cargo esp32s3 init --path taken` to set up the crate there",
            exit: exit::FAILURE,
        },
    },
    Entry {
        code: MONITOR_TIMEOUT,
        pattern: "CliError::MonitorTimeout",
        cause: "The monitor's --timeout passed before a line matched --until (or, without --until, the monitor ran for its whole --timeout): the firmware did not print the line, or not in time.",
        fix: "Check that the firmware prints the line (the monitor shows what it printed), or raise --timeout.",
        example: Example::CommandLine {
            message: "the monitor's --timeout of 1 s passed",
            exit: exit::MONITOR_TIMEOUT,
        },
    },
    Entry {
        code: MONITOR_ENDED,
        pattern: "CliError::MonitorEnded",
        cause: "The port closed before a line matched --until: the board was unplugged or reset off the bus, or a network bridge closed the connection.",
        fix: "Check the connection, and that the firmware prints the line.",
        example: Example::CommandLine {
            message: "the port closed before a line matched --until \"ready\"; check the connection and that the firmware prints it",
            exit: exit::CONNECT,
        },
    },
    Entry {
        code: DIFFERS,
        pattern: "CliError::Differs",
        cause: "`verify` found a region that the chip does not hold: the chip was flashed with something else, or the flash changed.",
        fix: "Run `cargo esp32s3 flash` with the same arguments to write it.",
        example: Example::CommandLine {
            message: "the chip does not hold app at 0x10000: the first difference is in the 4 KiB at 0x12000; `cargo esp32s3 flash` with the same arguments writes it",
            exit: exit::FLASH,
        },
    },
    Entry {
        code: BOARDS_FAILED,
        pattern: "CliError::BoardsFailed",
        cause: "Some of several boards flashed at once failed; each board's own error (with its code) is in the lines and the summary above. The exit code is theirs when they all failed the same way, else 1.",
        fix: "Look up each board's error above, fix it, and flash the failed boards again (regions already on a chip are skipped).",
        example: Example::CommandLine {
            message: "2 of 3 boards failed (/dev/ttyUSB1, /dev/ttyUSB2); each board's error is in the summary above, the other boards were flashed",
            exit: exit::FAILURE,
        },
    },
    Entry {
        code: STDOUT,
        pattern: "stdout",
        cause: "A command's output could not be written to standard output: a full disk, or a file or device that refuses it. A reader that went away, as `| head` does, is no error.",
        fix: "Check where stdout is redirected, and that there is room.",
        example: Example::CommandLine {
            message: "cannot write to standard output (no storage space); check where it is redirected",
            exit: exit::FAILURE,
        },
    },
];
