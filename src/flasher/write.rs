//! Writing regions: skip what the flash already holds (a whole region, or chunk by chunk for a
//! large one, see `chunks.rs`), widen to whole sectors keeping the bytes around a region, send
//! compressed blocks (restarting a transfer whose block failed), and verify with the chip's MD5.
//! What was verified is remembered, so a write resumed after a lost connection never sends it
//! again. In Secure Download Mode, whose ROM allows only plain writes and no reads or MD5,
//! regions are written whole and uncompressed and checked by the ROM's block checksums only. A
//! set [`super::Cancel`] stops the write after the current block.

use std::io::Write as _;

use super::chunks::{self, ChunkState};
use super::{Event, FlashError, Flasher, Region, SECTOR, WriteSummary, hex, md5_of, to_u32};
use crate::loader::{LoaderError, ROM_MAX_BLOCK, len_u32};
use crate::protocol::command::{self, Command, Opcode};
use crate::protocol::timeouts;
use crate::transport::Transport;

/// Data block for compressed writes to a stub (its own buffer size).
const STUB_BLOCK: u32 = 0x4000;
/// Tries of a transfer that get no further than the one before, before it fails (a transfer
/// that got further goes on from where it got to).
const WRITE_ATTEMPTS: u32 = 3;
/// The smallest data block the flasher halves down to on a troubled line: 1 KiB, esptool's
/// block size for the ROM.
const MIN_BLOCK: u32 = 0x400;

impl<T: Transport> Flasher<T> {
    /// Write regions: check them all first (overlaps, flash size, chip and revision of images,
    /// flash encryption), patch the flash parameters into a bootloader at 0x0, then for each
    /// region skip it if the flash already holds it, else write it compressed and verify it.
    ///
    /// Nothing outside the regions is lost. The loaders erase whole 4 KiB sectors, so a region
    /// that starts or ends inside a sector is written widened to its whole sectors, and the
    /// bytes of those sectors outside the region are written back with what they held: read
    /// from the chip, unless one SPI_FLASH_MD5 shows they are all erased (then 0xFF is the same
    /// and costs no read). Regions that share a sector are written together as one transfer,
    /// so one region's widening never puts old flash contents over another region.
    ///
    /// Skipping: a small region is compared as a whole (one SPI_FLASH_MD5 of the region itself,
    /// before any widening, so an unchanged region costs no read of its neighbours). A large
    /// region (a merged image, an app) is compared chunk by chunk, with the chunks' MD5s
    /// pipelined (see the `chunks` module): only the chunks that differ are sent, so changing an
    /// app's last 64 KiB rewrites 64 KiB, not the whole image; comparing stops early when the chunks keep
    /// differing (a rebuilt app whose code moved), since then it would cost more than it
    /// saves. On the ROM a chunk the chip reports erased is written without erasing it again.
    /// Verification covers each transfer (widening included, so the kept bytes are checked too);
    /// a chunk found unchanged was checked by its MD5 already.
    ///
    /// Ranges an earlier connection verified ([`Flasher::assume_verified`]) are not written
    /// again (a write resumed after a failure continues with what is left); what this one
    /// verifies is in [`Flasher::verified_ranges`].
    pub fn write_regions(
        &mut self,
        regions: &[Region],
        on_event: &mut dyn FnMut(Event),
    ) -> Result<WriteSummary, FlashError> {
        let started = self.loader.now();
        let troubles_before = (self.loader.anomalies(), self.retries);
        let resumed = !self.assumed.is_empty();
        let mut plan: Vec<Region> = regions
            .iter()
            .filter(|r| !r.data.is_empty())
            .cloned()
            .collect();
        plan.sort_by_key(|r| r.offset);
        self.check_regions(&mut plan, on_event)?;
        // Secure Download Mode: no MD5 (so no skipping and no verifying), no reads, no
        // compressed writes.
        let sdm = self.loader.secure_download_mode();
        if sdm {
            on_event(Event::Warning(
                "the chip is in Secure Download Mode: its ROM allows only plain writes and no flash reads or MD5, so every region is written whole and uncompressed, and verification is limited to the ROM's checksum of each block".into(),
            ));
        }
        let compare = self.opts.skip_unchanged && !sdm;
        let mut summary = WriteSummary::default();
        // Regions known to be on the chip (verified, or found unchanged), for an interruption.
        let mut verified: Vec<String> = Vec::new();
        for unit in sector_units(&plan) {
            let members = plan.get(unit.members.clone()).unwrap_or_default();
            if self.cancel.is_cancelled() {
                return Err(interrupted(&plan, verified));
            }
            let already = self.is_verified(u64::from(unit.start), unit.end);
            let mut onto_erased = false;
            let compared = if already || !compare {
                Compared::Differs
            } else {
                self.compare_members(members)?
            };
            if already || compared == Compared::Unchanged {
                for region in members {
                    on_event(Event::RegionSkipped {
                        offset: region.offset,
                        len: len_u32(region.data.len()),
                        label: region.label.clone(),
                    });
                    summary.skipped += 1;
                    verified.push(described(region));
                }
                continue;
            }
            onto_erased |= compared == Compared::Erased;
            let mut speculative: Option<(Vec<u8>, Vec<u8>)> = None;
            if let [region] = members {
                if compare && chunks::worth_comparing(region.data.len()) {
                    // One MD5 of the whole region first (the same hashing as its chunks): it
                    // tells a region the chip holds already, or erased flash (a first flash),
                    // with one round trip. Meanwhile the host compresses the region's sectors
                    // (0xFF around it), in case all of it must go.
                    let (word_start, word_end, words) = word_aligned(region);
                    let (theirs, guess) = std::thread::scope(|scope| {
                        let compressing = scope.spawn(|| {
                            let mut data = vec![0xFF; (unit.end - u64::from(unit.start)) as usize];
                            put(
                                &mut data,
                                (word_start - u64::from(unit.start)) as usize,
                                &words,
                            );
                            let compressed = compress(&data);
                            (data, compressed)
                        });
                        let theirs = self.md5(to_u32(word_start), to_u32(word_end - word_start));
                        (theirs, compressing.join().ok())
                    });
                    speculative = guess;
                    let theirs = theirs?;
                    if theirs == md5_of(&words) {
                        on_event(Event::RegionSkipped {
                            offset: region.offset,
                            len: len_u32(region.data.len()),
                            label: region.label.clone(),
                        });
                        summary.skipped += 1;
                        verified.push(described(region));
                        self.note_verified(word_start, word_end);
                        continue;
                    }
                    onto_erased = theirs == md5_of(&vec![0xFF; words.len()]);
                }
                if compare && chunks::worth_comparing(region.data.len()) && !onto_erased {
                    match self.write_chunked(region, on_event)? {
                        Chunked::AllSame => {
                            on_event(Event::RegionSkipped {
                                offset: region.offset,
                                len: len_u32(region.data.len()),
                                label: region.label.clone(),
                            });
                            summary.skipped += 1;
                            verified.push(described(region));
                        }
                        Chunked::Written { compressed } => {
                            summary.written += 1;
                            summary.bytes += region.data.len() as u64;
                            summary.compressed_bytes += u64::from(compressed);
                            if self.opts.verify {
                                verified.push(described(region));
                            } else {
                                summary.unverified += 1;
                            }
                        }
                        Chunked::Cancelled => return Err(interrupted(&plan, verified)),
                    }
                    continue;
                }
            }
            let (data, kept_erased) = if sdm {
                (self.widen_blind(&unit, members, on_event), false)
            } else {
                self.widen(&unit, members)?
            };
            let shown = Shown::of(members);
            // On erased flash the ROM need not erase first (a stub always does as it goes).
            let erase = !(onto_erased && kept_erased && !self.loader.is_stub());
            let ready = speculative
                .filter(|(guessed, _)| *guessed == data)
                .map(|(_, compressed)| compressed);
            let Some(compressed) =
                self.write_region(&shown, unit.start, &data, erase, ready, sdm, on_event)?
            else {
                return Err(interrupted(&plan, verified));
            };
            let checked = self.opts.verify && !sdm;
            if checked {
                self.verify(unit.start, &data, members, &shown.label, on_event)?;
                self.note_verified(u64::from(unit.start), unit.end);
            }
            for region in members {
                summary.written += 1;
                summary.bytes += region.data.len() as u64;
                if checked {
                    verified.push(described(region));
                } else {
                    summary.unverified += 1;
                }
            }
            summary.compressed_bytes += u64::from(compressed);
        }
        // A troubled write (a late or garbled reply, a block sent again) or one resumed after a
        // lost connection is checked once more as a whole: a command the line changed on its
        // way (its header has no checksum) may have written or erased elsewhere than asked,
        // over a region verified earlier.
        let troubled = (self.loader.anomalies(), self.retries) != troubles_before;
        if self.opts.verify && !sdm && (troubled || resumed) {
            self.sweep(&plan, on_event)?;
        }
        summary.elapsed = self.loader.now().saturating_duration_since(started);
        Ok(summary)
    }

    /// The chip's MD5 of every region of `plan` once more, after the last write. A region that
    /// no longer matches is forgotten as verified and reported, so a resumed write sends it
    /// again.
    fn sweep(
        &mut self,
        plan: &[Region],
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), FlashError> {
        self.loader.resync()?;
        on_event(Event::Rechecking {
            regions: len_u32(plan.len()),
        });
        for region in plan {
            let (word_start, word_end, words) = word_aligned(region);
            if let Err(e) = self.check_md5(&region.label, to_u32(word_start), &words) {
                self.forget_verified(word_start, word_end);
                self.retries += 1;
                return Err(e);
            }
        }
        Ok(())
    }

    /// True when the flash already holds every one of `regions`. The MD5 is taken over whole
    /// 4-byte words (what the ROM reads); the few bytes of a partly covered word are taken as
    /// 0xFF, as every ESP flasher pads. Reading them instead would cost a read even when the
    /// region changed; a region with odd bounds next to other data is just written again.
    ///
    /// A large region is not hashed here: [`Flasher::write_regions`] hashes it itself, to tell
    /// erased flash and go on chunk by chunk.
    fn compare_members(&mut self, regions: &[Region]) -> Result<Compared, FlashError> {
        if let [region] = regions {
            if chunks::worth_comparing(region.data.len()) {
                return Ok(Compared::Differs);
            }
        }
        let (mut same, mut erased) = (0, 0);
        for region in regions {
            let (word_start, word_end, words) = word_aligned(region);
            let theirs = self.md5(to_u32(word_start), to_u32(word_end - word_start))?;
            if theirs == md5_of(&words) {
                same += 1;
            } else if theirs == md5_of(&vec![0xFF; words.len()]) {
                erased += 1;
            } else {
                return Ok(Compared::Differs);
            }
        }
        Ok(match (same, erased) {
            (_, 0) => Compared::Unchanged,
            (0, _) => Compared::Erased,
            _ => Compared::Differs,
        })
    }

    /// The bytes of `unit`'s whole sectors: the regions, and around them what the flash holds
    /// (0xFF without a read when the chip's MD5 says that part is erased). Reads and MD5s cover
    /// whole 4-byte words, as the ROM reads them. The flag is true when everything around the
    /// regions was erased.
    fn widen(
        &mut self,
        unit: &SectorUnit,
        regions: &[Region],
    ) -> Result<(Vec<u8>, bool), FlashError> {
        let start = u64::from(unit.start);
        let mut data = vec![0xFF; (unit.end - start) as usize];
        let mut gaps = Vec::new();
        let mut cursor = start;
        for region in regions {
            let (offset, end) = region_bounds(region);
            if offset > cursor {
                gaps.push((cursor, offset));
            }
            put(&mut data, (offset - start) as usize, &region.data);
            cursor = end;
        }
        if cursor < unit.end {
            gaps.push((cursor, unit.end));
        }
        let mut all_erased = true;
        for (gap_start, gap_end) in gaps {
            let (word_start, word_end) = (gap_start - gap_start % 4, gap_end.next_multiple_of(4));
            let len = to_u32(word_end - word_start);
            if self.md5(to_u32(word_start), len)? == md5_of(&vec![0xFF; len as usize]) {
                continue;
            }
            all_erased = false;
            let old = self.read_flash(to_u32(word_start), len, &mut |_| {})?;
            let kept = old
                .get((gap_start - word_start) as usize..(gap_end - word_start) as usize)
                .unwrap_or_default();
            put(&mut data, (gap_start - start) as usize, kept);
        }
        Ok((data, all_erased))
    }

    /// Write a large region chunk by chunk: compare every chunk's MD5 with the flash (pipelined,
    /// stopping early when comparing no longer pays), then send the runs of chunks that differ,
    /// each as its own transfer, verified on its own.
    fn write_chunked(
        &mut self,
        region: &Region,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Chunked, FlashError> {
        let (word_start, word_end, words) = word_aligned(region);
        let bounds = chunks::bounds(word_start, word_end);
        let blank_rom = !self.loader.is_stub();
        // Hash the chip's chunks while the host compresses the whole region, in case all of it
        // must go (a first flash).
        let whole = std::thread::scope(|scope| -> Result<_, FlashError> {
            let compressing = scope.spawn(|| compress(&words));
            let states = self.compare_chunks(&bounds, word_start, &words)?;
            let compressed = compressing.join().unwrap_or_default();
            Ok((states, compressed))
        });
        let (states, whole_compressed) = whole?;
        let same = states.iter().filter(|s| **s == ChunkState::Same).count();
        let compared = states.iter().filter(|s| **s != ChunkState::Unknown).count();
        on_event(Event::ChunksCompared {
            offset: region.offset,
            len: len_u32(region.data.len()),
            compared: len_u32(compared),
            chunks: len_u32(states.len()),
            same: len_u32(same),
        });
        if same == states.len() {
            self.note_verified(word_start, word_end);
            return Ok(Chunked::AllSame);
        }
        let transfers = chunks::transfers(&bounds, &states, blank_rom);
        let shown = Shown::of(std::slice::from_ref(region));
        // Each transfer: its whole sectors (the region's edges may share a sector with other
        // data), compressed.
        let mut prepared = Vec::new();
        for transfer in &transfers {
            let piece = slice_region(region, transfer.start, transfer.end);
            let unit = SectorUnit::of(&piece);
            let (data, kept_erased) = self.widen(&unit, std::slice::from_ref(&piece))?;
            let whole_region = transfers.len() == 1
                && (transfer.start, transfer.end) == (word_start, word_end)
                && u64::from(unit.start) == word_start
                && unit.end == word_end
                && data == words;
            let compressed = if whole_region {
                whole_compressed.clone()
            } else {
                compress(&data)
            };
            prepared.push((unit, data, compressed, transfer.erase || !kept_erased));
        }
        let total: u32 = prepared
            .iter()
            .map(|(_, _, c, _)| len_u32(c.len()))
            .fold(0, u32::saturating_add);
        on_event(Event::RegionStarted {
            offset: shown.offset,
            len: shown.len,
            compressed_len: total,
            label: shown.label.clone(),
        });
        let started = self.loader.now();
        let mut sent = 0u32;
        for (unit, data, compressed, erase) in &prepared {
            if self.cancel.is_cancelled() {
                return Ok(Chunked::Cancelled);
            }
            let done = self.transfer(
                &shown,
                unit.start,
                data,
                compressed,
                *erase,
                (sent, total),
                on_event,
            )?;
            if done == Sent::Cancelled {
                return Ok(Chunked::Cancelled);
            }
            sent = sent.saturating_add(len_u32(compressed.len()));
        }
        // Verification. With the flash size read from the chip, addresses inside the region do
        // not wrap, so each transfer is checked after all were written (a later one cannot have
        // touched an earlier one) and the chunks found unchanged were checked by their MD5
        // already. With a configured size (which may exceed the chip's, so that a later
        // transfer lands on an earlier chunk) the whole region is hashed once more.
        if self.opts.verify {
            if self.size_detected {
                for (unit, data, _, _) in &prepared {
                    self.check_md5(&shown.label, unit.start, data)?;
                }
            } else {
                for (unit, data, _, _) in &prepared {
                    // The bytes kept around the region's edges.
                    if u64::from(unit.start) < word_start || unit.end > word_end {
                        self.check_md5(&shown.label, unit.start, data)?;
                    }
                }
                self.check_md5(&shown.label, to_u32(word_start), &words)?;
            }
        }
        let unchanged: u64 = states
            .iter()
            .zip(&bounds)
            .filter(|(state, _)| **state == ChunkState::Same)
            .map(|(_, (start, end))| end - start)
            .sum();
        on_event(Event::RegionWritten {
            offset: shown.offset,
            len: shown.len,
            compressed_len: total,
            elapsed: self.loader.now().saturating_duration_since(started),
            unchanged: to_u32(unchanged),
            unpaced: self.loader.unpaced_sim(),
        });
        if self.opts.verify {
            self.note_verified(word_start, word_end);
            on_event(Event::Verified {
                offset: region.offset,
                len: len_u32(region.data.len()),
            });
        }
        Ok(Chunked::Written { compressed: total })
    }

    /// The chip's MD5 of each chunk against ours: pipelined, in windows, stopping early when
    /// [`chunks::keep_comparing`] says the rest is cheaper to write unseen. Chunks verified
    /// earlier in this flasher's life count as the same without asking.
    fn compare_chunks(
        &mut self,
        bounds: &[(u64, u64)],
        base: u64,
        words: &[u8],
    ) -> Result<Vec<ChunkState>, FlashError> {
        let mut states = vec![ChunkState::Unknown; bounds.len()];
        let payload_len = if self.loader.is_stub() { 16 } else { 32 };
        let mut index = 0;
        while index < bounds.len() {
            if !chunks::keep_comparing(&states[..index]) {
                break;
            }
            let end = bounds.len().min(index + chunks::WINDOW);
            let mut window = Vec::new();
            for (i, (state, (start, stop))) in states
                .iter_mut()
                .zip(bounds)
                .enumerate()
                .take(end)
                .skip(index)
            {
                if self
                    .assumed
                    .iter()
                    .any(|(s, e)| *s <= *start && *stop <= *e)
                {
                    *state = ChunkState::Same;
                } else {
                    window.push(i);
                }
            }
            let commands: Vec<Command> = window
                .iter()
                .map(|&i| {
                    let (start, end) = bounds[i];
                    Command::spi_flash_md5(to_u32(start), to_u32(end - start))
                })
                .collect();
            let longest = window
                .iter()
                .map(|&i| to_u32(bounds[i].1 - bounds[i].0))
                .max()
                .unwrap_or(0);
            let answers = self
                .loader
                .pipeline(&commands, payload_len, timeouts::md5(longest))?;
            for (&i, answer) in window.iter().zip(&answers) {
                let (start, end) = bounds[i];
                let ours = words
                    .get((start - base) as usize..(end - base) as usize)
                    .unwrap_or_default();
                let theirs = super::decode_md5(&answer.payload, self.loader.is_stub())?;
                states[i] = if theirs == md5_of(ours) {
                    ChunkState::Same
                } else if theirs == md5_of(&vec![0xFF; ours.len()]) {
                    ChunkState::DiffersBlank
                } else {
                    ChunkState::Differs
                };
            }
            index = end;
        }
        Ok(states)
    }

    /// Send one region compressed (`compressed`, when the caller already has it), restarting it
    /// from BEGIN when a block fails (`erase`: see [`Flasher::transfer`]). In Secure Download
    /// Mode (`plain`) the data goes uncompressed. `Ok(None)` when the write was cancelled after
    /// a block (the region is then only partly written).
    #[allow(clippy::too_many_arguments)]
    fn write_region(
        &mut self,
        shown: &Shown,
        offset: u32,
        data: &[u8],
        erase: bool,
        compressed: Option<Vec<u8>>,
        plain: bool,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Option<u32>, FlashError> {
        let compressed = match compressed {
            _ if plain => data.to_vec(),
            Some(compressed) => compressed,
            None => compress(data),
        };
        let clen = len_u32(compressed.len());
        on_event(Event::RegionStarted {
            offset: shown.offset,
            len: shown.len,
            compressed_len: clen,
            label: shown.label.clone(),
        });
        let started = self.loader.now();
        let sent = if plain {
            self.send_plain(offset, data, shown.offset, on_event)?
        } else {
            self.transfer(shown, offset, data, &compressed, erase, (0, clen), on_event)?
        };
        if sent == Sent::Cancelled {
            return Ok(None);
        }
        on_event(Event::RegionWritten {
            offset: shown.offset,
            len: shown.len,
            compressed_len: clen,
            elapsed: self.loader.now().saturating_duration_since(started),
            unchanged: 0,
            unpaced: self.loader.unpaced_sim(),
        });
        Ok(Some(clen))
    }

    /// Send `data` (compressed: `compressed`) to `offset`, starting again with a new BEGIN when a
    /// block fails: from the last whole sector the chip has surely written (the ROM writes a
    /// block before answering it, a stub the blocks before the one it answers), with the rest
    /// compressed anew. A transfer that keeps failing without getting further fails after
    /// [`WRITE_ATTEMPTS`]. `progress` is what was sent of the region before and its total, for
    /// the progress events. `erase` false (ROM only, for flash the chip reported erased) sends
    /// a BEGIN that erases nothing; a retry always erases, since part of it may be written by
    /// then. The MD5 that verifies the transfer afterwards covers all of `data`, so a wrong
    /// guess of what was written cannot pass.
    ///
    /// Why a new BEGIN instead of resending the block: after a ROM checksum error (`01 07`) the
    /// sequence number is consumed without the block being written, so resending it gets `01 05`
    /// and the next block would land at the wrong address (§18). After a timeout we cannot tell
    /// a lost request (resend would work) from a lost reply (resend would be a duplicate, `01 05`,
    /// or worse, written twice by a stub). A new BEGIN erases and rewinds both loaders to a known
    /// state, and getting back in step with a SYNC before it keeps a late reply from
    /// answering the new transfer.
    #[allow(clippy::too_many_arguments)]
    fn transfer(
        &mut self,
        shown: &Shown,
        offset: u32,
        data: &[u8],
        compressed: &[u8],
        erase: bool,
        progress: (u32, u32),
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Sent, FlashError> {
        let mut attempt = 1;
        // Attempts in a row that got no further than the one before.
        let mut stalled = 0;
        let mut erase = erase;
        // How much of `data` (whole sectors) is written for sure, and the stream for the rest.
        let mut from = 0u32;
        let mut stream = std::borrow::Cow::Borrowed(compressed);
        let len = len_u32(data.len());
        loop {
            let mut done = 0u32;
            let (before, total) = progress;
            let skipped =
                u64::from(total.saturating_sub(before)) * u64::from(from) / u64::from(len.max(1));
            let result = self.send_compressed(
                offset + from,
                data.get(from as usize..).unwrap_or_default(),
                &stream,
                erase,
                shown.offset,
                (before.saturating_add(to_u32(skipped)), total),
                on_event,
                &mut done,
            );
            let e = match result {
                Ok(sent) => return Ok(sent),
                Err(e) if is_retryable(&e) => e,
                Err(e) => return Err(e.into()),
            };
            // Go on from the last whole sector the chip has written, not from the start.
            let reached = from.saturating_add(done);
            let reached = reached - reached % SECTOR;
            if reached > from {
                stalled = 0;
            } else {
                stalled += 1;
            }
            // A transfer that keeps failing without getting further on a line that garbles or
            // loses bytes: each block's chance to pass falls with its length, so smaller blocks
            // get through where large ones keep failing. Halve them (for the rest of this
            // flasher's life) and go on, down to MIN_BLOCK. A flash that failed to program is
            // not helped by smaller blocks.
            let line_trouble = !matches!(
                &e,
                LoaderError::Command { error, .. } if error.is_flash_failure()
            );
            if line_trouble && stalled >= WRITE_ATTEMPTS - 1 && self.block_size() > MIN_BLOCK {
                self.block_halvings += 1;
                stalled = 0;
            }
            // Back in step first: a late reply must not answer the new BEGIN. A chip that no
            // longer answers SYNC would make each retry wait out the ROM's erase timeout at
            // BEGIN (40 s per MB): then the write fails.
            if stalled >= WRITE_ATTEMPTS || self.loader.resync().is_err() {
                return Err(FlashError::WriteFailed {
                    label: shown.label.clone(),
                    offset: shown.offset,
                    attempts: attempt,
                    source: e,
                });
            }
            on_event(Event::Retrying {
                offset: shown.offset,
                attempt,
                reason: e.to_string(),
            });
            self.retries += 1;
            attempt += 1;
            erase = true;
            if reached > from {
                from = reached;
                stream = std::borrow::Cow::Owned(compress(
                    data.get(from as usize..).unwrap_or_default(),
                ));
            }
        }
    }

    /// The data block size: the loader's largest (a stub's buffer, the ROM's limit), halved
    /// once for each time a transfer stalled on a troubled line, down to [`MIN_BLOCK`].
    fn block_size(&self) -> u32 {
        let largest = if self.loader.is_stub() {
            STUB_BLOCK
        } else {
            ROM_MAX_BLOCK
        };
        (largest >> self.block_halvings.min(8)).max(MIN_BLOCK)
    }

    /// FLASH_DEFL_BEGIN, then the zlib stream in blocks (and, on a stub, FLASH_DEFL_END).
    ///
    /// Block size: the ROM accepts up to 0x1800 (§18) and every block costs a round trip (USB
    /// bridge latency of 1–16 ms plus the ROM's inflate-and-write before it answers), so the
    /// largest block wastes the least: at 460800 baud a 0x1800 block takes ~133 ms on the wire,
    /// against ~22 ms for esptool's 0x400, making the fixed per-block cost 6× smaller relative to
    /// the data. A stub buffers 0x4000.
    ///
    /// BEGIN size: the data is whole sectors already (see [`Flasher::widen`]), which is what both
    /// loaders erase, so nothing past it is erased. (Rounding to a multiple of
    /// the block size, as esptool does, could erase a sector of the next region or run past the
    /// end of the flash, which the ROM refuses with `01 06`; the real ROM accepts sizes that are
    /// not block multiples, e.g. 0x123.) Without `erase` the ROM gets size 0: it erases nothing
    /// and writes every block it is sent (the ROM transcripts show blocks beyond the BEGIN's
    /// size written, not refused), which is right only where the chip reported the flash erased.
    #[allow(clippy::too_many_arguments)]
    fn send_compressed(
        &mut self,
        offset: u32,
        data: &[u8],
        compressed: &[u8],
        erase: bool,
        shown_offset: u32,
        (before, total): (u32, u32),
        on_event: &mut dyn FnMut(Event),
        done: &mut u32,
    ) -> Result<Sent, LoaderError> {
        *done = 0;
        let stub = self.loader.is_stub();
        let block = self.block_size();
        let len = len_u32(data.len());
        let clen = len_u32(compressed.len());
        let blocks = clen.div_ceil(block);
        let begin_size = if stub {
            len
        } else if erase {
            len.next_multiple_of(SECTOR)
        } else {
            0
        };
        self.loader.command(
            &Command::flash_defl_begin(begin_size, blocks, block, offset),
            0,
            if stub {
                timeouts::DEFAULT
            } else {
                timeouts::erase_at_begin(begin_size)
            },
        )?;
        // Inflate alongside to know how many flash bytes each block writes: that sets its timeout.
        let mut inflater = flate2::write::ZlibDecoder::new(Vec::new());
        let mut sent = 0u32;
        // What the block before this one writes: a stub acknowledges a block at once and writes
        // it afterwards, so its reply to a block waits for the previous block's write. (Allow
        // for this block's own write too, in case a stub writes before acknowledging.)
        let mut previous = 0u32;
        for (seq, chunk) in (0u32..).zip(compressed.chunks(block as usize)) {
            let _ = inflater.write_all(chunk);
            let _ = inflater.flush();
            let produced = len_u32(inflater.get_ref().len());
            inflater.get_mut().clear();
            let timeout = if stub {
                timeouts::stub_after_write_of(previous.max(produced))
            } else {
                timeouts::write_block(produced)
            };
            self.loader
                .command(&Command::flash_defl_data(seq, chunk), 0, timeout)?;
            // What is written for sure: the ROM wrote this block before answering; a stub
            // answers first and has written the blocks before it.
            *done = done.saturating_add(if stub { previous } else { produced });
            previous = produced;
            sent = sent.saturating_add(len_u32(chunk.len()));
            on_event(Event::RegionProgress {
                offset: shown_offset,
                written: before.saturating_add(sent),
                total,
            });
            if self.cancel.is_cancelled() && sent < clen {
                return Ok(Sent::Cancelled);
            }
        }
        if stub {
            // The stub acknowledges blocks before writing them; its FLASH_DEFL_END answers once
            // the last write is done, so the MD5 that follows sees the whole region. Exactly one
            // per BEGIN: a second one gets "not in flash mode". (The ROM writes each block
            // before answering and needs no END; its FLASH_END would even leave the loader.)
            self.loader.command(
                &Command::flash_defl_end(command::END_STUB_STAY),
                0,
                timeouts::stub_after_write_of(previous),
            )?;
        }
        Ok(Sent::Complete)
    }

    /// FLASH_BEGIN, then the data uncompressed in blocks, the last one padded with 0xFF (Secure
    /// Download Mode, which has no compressed writes). The ROM erases at BEGIN, checks each
    /// block's checksum and writes it before answering, and needs no END.
    fn send_plain(
        &mut self,
        offset: u32,
        data: &[u8],
        shown_offset: u32,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Sent, LoaderError> {
        let block = ROM_MAX_BLOCK;
        let len = len_u32(data.len());
        let begin_size = len.next_multiple_of(SECTOR);
        self.loader.command(
            &Command::flash_begin(begin_size, len.div_ceil(block), block, offset),
            0,
            timeouts::erase_at_begin(begin_size),
        )?;
        let mut sent = 0u32;
        for (seq, chunk) in (0u32..).zip(data.chunks(block as usize)) {
            let mut padded = chunk.to_vec();
            padded.resize(block as usize, 0xFF);
            self.loader.command(
                &Command::flash_data(seq, &padded),
                0,
                timeouts::write_block(block),
            )?;
            sent = sent.saturating_add(len_u32(chunk.len()));
            on_event(Event::RegionProgress {
                offset: shown_offset,
                written: sent,
                total: len,
            });
            if self.cancel.is_cancelled() && sent < len {
                return Ok(Sent::Cancelled);
            }
        }
        Ok(Sent::Complete)
    }

    /// [`Flasher::widen`] where nothing can be read (Secure Download Mode): the bytes of the
    /// region's sectors outside it are written as erased flash, and a warning says so.
    fn widen_blind(
        &mut self,
        unit: &SectorUnit,
        regions: &[Region],
        on_event: &mut dyn FnMut(Event),
    ) -> Vec<u8> {
        let start = u64::from(unit.start);
        let mut data = vec![0xFF; (unit.end - start) as usize];
        let mut covered = 0u64;
        for region in regions {
            let (offset, end) = region_bounds(region);
            put(&mut data, (offset - start) as usize, &region.data);
            covered += end - offset;
        }
        let around = (unit.end - start).saturating_sub(covered);
        if around > 0 {
            on_event(Event::Warning(format!(
                "Secure Download Mode forbids reading flash, so the {around} bytes that share a 4 KiB sector with {} are erased, not kept",
                Shown::of(regions).label
            )));
        }
        data
    }

    /// True when `[start, end)` lies inside what an earlier connection verified
    /// ([`Flasher::assume_verified`]).
    fn is_verified(&self, start: u64, end: u64) -> bool {
        self.assumed.iter().any(|(s, e)| *s <= start && end <= *e)
    }

    /// Remember that `[start, end)` was verified.
    fn note_verified(&mut self, start: u64, end: u64) {
        self.verified.push((start, end));
    }

    /// Check the widened transfer with one SPI_FLASH_MD5. On a mismatch, find what is wrong for
    /// the message: one of the regions, or else the bytes kept around them.
    fn verify(
        &mut self,
        offset: u32,
        data: &[u8],
        regions: &[Region],
        label: &str,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), FlashError> {
        let mismatch = match self.check_md5(label, offset, data) {
            Ok(()) => {
                for region in regions {
                    on_event(Event::Verified {
                        offset: region.offset,
                        len: len_u32(region.data.len()),
                    });
                }
                return Ok(());
            }
            Err(e) => e,
        };
        let base = u64::from(offset);
        for region in regions {
            // Whole words around the region, as the ROM hashes them.
            let (start, end) = region_bounds(region);
            let (word_start, word_end) = (start - start % 4, end.next_multiple_of(4));
            let expected = data
                .get((word_start - base) as usize..(word_end - base) as usize)
                .unwrap_or_default();
            self.check_md5(&region.label, to_u32(word_start), expected)?;
        }
        Err(match mismatch {
            FlashError::Md5Mismatch {
                offset,
                len,
                expected,
                actual,
                ..
            } => FlashError::Md5Mismatch {
                label: format!("the bytes kept around {label}"),
                offset,
                len,
                expected,
                actual,
            },
            other => other,
        })
    }

    /// Compare the flash's MD5 of `expected.len()` bytes at `offset` with `expected`'s.
    fn check_md5(&mut self, label: &str, offset: u32, expected: &[u8]) -> Result<(), FlashError> {
        let len = len_u32(expected.len());
        let actual = self.md5(offset, len)?;
        let wanted = md5_of(expected);
        if actual == wanted {
            return Ok(());
        }
        if actual == md5_of(&vec![0xFF; expected.len()]) {
            return Err(FlashError::WrittenEmpty {
                label: label.to_string(),
                offset,
                len,
            });
        }
        Err(FlashError::Md5Mismatch {
            label: label.to_string(),
            offset,
            len,
            expected: hex(&wanted),
            actual: hex(&actual),
        })
    }
}

/// How sending a region ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// Every block was sent (and, on a stub, written).
    Complete,
    /// The caller's [`super::Cancel`] was set; the region is only partly written.
    Cancelled,
}

/// `app (0x1f000 bytes at 0x10000)`.
fn described(region: &Region) -> String {
    format!(
        "{} (0x{:x} bytes at 0x{:x})",
        region.label,
        region.data.len(),
        region.offset
    )
}

/// The error for a write stopped by its [`super::Cancel`]: what the chip holds for sure, and
/// the rest of the plan.
fn interrupted(plan: &[Region], verified: Vec<String>) -> FlashError {
    let unverified = plan
        .iter()
        .map(described)
        .filter(|d| !verified.contains(d))
        .collect();
    FlashError::Interrupted {
        verified,
        unverified,
    }
}

/// What comparing a unit's regions with the flash found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compared {
    /// The flash holds every region already.
    Unchanged,
    /// The flash is erased where every region goes.
    Erased,
    /// Something differs (or was not compared).
    Differs,
}

/// What [`Flasher::write_chunked`] did.
enum Chunked {
    /// Every chunk was the same: nothing was sent.
    AllSame,
    /// The differing chunks were sent (compressed bytes).
    Written {
        /// Compressed bytes sent.
        compressed: u32,
    },
    /// The caller's [`super::Cancel`] was set: the region is only partly written.
    Cancelled,
}

/// A region's whole 4-byte words: their bounds and bytes, the partly covered words' other bytes
/// taken as 0xFF (what the ROM reads and every ESP flasher pads with).
fn word_aligned(region: &Region) -> (u64, u64, Vec<u8>) {
    let (start, end) = region_bounds(region);
    let (word_start, word_end) = (start - start % 4, end.next_multiple_of(4));
    if (word_start, word_end) == (start, end) {
        return (start, end, region.data.clone());
    }
    let mut words = vec![0xFF; (word_end - word_start) as usize];
    put(&mut words, (start - word_start) as usize, &region.data);
    (word_start, word_end, words)
}

/// The part of `region` in `[start, end)` (flash addresses, clamped to the region), as a region
/// of its own.
fn slice_region(region: &Region, start: u64, end: u64) -> Region {
    let (first, last) = region_bounds(region);
    let (start, end) = (start.max(first), end.min(last));
    let data = region
        .data
        .get((start - first) as usize..(end - first) as usize)
        .unwrap_or_default()
        .to_vec();
    Region {
        offset: to_u32(start),
        data,
        kind: region.kind,
        label: region.label.clone(),
    }
}

/// Regions that share a 4 KiB sector, and the whole sectors they cover: written as one transfer.
struct SectorUnit {
    /// First byte of the first sector.
    start: u32,
    /// End of the last sector.
    end: u64,
    /// Indices of the regions in the sorted plan.
    members: std::ops::Range<usize>,
}

impl SectorUnit {
    /// The whole sectors of one region.
    fn of(region: &Region) -> SectorUnit {
        SectorUnit {
            start: region.offset - region.offset % SECTOR,
            end: region_bounds(region).1.next_multiple_of(u64::from(SECTOR)),
            members: 0..1,
        }
    }
}

/// Group sorted, non-overlapping regions by shared sectors.
fn sector_units(plan: &[Region]) -> Vec<SectorUnit> {
    let mut units: Vec<SectorUnit> = Vec::new();
    for (index, region) in plan.iter().enumerate() {
        let start = region.offset - region.offset % SECTOR;
        let end = region_bounds(region).1.next_multiple_of(u64::from(SECTOR));
        match units.last_mut() {
            Some(unit) if u64::from(start) < unit.end => {
                unit.end = unit.end.max(end);
                unit.members.end = index + 1;
            }
            _ => units.push(SectorUnit {
                start,
                end,
                members: index..index + 1,
            }),
        }
    }
    units
}

/// What events and messages name for a transfer: its region, or the regions sharing its sectors.
struct Shown {
    offset: u32,
    len: u32,
    label: String,
}

impl Shown {
    fn of(regions: &[Region]) -> Shown {
        let offset = regions.first().map_or(0, |r| r.offset);
        let end = regions.last().map_or(0, |r| region_bounds(r).1);
        let labels: Vec<&str> = regions.iter().map(|r| r.label.as_str()).collect();
        Shown {
            offset,
            len: to_u32(end.saturating_sub(u64::from(offset))),
            label: labels.join(" and "),
        }
    }
}

/// A region's first byte and end, as flash addresses.
fn region_bounds(region: &Region) -> (u64, u64) {
    let start = u64::from(region.offset);
    (start, start + region.data.len() as u64)
}

/// Copy `bytes` into `buffer` at `at`, as far as the buffer reaches (callers keep it in bounds).
fn put(buffer: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(slot) = buffer.get_mut(at..) {
        let n = slot.len().min(bytes.len());
        slot[..n].copy_from_slice(&bytes[..n]);
    }
}

/// Failures worth sending the region again for: a status error on a data block (checksum,
/// sequence) or a lost reply. Not transport failures, crashes or refusals at BEGIN (a refused
/// offset, size or block size would be refused again).
fn is_retryable(e: &LoaderError) -> bool {
    match e {
        LoaderError::Command { command, .. } => {
            !matches!(command, Opcode::FlashBegin | Opcode::FlashDeflBegin)
        }
        LoaderError::Timeout { .. } | LoaderError::BadReply { .. } => true,
        _ => false,
    }
}

/// zlib at the best level.
fn compress(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(data.len() / 2),
        flate2::Compression::best(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_data_block_failures_and_lost_replies_restart_a_region() {
        use crate::protocol::errors::DeviceError;
        let failed = |command| LoaderError::Command {
            command,
            error: DeviceError::Rom(0x07),
        };
        let check = |e: LoaderError, expected: bool| assert_eq!(is_retryable(&e), expected, "{e}");
        check(failed(Opcode::FlashDeflData), true);
        check(failed(Opcode::FlashData), true);
        // A refused BEGIN (offset, size or block size) would be refused again.
        check(failed(Opcode::FlashDeflBegin), false);
        check(failed(Opcode::FlashBegin), false);
        check(
            LoaderError::Timeout {
                command: Opcode::FlashDeflBegin,
                port: "sim://".into(),
                timeout: Duration::from_secs(3),
            },
            true,
        );
        check(
            LoaderError::Crashed {
                port: "sim://".into(),
                line: "Guru Meditation Error".into(),
            },
            false,
        );
    }

    #[test]
    fn compression_round_trips() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let packed = compress(&data);
        assert!(packed.len() < data.len() / 10);
        let mut out = Vec::new();
        let mut d = flate2::read::ZlibDecoder::new(packed.as_slice());
        std::io::Read::read_to_end(&mut d, &mut out).expect("inflates");
        assert_eq!(out, data);
        assert_eq!(hex(&[0x00, 0xab, 0x10]), "00ab10");
    }
}
