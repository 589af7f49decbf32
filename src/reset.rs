//! Reset sequences as data, played on any [`Transport`].
//!
//! Each sequence is a `const` list of [`Step`]s with the exact timings of
//! `esp32s3-facts.md` §7, so tests compare them as data and a transport records what was played.
//! Line semantics follow pyserial: asserting DTR drives IO0 low, asserting RTS drives EN low
//! (reset) on the usual auto-reset circuit. This module knows nothing of the ROM protocol.

use std::time::Duration;

use crate::transport::{Transport, TransportError};

/// What to do before talking to the chip (`--before`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Before {
    /// Toggle DTR/RTS into download mode (UnixTight/Classic, cycled), then sync.
    #[default]
    DefaultReset,
    /// The USB-Serial/JTAG sequence, then sync.
    UsbReset,
    /// No line changes; sync only (the chip is already in download mode).
    NoReset,
    /// No line changes and no sync (a stub is already running).
    NoResetNoSync,
}

/// What to do after the operation (`--after`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum After {
    /// Pulse EN through RTS so the new firmware boots.
    #[default]
    HardReset,
    /// Ask the loader to run the user code (FLASH_BEGIN + FLASH_END(run)).
    SoftReset,
    /// Leave the chip in the loader.
    NoReset,
    /// Reset through the RTC watchdog (needed for USB-Serial/JTAG after a BOOT-button entry).
    WatchdogReset,
}

impl Before {
    /// All values with their command-line names.
    pub const NAMES: [(&'static str, Before); 4] = [
        ("default-reset", Before::DefaultReset),
        ("usb-reset", Before::UsbReset),
        ("no-reset", Before::NoReset),
        ("no-reset-no-sync", Before::NoResetNoSync),
    ];
}

impl After {
    /// All values with their command-line names.
    pub const NAMES: [(&'static str, After); 4] = [
        ("hard-reset", After::HardReset),
        ("soft-reset", After::SoftReset),
        ("no-reset", After::NoReset),
        ("watchdog-reset", After::WatchdogReset),
    ];
}

/// One action on the modem lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Assert (`true`) or release DTR.
    Dtr(bool),
    /// Assert (`true`) or release RTS.
    Rts(bool),
    /// Set DTR and RTS at once (where the platform can).
    DtrRts(bool, bool),
    /// Wait.
    Sleep(Duration),
}

/// A named reset sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetSequence {
    /// Name for messages and events.
    pub name: &'static str,
    /// The steps, in order.
    pub steps: &'static [Step],
}

const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// The reset delay esptool uses first (0.05 s) and the longer one for slow boards (0.55 s).
pub const DELAY_FAST: Duration = ms(50);
/// See [`DELAY_FAST`].
pub const DELAY_SLOW: Duration = ms(550);

macro_rules! classic {
    ($delay:expr) => {
        &[
            Step::Dtr(false),
            Step::Rts(true),
            Step::Sleep(ms(100)),
            Step::Dtr(true),
            Step::Rts(false),
            Step::Sleep($delay),
            Step::Dtr(false),
        ]
    };
}

macro_rules! unix_tight {
    ($delay:expr) => {
        &[
            Step::DtrRts(false, false),
            Step::DtrRts(true, true),
            Step::DtrRts(false, true),
            Step::Sleep(ms(100)),
            Step::DtrRts(true, false),
            Step::Sleep($delay),
            Step::DtrRts(false, false),
            Step::Dtr(false),
        ]
    };
}

/// Classic reset with the short delay: EN low 0.1 s, release EN with IO0 held low for 0.05 s.
pub const CLASSIC_FAST: ResetSequence = ResetSequence {
    name: "classic reset (0.05 s)",
    steps: classic!(DELAY_FAST),
};
/// Classic reset with the long delay (0.55 s), for boards with slow EN circuits.
pub const CLASSIC_SLOW: ResetSequence = ResetSequence {
    name: "classic reset (0.55 s)",
    steps: classic!(DELAY_SLOW),
};
/// The Classic reset with both lines changed at once (Unix only), short delay.
pub const UNIX_TIGHT_FAST: ResetSequence = ResetSequence {
    name: "tight reset (0.05 s)",
    steps: unix_tight!(DELAY_FAST),
};
/// The tight reset with the long delay.
pub const UNIX_TIGHT_SLOW: ResetSequence = ResetSequence {
    name: "tight reset (0.55 s)",
    steps: unix_tight!(DELAY_SLOW),
};
/// The chip's own USB-Serial/JTAG controller: its "DTR/RTS" drive IO0/reset internally.
pub const USB_JTAG_SERIAL: ResetSequence = ResetSequence {
    name: "USB-Serial/JTAG reset",
    steps: &[
        Step::Rts(false),
        Step::Dtr(false),
        Step::Sleep(ms(100)),
        Step::Dtr(true),
        Step::Rts(false),
        Step::Sleep(ms(100)),
        // Through (DTR 0, RTS 1) rather than (0, 0), which would boot the firmware.
        Step::Rts(true),
        Step::Dtr(false),
        Step::Rts(true),
        Step::Sleep(ms(100)),
        Step::Dtr(false),
        Step::Rts(false),
    ],
};
/// Hard reset over a UART bridge: EN low for 0.1 s with IO0 high, so the firmware boots.
pub const HARD_RESET: ResetSequence = ResetSequence {
    name: "hard reset",
    steps: &[Step::Rts(true), Step::Sleep(ms(100)), Step::Rts(false)],
};
/// Hard reset over the chip's USB: longer pulses, and time for the device to re-enumerate.
pub const HARD_RESET_USB: ResetSequence = ResetSequence {
    name: "hard reset (USB)",
    steps: &[
        Step::Rts(true),
        Step::Sleep(ms(200)),
        Step::Rts(false),
        Step::Sleep(ms(200)),
    ],
};
/// No line changes.
pub const NO_RESET: ResetSequence = ResetSequence {
    name: "no reset",
    steps: &[],
};

/// Espressif's USB vendor id.
pub const ESPRESSIF_VID: u16 = 0x303A;
/// Product id of the chip's USB-Serial/JTAG controller.
pub const USB_JTAG_SERIAL_PID: u16 = 0x1001;

/// The reset sequences to cycle through over the connection attempts (attempt *i* plays
/// `list[i % len]`).
///
/// `unix` says whether both lines can be set at once (TIOCMSET), which the tight variants need.
pub fn connect_sequences(
    before: Before,
    usb_ids: Option<(u16, u16)>,
    unix: bool,
) -> &'static [ResetSequence] {
    const USB: &[ResetSequence] = &[USB_JTAG_SERIAL];
    const UNIX: &[ResetSequence] = &[UNIX_TIGHT_FAST, UNIX_TIGHT_SLOW, CLASSIC_FAST, CLASSIC_SLOW];
    const OTHER: &[ResetSequence] = &[CLASSIC_FAST, CLASSIC_SLOW];
    const NONE: &[ResetSequence] = &[NO_RESET];
    match before {
        Before::NoReset | Before::NoResetNoSync => NONE,
        Before::UsbReset => USB,
        Before::DefaultReset if usb_ids == Some((ESPRESSIF_VID, USB_JTAG_SERIAL_PID)) => USB,
        Before::DefaultReset if unix => UNIX,
        Before::DefaultReset => OTHER,
    }
}

/// The sequence for connection attempt `attempt` (0-based), cycling through `list`.
pub fn sequence_for_attempt(list: &[ResetSequence], attempt: u32) -> ResetSequence {
    let len = list.len().max(1);
    list.get(attempt as usize % len)
        .copied()
        .unwrap_or(NO_RESET)
}

/// The hard reset for this port: the USB variant on Espressif's own USB, the UART one otherwise.
pub fn hard_reset_sequence(usb_ids: Option<(u16, u16)>) -> ResetSequence {
    match usb_ids {
        Some((ESPRESSIF_VID, _)) => HARD_RESET_USB,
        _ => HARD_RESET,
    }
}

/// Play `steps` on the transport, sleeping where the sequence says.
pub fn play(t: &mut (impl Transport + ?Sized), steps: &[Step]) -> Result<(), TransportError> {
    for step in steps {
        match *step {
            Step::Dtr(on) => t.set_dtr(on)?,
            Step::Rts(on) => t.set_rts(on)?,
            Step::DtrRts(dtr, rts) => t.set_dtr_rts(dtr, rts)?,
            Step::Sleep(d) => t.pause(d),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A transport that records line changes as steps.
    #[derive(Default)]
    struct Recorder {
        calls: Vec<Step>,
    }

    impl Transport for Recorder {
        fn read(&mut self, _: &mut [u8], _: Instant) -> Result<usize, TransportError> {
            Ok(0)
        }
        fn write_all(&mut self, _: &[u8]) -> Result<(), TransportError> {
            Ok(())
        }
        fn flush(&mut self) -> Result<(), TransportError> {
            Ok(())
        }
        fn clear_input(&mut self) -> Result<(), TransportError> {
            Ok(())
        }
        fn set_dtr(&mut self, on: bool) -> Result<(), TransportError> {
            self.calls.push(Step::Dtr(on));
            Ok(())
        }
        fn set_rts(&mut self, on: bool) -> Result<(), TransportError> {
            self.calls.push(Step::Rts(on));
            Ok(())
        }
        fn set_dtr_rts(&mut self, dtr: bool, rts: bool) -> Result<(), TransportError> {
            self.calls.push(Step::DtrRts(dtr, rts));
            Ok(())
        }
        fn set_baud(&mut self, _: u32) -> Result<(), TransportError> {
            Ok(())
        }
        fn baud(&self) -> u32 {
            115_200
        }
        fn describe(&self) -> String {
            "recorder".into()
        }
    }

    fn lines(steps: &[Step]) -> Vec<Step> {
        steps
            .iter()
            .copied()
            .filter(|s| !matches!(s, Step::Sleep(_)))
            .collect()
    }

    #[test]
    fn sequences_have_the_documented_steps_and_timings() {
        use Step::*;
        let check =
            |seq: ResetSequence, expected: &[Step]| assert_eq!(seq.steps, expected, "{}", seq.name);
        check(
            CLASSIC_FAST,
            &[
                Dtr(false),
                Rts(true),
                Sleep(ms(100)),
                Dtr(true),
                Rts(false),
                Sleep(ms(50)),
                Dtr(false),
            ],
        );
        check(
            CLASSIC_SLOW,
            &[
                Dtr(false),
                Rts(true),
                Sleep(ms(100)),
                Dtr(true),
                Rts(false),
                Sleep(ms(550)),
                Dtr(false),
            ],
        );
        check(
            UNIX_TIGHT_FAST,
            &[
                DtrRts(false, false),
                DtrRts(true, true),
                DtrRts(false, true),
                Sleep(ms(100)),
                DtrRts(true, false),
                Sleep(ms(50)),
                DtrRts(false, false),
                Dtr(false),
            ],
        );
        check(HARD_RESET, &[Rts(true), Sleep(ms(100)), Rts(false)]);
        check(
            HARD_RESET_USB,
            &[Rts(true), Sleep(ms(200)), Rts(false), Sleep(ms(200))],
        );
        let usb_sleeps: Vec<Step> = USB_JTAG_SERIAL
            .steps
            .iter()
            .copied()
            .filter(|s| matches!(s, Sleep(_)))
            .collect();
        assert_eq!(usb_sleeps, [Sleep(ms(100)); 3]);
    }

    #[test]
    fn play_drives_the_lines_in_order() {
        let mut t = Recorder::default();
        play(&mut t, USB_JTAG_SERIAL.steps).expect("recorder never fails");
        use Step::*;
        assert_eq!(
            t.calls,
            [
                Rts(false),
                Dtr(false),
                Dtr(true),
                Rts(false),
                Rts(true),
                Dtr(false),
                Rts(true),
                Dtr(false),
                Rts(false)
            ]
        );
        assert_eq!(t.calls, lines(USB_JTAG_SERIAL.steps));
    }

    #[test]
    fn strategy_lists_follow_before_and_the_usb_ids() {
        let names = |list: &[ResetSequence]| list.iter().map(|s| s.name).collect::<Vec<_>>();
        let check = |before, ids, unix, expected: &[&str]| {
            assert_eq!(
                names(connect_sequences(before, ids, unix)),
                expected,
                "{before:?} {ids:?} {unix}"
            );
        };
        let unix_all = [
            "tight reset (0.05 s)",
            "tight reset (0.55 s)",
            "classic reset (0.05 s)",
            "classic reset (0.55 s)",
        ];
        check(Before::DefaultReset, None, true, &unix_all);
        check(
            Before::DefaultReset,
            Some((0x10C4, 0xEA60)),
            true,
            &unix_all,
        );
        check(
            Before::DefaultReset,
            None,
            false,
            &["classic reset (0.05 s)", "classic reset (0.55 s)"],
        );
        check(
            Before::DefaultReset,
            Some((0x303A, 0x1001)),
            true,
            &["USB-Serial/JTAG reset"],
        );
        check(Before::UsbReset, None, true, &["USB-Serial/JTAG reset"]);
        check(Before::NoReset, Some((0x303A, 0x1001)), true, &["no reset"]);
        check(Before::NoResetNoSync, None, true, &["no reset"]);

        let list = connect_sequences(Before::DefaultReset, None, true);
        let cycled: Vec<&str> = (0..7).map(|i| sequence_for_attempt(list, i).name).collect();
        assert_eq!(cycled[4], unix_all[0]);
        assert_eq!(cycled[6], unix_all[2]);
        assert_eq!(hard_reset_sequence(Some((0x303A, 0x1001))), HARD_RESET_USB);
        assert_eq!(hard_reset_sequence(Some((0x1A86, 0x7523))), HARD_RESET);
        assert_eq!(hard_reset_sequence(None), HARD_RESET);
    }
}
