//! Renders the library's [`Event`]s on stderr: a progress bar per region (bytes sent, speed, time
//! left; hidden when stderr is not a terminal) and the summary lines people know from esptool
//! (`Wrote … bytes (… compressed) at 0x0 in 24.1 s (effective 576 kbit/s)`,
//! `Hash of data verified.`), plus `Skipped 0x10000..0x1a7b20 (unchanged)` for regions the flash
//! already holds.
//!
//! With several boards at once ([`Progress::for_board`]) each board has one bar in a shared
//! [`MultiProgress`] and its lines carry the port as a prefix; bars are hidden when stderr is not
//! a terminal, the lines are not.
//!
//! The library decides nothing here and this module decides nothing there: it only turns values
//! into text.

use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use cargo_esp32s3::event::{AppAloneWhy, Event, KeptBefore};
use cargo_esp32s3::image::NO_BOOTLOADER_ADVICE;
use cargo_esp32s3::loader::ResetDone;

use cargo_esp32s3::units::human_size;

/// Turns events into lines and bars.
pub struct Progress {
    bar: Option<ProgressBar>,
    spinner: Option<(ProgressBar, Instant)>,
    connect_announced: bool,
    /// A read's bar is showing (reads report progress without a start event).
    reading: bool,
    board: Option<BoardView>,
    /// `Wrote …` lines held back until the chip's MD5 of what they wrote matched (or the next
    /// line, when nothing is verified): a write that then fails verification must not have
    /// printed a line that reads like success.
    held: std::cell::RefCell<Vec<String>>,
}

/// One board of several: its bar in the shared display and the prefix of its lines.
struct BoardView {
    multi: MultiProgress,
    bar: ProgressBar,
    prefix: String,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// A renderer drawing on stderr.
    pub fn new() -> Self {
        Progress {
            bar: None,
            spinner: None,
            connect_announced: false,
            reading: false,
            board: None,
            held: Default::default(),
        }
    }

    /// A display for several boards at once, on stderr (bars hidden when it is not a terminal).
    pub fn multi() -> MultiProgress {
        MultiProgress::with_draw_target(ProgressDrawTarget::stderr())
    }

    /// A renderer for one of several boards: one bar in `multi`, lines prefixed with `[port]`;
    /// the bars' prefixes are padded to `width` characters so that the bars line up.
    pub fn for_board(multi: &MultiProgress, port: &str, width: usize) -> Self {
        let bar = multi.add(ProgressBar::new(0));
        let style = ProgressStyle::with_template(
            "{prefix} {msg:40!} [{bar:24.cyan/blue}] {bytes}/{total_bytes}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(format!("{:width$}", format!("[{port}]")));
        bar.set_message("connecting");
        Progress {
            bar: None,
            spinner: None,
            connect_announced: false,
            reading: false,
            board: Some(BoardView {
                multi: multi.clone(),
                bar,
                prefix: format!("[{port}]"),
            }),
            held: Default::default(),
        }
    }

    /// Leave a board's bar with its outcome; nothing for a single board.
    pub fn finish_board(&mut self, succeeded: bool) {
        if let Some(board) = &self.board {
            if succeeded {
                board.bar.finish_with_message("done");
            } else {
                board.bar.abandon_with_message("failed");
            }
        }
    }

    /// Print a line of text (prefixed with the port for one of several boards).
    pub fn info(&self, text: &str) {
        self.line(text);
    }

    /// Print a `note:` line (prefixed with the port for one of several boards).
    pub fn note(&self, text: &str) {
        let prefix = console::style("note:").cyan().bold().for_stderr();
        self.line(&format!("{prefix} {text}"));
    }

    /// A callback for the library.
    pub fn callback(&mut self) -> impl FnMut(Event) + '_ {
        move |event| self.handle(event)
    }

    /// Print one line, keeping any bar intact; the `Wrote …` lines held back go first.
    fn line(&self, text: &str) {
        let held = std::mem::take(&mut *self.held.borrow_mut());
        for wrote in held {
            self.print(&wrote);
        }
        self.print(text);
    }

    fn print(&self, text: &str) {
        if let Some(board) = &self.board {
            let text = format!("{} {text}", board.prefix);
            if board.multi.is_hidden() {
                eprintln!("{text}");
            } else {
                board.multi.suspend(|| eprintln!("{text}"));
            }
            return;
        }
        match &self.bar {
            Some(bar) if !bar.is_hidden() => bar.suspend(|| eprintln!("{text}")),
            _ => eprintln!("{text}"),
        }
    }

    fn finish_bar(&mut self) {
        self.reading = false;
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// Show a byte count towards `total`: a new bar for a single board, the board's own bar
    /// (with a new message) for one of several.
    fn start_bar(&mut self, total: u64, message: String) {
        self.finish_bar();
        match &self.board {
            Some(board) => {
                board.bar.set_length(total);
                board.bar.set_position(0);
                board.bar.set_message(message);
            }
            None => self.bar = Some(Self::new_bar(total, message)),
        }
    }

    /// The bar bytes are counted on, if any.
    fn current_bar(&self) -> Option<&ProgressBar> {
        match &self.board {
            Some(board) => Some(&board.bar),
            None => self.bar.as_ref(),
        }
    }

    /// Say what the board is doing (only one of several boards shows it, on its bar).
    fn status(&self, text: String) {
        if let Some(board) = &self.board {
            board.bar.set_message(text);
        }
    }

    fn new_bar(total: u64, message: String) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{msg} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(message);
        bar
    }

    /// Render one event.
    pub fn handle(&mut self, event: Event) {
        if matches!(
            event,
            Event::RungFailed { .. } | Event::Resuming { .. } | Event::PortGone { .. }
        ) {
            // The write did not stand (its check failed, or the line or the board went): what
            // it wrote is written or checked again.
            self.held.borrow_mut().clear();
        }
        match event {
            Event::Connecting {
                attempt,
                max_attempts,
                reset,
            } => {
                if !self.connect_announced {
                    self.connect_announced = true;
                    self.line("Connecting...");
                }
                if attempt > 1 {
                    let of = if max_attempts == 0 {
                        String::new()
                    } else {
                        format!(" of {max_attempts}")
                    };
                    self.status(format!("connecting (attempt {attempt}{of})"));
                    self.line(&format!("  attempt {attempt}{of} ({reset})"));
                }
            }
            Event::Connected {
                port,
                stub_already_running,
            } => {
                let stub = if stub_already_running {
                    " (a flasher stub was already running)"
                } else {
                    ""
                };
                self.status("connected".into());
                self.line(&format!("Connected on {port}{stub}"));
            }
            Event::ChangedBaud { baud } => self.line(&format!("Changed baud rate to {baud}")),
            Event::BaudSettled { baud, from_memory } => {
                let memory = if from_memory {
                    " (the rate remembered for this port)"
                } else {
                    ""
                };
                self.line(&format!(
                    "Line speed {baud} baud, proven by a data round trip{memory}"
                ));
            }
            Event::RungFailed { baud, reason } => self.note(&format!(
                "{baud} baud failed ({reason}); reconnecting at 115200 and trying one rung lower"
            )),
            Event::StubFound { path } => self.line(&format!(
                "Using the flasher stub of the installed esptool: {}",
                path.display()
            )),
            Event::StubUploading => self.line("Uploading stub..."),
            Event::StubRunning => self.line("Stub running..."),
            Event::FlashAttached { size, detected } => {
                let how = if detected { "detected" } else { "configured" };
                self.line(&format!(
                    "Flash size: {} ({how})",
                    human_size(u64::from(size))
                ));
            }
            Event::BootloaderPatched {
                params,
                digest_updated,
            } => {
                let digest = if digest_updated {
                    ", SHA-256 digest updated"
                } else {
                    ""
                };
                self.line(&format!("Flash params set to 0x{params:04x}{digest}"));
            }
            Event::RegionStarted {
                offset,
                len,
                compressed_len,
                label,
            } => {
                let message = format!("{label} at 0x{offset:x} ({})", human_size(u64::from(len)));
                self.start_bar(u64::from(compressed_len), message);
            }
            Event::RegionProgress { written, total, .. } => {
                if let Some(bar) = self.current_bar() {
                    bar.set_length(u64::from(total));
                    bar.set_position(u64::from(written));
                }
            }
            Event::RegionSkipped { offset, len, .. } => {
                self.finish_bar();
                let end = u64::from(offset) + u64::from(len);
                self.line(&format!("Skipped 0x{offset:x}..0x{end:x} (unchanged)"));
            }
            Event::RegionWritten {
                offset,
                len,
                compressed_len,
                elapsed,
                unchanged,
                unpaced,
            } => {
                self.finish_bar();
                let line = if unpaced {
                    wrote_line_unpaced(offset, len, compressed_len, unchanged)
                } else {
                    wrote_line_partly(offset, len, compressed_len, unchanged, elapsed)
                };
                self.held.borrow_mut().push(line);
            }
            Event::ChunksCompared {
                compared,
                chunks,
                same,
                ..
            } => {
                let of = if compared == chunks {
                    format!("{chunks}")
                } else {
                    format!("{compared} of {chunks}")
                };
                self.line(&format!(
                    "Compared {of} chunks with the flash: {same} unchanged, {} to write",
                    chunks - same
                ));
            }
            Event::Verified { .. } => self.line("Hash of data verified."),
            Event::Rechecking { regions } => self.line(&format!(
                "Checking the {regions} region{} once more after trouble on the line...",
                if regions == 1 { "" } else { "s" }
            )),
            Event::Resuming {
                reason,
                reconnected,
                verified,
                total,
            } => self.line(&format!(
                "{} {reason}; {}, resuming with the {} of {total} region{} not yet verified",
                console::style("warning:").yellow().bold().for_stderr(),
                if reconnected { "connected again" } else { "back in step with the chip" },
                total.saturating_sub(verified),
                if total == 1 { "" } else { "s" }
            )),
            Event::PortGone { port, wait } => self.line(&format!(
                "{} the board on {port} disappeared; waiting up to {} s for it to come back",
                console::style("warning:").yellow().bold().for_stderr(),
                wait.as_secs()
            )),
            Event::Retrying {
                offset,
                attempt,
                reason,
            } => {
                self.line(&format!(
                    "{} retrying the region at 0x{offset:x} (attempt {attempt}): {reason}",
                    console::style("warning:").yellow().bold().for_stderr()
                ));
            }
            Event::EraseStarted { offset, len } => {
                self.finish_bar();
                let message = format!(
                    "Erasing 0x{offset:x}..0x{:x} ({})",
                    u64::from(offset) + u64::from(len),
                    human_size(u64::from(len))
                );
                if self.board.is_some() {
                    self.status(message);
                } else {
                    let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                    spinner.set_message(message);
                    spinner.enable_steady_tick(Duration::from_millis(120));
                    self.spinner = Some((spinner, Instant::now()));
                }
            }
            Event::EraseDone {
                offset,
                len,
                elapsed,
            } => {
                if let Some((spinner, _)) = self.spinner.take() {
                    spinner.finish_and_clear();
                }
                self.line(&format!(
                    "Erased 0x{offset:x}..0x{:x} ({}) in {:.1} s",
                    u64::from(offset) + u64::from(len),
                    human_size(u64::from(len)),
                    elapsed.as_secs_f64()
                ));
            }
            Event::ReadProgress {
                offset,
                read,
                total,
            } => {
                if !self.reading {
                    self.start_bar(u64::from(total), format!("Reading 0x{offset:x}"));
                    self.reading = true;
                }
                if let Some(bar) = self.current_bar() {
                    bar.set_position(u64::from(read));
                }
                if read >= total {
                    self.finish_bar();
                }
            }
            Event::AppPartitionFill {
                partition,
                used,
                size,
            } => self.line(&fill_line(&partition, used, size)),
            Event::TableMovesApp {
                chip_partition,
                chip_offset,
                new_partition,
                new_offset,
            } => self.note(&format!(
                "the partition table on the chip puts the app ({chip_partition}) at 0x{chip_offset:x}; the one being written puts it ({new_partition}) at 0x{new_offset:x} and replaces it"
            )),
            Event::AppMovedByChipTable {
                planned_by: Some(table),
                planned_partition,
                planned_offset,
                partition,
                offset,
            } => self.note(&format!(
                "{table} puts the app ({planned_partition}) at 0x{planned_offset:x} but the partition table on the chip puts it ({partition}) at 0x{offset:x}; the chip's table is the one its bootloader reads, so the app goes to 0x{offset:x}"
            )),
            Event::AppMovedByChipTable {
                planned_by: None,
                planned_offset,
                partition,
                offset,
                ..
            } => self.note(&format!(
                "the app goes to 0x{offset:x} ({partition} in the partition table on the chip), not 0x{planned_offset:x}"
            )),
            Event::AppAlone {
                offset,
                partition,
                why: AppAloneWhy::NoBootloaderConfigured,
            } => self.note(&format!(
                "writing only the app, at 0x{offset:x} ({partition} in the partition table on the chip): {NO_BOOTLOADER_ADVICE}"
            )),
            // A prebuilt app image was chosen as it is; where it goes was said already.
            Event::AppAlone {
                why: AppAloneWhy::AppImageFile,
                ..
            } => {}
            Event::ErasingPartition { name, offset, size } => self.line(&format!(
                "Erasing partition {name} (0x{offset:x}, {})",
                human_size(u64::from(size))
            )),
            Event::BootloaderKept {
                id,
                path,
                idf_version,
                new,
                before,
            } => {
                let when = match before {
                    KeptBefore::Erase => "before erasing it",
                    KeptBefore::Replace => "before writing another one over it",
                };
                let version = idf_version
                    .map(|v| format!("ESP-IDF {v}"))
                    .unwrap_or_else(|| "ESP-IDF version unknown".into());
                if new {
                    self.line(&format!(
                        "Kept the chip's bootloader ({version}) as {id} in {}, {when}",
                        path.display()
                    ));
                } else {
                    self.line(&format!(
                        "The chip's bootloader ({version}) is kept already, as {id}"
                    ));
                }
            }
            Event::UsingKeptBootloader {
                id,
                path,
                idf_version,
                origin,
            } => {
                let version = idf_version
                    .map(|v| format!("ESP-IDF {v}"))
                    .unwrap_or_else(|| "ESP-IDF version unknown".into());
                self.note(&format!(
                    "the chip has no bootloader and none is configured: writing the newest kept one, {id} ({version}; {origin}) from {}, with the partition table and the app",
                    path.display()
                ));
            }
            Event::RamLoaded { addr, len } => self.line(&format!(
                "Loaded {} into RAM at 0x{addr:08x}",
                human_size(u64::from(len))
            )),
            Event::RamStarted { entry } => self.line(&format!(
                "Started the program at 0x{entry:08x} (it runs from RAM; the flash was not touched)"
            )),
            Event::Warning(text) => self.line(&format!(
                "{} {text}",
                console::style("warning:").yellow().bold().for_stderr()
            )),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish_bar();
        if let Some((spinner, _)) = self.spinner.take() {
            spinner.finish_and_clear();
        }
    }
}

/// `Wrote 1735456 bytes (1123456 compressed) at 0x0 in 24.1 s (effective 576 kbit/s)`.
pub fn wrote_line(offset: u32, len: u32, compressed_len: u32, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        format!(
            " (effective {:.0} kbit/s)",
            f64::from(len) * 8.0 / seconds / 1000.0
        )
    } else {
        String::new()
    };
    format!(
        "Wrote {len} bytes ({compressed_len} compressed) at 0x{offset:x} in {seconds:.1} s{rate}"
    )
}

/// [`wrote_line`] for a region written in part: the chunks the flash already held are named,
/// and the rate counts only what was sent.
pub fn wrote_line_partly(
    offset: u32,
    len: u32,
    compressed_len: u32,
    unchanged: u32,
    elapsed: Duration,
) -> String {
    if unchanged == 0 {
        return wrote_line(offset, len, compressed_len, elapsed);
    }
    let sent = len.saturating_sub(unchanged);
    let seconds = elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        format!(
            " (effective {:.0} kbit/s)",
            f64::from(sent) * 8.0 / seconds / 1000.0
        )
    } else {
        String::new()
    };
    format!(
        "Wrote {len} bytes ({sent} sent as {compressed_len} compressed, {unchanged} already in place) at 0x{offset:x} in {seconds:.1} s{rate}"
    )
}

/// The summary of a write to the simulator answering at once: no time and no rate, which would
/// only say how fast this computer is.
pub fn wrote_line_unpaced(offset: u32, len: u32, compressed_len: u32, unchanged: u32) -> String {
    let kept = if unchanged > 0 {
        format!(", {unchanged} already in place")
    } else {
        String::new()
    };
    format!(
        "Wrote {len} bytes ({compressed_len} compressed{kept}) at 0x{offset:x} on the virtual chip, which answers at once (no real transfer time; sim://?pace=real models a real line)"
    )
}

/// `app partition factory: 812 KiB of 3 MiB used (26%)`.
pub fn fill_line(partition: &str, used: u64, size: u64) -> String {
    format!(
        "app partition {partition}: {} of {} used ({}%)",
        human_size(used),
        human_size(size),
        used * 100 / size.max(1)
    )
}

/// What to say for the way the chip was actually left (esptool's wording where it has one).
pub fn reset_line(done: ResetDone) -> &'static str {
    match done {
        ResetDone::HardResetRts => "Hard resetting via RTS pin...",
        ResetDone::RanUserCode => "Soft resetting...",
        ResetDone::StayedInLoader => "Staying in the loader (no reset)",
        ResetDone::Watchdog => "Hard resetting with a watchdog...",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrote_lines() {
        assert_eq!(
            wrote_line(0, 1_735_456, 1_123_456, Duration::from_millis(24_100)),
            "Wrote 1735456 bytes (1123456 compressed) at 0x0 in 24.1 s (effective 576 kbit/s)"
        );
        assert_eq!(
            wrote_line(0x10000, 4, 4, Duration::ZERO),
            "Wrote 4 bytes (4 compressed) at 0x10000 in 0.0 s"
        );
        assert_eq!(
            wrote_line_partly(
                0,
                1_735_456,
                40_000,
                1_669_920,
                Duration::from_millis(2_000)
            ),
            "Wrote 1735456 bytes (65536 sent as 40000 compressed, 1669920 already in place) at 0x0 in 2.0 s (effective 262 kbit/s)"
        );
        assert_eq!(
            wrote_line_unpaced(0, 1_735_456, 1_123_456, 0),
            "Wrote 1735456 bytes (1123456 compressed) at 0x0 on the virtual chip, which answers at once (no real transfer time; sim://?pace=real models a real line)"
        );
    }
}
