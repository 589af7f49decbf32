//! Reset sequences as data, played on any [`Transport`].
//!
//! Each sequence is a `const` list of [`Step`]s with the exact timings of
//! `esp32s3-facts.md` §7, so tests compare them as data and a transport records what was played.
//! Line semantics follow pyserial: asserting DTR drives IO0 low, asserting RTS drives EN low
//! (reset) on the usual auto-reset circuit. This module knows nothing of the ROM protocol.

use std::borrow::Cow;
use std::time::Duration;

use crate::transport::{Transport, TransportError, usb};

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

/// A named reset sequence: one of the built-in ones (`const`s below) or a custom one parsed from
/// esptool's notation with [`ResetSequence::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetSequence {
    /// Name for messages and events.
    pub name: Cow<'static, str>,
    /// The steps, in order.
    pub steps: Cow<'static, [Step]>,
}

/// A custom sequence that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "reset sequence {text:?}: {problem}; write steps separated by |: D0/D1 (DTR), R0/R1 (RTS), U0,1 (both at once: DTR,RTS), W0.1 (wait seconds), e.g. \"D0|R1|W0.1|D1|R0|W0.05|D0\""
)]
pub struct SequenceError {
    /// The whole sequence as given.
    pub text: String,
    /// What is wrong, naming the step.
    pub problem: String,
}

/// Longest wait accepted in a custom sequence: a typo such as `W50` (meant as 50 ms) would
/// otherwise hold the chip in reset for a minute on every connection attempt.
pub const MAX_CUSTOM_WAIT: Duration = Duration::from_secs(10);

impl ResetSequence {
    const fn builtin(name: &'static str, steps: &'static [Step]) -> Self {
        ResetSequence {
            name: Cow::Borrowed(name),
            steps: Cow::Borrowed(steps),
        }
    }

    /// Parse esptool's custom reset notation (`custom_reset_sequence` in its config):
    /// `D0|R1|W0.1|D1|R0|W0.05|D0`. `D`/`R` set DTR/RTS (1 = asserted), `U<dtr>,<rts>` sets both
    /// at once, `W<seconds>` waits. Spaces around steps are allowed.
    pub fn parse(text: &str) -> Result<Self, SequenceError> {
        let fail = |problem: String| SequenceError {
            text: text.to_string(),
            problem,
        };
        let level = |token: &str, digit: &str| match digit {
            "0" => Ok(false),
            "1" => Ok(true),
            _ => Err(fail(format!(
                "step {token:?} needs 0 or 1 after its letter"
            ))),
        };
        let mut steps = Vec::new();
        for token in text.split('|').map(str::trim) {
            if token.is_empty() {
                return Err(fail(
                    "an empty step (two | in a row, or one at an end)".into(),
                ));
            }
            // By character, not byte: a step may start with any character the user typed.
            let mut chars = token.chars();
            let letter = chars.next().unwrap_or_default();
            let rest = chars.as_str();
            let step = match letter {
                'D' | 'd' => Step::Dtr(level(token, rest)?),
                'R' | 'r' => Step::Rts(level(token, rest)?),
                'U' | 'u' => {
                    let (dtr, rts) = rest.split_once(',').ok_or_else(|| {
                        fail(format!("step {token:?} needs two levels, as in U0,1"))
                    })?;
                    Step::DtrRts(level(token, dtr.trim())?, level(token, rts.trim())?)
                }
                'W' | 'w' => {
                    let seconds = rest
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|s| s.is_finite() && *s >= 0.0)
                        .ok_or_else(|| {
                            fail(format!(
                                "step {token:?} needs a number of seconds, as in W0.1"
                            ))
                        })?;
                    let wait = Duration::from_secs_f64(seconds);
                    if wait > MAX_CUSTOM_WAIT {
                        return Err(fail(format!(
                            "step {token:?} waits longer than {} s (write seconds: W0.05 is 50 ms)",
                            MAX_CUSTOM_WAIT.as_secs()
                        )));
                    }
                    Step::Sleep(wait)
                }
                _ => return Err(fail(format!("unknown step {token:?}"))),
            };
            steps.push(step);
        }
        if !steps.iter().any(|s| !matches!(s, Step::Sleep(_))) {
            return Err(fail("it never changes DTR or RTS".into()));
        }
        Ok(ResetSequence {
            name: Cow::Owned(format!("custom reset ({text})")),
            steps: Cow::Owned(steps),
        })
    }
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
pub const CLASSIC_FAST: ResetSequence =
    ResetSequence::builtin("classic reset (0.05 s)", classic!(DELAY_FAST));
/// Classic reset with the long delay (0.55 s), for boards with slow EN circuits.
pub const CLASSIC_SLOW: ResetSequence =
    ResetSequence::builtin("classic reset (0.55 s)", classic!(DELAY_SLOW));
/// The Classic reset with both lines changed at once (Unix only), short delay.
pub const UNIX_TIGHT_FAST: ResetSequence =
    ResetSequence::builtin("tight reset (0.05 s)", unix_tight!(DELAY_FAST));
/// The tight reset with the long delay.
pub const UNIX_TIGHT_SLOW: ResetSequence =
    ResetSequence::builtin("tight reset (0.55 s)", unix_tight!(DELAY_SLOW));
/// The chip's own USB-Serial/JTAG controller: its "DTR/RTS" drive IO0/reset internally.
pub const USB_JTAG_SERIAL: ResetSequence = ResetSequence::builtin(
    "USB-Serial/JTAG reset",
    &[
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
);
/// Hard reset over a UART bridge: EN low for 0.1 s with IO0 high, so the firmware boots.
pub const HARD_RESET: ResetSequence = ResetSequence::builtin(
    "hard reset",
    &[Step::Rts(true), Step::Sleep(ms(100)), Step::Rts(false)],
);
/// Hard reset over the chip's USB: longer pulses, and time for the device to re-enumerate.
pub const HARD_RESET_USB: ResetSequence = ResetSequence::builtin(
    "hard reset (USB)",
    &[
        Step::Rts(true),
        Step::Sleep(ms(200)),
        Step::Rts(false),
        Step::Sleep(ms(200)),
    ],
);
/// No line changes.
pub const NO_RESET: ResetSequence = ResetSequence::builtin("no reset", &[]);

/// Espressif's USB ids (defined in `transport::usb`), also reachable here because the reset
/// choice depends on them.
pub use crate::transport::usb::{ESPRESSIF_VID, USB_JTAG_SERIAL_PID};

/// The reset sequences to cycle through over the connection attempts (attempt *i* plays
/// `list[i % len]`).
///
/// `unix` says whether both lines can be set at once (TIOCMSET), which the tight variants need.
/// A `custom` sequence (the `reset-sequence` setting) replaces the automatic choice for
/// `--before default-reset`; `usb-reset` and the no-reset modes keep their meaning.
pub fn connect_sequences(
    before: Before,
    usb_ids: Option<(u16, u16)>,
    unix: bool,
    custom: Option<&ResetSequence>,
) -> Vec<ResetSequence> {
    match before {
        Before::NoReset | Before::NoResetNoSync => vec![NO_RESET],
        Before::UsbReset => vec![USB_JTAG_SERIAL],
        Before::DefaultReset => match custom {
            Some(sequence) => vec![sequence.clone()],
            None if usb::is_usb_serial_jtag(usb_ids) => {
                vec![USB_JTAG_SERIAL]
            }
            // Short delays first: most boards need them; slow EN circuits need the long ones.
            None if unix => vec![UNIX_TIGHT_FAST, UNIX_TIGHT_SLOW, CLASSIC_FAST, CLASSIC_SLOW],
            None => vec![CLASSIC_FAST, CLASSIC_SLOW],
        },
    }
}

/// The sequence for connection attempt `attempt` (0-based), cycling through `list`.
pub fn sequence_for_attempt(list: &[ResetSequence], attempt: u32) -> ResetSequence {
    let len = list.len().max(1);
    list.get(attempt as usize % len)
        .cloned()
        .unwrap_or(NO_RESET)
}

/// The hard reset for this port: a `custom` one (the `hard-reset-sequence` setting) when given,
/// else the USB variant on Espressif's own USB, the UART one otherwise.
pub fn hard_reset_sequence(
    usb_ids: Option<(u16, u16)>,
    custom: Option<&ResetSequence>,
) -> ResetSequence {
    match (custom, usb_ids) {
        (Some(sequence), _) => sequence.clone(),
        (None, Some((ESPRESSIF_VID, _))) => HARD_RESET_USB,
        (None, _) => HARD_RESET,
    }
}

/// The RTC registers resets need (ESP32-S3 TRM; esp32s3-facts.md §6).
pub mod rtc {
    /// RTC watchdog configuration 0 (enable, stage actions).
    pub const WDT_CONFIG0: u32 = 0x6000_8098;
    /// RTC watchdog stage 0 timeout, in slow-clock cycles.
    pub const WDT_CONFIG1: u32 = 0x6000_809C;
    /// RTC watchdog write protection.
    pub const WDT_WPROTECT: u32 = 0x6000_80B0;
    /// The key that unlocks [`WDT_WPROTECT`].
    pub const WDT_WKEY: u32 = 0x50D8_3AA1;
    /// Super watchdog configuration.
    pub const SWD_CONF: u32 = 0x6000_80B4;
    /// Super watchdog write protection.
    pub const SWD_WPROTECT: u32 = 0x6000_80B8;
    /// The key that unlocks [`SWD_WPROTECT`].
    pub const SWD_WKEY: u32 = 0x8F1D_312A;
    /// Super watchdog auto-feed bit in [`SWD_CONF`].
    pub const SWD_AUTO_FEED: u32 = 1 << 31;
    /// RTC_CNTL_OPTION1.
    pub const OPTION1: u32 = 0x6000_812C;
    /// FORCE_DOWNLOAD_BOOT bit of [`OPTION1`] (a USB stack may leave it set).
    pub const FORCE_DOWNLOAD_BOOT: u32 = 1;
    /// GPIO_STRAP: the strapping pins latched at the last chip reset (bit 3 = GPIO0).
    pub const GPIO_STRAP: u32 = 0x6000_4038;
    /// GPIO0's bit in [`GPIO_STRAP`] (0 = held low: download mode by the BOOT button).
    pub const STRAP_GPIO0: u32 = 1 << 3;
}

/// One register write a reset asks the chip's loader to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterWrite {
    /// Register address.
    pub addr: u32,
    /// Value to write.
    pub value: u32,
    /// Bits to change (`u32::MAX` for all).
    pub mask: u32,
}

const fn write(addr: u32, value: u32) -> RegisterWrite {
    RegisterWrite {
        addr,
        value,
        mask: u32::MAX,
    }
}

/// The watchdog reset: arm the RTC watchdog so that it resets the whole chip, strapping pins
/// resampled (which a USB-Serial/JTAG core reset does not do). Stage 0 action "reset system"
/// after 2000 slow-clock cycles: `(1 << 31) | (5 << 28) | (1 << 8) | 2` (facts §6). The last
/// write may get no reply: the chip can already be resetting.
pub const WATCHDOG_RESET: &[RegisterWrite] = &[
    write(rtc::WDT_WPROTECT, rtc::WDT_WKEY),
    write(rtc::WDT_CONFIG1, 2000),
    write(rtc::WDT_CONFIG0, 0xD000_0102),
    write(rtc::WDT_WPROTECT, 0),
];
/// How long the watchdog reset takes before the chip boots.
pub const WATCHDOG_SETTLE: Duration = ms(500);

/// Over USB-Serial/JTAG the RTC watchdog and the super watchdog keep running in download mode
/// and would reset the chip mid-flash: switch the first off, let the second feed itself.
pub const DISABLE_WATCHDOGS: &[RegisterWrite] = &[
    write(rtc::WDT_WPROTECT, rtc::WDT_WKEY),
    write(rtc::WDT_CONFIG0, 0),
    write(rtc::WDT_WPROTECT, 0),
    write(rtc::SWD_WPROTECT, rtc::SWD_WKEY),
    RegisterWrite {
        addr: rtc::SWD_CONF,
        value: rtc::SWD_AUTO_FEED,
        mask: rtc::SWD_AUTO_FEED,
    },
    write(rtc::SWD_WPROTECT, 0),
];

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

    /// A transport that records what a sequence does to it: line changes and pauses, in order.
    /// Pauses are recorded, not slept, so the timings are checked exactly.
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
        fn time(&self) -> crate::transport::LinkTime {
            crate::transport::LinkTime::Wall
        }
        fn pause(&mut self, duration: Duration) {
            self.calls.push(Step::Sleep(duration));
        }
    }

    /// What playing `sequence` does to a port, as recorded.
    fn recorded(sequence: &ResetSequence) -> Vec<Step> {
        let mut t = Recorder::default();
        play(&mut t, &sequence.steps).expect("the recorder never fails");
        t.calls
    }

    /// The sequences of esptool-facts §7, written out from the facts (not from the consts).
    #[test]
    fn every_sequence_plays_the_documented_lines_and_delays() {
        use Step::*;
        let d = |dtr| Dtr(dtr);
        let r = |rts| Rts(rts);
        let w = |millis| Sleep(ms(millis));
        let classic = |delay| {
            vec![
                d(false),
                r(true),
                w(100),
                d(true),
                r(false),
                w(delay),
                d(false),
            ]
        };
        let tight = |delay| {
            vec![
                DtrRts(false, false),
                DtrRts(true, true),
                DtrRts(false, true),
                w(100),
                DtrRts(true, false),
                w(delay),
                DtrRts(false, false),
                d(false),
            ]
        };
        let cases: [(&ResetSequence, Vec<Step>); 8] = [
            (&CLASSIC_FAST, classic(50)),
            (&CLASSIC_SLOW, classic(550)),
            (&UNIX_TIGHT_FAST, tight(50)),
            (&UNIX_TIGHT_SLOW, tight(550)),
            (
                &USB_JTAG_SERIAL,
                vec![
                    r(false),
                    d(false),
                    w(100),
                    d(true),
                    r(false),
                    w(100),
                    r(true),
                    d(false),
                    r(true),
                    w(100),
                    d(false),
                    r(false),
                ],
            ),
            (&HARD_RESET, vec![r(true), w(100), r(false)]),
            (&HARD_RESET_USB, vec![r(true), w(200), r(false), w(200)]),
            (&NO_RESET, vec![]),
        ];
        for (sequence, expected) in cases {
            assert_eq!(recorded(sequence), expected, "{}", sequence.name);
        }
    }

    #[test]
    fn the_watchdog_reset_and_watchdog_disable_write_the_documented_registers() {
        let writes = |list: &[RegisterWrite]| -> Vec<(u32, u32, u32)> {
            list.iter().map(|w| (w.addr, w.value, w.mask)).collect()
        };
        const ALL: u32 = u32::MAX;
        assert_eq!(
            writes(WATCHDOG_RESET),
            [
                (0x6000_80B0, 0x50D8_3AA1, ALL),
                (0x6000_809C, 2000, ALL),
                (0x6000_8098, (1 << 31) | (5 << 28) | (1 << 8) | 2, ALL),
                (0x6000_80B0, 0, ALL),
            ]
        );
        assert_eq!(
            writes(DISABLE_WATCHDOGS),
            [
                (0x6000_80B0, 0x50D8_3AA1, ALL),
                (0x6000_8098, 0, ALL),
                (0x6000_80B0, 0, ALL),
                (0x6000_80B8, 0x8F1D_312A, ALL),
                (0x6000_80B4, 1 << 31, 1 << 31),
                (0x6000_80B8, 0, ALL),
            ]
        );
        assert_eq!(WATCHDOG_SETTLE, ms(500));
    }

    #[test]
    fn custom_sequences_in_esptool_notation() {
        use Step::*;
        // esptool's own spelling of its Classic and UnixTight resets gives the same steps.
        let classic = ResetSequence::parse("D0|R1|W0.1|D1|R0|W0.05|D0").unwrap();
        assert_eq!(recorded(&classic), recorded(&CLASSIC_FAST));
        let tight = ResetSequence::parse("U0,0|U1,1|U0,1|W0.1|U1,0|W0.05|U0,0|D0").unwrap();
        assert_eq!(recorded(&tight), recorded(&UNIX_TIGHT_FAST));
        assert_eq!(
            ResetSequence::parse(" r1 | w0.2 | r0 ")
                .unwrap()
                .steps
                .as_ref(),
            [Rts(true), Sleep(ms(200)), Rts(false)]
        );
        for (text, problem) in [
            ("", "an empty step"),
            ("D0||R1", "an empty step"),
            ("D2|R1", "step \"D2\" needs 0 or 1"),
            ("X1", "unknown step \"X1\""),
            ("é1|R0", "unknown step \"é1\""),
            ("R1|W0.1|\u{1F600}", "unknown step \"\u{1F600}\""),
            ("U1|R0", "step \"U1\" needs two levels"),
            ("U1,2", "step \"U1,2\" needs 0 or 1"),
            ("R1|Wabc|R0", "step \"Wabc\" needs a number of seconds"),
            ("R1|W-1|R0", "needs a number of seconds"),
            ("R1|W50|R0", "waits longer than 10 s"),
            ("W0.1", "never changes DTR or RTS"),
        ] {
            let error = ResetSequence::parse(text).expect_err(text);
            assert!(error.problem.contains(problem), "{text}: {}", error.problem);
            assert!(error.to_string().contains("D0|R1|W0.1"), "{error}");
        }
    }

    #[test]
    fn strategy_lists_follow_before_the_usb_ids_and_the_custom_sequence() {
        let names = |list: Vec<ResetSequence>| -> Vec<String> {
            list.into_iter().map(|s| s.name.into_owned()).collect()
        };
        let custom = ResetSequence::parse("D0|R1|W0.2|D1|R0|W0.1|D0").unwrap();
        let unix_all = [
            "tight reset (0.05 s)",
            "tight reset (0.55 s)",
            "classic reset (0.05 s)",
            "classic reset (0.55 s)",
        ];
        let jtag = Some((0x303A, 0x1001));
        let cp2102 = Some((0x10C4, 0xEA60));
        type Case<'a> = (
            Before,
            Option<(u16, u16)>,
            bool,
            Option<&'a ResetSequence>,
            Vec<&'a str>,
        );
        let cases: [Case; 9] = [
            (Before::DefaultReset, None, true, None, unix_all.to_vec()),
            (Before::DefaultReset, cp2102, true, None, unix_all.to_vec()),
            (
                Before::DefaultReset,
                None,
                false,
                None,
                vec!["classic reset (0.05 s)", "classic reset (0.55 s)"],
            ),
            (
                Before::DefaultReset,
                jtag,
                true,
                None,
                vec!["USB-Serial/JTAG reset"],
            ),
            (
                Before::UsbReset,
                None,
                true,
                None,
                vec!["USB-Serial/JTAG reset"],
            ),
            (Before::NoReset, jtag, true, None, vec!["no reset"]),
            (
                Before::NoResetNoSync,
                None,
                true,
                Some(&custom),
                vec!["no reset"],
            ),
            (
                Before::DefaultReset,
                jtag,
                true,
                Some(&custom),
                vec!["custom reset (D0|R1|W0.2|D1|R0|W0.1|D0)"],
            ),
            (
                Before::UsbReset,
                None,
                true,
                Some(&custom),
                vec!["USB-Serial/JTAG reset"],
            ),
        ];
        for (before, ids, unix, custom, expected) in cases {
            assert_eq!(
                names(connect_sequences(before, ids, unix, custom)),
                expected,
                "{before:?} {ids:?} unix={unix} custom={custom:?}"
            );
        }

        // Cycled over seven attempts, as esptool does.
        let list = connect_sequences(Before::DefaultReset, None, true, None);
        let cycled: Vec<String> = (0..7)
            .map(|i| sequence_for_attempt(&list, i).name.into_owned())
            .collect();
        assert_eq!(
            cycled,
            [0, 1, 2, 3, 0, 1, 2].map(|i| unix_all[i].to_string())
        );

        assert_eq!(hard_reset_sequence(jtag, None), HARD_RESET_USB);
        assert_eq!(
            hard_reset_sequence(Some((0x303A, 0x0002)), None),
            HARD_RESET_USB
        );
        assert_eq!(
            hard_reset_sequence(Some((0x1A86, 0x7523)), None),
            HARD_RESET
        );
        assert_eq!(hard_reset_sequence(None, None), HARD_RESET);
        let custom_hard = ResetSequence::parse("R1|W0.3|R0").unwrap();
        assert_eq!(hard_reset_sequence(jtag, Some(&custom_hard)), custom_hard);
    }
}
