//! `ES13xx`: the codes of [`MonitorError`] (watching the chip's console). It must not know how
//! the monitor works.

use super::{defmt, transport};
use crate::monitor::MonitorError;

catalogue! {
    /// The code of a monitor error.
    pub(super) fn code(&MonitorError);
    /// `ES13xx`: the monitor.
    pub(super) const ENTRIES;
    wrappers {
        MonitorError::Transport(e) => transport::code(e),
        MonitorError::Defmt(e) => defmt::code(e),
    }
    MonitorError::Input(_) => ES1301 {
        example: MonitorError::Input("stdin: Input/output error (os error 5)".into()),
        cause: "The monitor's input (the keyboard, or stdin in a script) failed: the terminal went away, or stdin is a file or pipe that broke.",
        fix: "Check what stdin is; in scripts, use --non-interactive or redirect stdin from /dev/null.",
    },
}
