//! `sim://`: a transport whose far end is the in-process virtual ESP32-S3. TODO(owner: sim helper).
