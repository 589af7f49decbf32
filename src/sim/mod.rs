//! The virtual ESP32-S3. TODO(owner: sim helper).
