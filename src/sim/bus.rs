//! The memory map that READ_REG/WRITE_REG and MEM_DATA reach: ROM (the chip-detect magic),
//! internal SRAM (one physical array seen through the DRAM and IRAM windows), the eFuse
//! controller, the SPI1 engine, the RTC controller (watchdog, FORCE_DOWNLOAD_BOOT, scratch
//! registers), the GPIO strap register and a generic peripheral register file. An address
//! outside every region is a bus fault, as on the chip (the real ROM then panics).
//!
//! Owns the hardware state that survives a change of loader personality, including the RTC
//! watchdog's countdown (it only moves when the chip is told that time passed, through
//! [`Hw::advance`]); knows nothing of packets or of where time comes from.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::efuse::{self, Efuse};
use super::flash::Flash;
use super::pace::Work;
use super::spi::{self, Spi1};
use super::{ChipKind, ResetCause};

/// Chip-detect magic register.
pub const CHIP_MAGIC_REG: u32 = 0x4000_1000;
/// GPIO strapping register.
pub const GPIO_STRAP_REG: u32 = 0x6000_4038;
/// RTC_CNTL_OPTION1 (bit 0 = FORCE_DOWNLOAD_BOOT).
pub const RTC_OPTION1_REG: u32 = 0x6000_812C;
/// RTC watchdog config 0.
pub const RTC_WDT_CONFIG0: u32 = 0x6000_8098;
/// RTC watchdog config 1: the stage-0 timeout in RTC slow clock cycles.
pub const RTC_WDT_CONFIG1: u32 = 0x6000_809C;
/// RTC watchdog feed register (bit 31 feeds).
pub const RTC_WDT_FEED: u32 = 0x6000_80AC;
/// RTC watchdog write protect.
pub const RTC_WDT_WPROTECT: u32 = 0x6000_80B0;
/// Key that unlocks the RTC watchdog registers.
pub const RTC_WDT_KEY: u32 = 0x50D8_3AA1;

const PAGE: u32 = 0x1000;

/// The RTC slow clock: the ESP32-S3's default source is its internal RC oscillator, about
/// 136 kHz. esptool's watchdog reset (2000 cycles) thus fires about 15 ms after it is armed.
const RTC_SLOW_CLK_HZ: u64 = 136_000;
/// WDTCONFIG1's reset value (200000 slow cycles, about 1.5 s), used when nobody set a timeout.
const RTC_WDT_DEFAULT_HOLD: u32 = 200_000;

/// A load or store that the CPU could not perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing is mapped at the address.
    Prohibited(u32),
    /// The address is not word aligned.
    Alignment(u32),
}

/// Where an address lands.
enum Region {
    Rom,
    Sram(u32),
    Efuse,
    Spi1,
    Registers,
}

fn region(addr: u32) -> Option<Region> {
    match addr {
        // Internal ROM through the instruction and data buses.
        0x4000_0000..0x4006_0000 | 0x3FF0_0000..0x3FF2_0000 => Some(Region::Rom),
        // SRAM0 (IRAM only), SRAM1 (IRAM and DRAM windows), SRAM2 (DRAM only): one array.
        0x4037_0000..0x403E_0000 => Some(Region::Sram(addr - 0x4037_0000)),
        0x3FC8_8000..0x3FD0_0000 => Some(Region::Sram(addr - 0x3FC8_8000 + 0x8000)),
        efuse::BASE..efuse::END => Some(Region::Efuse),
        spi::BASE..spi::END => Some(Region::Spi1),
        // Peripherals, RTC fast/slow memory.
        0x6000_0000..0x600D_1000 | 0x600F_E000..0x6010_0000 | 0x5000_0000..0x5000_2000 => {
            Some(Region::Registers)
        }
        _ => None,
    }
}

/// All hardware state besides the CPU's current program.
#[derive(Debug)]
pub struct Hw {
    /// The SPI flash.
    pub flash: Flash,
    /// eFuse words.
    pub efuse: Efuse,
    /// SPI1 engine.
    pub spi1: Spi1,
    /// Which chip to claim.
    pub chip: ChipKind,
    /// Latched strapping value of the current boot.
    pub strap: u8,
    sram: HashMap<u32, Box<[u8; PAGE as usize]>>,
    regs: BTreeMap<u32, u32>,
    /// Time left until the armed RTC watchdog's stage 0 expires (`None`: disabled).
    rtc_wdt_left: Option<Duration>,
    /// The CPU's part of the current command's work (inflating, answering first); the flash
    /// counts its own.
    cpu_work: Work,
}

impl Hw {
    /// New hardware around a flash.
    pub fn new(flash: Flash, efuse: Efuse, chip: ChipKind) -> Self {
        Hw {
            flash,
            efuse,
            spi1: Spi1::default(),
            chip,
            strap: 0,
            sram: HashMap::new(),
            regs: BTreeMap::new(),
            rtc_wdt_left: None,
            cpu_work: Work::default(),
        }
    }

    /// A loader inflated `bytes` bytes (charged as CPU time by a paced chip).
    pub(crate) fn note_inflated(&mut self, bytes: usize) {
        self.cpu_work.inflated += bytes as u64;
    }

    /// The loader answers the current command before doing its work (a stub's data blocks).
    pub(crate) fn reply_first(&mut self) {
        self.cpu_work.reply_first = true;
    }

    /// Everything the hardware did since the last call: the flash's erases, programs, reads and
    /// hashes and the CPU's inflating.
    pub(crate) fn take_work(&mut self) -> Work {
        let mut work = self.flash.take_work();
        let cpu = std::mem::take(&mut self.cpu_work);
        work.inflated += cpu.inflated;
        work.reply_first |= cpu.reply_first;
        work
    }

    /// A reset clears the peripheral registers and keeps SRAM contents, as silicon does. The RTC
    /// domain (its registers and the RTC watchdog) survives system and core resets; a power-on
    /// and the RTC watchdog's own reset clear it.
    pub fn reset(&mut self, cause: ResetCause) {
        if matches!(cause, ResetCause::PowerOn | ResetCause::RtcWdt) {
            self.regs.clear();
            self.rtc_wdt_left = None;
        } else {
            self.regs
                .retain(|addr, _| (0x6000_8000..0x6000_9000).contains(addr));
        }
        self.spi1 = Spi1::default();
    }

    /// Let `elapsed` pass for the RTC watchdog. Returns how much of `elapsed` was left after
    /// its stage 0 expired (the chip resets then and lives the rest), or `None` if it did not.
    pub fn advance(&mut self, elapsed: Duration) -> Option<Duration> {
        let left = self.rtc_wdt_left?;
        if elapsed < left {
            self.rtc_wdt_left = Some(left - elapsed);
            return None;
        }
        self.rtc_wdt_left = None;
        Some(elapsed - left)
    }

    /// Time until the armed RTC watchdog resets the chip, if it is armed.
    pub fn rtc_watchdog_left(&self) -> Option<Duration> {
        self.rtc_wdt_left
    }

    /// Arm the RTC watchdog with the stage-0 timeout in WDTCONFIG1.
    fn arm_rtc_watchdog(&mut self) {
        let hold = match self.regs.get(&RTC_WDT_CONFIG1) {
            Some(&cycles) if cycles != 0 => cycles,
            _ => RTC_WDT_DEFAULT_HOLD,
        };
        let nanos = u64::from(hold) * 1_000_000_000 / RTC_SLOW_CLK_HZ;
        self.rtc_wdt_left = Some(Duration::from_nanos(nanos));
    }

    /// True when FORCE_DOWNLOAD_BOOT is set.
    pub fn force_download(&self) -> bool {
        self.regs.get(&RTC_OPTION1_REG).is_some_and(|v| v & 1 != 0)
    }

    /// Read a word.
    pub fn read_word(&self, addr: u32) -> Result<u32, Fault> {
        let region = region(addr).ok_or(Fault::Prohibited(addr))?;
        if addr % 4 != 0 {
            return Err(Fault::Alignment(addr));
        }
        Ok(match region {
            Region::Rom => {
                if addr == CHIP_MAGIC_REG {
                    self.chip.magic()
                } else {
                    0
                }
            }
            Region::Sram(phys) => {
                let mut b = [0; 4];
                self.read_sram(phys, &mut b);
                u32::from_le_bytes(b)
            }
            Region::Efuse => self.efuse.read(addr).unwrap_or(0),
            Region::Spi1 => self.spi1.read(addr - spi::BASE),
            Region::Registers => match addr {
                GPIO_STRAP_REG => u32::from(self.strap),
                _ => self.regs.get(&addr).copied().unwrap_or(0),
            },
        })
    }

    /// Write a word (ROM and eFuse writes are ignored, as the hardware does).
    pub fn write_word(&mut self, addr: u32, value: u32) -> Result<(), Fault> {
        let region = region(addr).ok_or(Fault::Prohibited(addr))?;
        if addr % 4 != 0 {
            return Err(Fault::Alignment(addr));
        }
        match region {
            Region::Rom | Region::Efuse => {}
            Region::Sram(phys) => self.write_sram(phys, &value.to_le_bytes()),
            Region::Spi1 => self.spi1.write(addr - spi::BASE, value, &mut self.flash),
            Region::Registers => {
                let unlocked = self.regs.get(&RTC_WDT_WPROTECT) == Some(&RTC_WDT_KEY);
                let wdt_reg = (0x6000_8098..0x6000_80B0).contains(&addr);
                if wdt_reg && !unlocked {
                    return Ok(());
                }
                self.regs.insert(addr, value);
                match addr {
                    // Enabled with a stage-0 action: it counts from now; otherwise it stops.
                    RTC_WDT_CONFIG0 if value & (1 << 31) != 0 && (value >> 28) & 7 != 0 => {
                        self.arm_rtc_watchdog();
                    }
                    RTC_WDT_CONFIG0 => self.rtc_wdt_left = None,
                    // Feeding restarts the count.
                    RTC_WDT_FEED if value & (1 << 31) != 0 && self.rtc_wdt_left.is_some() => {
                        self.arm_rtc_watchdog();
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Store bytes into memory as the loader's memcpy would; bytes outside SRAM are dropped.
    pub fn store_bytes(&mut self, addr: u32, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            if let Some(Region::Sram(phys)) = region(addr.wrapping_add(i as u32)) {
                self.write_sram(phys, &[b]);
            }
        }
    }

    /// True when any byte of the page holding `addr` was written (code was loaded there).
    pub fn sram_loaded(&self, addr: u32) -> bool {
        match region(addr) {
            Some(Region::Sram(phys)) => self.sram.contains_key(&(phys / PAGE)),
            _ => false,
        }
    }

    /// Read SRAM bytes (unwritten memory reads as zero).
    pub fn read_bytes(&self, addr: u32, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = match region(addr.wrapping_add(i as u32)) {
                Some(Region::Sram(phys)) => {
                    let mut one = [0];
                    self.read_sram(phys, &mut one);
                    one[0]
                }
                _ => 0,
            };
        }
    }

    fn read_sram(&self, phys: u32, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            let p = phys + i as u32;
            *b = self
                .sram
                .get(&(p / PAGE))
                .map_or(0, |page| page[(p % PAGE) as usize]);
        }
    }

    fn write_sram(&mut self, phys: u32, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            let p = phys + i as u32;
            let page = self
                .sram
                .entry(p / PAGE)
                .or_insert_with(|| Box::new([0; PAGE as usize]));
            page[(p % PAGE) as usize] = b;
        }
    }
}
