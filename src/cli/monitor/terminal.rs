//! The interactive terminal, through crossterm on every platform: raw mode held for a session,
//! keys read on a thread, and the terminal put back on every way out (the session ending or
//! failing, a panic, and on Unix a fatal signal: SIGTERM, SIGHUP, SIGINT, SIGQUIT). It knows
//! nothing of the chip or of what the keys mean (that is `keys.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use crossterm::event::{self, Event, KeyEvent};

/// True while a session holds raw mode, so the panic hook and the signal watcher restore the
/// terminal only when it is theirs to restore.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// How long the key reader waits for a key before it looks at its stop flag again.
const POLL: Duration = Duration::from_millis(50);

/// Leave raw mode if a session holds it. Safe to call from any thread, more than once.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// Raw input (no echo, no line editing, Ctrl+C a key rather than a signal) until dropped.
pub struct RawMode(());

impl RawMode {
    /// Switch the terminal to raw mode, with the panic hook and the signal watcher in place.
    pub fn enter() -> std::io::Result<Self> {
        install_guards();
        // Windows consoles show the chip's ANSI colours only with VT processing on.
        #[cfg(windows)]
        let _ = crossterm::ansi_support::supports_ansi();
        // Marked before the switch, so a signal in between still restores.
        ACTIVE.store(true, Ordering::SeqCst);
        if let Err(e) = crossterm::terminal::enable_raw_mode() {
            ACTIVE.store(false, Ordering::SeqCst);
            return Err(e);
        }
        Ok(RawMode(()))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
    }
}

/// Once per process: a panic hook that restores before the message, and the signal watcher.
fn install_guards() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        watch_signals();
    });
}

/// A thread that, on a signal that ends the process, restores the terminal and then lets the
/// signal end the process as it would have (the same exit status, `kill -TERM` included).
/// It lives as long as the process, so the signals keep their default effect after the
/// session too. Without it (registration failed), a session still restores on return and
/// panic.
#[cfg(unix)]
fn watch_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGINT, SIGQUIT])
    else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("terminal-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                restore();
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                // Only reached if the default action did not end the process.
                std::process::exit(128 + signal);
            }
        });
}

/// Ctrl+Break and a closed console window end the process through this handler (Ctrl+C is a
/// key in raw mode), with the status an unhandled Ctrl+C or Ctrl+Break gives.
#[cfg(windows)]
fn watch_signals() {
    /// STATUS_CONTROL_C_EXIT.
    const CONTROL_C_EXIT: u32 = 0xC000_013A;
    let _ = ctrlc::try_set_handler(|| {
        restore();
        std::process::exit(i32::from_ne_bytes(CONTROL_C_EXIT.to_ne_bytes()));
    });
}

#[cfg(not(any(unix, windows)))]
fn watch_signals() {}

/// What the key reader delivers.
pub enum KeyInput {
    /// A key press (or repeat; releases are filtered by the translation).
    Key(KeyEvent),
    /// Reading the terminal failed; the reader has stopped.
    Failed(String),
}

/// Keys read on a thread (the main thread reads the port). Dropping it stops the thread
/// within [`POLL`] and joins it, so no thread is left blocked on the terminal.
pub struct KeyReader {
    keys: mpsc::Receiver<KeyInput>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl KeyReader {
    /// Start reading keys.
    pub fn spawn() -> Self {
        let (tx, keys) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                let message = match event::poll(POLL) {
                    Ok(false) => continue,
                    Ok(true) => match event::read() {
                        Ok(Event::Key(key)) => KeyInput::Key(key),
                        // Resizes, focus and mouse events mean nothing to the chip.
                        Ok(_) => continue,
                        Err(e) => KeyInput::Failed(format!("cannot read the terminal: {e}")),
                    },
                    Err(e) => KeyInput::Failed(format!("cannot read the terminal: {e}")),
                };
                let failed = matches!(message, KeyInput::Failed(_));
                if tx.send(message).is_err() || failed {
                    return;
                }
            }
        });
        KeyReader {
            keys,
            stop,
            thread: Some(thread),
        }
    }

    /// The next key read, if any, without waiting.
    pub fn try_recv(&self) -> Result<KeyInput, mpsc::TryRecvError> {
        self.keys.try_recv()
    }
}

impl Drop for KeyReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
