//! Flashing several boards at once (`flash --port A --port B`, `flash --all-ports`): the
//! [`Plan`] made once is flashed to every board in its own thread, each with one bar in a shared
//! display, then one summary table (port, MAC, result, time) is printed on stdout.
//!
//! One board failing does not stop the others. The exit status is 0 only when every board
//! succeeded; otherwise it is the exit code of the failures when they all failed the same way
//! (6 for connection, 7 for flash, ...), else 1. Each board goes through the same steps as a
//! single one ([`regions_for_board`], [`write_regions`], [`reset_board`]); what differs is only
//! that the image is not remade for each chip's flash size.

use std::time::{Duration, Instant};

use crate::config::Settings;
use crate::flasher::WriteSummary;
use crate::transport::serial::list_ports;

use super::CliError;
use super::args::ConnectArgs;
use super::connect;
use super::exit;
use super::flash::{Plan, regions_for_board, reset_board, write_regions};
use super::progress::Progress;

/// What every board gets, and how.
pub struct Job<'a> {
    /// The regions (or the app) to write, prepared once.
    pub plan: &'a Plan,
    /// The resolved settings (baud, reset, verify, ...).
    pub settings: &'a Settings,
    /// Flash even when the image's chip revision range excludes a chip.
    pub force: bool,
    /// Erase each whole flash before writing.
    pub erase_all: bool,
}

/// How one board went.
#[derive(Debug)]
pub struct BoardReport {
    /// The port as given.
    pub port: String,
    /// The chip's MAC, once it was read.
    pub mac: Option<String>,
    /// What was written, or why not.
    pub result: crate::Result<WriteSummary>,
    /// From opening the port to the reset.
    pub elapsed: Duration,
}

/// The ports to flash: every `--port` (each once), or with `--all-ports` every port that looks
/// like an Espressif board.
pub fn ports_to_flash(connect: &ConnectArgs) -> crate::Result<Vec<String>> {
    if connect.all_ports {
        let mut ports: Vec<String> = list_ports()
            .into_iter()
            .filter(|p| p.likely_esp)
            .map(|p| p.name)
            .collect();
        ports.sort();
        if ports.is_empty() {
            return Err(CliError::NoPort(
                "--all-ports: no serial port looks like an Espressif board; connect the boards (with data cables), check `cargo esp32s3 list-ports`, or name the ports with --port".into(),
            )
            .into());
        }
        return Ok(ports);
    }
    let mut ports: Vec<String> = Vec::new();
    for port in &connect.port {
        if ports.contains(port) {
            return Err(CliError::BadArgument(format!(
                "--port {port} is given twice; name each board's port once"
            ))
            .into());
        }
        ports.push(port.clone());
    }
    Ok(ports)
}

/// Flash every port in parallel, print the summary, and fail when any board failed.
pub fn run(ports: &[String], job: &Job<'_>) -> crate::Result<()> {
    eprintln!(
        "Flashing {} boards at once: {}",
        ports.len(),
        ports.join(", ")
    );
    let reports = flash_boards(ports, job);
    println!("{}", summary_table(&reports));
    outcome(&reports)
}

/// Flash each port in its own thread; the reports come back in the order of `ports`.
pub fn flash_boards(ports: &[String], job: &Job<'_>) -> Vec<BoardReport> {
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
                    let report = flash_board(port, job, &mut progress);
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
                    ))
                    .into()),
                    elapsed: Duration::ZERO,
                })
            })
            .collect()
    });
    // The summary table says how each board went; the bars would only end up above it.
    let _ = multi.clear();
    reports
}

/// One board: connect, read its MAC, decide its regions, write them, reset.
fn flash_board(port: &str, job: &Job<'_>, progress: &mut Progress) -> BoardReport {
    let started = Instant::now();
    let mut mac = None;
    let result = (|| {
        let mut flasher = connect::flasher_on(port, job.settings, job.force, progress)?;
        mac = Some(flasher.loader().chip_info()?.mac_string());
        let regions = regions_for_board(&mut flasher, job.plan, job.settings, false, progress)?;
        let summary = write_regions(&mut flasher, regions, job.erase_all, progress)?;
        reset_board(&mut flasher, job.settings, progress)?;
        Ok(summary)
    })();
    if let Err(e) = &result {
        let prefix = console::style("error:").red().bold().for_stderr();
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
pub fn outcome(reports: &[BoardReport]) -> crate::Result<()> {
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
    }
    .into())
}
