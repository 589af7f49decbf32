//! A bench for flashing the virtual chip under faults through the library's one executor
//! (`Board`), keeping hold of the chip to look at its flash and at the faults it injected: the
//! chip's `SimTransport` sits behind a shared handle that the board uses as its port.
//!
//! Used by `tests/faults.rs` (one test per fault type) and `tests/soak.rs` (many flashes under
//! random faults, counted).
// Each test file uses what it needs of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use cargo_esp32s3::config::Settings;
use cargo_esp32s3::flasher::{Region, RegionKind, WriteSummary};
use cargo_esp32s3::sim::{Esp32s3, FaultCounts, Faults, Link, SimConfig};
use cargo_esp32s3::transport::serial::PortInfo;
use cargo_esp32s3::transport::sim::SimTransport;
use cargo_esp32s3::transport::{LinkTime, Transport, TransportError};
use cargo_esp32s3::{Board, Event};

/// The virtual chip's port, shared between the board (its transport) and the test.
#[derive(Clone)]
pub struct SharedSim(pub Arc<Mutex<SimTransport>>);

impl SharedSim {
    pub fn new(chip: Esp32s3, name: &str) -> Self {
        SharedSim(Arc::new(Mutex::new(SimTransport::from_chip(chip, name))))
    }

    pub fn lock(&self) -> MutexGuard<'_, SimTransport> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Transport for SharedSim {
    fn read(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
        self.lock().read(buf, deadline)
    }
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.lock().write_all(bytes)
    }
    fn flush(&mut self) -> Result<(), TransportError> {
        self.lock().flush()
    }
    fn clear_input(&mut self) -> Result<(), TransportError> {
        self.lock().clear_input()
    }
    fn set_dtr(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.lock().set_dtr(asserted)
    }
    fn set_rts(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.lock().set_rts(asserted)
    }
    fn set_dtr_rts(&mut self, dtr: bool, rts: bool) -> Result<(), TransportError> {
        self.lock().set_dtr_rts(dtr, rts)
    }
    fn set_baud(&mut self, baud: u32) -> Result<(), TransportError> {
        self.lock().set_baud(baud)
    }
    fn baud(&self) -> u32 {
        self.lock().baud()
    }
    fn describe(&self) -> String {
        self.lock().describe()
    }
    fn usb_ids(&self) -> Option<(u16, u16)> {
        self.lock().usb_ids()
    }
    fn pause(&mut self, duration: Duration) {
        self.lock().pause(duration)
    }
    fn time(&self) -> LinkTime {
        self.lock().time()
    }
    fn ports_now(&mut self) -> Option<Vec<PortInfo>> {
        self.lock().ports_now()
    }
    fn reopen(&mut self, path: &str) -> Result<(), TransportError> {
        self.lock().reopen(path)
    }
}

/// An esptool-style stub JSON whose entry the simulator knows (its stub personality starts),
/// written into `dir`.
pub fn stub_file(dir: &Path) -> PathBuf {
    let path = dir.join("esp32s3-stub.json");
    std::fs::write(
        &path,
        r#"{"entry": 1077381760, "text": "AAAAAAAAAAAAAAAAAAAAAA==", "text_start": 1077381760, "data": "", "data_start": 1070279676, "bss_start": 1070202880}"#,
    )
    .expect("stub file");
    path
}

/// The settings a fault bench connects with: the usual reset, at 115200 (or the ladder), the
/// stub when `stub` names one.
pub fn settings(stub: Option<&Path>) -> Settings {
    Settings {
        stub: stub.map(Path::to_path_buf),
        ..Settings::default()
    }
}

/// A chip in download mode with `faults`, over a UART bridge or its own USB port.
pub fn chip(faults: Faults, link: Link) -> Esp32s3 {
    Esp32s3::new(SimConfig {
        faults,
        link,
        flash_size: 4 << 20,
        ..SimConfig::default()
    })
    .expect("chip")
}

/// Bytes that look like firmware: runs of code-like noise with erased and repeated stretches,
/// so they compress as real images do (about 2:1).
pub fn firmware_like(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let r = next();
        let run = 16 + (r % 240) as usize;
        match r >> 60 {
            0 => out.extend(std::iter::repeat_n(0xFF, run)),
            1..=5 => {
                // A stretch copied from earlier (repeated code and strings).
                let from = (next() as usize) % out.len().max(1);
                let piece: Vec<u8> = out.iter().skip(from).take(run).copied().collect();
                out.extend(piece);
            }
            _ => out.extend((0..run).map(|_| (next() % 96) as u8 + 16)),
        }
    }
    out.truncate(len);
    out
}

/// A data region.
pub fn region(offset: u32, data: Vec<u8>, label: &str) -> Region {
    Region {
        offset,
        data,
        label: label.to_string(),
        kind: RegionKind::Data,
    }
}

/// The images the soak flashes: MicroPython's offset-0 image and ESP-IDF's hello_world
/// (bootloader, partition table, app) from the shared testdata when it is there, else
/// synthetic stand-ins of the same sizes and layout.
pub fn images() -> Vec<(String, Vec<Region>)> {
    let dir = std::env::var_os("ESP32S3_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata"));
    let read = |rel: &str| std::fs::read(dir.join(rel)).ok();
    let micropython = read("firmware/micropython/ESP32_GENERIC_S3-20250911-v1.26.1.bin");
    let hello = (
        read("firmware/esp-idf-hello_world-esp32s3/bootloader.bin"),
        read("firmware/esp-idf-hello_world-esp32s3/partition-table.bin"),
        read("firmware/esp-idf-hello_world-esp32s3/hello_world.bin"),
    );
    let mut out = Vec::new();
    match micropython {
        Some(bytes) => out.push((
            "MicroPython v1.26.1 (offset-0 image, testdata)".to_string(),
            vec![region(0, bytes, "firmware")],
        )),
        None => out.push((
            "MicroPython-sized synthetic offset-0 image".to_string(),
            vec![region(0, firmware_like(1_735_456, 1), "firmware")],
        )),
    }
    match hello {
        (Some(boot), Some(table), Some(app)) => out.push((
            "ESP-IDF hello_world (bootloader, table, app; testdata)".to_string(),
            vec![
                region(0, boot, "bootloader"),
                region(0x8000, table, "partition table"),
                region(0x10000, app, "app"),
            ],
        )),
        _ => out.push((
            "hello_world-layout synthetic (bootloader, table, app)".to_string(),
            vec![
                region(0, firmware_like(20_928, 2), "bootloader"),
                region(0x8000, firmware_like(3072, 3), "partition table"),
                region(0x10000, firmware_like(200_960, 4), "app"),
            ],
        )),
    }
    out
}

/// How one flash under faults ended.
#[derive(Debug)]
pub struct Flashed {
    /// The tool's answer: the summary, or the error's catalogue code and message.
    pub result: Result<WriteSummary, (String, String)>,
    /// What the tool reported along the way.
    pub events: Vec<Event>,
    /// True when the chip's flash holds every region as the tool writes it.
    pub holds_image: bool,
    /// True when the flash outside the regions holds what it held before.
    pub untouched_elsewhere: bool,
    /// What the chip injected.
    pub faults: FaultCounts,
    /// The chip's time the flash took.
    pub elapsed: Duration,
    /// What the flasher counted as sent again ([`cargo_esp32s3::flasher::Flasher::retries`]).
    pub flasher_retries: u64,
}

impl Flashed {
    /// Retries the tool used: transfers and commands sent again (the flasher's count), and
    /// writes resumed or moved to a lower baud rate.
    pub fn retries(&self) -> usize {
        self.flasher_retries as usize
            + self
                .events
                .iter()
                .filter(|e| matches!(e, Event::Resuming { .. } | Event::RungFailed { .. }))
                .count()
    }

    /// The tool said it succeeded while the chip does not hold the image.
    pub fn silent_corruption(&self) -> bool {
        self.result.is_ok() && !self.holds_image
    }
}

/// Open a board on `sim` and write `regions` with `settings`; then look at the chip's flash
/// (without going through the faulty line) and what it injected. The replug wait is `replug`.
pub fn flash(
    sim: &SharedSim,
    settings: &Settings,
    regions: &[Region],
    replug: Duration,
) -> Flashed {
    let (started, before) = {
        let chip = sim.lock();
        (chip.clock(), chip.chip().flash().contents().to_vec())
    };
    let mut events = Vec::new();
    let mut expected = Vec::new();
    let mut flasher_retries = 0;
    let result = Board::open_on(Box::new(sim.clone()), settings, |e| events.push(e)).and_then(
        |mut board| {
            board.set_replug_wait(replug);
            expected = regions
                .iter()
                .map(|r| (r.offset, board.flasher().as_written(r)))
                .collect();
            let written = board.write_regions(regions, |e| events.push(e));
            flasher_retries = board.flasher().retries();
            written
        },
    );
    let result = result.map_err(|e| {
        (
            cargo_esp32s3::catalogue::code_of(&e).to_string(),
            e.to_string(),
        )
    });
    let chip = sim.lock();
    let flash = chip.chip().flash();
    let holds_image = !expected.is_empty()
        && expected
            .iter()
            .all(|(offset, data)| flash.read_vec(*offset, data.len()) == *data);
    let mut whole = before;
    for (offset, data) in &expected {
        let at = *offset as usize;
        if let Some(slot) = whole.get_mut(at..at + data.len()) {
            slot.copy_from_slice(data);
        }
    }
    let untouched_elsewhere = flash.contents() == whole.as_slice();
    Flashed {
        result,
        events,
        holds_image,
        untouched_elsewhere,
        faults: chip.chip().fault_counts(),
        elapsed: chip.clock().saturating_duration_since(started),
        flasher_retries,
    }
}
