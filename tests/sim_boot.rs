//! The virtual chip's pins, time and boot console: every reset sequence of `reset.rs` played
//! through `sim://` (at once, with 60 ms between line changes as over RFC 2217, and with real
//! wall-clock gaps as a network server sees them) ends in the mode it should; the
//! USB-Serial/JTAG link (`usb=jtag`) and the BOOT button at power-on (`boot=button`); the pace of
//! the blank-flash boot loop and its watchdog resets; the RTC watchdog's timeout; what the ROM
//! prints for images at the wrong offset.

use std::time::{Duration, Instant};

use cargo_esp32s3::image::format::{ImageHeader, Segment, encode_image};
use cargo_esp32s3::loader::{ConnectOptions, Loader, ResetDone};
use cargo_esp32s3::reset::{self, After, Before, ResetSequence, Step};
use cargo_esp32s3::sim::{
    Esp32s3, FLASH_BOOT_WATCHDOG, Personality, ROM_CONSOLE_BYTES_PER_SEC, STRAP_WINDOW, SimConfig,
    StartIn,
};
use cargo_esp32s3::transport::sim::SimTransport;
use cargo_esp32s3::transport::{Transport, TransportError};

#[path = "support/testdata.rs"]
mod testdata;

const GPIO_STRAP: u32 = 0x6000_4038;
const RTC_OPTION1: u32 = 0x6000_812C;
const BLANK_LINE: &str = "invalid header: 0xffffffff\r\n";
const TG0_BANNER: &str =
    "rst:0x7 (TG0WDT_SYS_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\nSaved PC:0x40048836\r\n";

fn options(before: Before, attempts: u32) -> ConnectOptions {
    ConnectOptions {
        before,
        attempts,
        baud: 115_200,
        stub: None,
        ..ConnectOptions::default()
    }
}

fn sim(url: &str) -> SimTransport {
    SimTransport::open(url).expect("a valid sim URL")
}

/// A transport whose chip runs on a clock of its own (the in-process simulator), so a test can
/// read without letting time pass however slowly the host runs.
trait Clocked: Transport {
    /// The chip's clock.
    fn clock(&self) -> Instant;
}

impl Clocked for SimTransport {
    fn clock(&self) -> Instant {
        SimTransport::clock(self)
    }
}

impl<T: Clocked> Clocked for Gapped<T> {
    fn clock(&self) -> Instant {
        self.inner.clock()
    }
}

/// Let `time` pass on the chip's clock and return everything it printed meanwhile, read through
/// the transport as any host reads it. The reads' deadline is the chip's own clock, so exactly
/// `time` passes, even on a loaded machine.
fn wait_and_read(t: &mut impl Clocked, time: Duration) -> String {
    t.pause(time);
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let now = t.clock();
        let n = t.read(&mut buf, now).expect("sim reads");
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// A transport that lets `gap` pass before every line change, as RFC 2217 does (pyserial waits
/// for the acknowledgement of each SET_CONTROL, polling every 50 ms).
struct Gapped<T> {
    inner: T,
    gap: Duration,
}

impl<T: Transport> Transport for Gapped<T> {
    fn read(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, TransportError> {
        self.inner.read(buf, deadline)
    }
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.inner.write_all(bytes)
    }
    fn flush(&mut self) -> Result<(), TransportError> {
        self.inner.flush()
    }
    fn clear_input(&mut self) -> Result<(), TransportError> {
        self.inner.clear_input()
    }
    fn set_dtr(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.inner.pause(self.gap);
        self.inner.set_dtr(asserted)
    }
    fn set_rts(&mut self, asserted: bool) -> Result<(), TransportError> {
        self.inner.pause(self.gap);
        self.inner.set_rts(asserted)
    }
    fn set_dtr_rts(&mut self, dtr: bool, rts: bool) -> Result<(), TransportError> {
        self.inner.pause(self.gap);
        self.inner.set_dtr_rts(dtr, rts)
    }
    fn set_baud(&mut self, baud: u32) -> Result<(), TransportError> {
        self.inner.set_baud(baud)
    }
    fn baud(&self) -> u32 {
        self.inner.baud()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn time(&self) -> cargo_esp32s3::transport::LinkTime {
        self.inner.time()
    }
    fn usb_ids(&self) -> Option<(u16, u16)> {
        self.inner.usb_ids()
    }
    fn pause(&mut self, duration: Duration) {
        self.inner.pause(duration)
    }
}

/// A small second-stage-like image the ROM can load (segments in internal RAM).
fn bootable_image() -> Vec<u8> {
    let header = ImageHeader {
        entry: 0x403b_6000,
        flash_size_freq: 0x2F,
        ..ImageHeader::default()
    };
    let segments = [
        Segment {
            addr: 0x3fcd_0000,
            data: vec![1, 2, 3, 4, 5, 6, 7, 8],
        },
        Segment {
            addr: 0x403b_6000,
            data: vec![0x36, 0x41, 0, 0],
        },
    ];
    encode_image(&header, &segments).expect("a valid image")
}

/// The built-in reset sequences over a UART bridge and the mode each must end in.
fn uart_sequences() -> Vec<(ResetSequence, Mode)> {
    vec![
        (reset::CLASSIC_FAST, Mode::Download),
        (reset::CLASSIC_SLOW, Mode::Download),
        (reset::UNIX_TIGHT_FAST, Mode::Download),
        (reset::UNIX_TIGHT_SLOW, Mode::Download),
        (reset::HARD_RESET, Mode::FlashBoot),
        (reset::HARD_RESET_USB, Mode::FlashBoot),
    ]
}

/// What a reset sequence must end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Download,
    FlashBoot,
}

/// Play `seq` on a fresh chip (starting as `url` says, with a bootable image at 0x0 when
/// `bootable`), `gap` before each line change, then let the strapping window pass.
fn play(url: &str, seq: &ResetSequence, gap: Duration, bootable: bool) -> (Personality, String) {
    let mut t = Gapped {
        inner: sim(url),
        gap,
    };
    if bootable {
        t.inner.chip_mut().flash_mut().load(0, &bootable_image());
    }
    wait_and_read(&mut t, Duration::ZERO);
    reset::play(&mut t, &seq.steps).expect("sim lines never fail");
    let text = wait_and_read(&mut t, STRAP_WINDOW + Duration::from_millis(10));
    (t.inner.chip().personality(), text)
}

fn check_mode(what: &str, personality: Personality, text: &str, mode: Mode, bootable: bool) {
    match mode {
        Mode::Download => {
            assert_eq!(personality, Personality::RomLoader, "{what}: {text}");
            assert!(
                text.contains("boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n"),
                "{what}: {text}"
            );
        }
        Mode::FlashBoot if bootable => {
            assert_eq!(personality, Personality::Running, "{what}: {text}");
            assert!(
                text.contains("boot:0x8 (SPI_FAST_FLASH_BOOT)\r\nSPIWP:0xee\r\n"),
                "{what}: {text}"
            );
            // The ROM jumped to the image; with no partition table behind it the second stage
            // gives up and resets (`rst:0x3`), which keeps the CPU running.
            assert!(text.contains("entry 0x403b6000\r\n"), "{what}: {text}");
        }
        Mode::FlashBoot => {
            assert_eq!(personality, Personality::Halted, "{what}: {text}");
            assert!(
                text.contains(&format!("boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n{BLANK_LINE}")),
                "{what}: {text}"
            );
        }
    }
}

#[test]
fn every_uart_reset_sequence_ends_in_its_mode_also_with_60_and_120_ms_between_line_changes() {
    let mut cases = uart_sequences();
    cases.extend([
        // esptool's notation for the classic and tight resets (a custom `reset-sequence`).
        (
            ResetSequence::parse("D0|R1|W0.1|D1|R0|W0.05|D0").expect("valid"),
            Mode::Download,
        ),
        (
            ResetSequence::parse("U0,0|U1,1|U0,1|W0.1|U1,0|W0.05|U0,0").expect("valid"),
            Mode::Download,
        ),
    ]);
    for (seq, mode) in cases {
        for url in ["sim://", "sim://?mode=spi"] {
            for gap_ms in [0, 60, 120] {
                for bootable in [false, true] {
                    let what = format!("{} from {url}, {gap_ms} ms gaps", seq.name);
                    let (personality, text) =
                        play(url, &seq, Duration::from_millis(gap_ms), bootable);
                    check_mode(&what, personality, &text, mode, bootable);
                    assert!(
                        text.contains("rst:0x1 (POWERON)"),
                        "{what}: an EN reset: {text}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_connect_cycle_and_the_hard_reset_work_through_the_loader() {
    for gap_ms in [0, 60] {
        let t = Gapped {
            inner: sim("sim://?mode=spi"),
            gap: Duration::from_millis(gap_ms),
        };
        let opts = options(Before::DefaultReset, 2);
        let mut loader = Loader::connect(t, &opts, &mut |_| {}).expect("connects");
        assert_eq!(loader.read_reg(GPIO_STRAP).expect("strap") & 0x08, 0);
        loader
            .transport_mut()
            .inner
            .chip_mut()
            .flash_mut()
            .load(0, &bootable_image());
        assert_eq!(
            loader.reset_after(After::HardReset).expect("resets"),
            ResetDone::HardResetRts
        );
        let mut t = loader.into_transport();
        let text = wait_and_read(&mut t, STRAP_WINDOW);
        check_mode(
            "hard reset",
            t.inner.chip().personality(),
            &text,
            Mode::FlashBoot,
            true,
        );
    }
}

/// What a network server does: apply line changes as they arrive, telling the chip how much
/// wall-clock time went by before each.
fn serve_with_wall_clock(chip: &mut Esp32s3, steps: &[Step], gap: Duration) {
    let mut last = Instant::now();
    let mut tick = |chip: &mut Esp32s3| {
        let now = Instant::now();
        chip.advance(now - last);
        last = now;
    };
    let (mut dtr, mut rts) = (false, false);
    for step in steps {
        match *step {
            Step::Sleep(d) => std::thread::sleep(d),
            Step::Dtr(on) => dtr = on,
            Step::Rts(on) => rts = on,
            Step::DtrRts(d, r) => (dtr, rts) = (d, r),
        }
        if !matches!(step, Step::Sleep(_)) {
            std::thread::sleep(gap);
            tick(chip);
            chip.set_lines(dtr, rts);
        }
    }
    std::thread::sleep(STRAP_WINDOW + Duration::from_millis(20));
    tick(chip);
}

#[test]
fn real_wall_clock_gaps_as_an_rfc2217_server_sees_them() {
    // Each sequence on its own chip and thread: the sleeps are real, so they run side by side.
    let runs: Vec<_> = uart_sequences()
        .into_iter()
        .map(|(seq, mode)| {
            std::thread::spawn(move || {
                let config = SimConfig {
                    start_in: StartIn::SpiBoot,
                    ..SimConfig::default()
                };
                let mut chip = Esp32s3::new(config).expect("sim");
                chip.take_output();
                serve_with_wall_clock(&mut chip, &seq.steps, Duration::from_millis(60));
                let text = String::from_utf8_lossy(&chip.take_output()).into_owned();
                (seq.name.to_string(), chip.personality(), text, mode)
            })
        })
        .collect();
    for run in runs {
        let (name, personality, text, mode) = run.join().expect("no panic");
        check_mode(&name, personality, &text, mode, false);
    }
}

#[test]
fn a_slow_en_release_still_samples_io0_within_the_window() {
    // Classic over RFC 2217: EN rises at (DTR 1, RTS 1); IO0 drops only when RTS is released.
    let at = |late: Duration| {
        let mut t = sim("sim://?mode=spi");
        t.set_dtr(false).unwrap();
        t.set_rts(true).unwrap();
        t.pause(Duration::from_millis(100));
        t.set_dtr(true).unwrap();
        assert_eq!(t.chip().personality(), Personality::Booting);
        t.pause(late);
        t.set_rts(false).unwrap();
        t.chip().personality()
    };
    assert_eq!(at(Duration::from_millis(60)), Personality::RomLoader);
    assert_eq!(
        at(STRAP_WINDOW - Duration::from_millis(1)),
        Personality::RomLoader
    );
    // Too late: the chip already booted from flash.
    assert_eq!(at(STRAP_WINDOW), Personality::Halted);
}

#[test]
fn usb_serial_jtag_resets_through_the_controller() {
    let mut t = sim("sim://?usb=jtag&mode=spi");
    assert_eq!(t.usb_ids(), Some((0x303A, 0x1001)));
    let power_on = wait_and_read(&mut t, Duration::ZERO);
    assert!(
        power_on.contains("rst:0x1 (POWERON),boot:0x8"),
        "{power_on}"
    );
    // The download sequence of reset.rs.
    reset::play(&mut t, &reset::USB_JTAG_SERIAL.steps).unwrap();
    let text = wait_and_read(&mut t, Duration::from_millis(200));
    // The reset interrupted the ROM's header loop (and the line it was sending).
    assert!(
        text.contains(
            "rst:0x15 (USB_UART_CHIP_RESET),boot:0x0 (DOWNLOAD(USB/UART0))\r\nSaved PC:0x40048836\r\nwaiting for download\r\n"
        ),
        "{text}"
    );
    assert_eq!(t.chip().personality(), Personality::RomLoader);
    assert_eq!(t.chip().resets(), 1);
    // An RTS pulse is a core reset; without the download request it boots from flash.
    t.chip_mut().flash_mut().load(0, &bootable_image());
    reset::play(&mut t, &reset::HARD_RESET_USB.steps).unwrap();
    let text = wait_and_read(&mut t, Duration::ZERO);
    // This one interrupted the download loader, idle in ets_delay_us.
    assert!(
        text.contains(
            "rst:0x15 (USB_UART_CHIP_RESET),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\nSaved PC:0x40041a76\r\nSPIWP"
        ),
        "{text}"
    );
    assert_eq!(t.chip().personality(), Personality::Running);
    // DTR alone neither resets nor changes the running chip.
    let resets = t.chip().resets();
    t.set_dtr(true).unwrap();
    t.set_dtr(false).unwrap();
    assert_eq!(t.chip().personality(), Personality::Running);
    assert_eq!(t.chip().resets(), resets);
}

#[test]
fn the_loader_picks_the_usb_sequence_for_usb_jtag_and_flash_boots_after() {
    let opts = options(Before::DefaultReset, 1);
    let mut loader =
        Loader::connect(sim("sim://?usb=jtag&mode=spi"), &opts, &mut |_| {}).expect("connects");
    // Download mode by the USB controller: GPIO_STRAP shows it, FORCE_DOWNLOAD_BOOT is clear.
    assert_eq!(loader.read_reg(GPIO_STRAP).unwrap() & 0x08, 0);
    assert_eq!(loader.read_reg(RTC_OPTION1).unwrap() & 1, 0);
    // The strap reads GPIO0 low (the controller forced download mode), so the loader takes
    // the RTC watchdog, which samples the pins again; either way the chip leaves download mode.
    assert_eq!(
        loader.reset_after(After::HardReset).expect("resets"),
        ResetDone::Watchdog
    );
    let mut t = loader.into_transport();
    let text = wait_and_read(&mut t, Duration::from_millis(50));
    assert!(
        text.contains("rst:0x10 (RTCWDT_RTC_RST),boot:0x8"),
        "{text}"
    );
    assert_eq!(t.chip().personality(), Personality::Halted, "blank flash");
}

#[test]
fn force_download_boot_survives_a_core_reset_until_cleared() {
    let opts = options(Before::NoReset, 1);
    let mut loader = Loader::connect(sim("sim://?usb=jtag"), &opts, &mut |_| {}).expect("connects");
    loader.write_reg(RTC_OPTION1, 1, 1).unwrap();
    assert_eq!(loader.read_reg(RTC_OPTION1).unwrap() & 1, 1);
    reset::play(loader.transport_mut(), &reset::HARD_RESET_USB.steps).unwrap();
    assert_eq!(
        loader.transport_mut().chip().personality(),
        Personality::RomLoader,
        "FORCE_DOWNLOAD_BOOT set: back in download mode"
    );
    // The RTC register survived the core reset; the loader's hard reset clears it first.
    let mut loader = Loader::connect(loader.into_transport(), &opts, &mut |_| {}).unwrap();
    assert_eq!(loader.read_reg(RTC_OPTION1).unwrap() & 1, 1);
    loader.reset_after(After::HardReset).unwrap();
    assert_eq!(
        loader.into_transport().chip().personality(),
        Personality::Halted,
        "booted from (blank) flash"
    );
}

#[test]
fn boot_button_at_power_on_survives_usb_core_resets_but_not_the_rtc_watchdog() {
    let mut t = sim("sim://?usb=jtag&boot=button");
    let text = wait_and_read(&mut t, Duration::ZERO);
    assert!(
        text.contains("rst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download"),
        "{text}"
    );
    assert_eq!(t.chip().read_word(GPIO_STRAP).map(|v| v & 0x08), Some(0));
    t.chip_mut().flash_mut().load(0, &bootable_image());
    // Hard reset over USB: a core reset; GPIO0 is not sampled again.
    reset::play(&mut t, &reset::HARD_RESET_USB.steps).unwrap();
    let text = wait_and_read(&mut t, Duration::ZERO);
    assert!(
        text.contains("rst:0x15 (USB_UART_CHIP_RESET),boot:0x0 (DOWNLOAD(USB/UART0))"),
        "{text}"
    );
    assert_eq!(t.chip().personality(), Personality::RomLoader);
    // The loader sees the strap and uses the RTC watchdog, which samples the pins again.
    let opts = options(Before::NoReset, 1);
    let mut loader = Loader::connect(t, &opts, &mut |_| {}).expect("connects");
    assert_eq!(loader.read_reg(GPIO_STRAP).unwrap() & 0x08, 0);
    assert_eq!(
        loader.reset_after(After::WatchdogReset).unwrap(),
        ResetDone::Watchdog
    );
    let mut t = loader.into_transport();
    let text = wait_and_read(&mut t, Duration::ZERO);
    assert!(
        text.contains("rst:0x10 (RTCWDT_RTC_RST),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\nSPIWP:0xee"),
        "{text}"
    );
    assert_eq!(t.chip().personality(), Personality::Running);
    assert_eq!(t.chip().read_word(GPIO_STRAP).map(|v| v & 0x08), Some(0x08));
}

#[test]
fn boot_button_over_a_uart_bridge_is_undone_by_an_en_reset() {
    let mut t = sim("sim://?boot=button");
    assert_eq!(t.chip().personality(), Personality::RomLoader);
    reset::play(&mut t, &reset::HARD_RESET.steps).unwrap();
    let text = wait_and_read(&mut t, STRAP_WINDOW);
    assert!(text.contains("rst:0x1 (POWERON),boot:0x8"), "{text}");
    assert_eq!(t.chip().personality(), Personality::Halted);
}

#[test]
fn blank_flash_boot_loops_at_the_console_pace_with_watchdog_resets() {
    let started = Instant::now();
    let mut t = sim("sim://?mode=spi");
    let power_on = wait_and_read(&mut t, Duration::ZERO);
    assert!(
        power_on.ends_with("rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n"),
        "nothing printed before time passes: {power_on}"
    );
    // 100 ms at 115200 baud: 1152 bytes, 41 whole lines.
    let text = wait_and_read(&mut t, Duration::from_millis(100));
    let bytes_in =
        |d: Duration| (d.as_micros() as u64 * ROM_CONSOLE_BYTES_PER_SEC / 1_000_000) as usize;
    assert_eq!(text.len(), bytes_in(Duration::from_millis(100)));
    assert_eq!(text.matches(BLANK_LINE).count(), 41);
    assert!(BLANK_LINE.starts_with(text.rsplit("\r\n").next().unwrap()));
    // Ten seconds through reads that wait (virtual time: nobody sleeps).
    let mut all = String::new();
    let mut buf = vec![0u8; 1 << 16];
    let end = t.clock() + Duration::from_secs(10);
    let mut reads = 0;
    loop {
        let n = t.read(&mut buf, end).unwrap();
        if n == 0 {
            break;
        }
        reads += 1;
        all.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(reads > 0);
    let cycles: Vec<&str> = all.split("ESP-ROM:esp32s3-20210327\r\n").collect();
    // One watchdog reset per FLASH_BOOT_WATCHDOG.
    let expected = (Duration::from_secs(10) + Duration::from_millis(100)).as_millis()
        / FLASH_BOOT_WATCHDOG.as_millis();
    assert_eq!(cycles.len() as u128 - 1, expected, "{}", &all[..2000]);
    for cycle in &cycles[1..cycles.len() - 1] {
        let body = cycle
            .strip_prefix(&format!("Build:Mar 27 2021\r\n{TG0_BANNER}"))
            .unwrap_or_else(|| panic!("a TG0 watchdog banner: {cycle:.200}"));
        // The whole period is spent printing the line, cut wherever the watchdog strikes.
        assert_eq!(body.len(), bytes_in(FLASH_BOOT_WATCHDOG), "{body:.100}");
        let whole = body.len() / BLANK_LINE.len();
        assert_eq!(body.matches(BLANK_LINE).count(), whole);
        assert!(BLANK_LINE.starts_with(&body[whole * BLANK_LINE.len()..]));
    }
    assert_eq!(t.chip().personality(), Personality::Halted);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "virtual time: {:?}",
        started.elapsed()
    );
}

#[test]
fn the_rtc_watchdog_resets_after_its_timeout_not_at_once() {
    let opts = options(Before::NoReset, 1);
    let arm = |loader: &mut Loader<SimTransport>, config0: u32| {
        loader
            .write_reg(0x6000_80B0, 0x50D8_3AA1, u32::MAX)
            .unwrap();
        loader.write_reg(0x6000_809C, 2000, u32::MAX).unwrap();
        loader.write_reg(0x6000_8098, config0, u32::MAX).unwrap();
        loader.write_reg(0x6000_80B0, 0, u32::MAX).unwrap();
    };
    let mut loader = Loader::connect(sim("sim://"), &opts, &mut |_| {}).expect("connects");
    // esptool's watchdog reset: 2000 cycles of the ~136 kHz RTC slow clock, about 14.7 ms.
    arm(&mut loader, 0xD000_0102);
    assert_eq!(loader.read_reg(0x4000_1000).unwrap(), 9, "still answering");
    let t = loader.transport_mut();
    t.pause(Duration::from_millis(14));
    assert_eq!(t.chip().resets(), 0, "not yet");
    let text = wait_and_read(t, Duration::from_millis(1));
    assert_eq!(t.chip().resets(), 1);
    assert!(
        text.starts_with("ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\nrst:0x10 (RTCWDT_RTC_RST),boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n"),
        "{text}"
    );
    // The watchdog's own reset disarms it; disabled, it never strikes.
    let mut loader = Loader::connect(loader.into_transport(), &opts, &mut |_| {}).unwrap();
    arm(&mut loader, 0);
    let t = loader.transport_mut();
    t.pause(Duration::from_secs(5));
    assert_eq!(t.chip().resets(), 1);
}

#[test]
fn images_at_the_wrong_offset_print_the_real_invalid_header_line() {
    let app = {
        let header = ImageHeader {
            entry: 0x4037_5000,
            flash_size_freq: 0x2F,
            ..ImageHeader::default()
        };
        encode_image(
            &header,
            &[Segment {
                addr: 0x4200_0020,
                data: vec![0x36, 0x41, 0, 0],
            }],
        )
        .unwrap()
    };
    let first_word = u32::from_le_bytes([app[0], app[1], app[2], app[3]]);
    for (what, offset, image, line) in [
        (
            "bootloader at 0x1000",
            0x1000,
            bootable_image(),
            BLANK_LINE.to_string(),
        ),
        (
            "app at 0x0",
            0x0,
            app.clone(),
            format!("invalid header: {first_word:#010x}\r\n"),
        ),
    ] {
        let mut t = sim("sim://?mode=spi");
        t.chip_mut().flash_mut().load(offset, &image);
        reset::play(&mut t, &reset::HARD_RESET.steps).unwrap();
        let text = wait_and_read(&mut t, STRAP_WINDOW + Duration::from_millis(30));
        assert!(
            text.contains(&format!("boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n{line}{line}")),
            "{what}: {text}"
        );
        assert!(!text.contains("load:"), "{what}: {text}");
    }
}

#[cfg(unix)]
#[test]
fn the_pty_server_lets_the_chip_live_in_wall_clock_time() {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let config = SimConfig {
        start_in: StartIn::SpiBoot,
        ..SimConfig::default()
    };
    let server = cargo_esp32s3::sim::pty::PtyServer::open(Esp32s3::new(config).expect("sim"))
        .expect("a pty");
    let slave = server.slave_path().to_path_buf();
    let stop = server.stop_handle();
    let serving = std::thread::spawn(move || server.serve());
    let mut client = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(&slave)
        .expect("open the slave");
    let started = Instant::now();
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < Duration::from_millis(400) {
        match client.read(&mut buf) {
            Ok(n) => text.extend_from_slice(&buf[..n]),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    stop.stop();
    serving.join().expect("no panic").expect("served");
    let text = String::from_utf8_lossy(&text);
    // Nobody wrote a byte: the boot loop's lines came with the passing of (real) time, at most
    // as many as the console could send in the time the client listened.
    let lines = text.matches(BLANK_LINE).count();
    let most = (Duration::from_millis(450).as_millis() as u64 * ROM_CONSOLE_BYTES_PER_SEC / 1000)
        as usize
        / BLANK_LINE.len();
    assert!(lines >= 10 && lines <= most, "{lines} lines: {text:.300}");
}

#[test]
fn a_reset_into_real_firmware_runs_the_second_stage_and_the_app_console() {
    let Some(dir) = testdata::testdata() else {
        return;
    };
    let read = |rel: &str| testdata::read(&dir, rel);
    // MicroPython's offset-0 image: ROM, second stage, then the REPL answers help().
    let mut t = sim("sim://");
    let image = read(testdata::MICROPYTHON);
    t.chip_mut().flash_mut().load(0, &image);
    reset::play(&mut t, &reset::HARD_RESET.steps).unwrap();
    let text = wait_and_read(&mut t, STRAP_WINDOW + Duration::from_millis(500));
    assert!(text.contains("boot:0x8 (SPI_FAST_FLASH_BOOT)"), "{text}");
    assert!(
        text.ends_with(
            "MicroPython v1.26.1 on 2025-09-11; Generic ESP32S3 module with ESP32S3\r\nType \"help()\" for more information.\r\n>>> "
        ),
        "{text}"
    );
    t.write_all(b"help()\r\n").unwrap();
    let reply = wait_and_read(&mut t, Duration::ZERO);
    assert!(
        reply.starts_with("help()\r\nWelcome to MicroPython on the ESP32!\r\n"),
        "{reply}"
    );
    assert_eq!(t.chip().resets(), 1, "it stays up");

    // ESP-IDF hello_world as three files, reached through the USB-Serial/JTAG hard reset.
    let mut t = sim("sim://?usb=jtag");
    let firmware = "firmware/esp-idf-hello_world-esp32s3";
    for (offset, file) in [
        (0x0, "bootloader.bin"),
        (0x8000, "partition-table.bin"),
        (0x10000, "hello_world.bin"),
    ] {
        let bytes = read(&format!("{firmware}/{file}"));
        t.chip_mut().flash_mut().load(offset, &bytes);
    }
    reset::play(&mut t, &reset::HARD_RESET_USB.steps).unwrap();
    let text = wait_and_read(&mut t, Duration::from_millis(500));
    assert!(
        text.contains("rst:0x15 (USB_UART_CHIP_RESET),boot:0x8 (SPI_FAST_FLASH_BOOT)"),
        "{text}"
    );
    assert!(text.ends_with("Calling app_main()\x1b[0m\r\n"), "{text}");
    assert_eq!(t.chip().personality(), Personality::Running);
    // Its console only echoes.
    t.write_all(b"hi\r").unwrap();
    assert_eq!(wait_and_read(&mut t, Duration::ZERO), "hi\r\n");
}
