//! `sim://`: a transport whose far end is the in-process virtual ESP32-S3 ([`crate::sim`]).
//!
//! Writing feeds the chip, reading drains what it sent, DTR/RTS drive its pins (through the
//! auto-reset circuit, or as the USB-Serial/JTAG controller's reset bits with `usb=jtag`) and the
//! line speed is passed on so that a missed baud switch garbles the link as on a real UART.
//!
//! No threads and no sleeping: the chip answers synchronously while the write is handled, and
//! time is virtual. The transport keeps the chip's clock as an `Instant` that starts at the wall
//! clock when opened: `pause(d)` moves it by `d`, and a `read` with nothing buffered moves it to
//! the read's deadline (when that is later) and returns what the chip printed meanwhile (a boot
//! banner once the strapping window closes, a boot loop's lines), or 0 at once. Nobody waits.
//!
//! A paced chip (`?pace=real`) answers when its work is done in its own time: a read with
//! nothing buffered lives the reader's wait (the time left to its deadline) in virtual time until
//! the answer arrives, so a 30-second flash takes milliseconds and the library's durations, taken
//! on this clock ([`super::Transport::time`]), are the chip's.
//!
//! URL options (`sim://?flash=/tmp/f.bin&size=16MB&mode=spi&chip=esp32c3&usb=jtag&boot=button`,
//! `console=FILE`: what the app prints after it starts,
//! `efuse=secure-boot+flash-encryption+secure-download` for a secured chip, `pace=real`,
//! `max-baud=BAUD` and `corrupt-after=SIZE` for a paced line, and the faults of
//! [`crate::sim::faults`]: `fault-seed=N`, the rates `drop`, `flip`, `dup`, `truncate`, `noise`,
//! `late` (with `late-by=DURATION`), `error` and `program-fail`, the one-shot `reset-at=BYTES`
//! and `unplug-at=BYTES` (with `replug=same|other|never` and `replug-after=DURATION`) and
//! `bad-sector=OFFSET`) configure the chip; this file only
//! interprets them (`url.rs` splits the URL, `units` reads the sizes, the console file is read
//! here) and knows nothing of the protocol.

use std::time::{Duration, Instant};

use super::serial::PortInfo;
use super::url::{PortUrl, invalid};
use super::usb::{ESPRESSIF_VID, USB_JTAG_SERIAL_PID};
use super::{Transport, TransportError};
use crate::sim::{ChipKind, Esp32s3, Faults, Link, Pace, Replug, SimConfig, StartIn};
use crate::units;

const ACCEPTED: &str = "flash=FILE, size=SIZE (e.g. 8MB), mode=download|spi, chip=esp32s3|esp32c3|esp32c6|esp32h2|esp32c2|esp32s2, mac=aa:bb:cc:dd:ee:ff, preset=default|qemu, usb=jtag|uart, boot=button|lines, console=FILE, efuse=secure-boot+flash-encryption+secure-download, pace=real|off, max-baud=BAUD, corrupt-after=SIZE, and the faults fault-seed=N, drop=RATE, flip=RATE, dup=RATE, truncate=RATE, noise=RATE, late=RATE, late-by=DURATION, error=RATE, reset-at=BYTES, unplug-at=BYTES, replug=same|other|never, replug-after=DURATION, program-fail=RATE, bad-sector=OFFSET";

/// The in-process simulator as a [`Transport`].
#[derive(Debug)]
pub struct SimTransport {
    chip: Esp32s3,
    url: String,
    baud: u32,
    dtr: bool,
    rts: bool,
    pending: std::collections::VecDeque<u8>,
    /// The chip's clock: how far its time has been moved (never behind the wall clock at open).
    clock: Instant,
    /// The name the port had when opened (an unplugged device may come back under another).
    home: String,
    /// Which time of the chip's USB port this handle opened ([`crate::sim::UsbPort`]): after an
    /// unplug it is dead until opened again.
    generation: u32,
}

/// Parse the options of a `sim://` URL into a chip configuration.
pub fn parse_url(url: &str) -> Result<SimConfig, TransportError> {
    // What stands between `sim://` and `?` names nothing and is ignored.
    let pairs = PortUrl::parse(
        url,
        "sim",
        "a simulator URL starts with sim:// (for example sim:// or sim://?size=16MB)",
    )?
    .options;
    // A preset is the base the other options modify, wherever it appears.
    let mut config = match pairs.iter().find(|(k, _)| k == "preset") {
        None => SimConfig::default(),
        Some((_, v)) if v == "default" => SimConfig::default(),
        Some((_, v)) if v == "qemu" => SimConfig::qemu_reference(),
        Some((_, v)) => {
            return Err(invalid(
                url,
                format!("option preset={v:?} is unknown; use preset=default or preset=qemu"),
            ));
        }
    };
    let mut size_given = None;
    for (key, value) in pairs {
        match key.as_str() {
            "flash" if !value.is_empty() => config.flash_file = Some(value.into()),
            "size" => {
                let size = units::parse_size(&value)
                    .filter(|s| s.is_power_of_two() && (0x4_0000..=0x800_0000).contains(s))
                    .ok_or_else(|| {
                        invalid(
                            url,
                            format!(
                                "option size={value:?} is not a flash size; use a power of two from 256KB to 128MB such as 4MB, 8MB or 16MB"
                            ),
                        )
                    })?;
                size_given = Some(size as u32);
            }
            "mode" => {
                config.start_in = match value.as_str() {
                    "download" => StartIn::Download,
                    "spi" | "spiboot" | "boot" => StartIn::SpiBoot,
                    _ => {
                        return Err(invalid(
                            url,
                            format!(
                                "option mode={value:?} is unknown; use mode=download or mode=spi"
                            ),
                        ));
                    }
                }
            }
            "chip" => {
                config.chip = ChipKind::parse(&value).ok_or_else(|| {
                    let names: Vec<&str> = ChipKind::ALL.iter().map(|k| k.name()).collect();
                    invalid(
                        url,
                        format!(
                            "option chip={value:?} is unknown; use one of {}",
                            names.join(", ")
                        ),
                    )
                })?;
            }
            "mac" => {
                config.identity.mac = value
                    .split(':')
                    .map(|part| u8::from_str_radix(part, 16).ok())
                    .collect::<Option<Vec<u8>>>()
                    .and_then(|bytes| <[u8; 6]>::try_from(bytes).ok())
                    .ok_or_else(|| {
                        invalid(
                            url,
                            format!(
                                "option mac={value:?} is not a MAC address; use six hex bytes like 7c:df:a1:00:00:01"
                            ),
                        )
                    })?;
            }
            "usb" => {
                config.link = match value.as_str() {
                    "jtag" | "serial-jtag" => Link::UsbSerialJtag,
                    "uart" | "bridge" => Link::Uart,
                    _ => {
                        return Err(invalid(
                            url,
                            format!(
                                "option usb={value:?} is unknown; use usb=jtag (the chip's own USB-Serial/JTAG port) or usb=uart (a USB-UART bridge)"
                            ),
                        ));
                    }
                }
            }
            "boot" => {
                config.boot_button_at_power_on = match value.as_str() {
                    "button" => true,
                    "lines" => false,
                    _ => {
                        return Err(invalid(
                            url,
                            format!(
                                "option boot={value:?} is unknown; use boot=button (BOOT held at power-on) or boot=lines"
                            ),
                        ));
                    }
                }
            }
            "efuse" => {
                let security = &mut config.identity.security;
                for fuse in value.split([',', '+']).filter(|f| !f.is_empty()) {
                    match fuse {
                        "secure-boot" => security.secure_boot = true,
                        "flash-encryption" | "encryption" => security.flash_encryption = true,
                        "secure-download" | "sdm" => security.secure_download = true,
                        _ => {
                            return Err(invalid(
                                url,
                                format!(
                                    "option efuse={value:?} names {fuse:?}; use efuse=secure-boot, flash-encryption or secure-download (several joined with +)"
                                ),
                            ));
                        }
                    }
                }
            }
            "console" => {
                let bytes = std::fs::read(&value).map_err(|e| {
                    invalid(
                        url,
                        format!(
                            "option console={value:?}: cannot read the file ({e}); give a file with what the app prints"
                        ),
                    )
                })?;
                config.app_output = Some(bytes);
            }
            "pace" => {
                config.pace = match value.as_str() {
                    "real" => Some(Pace::real()),
                    "off" => None,
                    _ => {
                        return Err(invalid(
                            url,
                            format!(
                                "option pace={value:?} is unknown; use pace=real (the line, flash and CPU take their real time) or pace=off"
                            ),
                        ));
                    }
                }
            }
            "max-baud" => {
                config.max_baud = Some(
                    units::parse_number(&value)
                        .filter(|baud| *baud > 0)
                        .ok_or_else(|| {
                            invalid(
                                url,
                                format!(
                                    "option max-baud={value:?} is not a baud rate; use a number such as 921600"
                                ),
                            )
                        })?,
                );
            }
            "corrupt-after" => {
                config.corrupt_after = units::parse_size(&value).ok_or_else(|| {
                    invalid(
                        url,
                        format!(
                            "option corrupt-after={value:?} is not a size; use a byte count such as 0, 4096 or 64K"
                        ),
                    )
                })?;
            }
            "preset" => {}
            key if is_fault_option(key) => fault_option(&mut config.faults, key, &value)
                .map_err(|reason| invalid(url, format!("option {key}={value:?} {reason}")))?,
            _ => {
                return Err(invalid(
                    url,
                    format!("unknown option {key:?}; accepted options: {ACCEPTED}"),
                ));
            }
        }
    }
    if let Some(size) = size_given {
        config.flash_size = size;
    }
    Ok(config)
}

/// The fault options ([`crate::sim::Faults`]), for the list of accepted options.
const FAULT_OPTIONS: [&str; 15] = [
    "fault-seed",
    "drop",
    "flip",
    "dup",
    "truncate",
    "noise",
    "late",
    "late-by",
    "error",
    "reset-at",
    "unplug-at",
    "replug",
    "replug-after",
    "program-fail",
    "bad-sector",
];

fn is_fault_option(key: &str) -> bool {
    FAULT_OPTIONS.contains(&key)
}

/// Set one fault option; the error says what is wrong with the value and what is accepted.
fn fault_option(faults: &mut Faults, key: &str, value: &str) -> Result<(), String> {
    let rate = || -> Result<f64, String> {
        value
            .parse::<f64>()
            .ok()
            .filter(|r| (0.0..=1.0).contains(r))
            .ok_or_else(|| {
                "is not a rate; use a probability from 0 to 1 such as 1e-5 or 0.01".into()
            })
    };
    let bytes = || -> Result<u64, String> {
        units::parse_size(value)
            .ok_or_else(|| "is not a byte count; use a number such as 4096 or 300K".into())
    };
    let duration = || -> Result<Duration, String> {
        parse_duration(value).ok_or_else(|| {
            "is not a duration; use milliseconds or seconds such as 500ms or 4s".into()
        })
    };
    match key {
        "fault-seed" => {
            faults.seed = value
                .parse()
                .map_err(|_| "is not a seed; use a whole number such as 7".to_string())?;
        }
        "drop" => faults.drop = rate()?,
        "flip" => faults.flip = rate()?,
        "dup" => faults.dup = rate()?,
        "truncate" => faults.truncate = rate()?,
        "noise" => faults.noise = rate()?,
        "late" => faults.late = rate()?,
        "late-by" => faults.late_by = duration()?,
        "error" => faults.error = rate()?,
        "reset-at" => faults.reset_at = Some(bytes()?),
        "unplug-at" => faults.unplug_at = Some(bytes()?),
        "replug" => {
            faults.replug = match value {
                "same" => Replug::Same,
                "other" => Replug::Other,
                "never" => Replug::Never,
                _ => {
                    return Err(
                        "is unknown; use replug=same, replug=other (another name, the same USB serial number) or replug=never".into(),
                    );
                }
            }
        }
        "replug-after" => faults.replug_after = duration()?,
        "program-fail" => faults.program_fail = rate()?,
        "bad-sector" => {
            for part in value.split(['+', ',', ' ']).filter(|p| !p.is_empty()) {
                let offset = units::parse_size(part)
                    .and_then(|o| u32::try_from(o).ok())
                    .ok_or_else(|| {
                        "is not a flash address; use an offset such as 0x10000 (several joined with +)".to_string()
                    })?;
                faults.bad_sectors.push(offset);
            }
        }
        _ => return Err("is not a fault option".into()),
    }
    Ok(())
}

/// `500ms`, `4s`, `1.5s`.
fn parse_duration(text: &str) -> Option<Duration> {
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else {
        (text.strip_suffix('s')?, 1.0)
    };
    let value = number.trim().parse::<f64>().ok()?;
    (value.is_finite() && (0.0..1e6).contains(&value))
        .then(|| Duration::from_secs_f64(value * scale))
}

/// The faults of a `cargo esp32s3 sim --faults` argument: the fault options of a `sim://`
/// URL, joined with `&` (`drop=1e-5&late=0.01`).
pub fn parse_faults(options: &str) -> Result<Faults, TransportError> {
    let url = format!("sim://?{options}");
    let pairs = PortUrl::parse(&url, "sim", "fault options look like drop=1e-5&late=0.01")?.options;
    let mut faults = Faults::default();
    for (key, value) in pairs {
        if !is_fault_option(&key) {
            return Err(invalid(
                &url,
                format!(
                    "{key:?} is not a fault option; use {}",
                    FAULT_OPTIONS.join(", ")
                ),
            ));
        }
        fault_option(&mut faults, &key, &value)
            .map_err(|reason| invalid(&url, format!("option {key}={value:?} {reason}")))?;
    }
    Ok(faults)
}

impl SimTransport {
    /// Open a simulator from a `sim://` URL (see the module docs for the options).
    pub fn open(url: &str) -> Result<Self, TransportError> {
        let config = parse_url(url)?;
        let chip = Esp32s3::new(config).map_err(|e| invalid(url, e.to_string()))?;
        Ok(Self::from_chip(chip, url))
    }

    /// Wrap an already built chip.
    pub fn from_chip(chip: Esp32s3, name: &str) -> Self {
        let generation = chip.usb_port().generation;
        SimTransport {
            chip,
            url: name.to_string(),
            baud: 115_200,
            dtr: false,
            rts: false,
            pending: std::collections::VecDeque::new(),
            clock: Instant::now(),
            home: name.to_string(),
            generation,
        }
    }

    /// The name the chip's port has now: the one it was opened under, or after it came back
    /// under another name (`replug=other`), `sim://ttyACM<N>`.
    fn port_name(&self) -> String {
        let port = self.chip.usb_port();
        if port.renamed {
            format!("sim://ttyACM{}", port.generation)
        } else {
            self.home.clone()
        }
    }

    /// Fail as a vanished serial device does when the chip's port is gone or came back since
    /// this handle was opened (an unplug, `sim://?unplug-at=…`).
    fn alive(&self) -> Result<(), TransportError> {
        let port = self.chip.usb_port();
        if port.present && port.generation == self.generation {
            return Ok(());
        }
        Err(TransportError::Disconnected {
            port: self.url.clone(),
            detail: if port.present {
                "the USB device was unplugged and came back; open it again".into()
            } else {
                "the USB device was unplugged".into()
            },
        })
    }

    /// The chip's USB serial number: its MAC on the chip's own USB-Serial/JTAG port; a bridge's
    /// is unknown (many have none).
    fn serial_number(&self) -> Option<String> {
        (self.chip.config().link == Link::UsbSerialJtag).then(|| {
            let mac = self.chip.config().identity.mac;
            let parts: Vec<String> = mac.iter().map(|b| format!("{b:02X}")).collect();
            parts.join(":")
        })
    }

    /// The simulated chip (to inspect flash contents in tests).
    pub fn chip(&self) -> &Esp32s3 {
        &self.chip
    }

    /// The simulated chip, mutable (to preload flash or reset it in tests).
    pub fn chip_mut(&mut self) -> &mut Esp32s3 {
        &mut self.chip
    }

    /// The chip's clock, as an `Instant`: a read with this deadline hands over what the chip has
    /// sent without letting any time pass (a wall-clock deadline would also give it the time the
    /// host spent since, which a test that counts what the chip printed must not do).
    pub fn clock(&self) -> Instant {
        self.clock
    }

    /// Take the chip out of the transport.
    pub fn into_chip(self) -> Esp32s3 {
        self.chip
    }

    fn io_error(&self, e: crate::sim::SimError) -> TransportError {
        TransportError::Io {
            port: self.url.clone(),
            source: std::io::Error::other(e.to_string()),
        }
    }
}

impl Transport for SimTransport {
    fn read(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
        if self.pending.is_empty() {
            self.alive()?;
        }
        let stalled = !self.chip.is_paced()
            && self.pending.is_empty()
            && !self.chip.has_output()
            && self.chip.next_output_in().is_some();
        if self.chip.is_paced() || stalled {
            if self.pending.is_empty() && !self.chip.has_output() {
                // The reader waits until the deadline; in virtual time the chip lives that
                // wait until its answer reaches us, or all of it.
                let wait = deadline.saturating_duration_since(Instant::now());
                self.clock += self.chip.advance_until_output(wait);
            }
        } else if self.pending.is_empty() && !self.chip.has_output() && deadline > self.clock {
            // Whatever the chip does by the deadline happens now, in virtual time.
            let elapsed = deadline - self.clock;
            self.clock = deadline;
            self.chip.advance(elapsed);
        }
        if self.chip.has_output() {
            self.pending.extend(self.chip.take_output());
        }
        let n = buf.len().min(self.pending.len());
        for (slot, b) in buf.iter_mut().zip(self.pending.drain(..n)) {
            *slot = b;
        }
        Ok(n)
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.alive()?;
        // Keep what the chip already sent ahead of its answers to these bytes.
        self.pending.extend(self.chip.take_output());
        self.chip.receive(bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TransportError> {
        self.chip.persist().map_err(|e| self.io_error(e))
    }

    fn clear_input(&mut self) -> Result<(), TransportError> {
        self.alive()?;
        self.pending.clear();
        self.chip.take_output();
        Ok(())
    }

    fn set_dtr(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.alive()?;
        self.dtr = asserted;
        self.chip.set_lines(self.dtr, self.rts);
        Ok(())
    }

    fn set_rts(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.alive()?;
        self.rts = asserted;
        self.chip.set_lines(self.dtr, self.rts);
        Ok(())
    }

    fn set_dtr_rts(&mut self, dtr: bool, rts: bool) -> Result<(), TransportError> {
        self.alive()?;
        self.dtr = dtr;
        self.rts = rts;
        self.chip.set_lines(dtr, rts);
        Ok(())
    }

    fn set_baud(&mut self, baud: u32) -> Result<(), TransportError> {
        self.alive()?;
        // Bytes the chip sent at the old rate were already received at the old rate.
        self.pending.extend(self.chip.take_output());
        self.baud = baud;
        self.chip.set_baud(baud);
        Ok(())
    }

    fn baud(&self) -> u32 {
        self.baud
    }

    fn pause(&mut self, duration: Duration) {
        // The chip's clock moves; nobody waits.
        self.clock += duration;
        self.chip.advance(duration);
    }

    fn describe(&self) -> String {
        self.url.clone()
    }

    fn time(&self) -> super::LinkTime {
        super::LinkTime::Simulated {
            now: self.clock,
            paced: self.chip.is_paced(),
        }
    }

    fn usb_ids(&self) -> Option<(u16, u16)> {
        // The chip's own USB port; over a bridge the bridge's ids are unknown (none).
        (self.chip.config().link == Link::UsbSerialJtag)
            .then_some((ESPRESSIF_VID, USB_JTAG_SERIAL_PID))
    }

    fn ports_now(&mut self) -> Option<Vec<PortInfo>> {
        if !self.chip.usb_port().present {
            return Some(Vec::new());
        }
        let ids = self.usb_ids();
        Some(vec![PortInfo {
            name: self.port_name(),
            vid: ids.map(|(vid, _)| vid),
            pid: ids.map(|(_, pid)| pid),
            serial_number: self.serial_number(),
            manufacturer: None,
            product: None,
            is_espressif_usb_jtag: ids.is_some(),
            likely_esp: true,
        }])
    }

    fn reopen(&mut self, path: &str) -> Result<(), TransportError> {
        if !self.chip.usb_port().present || path != self.port_name() {
            return Err(TransportError::NotFound {
                port: path.to_string(),
            });
        }
        self.generation = self.chip.usb_port().generation;
        self.url = path.to_string();
        self.pending.clear();
        self.chip.take_output();
        self.baud = 115_200;
        self.chip.set_baud(self.baud);
        self.dtr = false;
        self.rts = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_options() {
        let c = parse_url("sim://?size=16MB&mode=spi&chip=esp32c3&flash=/tmp/a%20b.bin").unwrap();
        assert_eq!(c.flash_size, 16 << 20);
        assert_eq!(c.start_in, StartIn::SpiBoot);
        assert_eq!(c.chip, ChipKind::Esp32c3);
        assert_eq!(
            c.flash_file.as_deref(),
            Some(std::path::Path::new("/tmp/a b.bin"))
        );
        assert_eq!(parse_url("sim://").unwrap(), SimConfig::default());
        let c = parse_url("sim://?mac=7c:DF:a1:00:00:2a").unwrap();
        assert_eq!(c.identity.mac, [0x7C, 0xDF, 0xA1, 0x00, 0x00, 0x2A]);
        let c = parse_url("sim://?usb=jtag&boot=button").unwrap();
        assert_eq!(c.link, Link::UsbSerialJtag);
        assert!(c.boot_button_at_power_on);
        let c = parse_url("sim://?usb=uart&boot=lines").unwrap();
        assert_eq!((c.link, c.boot_button_at_power_on), (Link::Uart, false));
        let jtag = SimTransport::open("sim://?usb=jtag").unwrap();
        assert_eq!(jtag.usb_ids(), Some((0x303A, 0x1001)));
        assert_eq!(SimTransport::open("sim://").unwrap().usb_ids(), None);
    }

    #[test]
    fn fault_options() {
        let c = parse_url(
            "sim://?fault-seed=9&drop=1e-5&flip=0.5&dup=0&truncate=1&noise=0.1&late=0.2&late-by=250ms&error=0.01&reset-at=300K&unplug-at=4096&replug=other&replug-after=1.5s&program-fail=0.001&bad-sector=0x10000+0x20000",
        )
        .unwrap();
        let f = &c.faults;
        assert_eq!((f.seed, f.drop, f.flip, f.truncate), (9, 1e-5, 0.5, 1.0));
        assert_eq!(f.late_by, Duration::from_millis(250));
        assert_eq!((f.reset_at, f.unplug_at), (Some(300 * 1024), Some(4096)));
        assert_eq!(f.replug, Replug::Other);
        assert_eq!(f.replug_after, Duration::from_millis(1500));
        assert_eq!(f.bad_sectors, vec![0x10000, 0x20000]);
        assert_eq!(parse_faults("drop=0.1&late=0.2").unwrap().late, 0.2);
        for (url, needle) in [
            ("sim://?drop=2", "option drop=\"2\" is not a rate"),
            ("sim://?late-by=4", "option late-by=\"4\" is not a duration"),
            ("sim://?replug=usb", "use replug=same"),
            ("sim://?reset-at=x", "is not a byte count"),
        ] {
            let err = parse_url(url).unwrap_err().to_string();
            assert!(err.contains(needle), "{url}: {err}");
        }
        let err = parse_faults("size=4MB").unwrap_err().to_string();
        assert!(
            err.contains("\"size\" is not a fault option; use fault-seed"),
            "{err}"
        );
    }

    #[test]
    fn bad_options_name_the_option_and_the_accepted_ones() {
        for (url, needle) in [
            (
                "sim://?colour=red",
                "unknown option \"colour\"; accepted options: flash=FILE",
            ),
            ("sim://?size=3MB", "option size=\"3MB\""),
            ("sim://?mode=usb", "option mode=\"usb\""),
            (
                "sim://?chip=esp8266",
                "option chip=\"esp8266\" is unknown; use one of esp32s3",
            ),
            ("serial://x", "starts with sim://"),
            (
                "sim://?mac=7c:df:a1:00:00",
                "option mac=\"7c:df:a1:00:00\" is not a MAC",
            ),
            ("sim://?mac=7c:df:a1:00:00:zz", "use six hex bytes"),
            (
                "sim://?usb=otg",
                "option usb=\"otg\" is unknown; use usb=jtag",
            ),
            (
                "sim://?boot=gpio0",
                "option boot=\"gpio0\" is unknown; use boot=button",
            ),
            (
                "sim://?console=/nonexistent/console.bin",
                "option console=\"/nonexistent/console.bin\": cannot read the file",
            ),
        ] {
            let err = parse_url(url).unwrap_err().to_string();
            assert!(err.contains(needle), "{url}: {err}");
        }
    }
}
