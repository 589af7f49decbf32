//! How long to wait for each reply, as pure functions of the command and its size.
//!
//! Values from `esp32s3-facts.md` §3: 3 s by default, 0.1 s for SYNC, and for commands whose
//! work grows with the size (erase, write, MD5) a rate in seconds per megabyte, never below the
//! default.

use std::time::Duration;

/// Default reply timeout.
pub const DEFAULT: Duration = Duration::from_secs(3);
/// Timeout for the first SYNC reply (the loop retries quickly instead of waiting).
pub const SYNC: Duration = Duration::from_millis(100);
/// ERASE_FLASH (stub chip erase).
pub const CHIP_ERASE: Duration = Duration::from_secs(120);
/// MEM_END: the ROM may jump away without answering.
pub const MEM_END: Duration = Duration::from_millis(200);
/// Seconds per MB to erase and write (also the ROM's erase at BEGIN).
pub const ERASE_WRITE_SECS_PER_MB: f64 = 40.0;
/// Seconds per MB for ERASE_REGION.
pub const ERASE_REGION_SECS_PER_MB: f64 = 40.0;
/// Seconds per MB for SPI_FLASH_MD5.
pub const MD5_SECS_PER_MB: f64 = 8.0;

/// `max(DEFAULT, secs_per_mb × bytes / 1e6)`.
pub fn per_mb(secs_per_mb: f64, bytes: u64) -> Duration {
    // u64 → f64 loses precision only above 2^53 bytes, far beyond any flash.
    let scaled = Duration::from_secs_f64(secs_per_mb * bytes as f64 / 1e6);
    scaled.max(DEFAULT)
}

/// FLASH_BEGIN / FLASH_DEFL_BEGIN on the ROM, which erases `erase_size` bytes before answering.
pub fn erase_at_begin(erase_size: u32) -> Duration {
    per_mb(ERASE_WRITE_SECS_PER_MB, u64::from(erase_size))
}

/// One data block that writes `uncompressed` bytes.
pub fn write_block(uncompressed: u32) -> Duration {
    per_mb(ERASE_WRITE_SECS_PER_MB, u64::from(uncompressed))
}

/// A stub's reply to the command after a data block that writes `uncompressed` bytes. The stub
/// acknowledges a block at once and writes it afterwards, so that reply waits for the write and
/// for the erases ahead of it (up to a 64 KiB erase block per 32 KiB written, and one more).
/// A block that inflates to a lot (a stretch of 0xFF, say) makes the next reply slow, not its own.
pub fn stub_after_write_of(uncompressed: u32) -> Duration {
    let erase_slack = (u64::from(uncompressed).div_ceil(0x8000) + 1) * 0x1_0000;
    per_mb(
        ERASE_WRITE_SECS_PER_MB,
        u64::from(uncompressed) + erase_slack,
    )
}

/// ERASE_REGION (stub) of `size` bytes.
pub fn erase_region(size: u32) -> Duration {
    per_mb(ERASE_REGION_SECS_PER_MB, u64::from(size))
}

/// SPI_FLASH_MD5 of `size` bytes.
pub fn md5(size: u32) -> Duration {
    per_mb(MD5_SECS_PER_MB, u64::from(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_scale_with_size_and_never_drop_below_the_default() {
        let check = |got: Duration, secs: f64| {
            assert!((got.as_secs_f64() - secs).abs() < 1e-6, "{got:?} != {secs}");
        };
        check(md5(0), 3.0);
        check(md5(1_000_000), 8.0);
        check(md5(300_000), 3.0);
        check(md5(4_000_000), 32.0);
        check(erase_at_begin(16 << 20), 40.0 * 16.777_216);
        check(write_block(0x1800), 3.0);
        check(erase_region(2_000_000), 80.0);
        // Nothing written before: only the erase slack, under the default.
        check(stub_after_write_of(0), 3.0);
        // A full 0x4000 block plus 2 × 64 KiB of erase: 0x24000 bytes at 40 s/MB.
        check(stub_after_write_of(0x4000), 40.0 * 0x24000 as f64 / 1e6);
        // A 1 KiB block of zeros inflating to 4 MiB: 4 MiB + 129 × 64 KiB at 40 s/MB.
        check(
            stub_after_write_of(4 << 20),
            40.0 * ((4 << 20) + 129 * 0x1_0000) as f64 / 1e6,
        );
        check(SYNC, 0.1);
    }
}
