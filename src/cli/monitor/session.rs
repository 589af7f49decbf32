//! One monitor session on an open port: the watch itself (`cargo_esp32s3::monitor`), with the
//! keys or stdin between reads; a serial device that disappears is waited for and reopened
//! (`monitor::reconnect`); Ctrl+T F lends the port to a rebuild and takes it back; the end
//! becomes the command's result (`--until`, `--timeout`, the exit key).

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use cargo_esp32s3::monitor::reconnect::{PortIdentity, Reconnect, SystemPorts, wait_for_device};
use cargo_esp32s3::monitor::{
    Control, MonitorError, MonitorEvent, WatchEnd, WatchOptions, watch_with_input,
};
use cargo_esp32s3::transport::serial::list_ports;
use cargo_esp32s3::transport::{AnyTransport, Transport};

use super::super::CliError;
use super::interactive::Terminal;
use super::non_interactive::Piped;
use super::output::Output;
use super::rebuild::Stage;
use super::{Firmware, Plan, Rebuild, Request, load_firmware};

/// Where input comes from: the terminal's keys, or stdin.
enum FrontEnd {
    Terminal(Terminal),
    Piped(Piped),
}

impl FrontEnd {
    /// Between two reads (or while the port is away, `transport` `None`): take the input.
    fn poll(
        &mut self,
        transport: Option<&mut dyn Transport>,
        output: &mut Output,
    ) -> Result<Option<Request>, MonitorError> {
        match self {
            FrontEnd::Terminal(terminal) => terminal.poll(transport, output),
            FrontEnd::Piped(piped) => piped.poll(transport).map(|()| None),
        }
    }

    /// The chip printed something.
    fn output_seen(&mut self) {
        if let FrontEnd::Piped(piped) = self {
            piped.output_seen();
        }
    }

    fn suspend(&mut self) {
        if let FrontEnd::Terminal(terminal) = self {
            terminal.suspend();
        }
    }

    fn resume(&mut self) -> Result<(), MonitorError> {
        match self {
            FrontEnd::Terminal(terminal) => terminal.resume(),
            FrontEnd::Piped(_) => Ok(()),
        }
    }
}

/// Watch an open port (the chip already started) as `plan` says, until the exit key, a match,
/// the timeout, or the port closing for good. Used by `monitor` and `flash --monitor`.
pub fn watch_chip(
    transport: AnyTransport,
    firmware: Firmware,
    plan: &Plan,
    rebuild: Option<Rebuild>,
) -> super::super::Result<()> {
    let mut transport = transport;
    let port = transport.describe();
    let baud = transport.baud();
    let identity = if plan.reconnect {
        PortIdentity::of_port(&port, list_ports)
    } else {
        None
    };
    let mut output = Output::new(
        plan.timestamps,
        plan.log.clone(),
        plan.interactive,
        console::colors_enabled(),
        plan.filter.clone(),
    )?;
    let mut front = if plan.interactive {
        eprintln!(
            "--- monitor on {port} at {baud} baud; {} ---",
            plan.keys.summary()
        );
        FrontEnd::Terminal(Terminal::enter(
            plan.keys,
            plan.eol,
            plan.hard_reset.clone(),
        )?)
    } else {
        eprintln!("--- monitor on {port} at {baud} baud (non-interactive) ---");
        FrontEnd::Piped(Piped::spawn(plan.eol))
    };
    let deadline = plan.timeout.map(|t| Instant::now() + t);
    let mut options = WatchOptions {
        until: plan.until.clone(),
        timeout: None,
        symbols: firmware.symbols,
        hints: true,
        defmt: firmware.defmt,
    };
    let end = loop {
        options.timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if options.timeout == Some(Duration::ZERO) {
            break WatchEnd::TimedOut;
        }
        let (end, request) = watch_once(&mut *transport, &options, &mut front, &mut output)?;
        match request {
            Some(Request::Exit) => break WatchEnd::Stopped,
            Some(Request::Rebuild) => {
                match &rebuild {
                    Some(rebuild) => {
                        front.suspend();
                        output.suspend(plan.interactive);
                        transport = rebuild_and_flash(
                            rebuild,
                            transport,
                            plan,
                            &mut options,
                            &mut output,
                        );
                        output.suspend(false);
                        front.resume()?;
                    }
                    None => output.notice(
                        "Ctrl+T F rebuilds a Cargo project, and there is none here; run the monitor inside the project",
                    ),
                }
                continue;
            }
            None => {}
        }
        let Some(identity) = identity.as_ref().filter(|_| end == WatchEnd::Disconnected) else {
            break end;
        };
        let exit = match &front {
            FrontEnd::Terminal(_) => plan.keys.exit.to_string(),
            FrontEnd::Piped(_) => "Ctrl+C".to_string(),
        };
        output.notice(&format!(
            "{} disappeared; waiting for it to come back ({exit} exits)",
            identity.describe()
        ));
        let mut ports = SystemPorts {
            baud: plan.monitor_baud,
        };
        let waited = wait_for_device(identity, &mut ports, deadline, &mut || match front
            .poll(None, &mut output)?
        {
            Some(Request::Exit) => Ok(Control::Stop),
            Some(Request::Rebuild) => {
                output.notice("the port is away: nothing can be flashed until it is back");
                Ok(Control::Continue)
            }
            None => Ok(Control::Continue),
        })?;
        match waited {
            Reconnect::Back {
                path,
                transport: back,
            } => {
                transport = back;
                output.notice(&format!("reconnected on {path}"));
            }
            Reconnect::Stopped => break WatchEnd::Stopped,
            Reconnect::TimedOut => break WatchEnd::TimedOut,
        }
    };
    // The terminal is restored before the result is printed.
    drop(front);
    if let Some(error) = output.failed.take() {
        return Err(error.into());
    }
    finish(end, plan)
}

/// One watch on `transport`: until it ends, or the input asks for something.
fn watch_once(
    transport: &mut dyn Transport,
    options: &WatchOptions,
    front: &mut FrontEnd,
    output: &mut Output,
) -> Result<(WatchEnd, Option<Request>), MonitorError> {
    let request = Cell::new(None);
    // Both callbacks need the output (and the gate of piped input); they never run at once.
    let ui = RefCell::new((front, output));
    let end = watch_with_input(
        transport,
        options,
        &mut |t| {
            let (front, output) = &mut *ui.borrow_mut();
            output.idle(Instant::now());
            let asked = front.poll(Some(t), output)?;
            if asked.is_some() {
                request.set(asked);
                return Ok(Control::Stop);
            }
            Ok(Control::Continue)
        },
        &mut |event| {
            let (front, output) = &mut *ui.borrow_mut();
            match event {
                MonitorEvent::Received(bytes) => {
                    front.output_seen();
                    output.received(bytes);
                }
                MonitorEvent::Line(line) => output.line(line),
                MonitorEvent::Defmt(line) => {
                    front.output_seen();
                    output.defmt(line);
                }
                MonitorEvent::Hint(hint) => output.hint(hint),
                MonitorEvent::Address { addr, location } => {
                    output.extra(&format!("--- 0x{addr:08x}: {location}"))
                }
            }
            output.control()
        },
    )?;
    Ok((end, request.get()))
}

/// Ctrl+T F: rebuild, flash what changed over the port, reset; on success the new ELF's
/// symbols and defmt table replace the old. The port comes back in every case.
fn rebuild_and_flash(
    rebuild: &Rebuild,
    transport: AnyTransport,
    plan: &Plan,
    options: &mut WatchOptions,
    output: &mut Output,
) -> AnyTransport {
    output.notice(&format!("rebuilding: {}", rebuild.describe()));
    let (transport, result) = rebuild.run(transport);
    match result {
        Ok(rebuilt) => {
            match load_firmware(Some(&rebuilt.elf), plan) {
                Ok(firmware) => {
                    options.symbols = firmware.symbols;
                    options.defmt = firmware.defmt;
                }
                Err(e) => super::super::exit::report(&e),
            }
            output.notice(&format!(
                "flashed {} region{}, {} unchanged; monitoring the new firmware",
                rebuilt.summary.written,
                if rebuilt.summary.written == 1 {
                    ""
                } else {
                    "s"
                },
                rebuilt.summary.skipped
            ));
        }
        Err((stage, e)) => {
            super::super::exit::report(&e);
            output.notice(match stage {
                Stage::Build => {
                    "nothing was flashed: the chip runs the firmware it had, and the monitor goes on"
                }
                Stage::Flash => {
                    "flashing failed: the chip was reset to run what its flash holds; fix the problem and press Ctrl+T F again"
                }
            });
        }
    }
    transport
}

/// Turn how the watch ended into the command's result.
fn finish(end: WatchEnd, plan: &Plan) -> super::super::Result<()> {
    match end {
        WatchEnd::Matched { .. } | WatchEnd::Stopped => Ok(()),
        WatchEnd::Disconnected => match &plan.until_text {
            Some(until) => Err(CliError::MonitorEnded(format!(
                "the port closed before a line matched --until {until:?}; check the connection and that the firmware prints it"
            ))),
            None => Ok(()),
        },
        WatchEnd::TimedOut => {
            let secs = plan.timeout.unwrap_or_default().as_secs_f64();
            let message = match &plan.until_text {
                Some(until) => format!(
                    "no line matched --until {until:?} within {secs} s; check that the firmware prints it, or raise --timeout"
                ),
                None => format!("the monitor's --timeout of {secs} s passed"),
            };
            Err(CliError::MonitorTimeout(message))
        }
    }
}
