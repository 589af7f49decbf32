//! Flashing several boards at once (`flash --port A --port B`, `flash --all-ports`): the
//! [`Plan`] made once is flashed to every board in its own thread, one library
//! [`Board`](cargo_esp32s3::Board) per thread, each with one bar in a shared display, then one summary
//! table (port, MAC, result, time) is printed on stdout.
//!
//! One board failing does not stop the others. The exit status is 0 only when every board
//! succeeded; otherwise it is the exit code of the failures when they all failed the same way
//! (6 for connection, 7 for flash, ...), else 1. Each board goes through the same steps as a
//! single one ([`flash_board`]): the plan is laid out for each chip's own flash size from the
//! bytes it holds.

use std::time::{Duration, Instant};

use cargo_esp32s3::config::Settings;
use cargo_esp32s3::flasher::WriteSummary;
use cargo_esp32s3::plan::Plan;
use cargo_esp32s3::transport::serial::{PortInfo, list_ports};

use super::CliError;
use super::connect;
use super::exit;
use super::flash::flash_board;
use super::progress::{Progress, reset_line};

/// How one board went.
#[derive(Debug)]
pub struct BoardReport {
    /// The port as given.
    pub port: String,
    /// The chip's MAC, once it was read.
    pub mac: Option<String>,
    /// What was written, or why not.
    pub result: super::Result<WriteSummary>,
    /// From opening the port to the reset.
    pub elapsed: Duration,
}

/// The ports to flash: every `--port` (each once), or with `--all-ports` every port of this
/// machine that looks like an Espressif board.
pub fn ports_to_flash(given: &[String], all_ports: bool) -> super::Result<Vec<String>> {
    choose_ports(given, all_ports, list_ports)
}

/// [`ports_to_flash`] with the port listing given (`list` runs only for `--all-ports`).
pub fn choose_ports(
    given: &[String],
    all_ports: bool,
    list: impl FnOnce() -> Vec<PortInfo>,
) -> super::Result<Vec<String>> {
    if all_ports {
        let mut ports: Vec<String> = list()
            .into_iter()
            .filter(|p| p.likely_esp)
            .map(|p| p.name)
            .collect();
        ports.sort();
        if ports.is_empty() {
            return Err(CliError::NoPort(
                "--all-ports: no serial port looks like an Espressif board; connect the boards (with data cables), check `cargo esp32s3 list-ports`, or name the ports with --port".into(),
            ));
        }
        return Ok(ports);
    }
    let mut ports: Vec<String> = Vec::new();
    for port in given {
        if ports.contains(port) {
            return Err(CliError::BadArgument(format!(
                "--port {port} is given twice; name each board's port once"
            )));
        }
        ports.push(port.clone());
    }
    Ok(ports)
}

/// Flash every port in parallel, print the summary, and fail when any board failed.
pub fn run(ports: &[String], plan: &Plan, settings: &Settings) -> super::Result {
    eprintln!(
        "Flashing {} boards at once: {}",
        ports.len(),
        ports.join(", ")
    );
    let reports = flash_boards(ports, plan, settings);
    outln!("{}", summary_table(&reports));
    outcome(&reports)
}

/// Flash each port in its own thread; the reports come back in the order of `ports`.
pub fn flash_boards(ports: &[String], plan: &Plan, settings: &Settings) -> Vec<BoardReport> {
    let multi = Progress::multi();
    let width = ports
        .iter()
        .map(|p| p.chars().count() + 2)
        .max()
        .unwrap_or(0);
    let reports = std::thread::scope(|scope| {
        let handles: Vec<_> = ports
            .iter()
            .map(|port| {
                let multi = &multi;
                scope.spawn(move || {
                    let mut progress = Progress::for_board(multi, port, width);
                    let report = flash_port(port, plan, settings, &mut progress);
                    progress.finish_board(report.result.is_ok());
                    report
                })
            })
            .collect();
        handles
            .into_iter()
            .zip(ports)
            .map(|(handle, port)| {
                handle.join().unwrap_or_else(|_| BoardReport {
                    port: port.clone(),
                    mac: None,
                    result: Err(CliError::Refused(format!(
                        "flashing {port} stopped unexpectedly (an internal error); please report it"
                    ))),
                    elapsed: Duration::ZERO,
                })
            })
            .collect()
    });
    // The summary table says how each board went; the bars would only end up above it.
    let _ = multi.clear();
    reports
}

/// One board: open it, read its MAC, flash the plan, reset.
fn flash_port(
    port: &str,
    plan: &Plan,
    settings: &Settings,
    progress: &mut Progress,
) -> BoardReport {
    let started = Instant::now();
    let mut mac = None;
    let result = (|| {
        let mut board = connect::board_on(port, settings, progress)?;
        mac = Some(board.chip_info()?.mac_string());
        let summary = flash_board(&mut board, plan, progress)?;
        let done = board.reset(settings.after)?;
        progress.info(reset_line(done));
        Ok(summary)
    })();
    if let Err(e) = &result {
        let prefix = exit::error_prefix(exit::catalogue_code(e));
        progress.info(&format!("{prefix} {e}"));
    }
    BoardReport {
        port: port.to_string(),
        mac,
        result,
        elapsed: started.elapsed(),
    }
}

/// The summary: one row per board with its port, MAC, result and time, under a header.
pub fn summary_table(reports: &[BoardReport]) -> String {
    let rows: Vec<[String; 4]> = reports
        .iter()
        .map(|r| {
            let result = match &r.result {
                Ok(summary) => format!(
                    "ok ({} written, {} unchanged)",
                    summary.written, summary.skipped
                ),
                Err(e) => format!("failed: {e}"),
            };
            [
                r.port.clone(),
                r.mac.clone().unwrap_or_else(|| "-".into()),
                result,
                format!("{:.1} s", r.elapsed.as_secs_f64()),
            ]
        })
        .collect();
    let header = ["PORT", "MAC", "RESULT", "TIME"].map(String::from);
    // The result column can be long (an error message) and goes last but one; time stays last
    // and the widths come from the port and MAC columns only.
    let port_width = rows
        .iter()
        .chain([&header])
        .map(|r| r[0].chars().count())
        .max()
        .unwrap_or(0);
    let mac_width = rows
        .iter()
        .chain([&header])
        .map(|r| r[1].chars().count())
        .max()
        .unwrap_or(0);
    let mut lines = Vec::new();
    for [port, mac, result, time] in [header].iter().chain(rows.iter()) {
        lines.push(format!(
            "{port:port_width$}  {mac:mac_width$}  {time:>6}  {result}"
        ));
    }
    let failed = reports.iter().filter(|r| r.result.is_err()).count();
    lines.push(format!(
        "{} of {} boards flashed{}",
        reports.len() - failed,
        reports.len(),
        if failed > 0 {
            format!(", {failed} failed")
        } else {
            String::new()
        }
    ));
    lines.join("\n")
}

/// `Ok` when every board succeeded, else one error naming the failed ports, with the exit code
/// of their failures when they all share one, else [`exit::FAILURE`].
pub fn outcome(reports: &[BoardReport]) -> super::Result {
    let failed: Vec<(&str, u8)> = reports
        .iter()
        .filter_map(|r| {
            r.result
                .as_ref()
                .err()
                .map(|e| (r.port.as_str(), exit::code_for(e)))
        })
        .collect();
    let Some((_, first_code)) = failed.first() else {
        return Ok(());
    };
    let code = if failed.iter().all(|(_, c)| c == first_code) {
        *first_code
    } else {
        exit::FAILURE
    };
    let ports: Vec<&str> = failed.iter().map(|(p, _)| *p).collect();
    Err(CliError::BoardsFailed {
        message: format!(
            "{} of {} boards failed ({}); each board's error is in the summary above{}",
            failed.len(),
            reports.len(),
            ports.join(", "),
            if failed.len() < reports.len() {
                ", the other boards were flashed"
            } else {
                ""
            }
        ),
        code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str, likely: bool) -> PortInfo {
        PortInfo {
            name: name.into(),
            vid: None,
            pid: None,
            serial_number: None,
            manufacturer: None,
            product: None,
            is_espressif_usb_jtag: false,
            likely_esp: likely,
        }
    }

    fn ports(given: &[&str]) -> Vec<String> {
        given.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn which_ports_are_flashed() {
        let machine = || {
            vec![
                port("/dev/ttyUSB1", true),
                port("/dev/ttyS0", false),
                port("/dev/ttyACM0", true),
            ]
        };
        /// --port values, --all-ports, the machine's ports, expected ports or error text.
        type Case = (&'static [&'static str], bool, Vec<PortInfo>, Expected);
        type Expected = Result<&'static [&'static str], &'static str>;
        let cases: [Case; 5] = [
            (
                &["sim://a", "sim://b"],
                false,
                vec![],
                Ok(&["sim://a", "sim://b"]),
            ),
            (&[], true, machine(), Ok(&["/dev/ttyACM0", "/dev/ttyUSB1"])),
            (
                &[],
                true,
                vec![port("/dev/ttyS0", false)],
                Err("--all-ports: no serial port looks like an Espressif board"),
            ),
            (&[], true, vec![], Err("no serial port looks like")),
            (
                &["sim://a", "sim://b", "sim://a"],
                false,
                vec![],
                Err("--port sim://a is given twice"),
            ),
        ];
        for (given, all, available, expected) in cases {
            let got = choose_ports(&ports(given), all, || available);
            match (got, expected) {
                (Ok(ports), Ok(want)) => assert_eq!(ports, want),
                (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{e}"),
                (got, want) => panic!("{given:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn exit_status_of_several_boards() {
        let report = |port: &str, result: crate::cli::Result<WriteSummary>| BoardReport {
            port: port.into(),
            mac: None,
            result,
            elapsed: Duration::ZERO,
        };
        let refused = || Err(CliError::Refused("no".into()));
        let no_port = || Err(CliError::NoPort("gone".into()));
        let ok = || Ok(WriteSummary::default());
        // (results, expected exit code; 0 = success)
        let cases: [(Vec<BoardReport>, u8); 4] = [
            (vec![report("a", ok()), report("b", ok())], exit::SUCCESS),
            (
                vec![report("a", ok()), report("b", no_port())],
                exit::CONNECT,
            ),
            (
                vec![report("a", no_port()), report("b", no_port())],
                exit::CONNECT,
            ),
            (
                vec![report("a", refused()), report("b", no_port())],
                exit::FAILURE,
            ),
        ];
        for (reports, code) in cases {
            let got = outcome(&reports).map_or_else(|e| exit::code_for(&e), |()| exit::SUCCESS);
            assert_eq!(got, code, "{reports:?}");
        }
        let table = summary_table(&[report("sim://a", ok()), report("sim://long", no_port())]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines,
            [
                "PORT        MAC    TIME  RESULT",
                "sim://a     -     0.0 s  ok (0 written, 0 unchanged)",
                "sim://long  -     0.0 s  failed: gone",
                "1 of 2 boards flashed, 1 failed",
            ]
        );
    }
}
