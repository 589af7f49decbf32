//! Running a program from RAM without touching the flash (`flash --ram`, esptool's `load-ram`):
//! each segment goes to its address with MEM_BEGIN and MEM_DATA blocks, then MEM_END jumps to
//! the entry point. Nothing here knows where the segments came from (an ELF, `crate::plan`).

use super::{Event, Loader, LoaderError, ROM_MAX_BLOCK, len_u32};
use crate::protocol::command::Command;
use crate::protocol::timeouts;
use crate::reset;
use crate::transport::Transport;

/// MEM_DATA block size over the chip's USB-OTG (§3).
const USB_OTG_MEM_BLOCK: u32 = 0x800;

impl<T: Transport> Loader<T> {
    /// Load `segments` (address, bytes) into RAM and start the program at `entry`. The ROM may
    /// jump before its reply to MEM_END is out, so a missing reply is not an error; after this
    /// the chip runs the program and the loader no longer answers.
    pub fn run_from_ram(
        &mut self,
        segments: &[(u32, &[u8])],
        entry: u32,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), LoaderError> {
        let block = match self.usb_ids {
            Some((reset::ESPRESSIF_VID, pid)) if pid != reset::USB_JTAG_SERIAL_PID => {
                USB_OTG_MEM_BLOCK
            }
            _ => ROM_MAX_BLOCK,
        };
        for (addr, bytes) in segments {
            if bytes.is_empty() {
                continue;
            }
            let size = len_u32(bytes.len());
            self.command(
                &Command::mem_begin(size, size.div_ceil(block), block, *addr),
                0,
                timeouts::DEFAULT,
            )?;
            for (seq, chunk) in (0u32..).zip(bytes.chunks(block as usize)) {
                self.command(&Command::mem_data(seq, chunk), 0, timeouts::DEFAULT)?;
            }
            on_event(Event::RamLoaded {
                addr: *addr,
                len: size,
            });
        }
        match self.command(&Command::mem_end(entry), 0, timeouts::MEM_END) {
            Ok(_) | Err(LoaderError::Timeout { .. }) => {}
            Err(e) => return Err(e),
        }
        on_event(Event::RamStarted { entry });
        Ok(())
    }
}
