//! Reset sequences as data, played on any [`Transport`](crate::transport::Transport).
//! TODO(owner: loader helper): sequences and `play`.

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
