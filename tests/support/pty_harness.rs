//! Run a program with a pseudo-terminal as its controlling terminal, stdin, stdout and stderr,
//! the way a user's shell would: send it keys, read what it shows with timeouts, and look at the
//! terminal's settings after it exits (did it restore them?).
//!
//! Unix only (openpty, setsid, TIOCSCTTY).
// Each test file uses what it needs of this module.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A child process on a pseudo-terminal.
pub struct PtyChild {
    child: Child,
    master: File,
    shown: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
}

/// The terminal settings of the pty (read through the master side).
pub fn termios_of(fd: &File) -> libc::termios {
    let mut settings = std::mem::MaybeUninit::<libc::termios>::uninit();
    // SAFETY: tcgetattr fills the struct on success, which is asserted before use.
    let rc = unsafe { libc::tcgetattr(fd.as_raw_fd(), settings.as_mut_ptr()) };
    assert_eq!(rc, 0, "tcgetattr: {}", std::io::Error::last_os_error());
    // SAFETY: initialised by the successful call above.
    unsafe { settings.assume_init() }
}

impl PtyChild {
    /// Start `program` with `args` (and `env`) on a fresh pty in its own session.
    pub fn spawn<I, S>(program: &str, args: I, env: &[(&str, &str)]) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::spawn_without(program, args, env, &[])
    }

    /// [`PtyChild::spawn`] in the directory `dir` (where cargo looks for `.cargo/config.toml`).
    pub fn spawn_in<I, S>(
        dir: &std::path::Path,
        program: &str,
        args: I,
        env: &[(&str, &str)],
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::start(Some(dir), program, args, env, &[])
    }

    /// [`PtyChild::spawn`], with the variables in `remove` taken out of the environment the
    /// program inherits (a test of colours must not see the runner's `NO_COLOR`).
    pub fn spawn_without<I, S>(
        program: &str,
        args: I,
        env: &[(&str, &str)],
        remove: &[&str],
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::start(None, program, args, env, remove)
    }

    fn start<I, S>(
        dir: Option<&std::path::Path>,
        program: &str,
        args: I,
        env: &[(&str, &str)],
        remove: &[&str],
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut master_fd: libc::c_int = -1;
        let mut slave_fd: libc::c_int = -1;
        // SAFETY: openpty writes two descriptors; the null pointers mean default name/settings
        // (`null_mut` fits both the Linux `*const` and the macOS `*mut` signatures).
        let rc = unsafe {
            libc::openpty(
                &mut master_fd,
                &mut slave_fd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and are owned here alone.
        let master = unsafe { File::from_raw_fd(master_fd) };
        let slave = unsafe { OwnedFd::from_raw_fd(slave_fd) };
        let stdio = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup slave"));
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(stdio(&slave))
            .stdout(stdio(&slave))
            .stderr(stdio(&slave));
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        for key in remove {
            command.env_remove(key);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // stdin is the slave: make it the session's controlling terminal.
                if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("spawn on pty");
        drop(slave);
        let shown = Arc::new(Mutex::new(Vec::new()));
        let mut reading = master.try_clone().expect("dup master");
        let sink = Arc::clone(&shown);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the child and its descendants closed the slave.
            while let Ok(n) = reading.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("output lock")
                    .extend_from_slice(&buf[..n]);
            }
        });
        PtyChild {
            child,
            master,
            shown,
            reader: Some(reader),
        }
    }

    /// Type `bytes` on the terminal.
    pub fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to pty");
        self.master.flush().expect("flush pty");
    }

    /// Everything the program showed so far (lossy text).
    pub fn shown(&self) -> String {
        String::from_utf8_lossy(&self.shown.lock().expect("output lock")).into_owned()
    }

    /// How often `needle` was shown so far.
    pub fn count(&self, needle: &str) -> usize {
        self.shown().matches(needle).count()
    }

    /// Wait until `needle` has been shown `times` times; panics with the output on timeout.
    pub fn wait_for_count(&self, needle: &str, times: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.count(needle) < times {
            assert!(
                Instant::now() < deadline,
                "waited {timeout:?} for {times}x {needle:?}; shown:\n{}",
                self.shown()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until `needle` has been shown at least once.
    pub fn wait_for(&self, needle: &str, timeout: Duration) {
        self.wait_for_count(needle, 1, timeout);
    }

    /// Send `signal` to the program.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits");
        // SAFETY: kill has no memory effects; the pid is our own child.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// True while the program runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Wait for the program to exit; panics with the output on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {timeout:?}; shown:\n{}",
                self.shown()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The terminal's current settings.
    pub fn termios(&self) -> libc::termios {
        termios_of(&self.master)
    }
}

impl Drop for PtyChild {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // The reader ends on EIO after the child is gone; do not wait on a stuck one.
        if let Some(reader) = self.reader.take() {
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
    }
}
