//! Several commands in flight at once: the next requests go out while the chip still works on
//! the first, so a run of small commands (READ_FLASH_SLOW's 64 bytes, a chunk-by-chunk MD5
//! comparison) pays the line's turnaround once per window instead of once per command.
//!
//! The window is bounded by what the chip can hold without losing a byte: the ROM reads its
//! UART FIFO only between commands, and the FIFO holds 128 bytes, so the requests in flight never
//! add up to more than that (a ROM that is busy hashing or writing lets the rest overflow). A
//! stub receives under interrupt into two buffers: one command in flight beside the one it works
//! on. Replies come back in order; after any failure whatever is still on its way is drained, so
//! no late reply answers a later command.

use std::collections::VecDeque;
use std::time::Duration;

use super::{Answer, Loader, LoaderError, reply_len};
use crate::protocol::command::Command;
use crate::protocol::response::Responder;
use crate::protocol::slip;
use crate::transport::Transport;

/// The ROM's UART receive FIFO (ESP32-S3 TRM: 128 bytes): the most request bytes in flight.
pub(crate) const ROM_RX_FIFO: usize = 128;
/// Commands a stub can hold: the one it works on and one in its second buffer.
const STUB_IN_FLIGHT: usize = 2;
/// How long the line must be quiet after a failed pipeline before the next command.
const DRAIN_QUIET: Duration = Duration::from_millis(100);

impl<T: Transport> Loader<T> {
    /// Send `commands` with as many in flight as the chip can hold, and return the answers in
    /// order (`payload_len` payload bytes each). `timeout` is the chip's time per command; the
    /// replies queued ahead of each one and the line time are added.
    pub(crate) fn pipeline(
        &mut self,
        commands: &[Command],
        payload_len: usize,
        timeout: Duration,
    ) -> Result<Vec<Answer>, LoaderError> {
        let result = self.pipeline_inner(commands, payload_len, timeout);
        if result.is_err() {
            // Replies to requests still in flight must not answer the next command.
            let _ = self.drain(DRAIN_QUIET);
        }
        result
    }

    fn pipeline_inner(
        &mut self,
        commands: &[Command],
        payload_len: usize,
        timeout: Duration,
    ) -> Result<Vec<Answer>, LoaderError> {
        let frames: Vec<Vec<u8>> = commands
            .iter()
            .map(|command| slip::encode(&command.encode()))
            .collect();
        let stub = self.responder == Responder::Stub;
        let mut answers = Vec::with_capacity(commands.len());
        let mut in_flight: VecDeque<usize> = VecDeque::new();
        let mut in_flight_bytes = 0usize;
        let mut next = 0usize;
        while answers.len() < commands.len() {
            while let Some(frame) = frames.get(next) {
                let fits = if stub {
                    in_flight.len() < STUB_IN_FLIGHT
                } else {
                    in_flight_bytes + frame.len() <= ROM_RX_FIFO
                };
                if !fits && !in_flight.is_empty() {
                    break;
                }
                self.transport.write_all(frame)?;
                in_flight_bytes += frame.len();
                in_flight.push_back(next);
                next += 1;
            }
            self.transport.flush()?;
            let Some(oldest) = in_flight.pop_front() else {
                break;
            };
            let command = &commands[oldest];
            let queued = in_flight.len() + 1;
            let wait = timeout * u32::try_from(queued).unwrap_or(u32::MAX)
                + self.line_time(frames[oldest].len() + reply_len(payload_len) * queued);
            let reply = self.wait_reply(command.opcode, wait)?;
            let payload = self.judge(command.opcode, &reply, payload_len)?;
            answers.push(Answer {
                value: reply.value,
                payload,
            });
            in_flight_bytes -= frames[oldest].len();
        }
        Ok(answers)
    }
}
