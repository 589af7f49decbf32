//! Renders the library's [`Event`]s on stderr: a progress bar per region (bytes sent, speed, time
//! left; hidden when stderr is not a terminal) and the summary lines people know from esptool
//! (`Wrote … bytes (… compressed) at 0x0 in 24.1 s (effective 576 kbit/s)`,
//! `Hash of data verified.`), plus `Skipped 0x10000..0x1a7b20 (unchanged)` for regions the flash
//! already holds.
//!
//! The library decides nothing here and this module decides nothing there: it only turns values
//! into text.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::flasher::Event;
use crate::loader::ResetDone;

use crate::units::human_size;

/// Turns events into lines and bars.
pub struct Progress {
    bar: Option<ProgressBar>,
    spinner: Option<(ProgressBar, Instant)>,
    connect_announced: bool,
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
        }
    }

    /// A callback for the library.
    pub fn callback(&mut self) -> impl FnMut(Event) + '_ {
        move |event| self.handle(event)
    }

    /// Print one line, keeping any bar intact.
    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) if !bar.is_hidden() => bar.suspend(|| eprintln!("{text}")),
            _ => eprintln!("{text}"),
        }
    }

    fn finish_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
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
        match event {
            Event::Connecting {
                attempt,
                max_attempts,
                reset,
            } => {
                if !self.connect_announced {
                    self.connect_announced = true;
                    eprintln!("Connecting...");
                }
                if attempt > 1 {
                    let of = if max_attempts == 0 {
                        String::new()
                    } else {
                        format!(" of {max_attempts}")
                    };
                    eprintln!("  attempt {attempt}{of} ({reset})");
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
                eprintln!("Connected on {port}{stub}");
            }
            Event::ChangedBaud { baud } => eprintln!("Changed baud rate to {baud}"),
            Event::StubUploading => eprintln!("Uploading stub..."),
            Event::StubRunning => eprintln!("Stub running..."),
            Event::FlashAttached { size, detected } => {
                let how = if detected { "detected" } else { "configured" };
                eprintln!("Flash size: {} ({how})", human_size(u64::from(size)));
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
                eprintln!("Flash params set to 0x{params:04x}{digest}");
            }
            Event::RegionStarted {
                offset,
                len,
                compressed_len,
                label,
            } => {
                self.finish_bar();
                let message = format!("{label} at 0x{offset:x} ({})", human_size(u64::from(len)));
                self.bar = Some(Self::new_bar(u64::from(compressed_len), message));
            }
            Event::RegionProgress { written, total, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_length(u64::from(total));
                    bar.set_position(u64::from(written));
                }
            }
            Event::RegionSkipped { offset, len, .. } => {
                self.finish_bar();
                let end = u64::from(offset) + u64::from(len);
                eprintln!("Skipped 0x{offset:x}..0x{end:x} (unchanged)");
            }
            Event::RegionWritten {
                offset,
                len,
                compressed_len,
                elapsed,
            } => {
                self.finish_bar();
                eprintln!("{}", wrote_line(offset, len, compressed_len, elapsed));
            }
            Event::Verified { .. } => eprintln!("Hash of data verified."),
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
                let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                spinner.set_message(format!(
                    "Erasing 0x{offset:x}..0x{:x} ({})",
                    u64::from(offset) + u64::from(len),
                    human_size(u64::from(len))
                ));
                spinner.enable_steady_tick(Duration::from_millis(120));
                self.spinner = Some((spinner, Instant::now()));
            }
            Event::EraseDone {
                offset,
                len,
                elapsed,
            } => {
                if let Some((spinner, _)) = self.spinner.take() {
                    spinner.finish_and_clear();
                }
                eprintln!(
                    "Erased 0x{offset:x}..0x{:x} ({}) in {:.1} s",
                    u64::from(offset) + u64::from(len),
                    human_size(u64::from(len)),
                    elapsed.as_secs_f64()
                );
            }
            Event::ReadProgress {
                offset,
                read,
                total,
            } => {
                if self.bar.is_none() {
                    let message = format!("Reading 0x{offset:x}");
                    self.bar = Some(Self::new_bar(u64::from(total), message));
                }
                if let Some(bar) = &self.bar {
                    bar.set_position(u64::from(read));
                }
                if read >= total {
                    self.finish_bar();
                }
            }
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
    }
}
