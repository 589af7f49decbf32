//! [`SharedTransport`]: one open port that several owners take turns on, so that a caller can
//! lend its port (to a [`Board`](crate::Board) that flashes through it, say) and have it back
//! afterwards, whatever happened to the borrower. It forwards every call to the port underneath;
//! it knows nothing of what goes over it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::{AnyTransport, Transport, TransportError};

/// An open port behind a shared handle. Clones are handles to the same port; calls from
/// different handles do not interleave within one call.
#[derive(Clone)]
pub struct SharedTransport(Arc<Mutex<AnyTransport>>);

impl std::fmt::Debug for SharedTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedTransport")
            .field(&self.port().describe())
            .finish()
    }
}

impl SharedTransport {
    /// Share `transport`.
    pub fn new(transport: AnyTransport) -> Self {
        SharedTransport(Arc::new(Mutex::new(transport)))
    }

    /// The port back, when this is the last handle (`Err(self)` while others remain).
    pub fn into_inner(self) -> Result<AnyTransport, SharedTransport> {
        match Arc::try_unwrap(self.0) {
            Ok(mutex) => Ok(mutex.into_inner().unwrap_or_else(PoisonError::into_inner)),
            Err(arc) => Err(SharedTransport(arc)),
        }
    }

    /// The port, for one call. A handle whose holder panicked still works: a port has no
    /// invariant a panic between two calls could break.
    fn port(&self) -> MutexGuard<'_, AnyTransport> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Transport for SharedTransport {
    fn read(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
        self.port().read(buf, deadline)
    }
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.port().write_all(bytes)
    }
    fn flush(&mut self) -> Result<(), TransportError> {
        self.port().flush()
    }
    fn clear_input(&mut self) -> Result<(), TransportError> {
        self.port().clear_input()
    }
    fn set_dtr(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.port().set_dtr(asserted)
    }
    fn set_rts(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.port().set_rts(asserted)
    }
    fn set_dtr_rts(&mut self, dtr: bool, rts: bool) -> Result<(), TransportError> {
        self.port().set_dtr_rts(dtr, rts)
    }
    fn set_baud(&mut self, baud: u32) -> Result<(), TransportError> {
        self.port().set_baud(baud)
    }
    fn baud(&self) -> u32 {
        self.port().baud()
    }
    fn can_change_baud(&self) -> bool {
        self.port().can_change_baud()
    }
    fn describe(&self) -> String {
        self.port().describe()
    }
    fn time(&self) -> super::LinkTime {
        self.port().time()
    }
    fn ports_now(&mut self) -> Option<Vec<super::serial::PortInfo>> {
        self.port().ports_now()
    }
    fn reopen(&mut self, path: &str) -> Result<(), super::TransportError> {
        self.port().reopen(path)
    }
    fn usb_ids(&self) -> Option<(u16, u16)> {
        self.port().usb_ids()
    }
    fn pause(&mut self, duration: std::time::Duration) {
        self.port().pause(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::sim::SimTransport;

    #[test]
    fn a_lent_port_comes_back() {
        let sim: AnyTransport = Box::new(SimTransport::open("sim://").expect("sim"));
        let shared = SharedTransport::new(sim);
        let mut lent = shared.clone();
        lent.set_baud(460_800).expect("baud");
        let Err(shared) = shared.into_inner() else {
            panic!("a handle is still out");
        };
        drop(lent);
        let Ok(port) = shared.into_inner() else {
            panic!("the last handle gives the port back");
        };
        assert_eq!(port.baud(), 460_800);
        assert_eq!(port.describe(), "sim://");
    }
}
