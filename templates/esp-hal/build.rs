//! Link with esp-hal's linker script, which places the code, the app descriptor and the stacks
//! where the ESP32-S3 and its second-stage bootloader expect them. It must be the last script.

fn main() {
    println!("cargo:rustc-link-arg=-Tlinkall.x");
}
