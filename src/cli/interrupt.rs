//! Ctrl+C while flashing: the first press asks every board being flashed to stop after its
//! current block (the library's [`Cancel`] flag: the library itself installs no handler), so the
//! error can say which regions are verified and that running the command again finishes the job;
//! a second press ends the process at once. Outside a flash, Ctrl+C ends the process as it would
//! without a handler. The `ctrlc` crate runs the handler on its own thread (Ctrl+C and SIGTERM on
//! Unix, Ctrl+C and Ctrl+Break on Windows), not inside a signal handler.

use std::sync::{Mutex, Once};

use cargo_esp32s3::flasher::Cancel;

/// The exit status of a process ended by Ctrl+C (128 + SIGINT, as shells report it).
const INTERRUPTED: i32 = 130;

/// The boards being flashed now, each with an id for its guard.
static FLASHING: Mutex<Vec<(u64, Cancel)>> = Mutex::new(Vec::new());

/// Keeps a board's [`Cancel`] registered for Ctrl+C while it flashes; dropping it ends that.
#[derive(Debug)]
pub struct Flashing {
    id: u64,
}

/// Register `cancel` for Ctrl+C until the returned guard is dropped.
pub fn while_flashing(cancel: Cancel) -> Flashing {
    static INSTALL: Once = Once::new();
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    INSTALL.call_once(|| {
        // Another handler (none is installed before a flash) would keep ours out; Ctrl+C then
        // ends the process as before, which loses nothing the chip has verified.
        let _ = ctrlc::try_set_handler(on_interrupt);
    });
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    if let Ok(mut boards) = FLASHING.lock() {
        boards.push((id, cancel));
    }
    Flashing { id }
}

impl Drop for Flashing {
    fn drop(&mut self) {
        if let Ok(mut boards) = FLASHING.lock() {
            boards.retain(|(id, _)| *id != self.id);
        }
    }
}

fn on_interrupt() {
    let Ok(boards) = FLASHING.lock() else {
        std::process::exit(INTERRUPTED);
    };
    // Nothing to stop cleanly, or asked a second time: end as Ctrl+C would.
    if boards.is_empty() || boards.iter().any(|(_, cancel)| cancel.is_cancelled()) {
        std::process::exit(INTERRUPTED);
    }
    eprintln!(
        "\nInterrupted: stopping after the current block (press Ctrl+C again to quit at once)"
    );
    for (_, cancel) in boards.iter() {
        cancel.cancel();
    }
}
