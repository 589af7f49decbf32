//! The simulator through its `sim://` transport, driven by a minimal host written here from the
//! protocol facts (not the crate's loader): compressed writes in ROM-sized blocks read back by
//! MD5 and READ_FLASH_SLOW, checksum and sequence errors, a stub upload and the stub's commands,
//! flash identification through SPI1, erase, persistence to a file, reset lines, crashes, and the
//! pseudo-terminal server.

use std::io::Write as _;
use std::time::Instant;

use cargo_esp32s3::protocol::slip;
use cargo_esp32s3::sim::{Esp32s3, Personality, SimConfig};
use cargo_esp32s3::transport::Transport;
use cargo_esp32s3::transport::sim::SimTransport;
use md5::{Digest, Md5};

#[path = "support/testdata.rs"]
mod testdata;
use testdata::testdata;

const SYNC: u8 = 0x08;
const FLASH_BEGIN: u8 = 0x02;
const FLASH_DATA: u8 = 0x03;
const FLASH_END: u8 = 0x04;
const MEM_BEGIN: u8 = 0x05;
const MEM_END: u8 = 0x06;
const MEM_DATA: u8 = 0x07;
const WRITE_REG: u8 = 0x09;
const READ_REG: u8 = 0x0A;
const SPI_SET_PARAMS: u8 = 0x0B;
const SPI_ATTACH: u8 = 0x0D;
const READ_FLASH_SLOW: u8 = 0x0E;
const CHANGE_BAUDRATE: u8 = 0x0F;
const DEFL_BEGIN: u8 = 0x10;
const DEFL_DATA: u8 = 0x11;
const DEFL_END: u8 = 0x12;
const SPI_FLASH_MD5: u8 = 0x13;
const GET_SECURITY_INFO: u8 = 0x14;
const ERASE_FLASH: u8 = 0xD0;
const ERASE_REGION: u8 = 0xD1;
const READ_FLASH: u8 = 0xD2;

fn words(ws: &[u32]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn checksum(data: &[u8]) -> u32 {
    u32::from(data.iter().fold(0xEFu8, |c, b| c ^ b))
}

/// Deterministic test data: a mix of text (compressible) and xorshift noise.
fn payload(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|i| {
            if (i / 512) % 2 == 0 {
                b"the quick brown fox jumps over the lazy dog "[i % 44]
            } else {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            }
        })
        .collect()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

struct Host {
    port: SimTransport,
    decoder: slip::Decoder,
    status_len: usize,
}

impl Host {
    fn new(port: SimTransport) -> Self {
        let mut host = Host {
            port,
            decoder: slip::Decoder::new(),
            status_len: 4,
        };
        host.port.clear_input().unwrap();
        host
    }

    fn open(url: &str) -> Self {
        Host::new(SimTransport::open(url).unwrap())
    }

    fn send(&mut self, op: u8, data: &[u8], chk: u32) {
        let mut packet = vec![0x00, op];
        packet.extend_from_slice(&(data.len() as u16).to_le_bytes());
        packet.extend_from_slice(&chk.to_le_bytes());
        packet.extend_from_slice(data);
        self.port.write_all(&slip::encode(&packet)).unwrap();
    }

    /// Every frame the chip sent, and the console text.
    fn drain(&mut self) -> (Vec<Vec<u8>>, Vec<u8>) {
        let mut buf = [0u8; 4096];
        let (mut frames, mut text) = (Vec::new(), Vec::new());
        loop {
            let n = self.port.read(&mut buf, Instant::now()).unwrap();
            if n == 0 {
                break;
            }
            self.decoder.push(&buf[..n]);
        }
        while let Some(item) = self.decoder.next_item() {
            match item {
                slip::Item::Frame(f) => frames.push(f),
                slip::Item::Noise(t) => text.extend(t),
                slip::Item::Dropped(r) => panic!("dropped frame: {r:?}"),
            }
        }
        (frames, text)
    }

    /// Send a command and return its single reply: (value, payload, status bytes).
    fn command(&mut self, op: u8, data: &[u8], chk: u32) -> (u32, Vec<u8>, Vec<u8>) {
        self.send(op, data, chk);
        let (frames, _) = self.drain();
        assert_eq!(
            frames.len(),
            1,
            "op {op:#04x}: one reply expected, got {frames:?}"
        );
        let f = &frames[0];
        assert_eq!((f[0], f[1]), (0x01, op), "reply header {f:02x?}");
        let len = u16::from_le_bytes([f[2], f[3]]) as usize;
        assert_eq!(len, f.len() - 8);
        let value = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
        let body = &f[8..];
        let split = body.len() - self.status_len;
        (value, body[..split].to_vec(), body[split..].to_vec())
    }

    /// A command that must succeed; returns (value, payload).
    fn ok(&mut self, op: u8, data: &[u8], chk: u32) -> (u32, Vec<u8>) {
        let (value, payload, status) = self.command(op, data, chk);
        assert_eq!(status[0], 0, "op {op:#04x} failed: status {status:02x?}");
        (value, payload)
    }

    /// The ROM error code of a failing command.
    fn fails(&mut self, op: u8, data: &[u8], chk: u32) -> u8 {
        let (_, _, status) = self.command(op, data, chk);
        assert_eq!(status[0], 1, "op {op:#04x} should fail: {status:02x?}");
        status[1]
    }

    fn sync(&mut self) -> Vec<u32> {
        let mut data = vec![0x07, 0x07, 0x12, 0x20];
        data.extend([0x55; 32]);
        self.send(SYNC, &data, 0);
        let (frames, _) = self.drain();
        frames
            .iter()
            .map(|f| u32::from_le_bytes([f[4], f[5], f[6], f[7]]))
            .collect()
    }

    fn attach_and_size(&mut self, size: u32) {
        self.ok(SPI_ATTACH, &[0; 8], 0);
        self.ok(
            SPI_SET_PARAMS,
            &words(&[0, size, 0x10000, 0x1000, 0x100, 0xFFFF]),
            0,
        );
    }

    fn rom_md5(&mut self, addr: u32, len: u32) -> String {
        let (_, payload) = self.ok(SPI_FLASH_MD5, &words(&[addr, len, 0, 0]), 0);
        String::from_utf8(payload).unwrap()
    }

    fn read_slow(&mut self, addr: u32, len: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = addr;
        while at < addr + len {
            let n = (addr + len - at).min(64);
            let (_, payload) = self.ok(READ_FLASH_SLOW, &words(&[at, n]), 0);
            assert_eq!(payload.len(), 64, "READ_FLASH_SLOW always returns 64 bytes");
            out.extend_from_slice(&payload[..n as usize]);
            at += n;
        }
        out
    }

    fn write_deflated(&mut self, addr: u32, data: &[u8], block: usize, exact_size: bool) {
        let compressed = zlib(data);
        let blocks = compressed.len().div_ceil(block) as u32;
        let size = if exact_size {
            data.len() as u32
        } else {
            (data.len().div_ceil(block) * block) as u32
        };
        self.ok(
            DEFL_BEGIN,
            &words(&[size, blocks, block as u32, addr, 0]),
            0,
        );
        for (seq, chunk) in compressed.chunks(block).enumerate() {
            let mut d = words(&[chunk.len() as u32, seq as u32, 0, 0]);
            d.extend_from_slice(chunk);
            self.ok(DEFL_DATA, &d, checksum(chunk));
        }
    }
}

fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn deflated_writes_in_rom_block_sizes_read_back() {
    for (block, addr, len) in [(0x400, 0x10000, 0x9000), (0x1800, 0x200000, 0x20345)] {
        let mut host = Host::open("sim://");
        assert_eq!(host.sync(), vec![0x2012_0707; 8]);
        host.attach_and_size(8 << 20);
        let data = payload(len, addr);
        host.write_deflated(addr, &data, block, false);
        assert_eq!(
            host.rom_md5(addr, len as u32),
            md5_hex(&data),
            "block {block:#x}"
        );
        assert_eq!(host.read_slow(addr, 300), data[..300]);
        assert_eq!(host.read_slow(addr + 0x1001, 77), data[0x1001..0x1001 + 77]);
        let flash = host.port.chip().flash();
        assert_eq!(
            &flash.contents()[addr as usize..addr as usize + len],
            &data[..]
        );
        // FLASH_DEFL_END with 1 keeps the loader running.
        host.ok(DEFL_END, &words(&[1]), 0);
        assert_eq!(host.sync().len(), 8);
    }
}

#[test]
fn plain_writes_check_checksum_and_sequence() {
    let mut host = Host::open("sim://");
    host.attach_and_size(8 << 20);
    let data = payload(0x800, 7);
    host.ok(FLASH_BEGIN, &words(&[0x800, 2, 0x400, 0x20000, 0]), 0);
    let block = |seq: u32| {
        let chunk = &data[seq as usize * 0x400..(seq as usize + 1) * 0x400];
        let mut d = words(&[0x400, seq, 0, 0]);
        d.extend_from_slice(chunk);
        (d, checksum(chunk))
    };
    // Wrong sequence number: refused, nothing consumed.
    let (d1, c1) = block(1);
    assert_eq!(host.fails(FLASH_DATA, &d1, c1), 0x05);
    // Bad checksum: refused with 0x07, and the sequence number is consumed.
    let (d0, c0) = block(0);
    assert_eq!(host.fails(FLASH_DATA, &d0, c0 ^ 0x5A), 0x07);
    assert_eq!(host.fails(FLASH_DATA, &d0, c0), 0x05);
    // A new FLASH_BEGIN starts over; then both blocks land.
    host.ok(FLASH_BEGIN, &words(&[0x800, 2, 0x400, 0x20000, 0]), 0);
    host.ok(FLASH_DATA, &d0, c0);
    host.ok(FLASH_DATA, &d1, c1);
    assert_eq!(host.rom_md5(0x20000, 0x800), md5_hex(&data));
    // FLASH_BEGIN takes exactly five words, and a block of at most 0x1800 bytes.
    assert_eq!(
        host.fails(FLASH_BEGIN, &words(&[0x800, 2, 0x400, 0x20000]), 0),
        0x05
    );
    assert_eq!(
        host.fails(FLASH_BEGIN, &words(&[0x2000, 1, 0x2000, 0x20000, 0]), 0),
        0x05
    );
    // Unaligned offsets and ranges beyond the flash size are refused.
    assert_eq!(
        host.fails(FLASH_BEGIN, &words(&[0x400, 1, 0x400, 0x20100, 0]), 0),
        0x06
    );
    assert_eq!(
        host.fails(FLASH_BEGIN, &words(&[0x1000, 1, 0x400, 0x800000, 0]), 0),
        0x06
    );
    // A corrupt zlib stream gives the deflate error.
    host.ok(DEFL_BEGIN, &words(&[0x1000, 1, 0x400, 0x30000, 0]), 0);
    let junk = [0x78, 0xDA, 0xFF, 0xFF, 0xFF, 0x12];
    let mut d = words(&[junk.len() as u32, 0, 0, 0]);
    d.extend_from_slice(&junk);
    assert_eq!(host.fails(DEFL_DATA, &d, checksum(&junk)), 0x0B);
}

#[test]
fn flash_size_is_two_mib_until_set_params() {
    let mut host = Host::open("sim://");
    host.ok(SPI_ATTACH, &[0; 8], 0);
    assert_eq!(
        host.fails(READ_FLASH_SLOW, &words(&[0x200000, 64]), 0),
        0x09
    );
    assert_eq!(host.fails(READ_FLASH_SLOW, &words(&[0, 65]), 0), 0x0A);
    host.attach_and_size(8 << 20);
    host.ok(READ_FLASH_SLOW, &words(&[0x200000, 64]), 0);
}

/// Run one SPI1 user command through READ_REG/WRITE_REG as a host does (§5).
fn spi_command(host: &mut Host, cmd: u32, addr: Option<u32>, read_bits: u32) -> u32 {
    let base = 0x6000_2000;
    let mut usr = 1 << 31 | 1 << 28;
    let mut regs = vec![(base + 0x28, read_bits - 1)];
    if let Some(a) = addr {
        usr |= 1 << 30;
        regs.push((base + 0x1C, (7 << 26) | 7));
        usr |= 1 << 29;
        regs.push((base + 0x04, a));
    }
    regs.push((base + 0x18, usr));
    regs.push((base + 0x20, (7 << 28) | cmd));
    regs.push((base + 0x58, 0));
    regs.push((base, 1 << 18));
    for (reg, value) in regs {
        host.ok(WRITE_REG, &words(&[reg, value, u32::MAX, 0]), 0);
    }
    let (cmd_reg, _) = host.ok(READ_REG, &words(&[base]), 0);
    assert_eq!(cmd_reg & (1 << 18), 0, "SPI command completed");
    host.ok(READ_REG, &words(&[base + 0x58]), 0).0
}

#[test]
fn spi1_identifies_the_configured_flash() {
    for (url, id) in [
        ("sim://", 0x17_40C8),
        ("sim://?size=16MB", 0x18_40C8),
        ("sim://?size=4MB", 0x16_40C8),
    ] {
        let mut host = Host::open(url);
        assert_eq!(spi_command(&mut host, 0x9F, None, 24), id, "{url}");
        assert_eq!(spi_command(&mut host, 0x5A, Some(0), 32), 0x5044_4653);
    }
}

#[test]
fn chip_identity_registers() {
    let mut host = Host::open("sim://");
    let read = |h: &mut Host, a: u32| h.ok(READ_REG, &words(&[a]), 0).0;
    assert_eq!(read(&mut host, 0x4000_1000), 9);
    let (mac0, mac1) = (read(&mut host, 0x6000_7044), read(&mut host, 0x6000_7048));
    assert_eq!((mac1, mac0), (0x7CDF, 0xA100_0001));
    assert_eq!(read(&mut host, 0x3FCE_F14C), 0, "UARTDEV_BUF_NO = UART");
    assert_eq!(read(&mut host, 0x6000_4038) & 0x08, 0, "GPIO0 strapped low");
    let (_, info) = host.ok(GET_SECURITY_INFO, &[], 0);
    assert_eq!(info.len(), 20);
    assert_eq!(u32::from_le_bytes(info[12..16].try_into().unwrap()), 9);

    let mut other = Host::open("sim://?chip=esp32c3");
    let (_, info) = other.ok(GET_SECURITY_INFO, &[], 0);
    assert_eq!(u32::from_le_bytes(info[12..16].try_into().unwrap()), 5);
    assert_ne!(read(&mut other, 0x4000_1000), 9);
}

#[test]
fn unmapped_read_crashes_until_reset() {
    let mut host = Host::open("sim://");
    host.send(READ_REG, &words(&[0x0100_1000]), 0);
    let (frames, text) = host.drain();
    assert!(frames.is_empty());
    let text = String::from_utf8_lossy(&text);
    assert!(text.starts_with("Guru Meditation Error: Core 0 panic'ed (LoadProhibited)"));
    assert_eq!(host.port.chip().personality(), Personality::Halted);
    assert!(host.sync().is_empty(), "a crashed ROM answers nothing");
    // A reset with IO0 low (classic DTR/RTS sequence) brings the loader back.
    host.port.set_dtr(false).unwrap();
    host.port.set_rts(true).unwrap();
    host.port.set_dtr(true).unwrap();
    host.port.set_rts(false).unwrap();
    host.port.set_dtr(false).unwrap();
    let (_, banner) = host.drain();
    let banner = String::from_utf8_lossy(&banner);
    assert!(banner.contains("boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download"));
    assert_eq!(host.sync().len(), 8);
}

#[test]
fn hard_reset_boots_the_flash_image() {
    let mut host = Host::open("sim://");
    // Blank flash: the ROM complains about the header. The chip boots once the strapping
    // window after EN rose has closed.
    host.port.set_rts(true).unwrap();
    host.port.set_rts(false).unwrap();
    host.port.pause(std::time::Duration::from_millis(200));
    let (_, text) = host.drain();
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("boot:0x8 (SPI_FAST_FLASH_BOOT)\r\ninvalid header: 0xffffffff\r\n"));
    // A real bootloader image at 0 boots: one load line per segment, then the entry.
    let Some(dir) =
        testdata().filter(|d| d.join("esptool/inputs/bootloader_esp32s3.bin").is_file())
    else {
        println!("skipped the bootloader part: testdata not found (set ESP32S3_TESTDATA)");
        return;
    };
    for (file, tail) in [
        (
            "esptool/inputs/bootloader_esp32s3.bin",
            "load:0x3fcd0108,len:0x15bc\r\nload:0x403b6000,len:0x8d0\r\nload:0x403ba000,len:0x2ae4\r\nentry 0x403b61c8\r\n",
        ),
        (
            "firmware/micropython/ESP32_GENERIC_S3-20250911-v1.26.1.bin",
            "entry 0x403c88ac\r\n",
        ),
    ] {
        let Ok(image) = std::fs::read(dir.join(file)) else {
            println!("skipped {file}: not found");
            continue;
        };
        host.port.chip_mut().flash_mut().erase_all();
        host.port.chip_mut().flash_mut().load(0, &image);
        host.port.set_rts(true).unwrap();
        host.port.set_rts(false).unwrap();
        host.port.pause(std::time::Duration::from_millis(200));
        let (_, text) = host.drain();
        let text = String::from_utf8_lossy(&text);
        assert!(text.contains("SPIWP:0xee\r\nmode:DIO"), "{file}: {text}");
        // The second stage's own lines follow the ROM's.
        assert!(text.contains(tail), "{file}: {text}");
        assert_eq!(host.port.chip().personality(), Personality::Running);
    }
}

#[test]
fn flash_end_runs_user_code_and_stops_answering() {
    let mut host = Host::open("sim://");
    host.attach_and_size(8 << 20);
    host.ok(FLASH_BEGIN, &words(&[0, 0, 0x400, 0, 0]), 0);
    host.send(FLASH_END, &words(&[1]), 0);
    let (frames, text) = host.drain();
    assert_eq!(frames.len(), 1);
    assert_eq!(text, b"user code done\r\n");
    assert!(host.sync().is_empty());
}

#[test]
fn baud_change_needs_the_host_to_follow() {
    let mut host = Host::open("sim://");
    host.ok(CHANGE_BAUDRATE, &words(&[921_600, 0]), 0);
    // The host did not switch: nothing gets through.
    host.port.set_baud(115_200).unwrap();
    assert!(host.sync().is_empty());
    host.port.set_baud(921_600).unwrap();
    assert_eq!(host.sync().len(), 8);
}

#[test]
fn persistence_survives_a_new_transport() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flash.bin");
    let url = format!("sim://?flash={}&size=4MB", file.display());
    let data = payload(0x3000, 99);
    {
        let mut host = Host::open(&url);
        host.attach_and_size(4 << 20);
        host.write_deflated(0x1000, &data, 0x400, false);
        host.port.flush().unwrap();
    }
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 4 << 20);
    let mut host = Host::open(&url);
    host.attach_and_size(4 << 20);
    assert_eq!(host.rom_md5(0x1000, 0x3000), md5_hex(&data));
}

/// Upload a synthetic stub (code bytes at the legacy stub's text address, jumping to a known
/// entry) and return the host switched to 2-byte statuses.
fn start_stub(url: &str) -> Host {
    let mut host = Host::open(url);
    assert_eq!(host.sync().len(), 8);
    let text = payload(0x2200, 3);
    let (text_start, entry) = (0x4037_8000u32, 0x4037_95A8u32);
    host.ok(
        MEM_BEGIN,
        &words(&[text.len() as u32, 2, 0x1800, text_start]),
        0,
    );
    for (seq, chunk) in text.chunks(0x1800).enumerate() {
        let mut d = words(&[chunk.len() as u32, seq as u32, 0, 0]);
        d.extend_from_slice(chunk);
        host.ok(MEM_DATA, &d, checksum(chunk));
    }
    host.send(MEM_END, &words(&[0, entry]), 0);
    let (frames, _) = host.drain();
    assert_eq!(frames.len(), 2, "MEM_END reply and OHAI");
    assert_eq!(frames[1], b"OHAI");
    assert_eq!(host.port.chip().personality(), Personality::Stub);
    let mut loaded = vec![0; 16];
    host.port.chip().read_memory(text_start, &mut loaded);
    assert_eq!(loaded, text[..16]);
    host.status_len = 2;
    host
}

#[test]
fn stub_commands() {
    let mut host = start_stub("sim://?size=16MB");
    assert_eq!(
        host.sync(),
        vec![0; 8],
        "the stub answers SYNC with value 0"
    );
    host.ok(
        SPI_SET_PARAMS,
        &words(&[0, 16 << 20, 0x10000, 0x1000, 0x100, 0xFFFF]),
        0,
    );
    // Compressed write in 0x4000 blocks with the exact size, 4-word begin, above 8 MiB.
    let addr = 0x00A0_0000;
    let data = payload(0x2_3456, 11);
    let compressed = zlib(&data);
    host.ok(
        DEFL_BEGIN,
        &words(&[
            data.len() as u32,
            compressed.len().div_ceil(0x4000) as u32,
            0x4000,
            addr,
        ]),
        0,
    );
    for (seq, chunk) in compressed.chunks(0x4000).enumerate() {
        let mut d = words(&[chunk.len() as u32, seq as u32, 0, 0]);
        d.extend_from_slice(chunk);
        host.ok(DEFL_DATA, &d, checksum(chunk));
    }
    host.ok(DEFL_END, &words(&[1]), 0);
    let (_, digest) = host.ok(SPI_FLASH_MD5, &words(&[addr, data.len() as u32, 0, 0]), 0);
    assert_eq!(digest, Md5::digest(&data).to_vec(), "raw 16-byte MD5");
    // A bad checksum is C1 00.
    host.ok(FLASH_BEGIN, &words(&[0x1000, 1, 0x4000, 0x1000]), 0);
    let mut d = words(&[4, 0, 0, 0]);
    d.extend_from_slice(&[1, 2, 3, 4]);
    let (_, _, status) = host.command(FLASH_DATA, &d, 0);
    assert_eq!(status, vec![0xC1, 0x00]);
    // READ_FLASH streams packets that the host acknowledges, then the MD5.
    let len = 0x2800u32;
    host.send(READ_FLASH, &words(&[addr, len, 0x1000, 1]), 0);
    let mut received = Vec::new();
    let (frames, _) = host.drain();
    assert_eq!(
        frames.len(),
        2,
        "reply and the first packet (one in flight)"
    );
    assert_eq!(&frames[0][8..], &[0, 0]);
    received.extend_from_slice(&frames[1]);
    let digest = loop {
        host.port
            .write_all(&slip::encode(&(received.len() as u32).to_le_bytes()))
            .unwrap();
        let (frames, _) = host.drain();
        assert_eq!(frames.len(), 1);
        if received.len() as u32 == len {
            break frames[0].clone();
        }
        received.extend_from_slice(&frames[0]);
    };
    assert_eq!(received, data[..len as usize]);
    assert_eq!(digest, Md5::digest(&received).to_vec());
    // Erase a region, then everything.
    host.ok(ERASE_REGION, &words(&[addr, 0x1000]), 0);
    assert_eq!(
        host.port.chip().flash().contents()[addr as usize..addr as usize + 0x1000],
        [0xFF; 0x1000]
    );
    let (_, _, status) = host.command(ERASE_REGION, &words(&[addr + 1, 0x1000]), 0);
    assert_ne!(status, vec![0, 0]);
    host.ok(ERASE_FLASH, &[], 0);
    assert!(
        host.port
            .chip()
            .flash()
            .contents()
            .iter()
            .all(|b| *b == 0xFF)
    );
    // Registers still work; unknown commands are refused.
    assert_eq!(host.ok(READ_REG, &words(&[0x4000_1000]), 0).0, 9);
    let (_, _, status) = host.command(READ_FLASH_SLOW, &words(&[0, 64]), 0);
    assert_eq!(status, vec![0xFF, 0x00]);
}

/// esptool's stubs set the flash size themselves when they start (esp-flasher-stub from the flash
/// ID, the legacy one to its largest), so `esptool erase_region 0x200000 0x10000` (a step of the
/// MicroPython guide) works without a SPI_SET_PARAMS. The virtual stub starts with the chip's.
#[test]
fn the_stub_starts_with_the_chips_flash_size() {
    let mut host = start_stub("sim://?size=8MB");
    host.ok(ERASE_REGION, &words(&[0x20_0000, 0x1_0000]), 0);
    host.ok(ERASE_REGION, &words(&[0x7F_0000, 0x1_0000]), 0);
    let (_, _, status) = host.command(ERASE_REGION, &words(&[0x80_0000, 0x1000]), 0);
    assert_eq!(status, vec![0xC4, 0x00], "past the 8 MiB flash");
}

#[test]
fn stub_read_flash_survives_extreme_window_fields() {
    let mut host = start_stub("sim://");
    // A window of u32::MAX packets of 0x1000 bytes: everything may be in flight at once.
    host.send(READ_FLASH, &words(&[0, 0x2000, 0x1000, u32::MAX]), 0);
    let (frames, _) = host.drain();
    assert_eq!(frames.len(), 3, "reply and both packets");
    assert_eq!(&frames[0][8..], &[0, 0]);
    host.port
        .write_all(&slip::encode(&0x2000u32.to_le_bytes()))
        .unwrap();
    let (frames, _) = host.drain();
    assert_eq!(frames, vec![Md5::digest([0xFFu8; 0x2000]).to_vec()]);
    // A zero packet size is refused rather than streamed for ever.
    let (_, _, status) = host.command(READ_FLASH, &words(&[0, 0x1000, 0, 1]), 0);
    assert_ne!(status, vec![0, 0]);
}

#[test]
fn ram_code_at_an_unknown_entry_does_not_start_the_stub() {
    let mut chip = Esp32s3::new(SimConfig::default()).unwrap();
    chip.take_output();
    let mut wire = Vec::new();
    let code = [0x36u8, 0x41, 0x00, 0x1D, 0xF0, 0, 0, 0];
    let mut packet = vec![0, MEM_BEGIN, 16, 0, 0, 0, 0, 0];
    packet.extend(words(&[8, 1, 0x1800, 0x4038_0000]));
    wire.extend(slip::encode(&packet));
    let mut data = words(&[8, 0, 0, 0]);
    data.extend_from_slice(&code);
    let mut packet = vec![0, MEM_DATA, data.len() as u8, 0];
    packet.extend(checksum(&code).to_le_bytes());
    packet.extend(&data);
    wire.extend(slip::encode(&packet));
    let mut packet = vec![0, MEM_END, 8, 0, 0, 0, 0, 0];
    packet.extend(words(&[0, 0x4038_0000]));
    wire.extend(slip::encode(&packet));
    chip.receive(&wire);
    assert_eq!(chip.personality(), Personality::Running);
    let out = chip.take_output();
    assert!(!out.windows(4).any(|w| w == b"OHAI"));
}

/// Raw mode on the client side, as a serial library would set it.
#[cfg(unix)]
fn raw_mode(port: &std::fs::File) {
    use std::os::unix::io::AsRawFd;
    // SAFETY: termios calls on an open descriptor with a zeroed, then filled, struct.
    unsafe {
        let fd = port.as_raw_fd();
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(fd, &mut t), 0);
        libc::cfmakeraw(&mut t);
        t.c_cc[libc::VMIN] = 0;
        t.c_cc[libc::VTIME] = 1;
        assert_eq!(libc::tcsetattr(fd, libc::TCSANOW, &t), 0);
    }
}

#[cfg(unix)]
#[test]
fn pty_serves_sync() {
    let server =
        cargo_esp32s3::sim::pty::PtyServer::open(Esp32s3::new(SimConfig::default()).unwrap())
            .unwrap();
    let path = server.slave_path().to_path_buf();
    let stop = server.stop_handle();
    let thread = std::thread::spawn(move || server.serve());
    // Two sessions: the client closes the device and opens it again, as tools do per run.
    for session in 0..2 {
        let mut port = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        raw_mode(&port);
        let mut packet = vec![0x00, SYNC, 36, 0, 0, 0, 0, 0, 0x07, 0x07, 0x12, 0x20];
        packet.extend([0x55; 32]);
        port.write_all(&slip::encode(&packet)).unwrap();
        let mut decoder = slip::Decoder::new();
        let mut frames = Vec::new();
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        let mut buf = [0u8; 512];
        while frames.len() < 8 && Instant::now() < deadline {
            let n = std::io::Read::read(&mut port, &mut buf).unwrap_or(0);
            decoder.push(&buf[..n]);
            while let Some(item) = decoder.next_item() {
                if let slip::Item::Frame(f) = item {
                    frames.push(f);
                }
            }
        }
        assert_eq!(frames.len(), 8, "session {session}");
        assert!(
            frames
                .iter()
                .all(|f| f[..8] == [1, SYNC, 4, 0, 0x07, 0x07, 0x12, 0x20])
        );
    }
    stop.stop();
    thread.join().unwrap().unwrap();
}

#[test]
fn reset_sequences_enter_download_mode_from_spi_boot() {
    // (dtr, rts) steps of esptool's classic and tight reset sequences.
    let classic: &[(bool, bool)] = &[
        (false, false),
        (false, true),
        (true, true),
        (true, false),
        (false, false),
    ];
    let tight: &[(bool, bool)] = &[
        (false, false),
        (true, true),
        (false, true),
        (true, false),
        (false, false),
    ];
    for (name, steps) in [("classic", classic), ("unix-tight", tight)] {
        let mut host = Host::open("sim://?mode=spi");
        assert!(
            host.sync().is_empty(),
            "{name}: SPI-booted chip does not answer"
        );
        for &(dtr, rts) in steps {
            host.port.set_dtr_rts(dtr, rts).unwrap();
        }
        let (_, banner) = host.drain();
        assert!(
            String::from_utf8_lossy(&banner).ends_with("waiting for download\r\n"),
            "{name}"
        );
        assert_eq!(host.sync().len(), 8, "{name}");
    }
}

#[test]
fn watchdog_reset_reboots() {
    let mut host = Host::open("sim://");
    // esptool's watchdog_reset: unlock, set the timeout, enable with a reset action, lock.
    for (reg, value) in [
        (0x6000_80B0u32, 0x50D8_3AA1u32),
        (0x6000_809C, 2000),
        (0x6000_8098, (1 << 31) | (5 << 28) | (1 << 8) | 2),
    ] {
        host.send(WRITE_REG, &words(&[reg, value, u32::MAX, 0]), 0);
    }
    // esptool then sleeps 0.5 s; the watchdog strikes after its 2000 slow-clock cycles.
    host.port.pause(std::time::Duration::from_millis(500));
    let (frames, text) = host.drain();
    assert_eq!(frames.len(), 3);
    assert!(String::from_utf8_lossy(&text).contains("rst:0x10 (RTCWDT_RTC_RST)"));
    assert_eq!(host.port.chip().resets(), 1);
    // Without the unlock key the watchdog registers ignore writes.
    let mut host = Host::open("sim://");
    host.ok(
        WRITE_REG,
        &words(&[0x6000_8098, 1 << 31 | 5 << 28, u32::MAX, 0]),
        0,
    );
    assert_eq!(host.port.chip().resets(), 0);
}
