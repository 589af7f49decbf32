//! The documented exit codes of `cargo esp32s3`, public so that scripts and tests name them by
//! their constant, and the code each library [`Error`] ends the command with. The command line
//! adds its own few (usage, a monitor timeout, several boards); nothing here prints or exits.

use crate::Error;
use crate::plan::PlanError;

/// Success.
pub const SUCCESS: u8 = 0;
/// Any failure not listed below.
pub const FAILURE: u8 = 1;
/// The command line was wrong (clap's code).
pub const USAGE: u8 = 2;
/// The configuration was wrong.
pub const CONFIG: u8 = 3;
/// `cargo build` failed.
pub const BUILD: u8 = 4;
/// An image, ELF or partition table was invalid.
pub const IMAGE: u8 = 5;
/// The chip could not be reached or answered wrongly.
pub const CONNECT: u8 = 6;
/// Writing, erasing, reading or verifying flash failed.
pub const FLASH: u8 = 7;
/// The monitor's `--timeout` passed before a line matched `--until`.
pub const MONITOR_TIMEOUT: u8 = 8;

/// The exit code for a library error.
pub fn code_for(error: &Error) -> u8 {
    match error {
        Error::Config(_) | Error::Project(_) => CONFIG,
        Error::Cargo(_) => BUILD,
        Error::Image(_) | Error::Partition(_) | Error::Symbols(_) => IMAGE,
        // The ELF's defmt table cannot be used: a problem of the firmware file.
        Error::Monitor(crate::monitor::MonitorError::Defmt(_)) => IMAGE,
        Error::Plan(plan) => match plan {
            // A setting names a file that is not there.
            PlanError::SettingFile { .. } => CONFIG,
            // A choice that contradicts the plan is a usage mistake, as clap's are.
            PlanError::EraseAllAppAlone | PlanError::EraseAllWithoutLayout { .. } => USAGE,
            // A file given for an offset where its content does not belong: a usage mistake.
            PlanError::WrongOffset { .. } | PlanError::NotAnAppPartition { .. } => USAGE,
            // The files do not fit this chip's flash, as a region past its end does not.
            PlanError::TableBeyondFlash { .. } => FLASH,
            // The chip cannot boot what would be written: nothing is wrong with the files.
            PlanError::CannotBootApp { .. }
            | PlanError::NoBootloaderKept { .. }
            | PlanError::NoTableToErase { .. } => FAILURE,
            // A partition or type the user named that is not there: a usage mistake.
            PlanError::NoPartitionToErase { .. } | PlanError::UnknownDataType { .. } => USAGE,
            _ => IMAGE,
        },
        Error::Board(
            crate::board::BoardError::NoSuchPartition { .. }
            | crate::board::BoardError::BadAddress { .. },
        ) => USAGE,
        Error::Board(_) => FAILURE,
        Error::Transport(_) | Error::Loader(_) | Error::Monitor(_) => CONNECT,
        Error::Flash(_) => FLASH,
        Error::Bootloader(store) => {
            use crate::bootloader_store::StoreError as S;
            match store {
                S::NotABootloader { .. } | S::NoBootloaderIn { .. } => IMAGE,
                S::UnknownId { .. } | S::AmbiguousId { .. } => USAGE,
                S::NothingOnChip { .. } | S::BadRecord { .. } => FAILURE,
            }
        }
        Error::File { .. } => FAILURE,
    }
}
