//! Reading flash back: READ_FLASH_SLOW on the ROM (64 bytes a command, several in flight),
//! READ_FLASH on a stub (packets acknowledged as they arrive), every read checked against the
//! chip's MD5.

use std::time::Instant;

use super::{Event, FlashError, Flasher, hex, md5_of};
use crate::loader::{LoaderError, len_u32};
use crate::protocol::command::Command;
use crate::protocol::timeouts;
use crate::transport::Transport;

/// READ_FLASH_SLOW returns at most this many bytes per command.
const ROM_READ_CHUNK: u32 = 64;
/// Bytes read between two progress reports on the ROM.
const ROM_READ_BATCH: u32 = 0x1000;
/// READ_FLASH (stub) packet size and packets in flight.
const STUB_READ_PACKET: u32 = 0x1000;
const STUB_READ_IN_FLIGHT: u32 = 64;
/// Tries of one batch of ROM reads on a troubled line.
const READ_BATCH_TRIES: u32 = 4;

impl<T: Transport> Flasher<T> {
    /// Read `size` bytes at `offset`, checked against the flash's MD5.
    pub fn read_flash(
        &mut self,
        offset: u32,
        size: u32,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Vec<u8>, FlashError> {
        self.check_range(offset, size)?;
        let data = if self.loader.is_stub() {
            self.read_stub(offset, size, on_event)?
        } else {
            self.read_rom(offset, size, on_event)?
        };
        if len_u32(data.len()) != size {
            return Err(FlashError::ReadCorrupt {
                offset,
                size,
                detail: format!("got 0x{:x} bytes", data.len()),
            });
        }
        let flash_md5 = self.md5(offset, size)?;
        if flash_md5 != md5_of(&data) {
            return Err(FlashError::ReadCorrupt {
                offset,
                size,
                detail: format!(
                    "the data's MD5 is {}, the flash's is {}",
                    hex(&md5_of(&data)),
                    hex(&flash_md5)
                ),
            });
        }
        Ok(data)
    }

    /// READ_FLASH_SLOW, 64 bytes per command, several commands in flight (as many as the ROM's
    /// 128-byte receive FIFO holds: the line's turnaround is paid once per window, not once per
    /// 64 bytes).
    fn read_rom(
        &mut self,
        offset: u32,
        size: u32,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Vec<u8>, FlashError> {
        let mut data = Vec::with_capacity(size as usize);
        let mut done = 0u32;
        while done < size {
            // One batch of commands between progress reports.
            let batch_end = size.min(done.saturating_add(ROM_READ_BATCH));
            let mut commands = Vec::new();
            let mut lens = Vec::new();
            let mut at = done;
            while at < batch_end {
                let n = (batch_end - at).min(ROM_READ_CHUNK);
                commands.push(Command::read_flash_slow(offset + at, n));
                lens.push(n as usize);
                at += n;
            }
            let answers = self.read_batch(&commands)?;
            for (answer, n) in answers.iter().zip(lens) {
                // Only the first n bytes are fresh; the rest of the 64 is stale buffer content.
                data.extend_from_slice(&answer.payload[..n]);
            }
            done = batch_end;
            on_event(Event::ReadProgress {
                offset,
                read: done,
                total: size,
            });
        }
        Ok(data)
    }

    /// One batch of READ_FLASH_SLOW commands, sent again as a whole (after getting back in
    /// step) when a reply was lost, garbled or a failure status: reading changes nothing, so
    /// asking again is safe. Up to [`READ_BATCH_TRIES`] tries.
    fn read_batch(
        &mut self,
        commands: &[Command],
    ) -> Result<Vec<crate::loader::Answer>, FlashError> {
        let mut tries = 1;
        loop {
            match self
                .loader
                .pipeline(commands, ROM_READ_CHUNK as usize, timeouts::DEFAULT)
            {
                Err(
                    e @ (LoaderError::Timeout { .. }
                    | LoaderError::BadReply { .. }
                    | LoaderError::Command { .. }),
                ) if tries < READ_BATCH_TRIES => {
                    tries += 1;
                    self.retries += 1;
                    if self.loader.resync().is_err() {
                        return Err(e.into());
                    }
                }
                other => return Ok(other?),
            }
        }
    }

    /// READ_FLASH (stub): data packets, each acknowledged with the running total, then the MD5.
    fn read_stub(
        &mut self,
        offset: u32,
        size: u32,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Vec<u8>, FlashError> {
        self.loader.command(
            &Command::read_flash(offset, size, STUB_READ_PACKET, STUB_READ_IN_FLIGHT),
            0,
            timeouts::DEFAULT,
        )?;
        let corrupt = |detail: String| FlashError::ReadCorrupt {
            offset,
            size,
            detail,
        };
        let mut data = Vec::with_capacity(size as usize);
        while data.len() < size as usize {
            let frame = self
                .loader
                .next_raw_frame(Instant::now() + timeouts::DEFAULT)?
                .ok_or_else(|| {
                    corrupt(format!("the data stopped after 0x{:x} bytes", data.len()))
                })?;
            data.extend_from_slice(&frame);
            if data.len() > size as usize {
                return Err(corrupt(format!("0x{:x} bytes arrived", data.len())));
            }
            let total = len_u32(data.len());
            self.loader.send_packet(&total.to_le_bytes())?;
            on_event(Event::ReadProgress {
                offset,
                read: total,
                total: size,
            });
        }
        let digest = self
            .loader
            .next_raw_frame(Instant::now() + timeouts::DEFAULT)?
            .ok_or_else(|| corrupt("no MD5 after the data".into()))?;
        if digest.as_slice() != md5_of(&data).as_slice() {
            return Err(corrupt(format!(
                "the stub's digest {} differs from the data's {}",
                hex(&digest),
                hex(&md5_of(&data))
            )));
        }
        Ok(data)
    }
}
