//! {{name}}: an esp-hal app for the ESP32-S3. `cargo run --release` builds it, flashes it and
//! shows what it prints (Ctrl+] leaves the monitor).

#![no_std]
#![no_main]

use esp_backtrace as _;
use esp_hal::clock::CpuClock;
use esp_hal::main;
use esp_hal::time::{Duration, Instant};
use esp_println::println;

// The app descriptor ESP-IDF's second-stage bootloader checks before it starts the app (project
// name and version from Cargo.toml).
esp_bootloader_esp_idf::esp_app_desc!();

#[main]
fn main() -> ! {
    let config = esp_hal::Config::default().with_cpu_clock(CpuClock::max());
    let _peripherals = esp_hal::init(config);

    println!("{{name}} started");
    let mut count: u32 = 0;
    loop {
        println!("Hello world! ({count})");
        count = count.wrapping_add(1);
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(1000) {}
    }
}
