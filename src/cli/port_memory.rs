//! Ports that stay chosen: the port a user picked at the prompt, remembered per project in a
//! user-level file (`ports.json` in this tool's cache directory, never in Cargo.toml, which is
//! shared with other people and machines) and offered first the next time.
//!
//! A port is remembered by its path and, when it is a USB device, by its USB identity (serial
//! number, else vendor and product id), so the board is recognised when it comes back under
//! another path. A file that cannot be read or written costs the convenience, never the command.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use cargo_esp32s3::transport::PortIdentity;
use cargo_esp32s3::transport::serial::PortInfo;

/// The file name inside the cache directory.
pub const FILE: &str = "ports.json";

/// The port remembered for one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    /// The path it had.
    pub name: String,
    /// Its USB identity, when it is a USB device.
    pub identity: Option<String>,
}

impl Remembered {
    /// What to remember of `port`: its path, and its serial number (else its USB ids).
    pub fn of(port: &PortInfo) -> Self {
        let identity = match (&port.serial_number, port.vid, port.pid) {
            (Some(serial), _, _) if !serial.trim().is_empty() => {
                Some(PortIdentity::UsbSerial(serial.trim().to_string()).to_string())
            }
            (_, Some(vid), Some(pid)) => Some(PortIdentity::Usb { vid, pid }.to_string()),
            _ => None,
        };
        Remembered {
            name: port.name.clone(),
            identity,
        }
    }

    /// The port of `ports` that is this one: same USB serial number (whatever its path now),
    /// else same path.
    pub fn find_in<'a>(&self, ports: &'a [PortInfo]) -> Option<&'a PortInfo> {
        let by_serial = self
            .identity
            .as_deref()
            .and_then(PortIdentity::parse)
            .and_then(Result::ok)
            .filter(|identity| matches!(identity, PortIdentity::UsbSerial(_)))
            .and_then(|identity| {
                ports
                    .iter()
                    .find(|p| identity.matches(p.vid, p.pid, p.serial_number.as_deref()))
            });
        by_serial.or_else(|| ports.iter().find(|p| p.name == self.name))
    }
}

/// The remembered ports of every project, as stored in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortMemory {
    projects: BTreeMap<String, Remembered>,
}

impl PortMemory {
    /// Read the file (a missing or unreadable one remembers nothing).
    pub fn load(path: &Path) -> Self {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Self::default();
        };
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            return Self::default();
        };
        let mut projects = BTreeMap::new();
        if let Some(map) = value.get("projects").and_then(Value::as_object) {
            for (project, entry) in map {
                let Some(name) = entry.get("port").and_then(Value::as_str) else {
                    continue;
                };
                let identity = entry
                    .get("identity")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                projects.insert(
                    project.clone(),
                    Remembered {
                        name: name.to_string(),
                        identity,
                    },
                );
            }
        }
        PortMemory { projects }
    }

    /// Write the file (creating its folder).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let projects: serde_json::Map<String, Value> = self
            .projects
            .iter()
            .map(|(project, r)| {
                (
                    project.clone(),
                    json!({ "port": r.name, "identity": r.identity }),
                )
            })
            .collect();
        let text = serde_json::to_string_pretty(&json!({ "format": 1, "projects": projects }))
            .unwrap_or_default();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)
    }

    /// The port remembered for `project`.
    pub fn get(&self, project: &Path) -> Option<&Remembered> {
        self.projects.get(&key(project))
    }

    /// Remember `port` for `project`.
    pub fn set(&mut self, project: &Path, port: Remembered) {
        self.projects.insert(key(project), port);
    }
}

fn key(project: &Path) -> String {
    project.display().to_string()
}

/// The project a remembered port belongs to: the folder of `--manifest-path`, else of the
/// nearest Cargo.toml above `cwd`, else `cwd` itself (canonical, so every spelling of it is one
/// project).
pub fn project_dir(manifest_path: Option<&Path>, cwd: &Path) -> PathBuf {
    let dir = match manifest_path {
        Some(manifest) => manifest
            .parent()
            .map(|p| cwd.join(p))
            .unwrap_or_else(|| cwd.to_path_buf()),
        None => cargo_esp32s3::cargo::find_manifest(cwd)
            .and_then(|m| m.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| cwd.to_path_buf()),
    };
    dir.canonicalize().unwrap_or(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usb(name: &str, serial: Option<&str>) -> PortInfo {
        PortInfo {
            name: name.into(),
            vid: Some(0x303a),
            pid: Some(0x1001),
            serial_number: serial.map(str::to_string),
            manufacturer: None,
            product: None,
            is_espressif_usb_jtag: true,
            likely_esp: true,
        }
    }

    #[test]
    fn a_remembered_port_is_found_again_under_another_path() {
        let first = usb("/dev/ttyACM0", Some("F4:12:FA:00:00:01"));
        let remembered = Remembered::of(&first);
        assert_eq!(
            remembered.identity.as_deref(),
            Some("usb-serial:F4:12:FA:00:00:01")
        );
        let later = [
            usb("/dev/ttyACM0", Some("F4:12:FA:00:00:09")),
            usb("/dev/ttyACM1", Some("F4:12:FA:00:00:01")),
        ];
        assert_eq!(
            remembered.find_in(&later).map(|p| p.name.as_str()),
            Some("/dev/ttyACM1")
        );
        // Without a serial number, the path is what is known.
        let plain = Remembered::of(&usb("/dev/ttyUSB3", None));
        assert_eq!(plain.identity.as_deref(), Some("usb:303a:1001"));
        let ports = [usb("/dev/ttyUSB2", None), usb("/dev/ttyUSB3", None)];
        assert_eq!(
            plain.find_in(&ports).map(|p| p.name.as_str()),
            Some("/dev/ttyUSB3")
        );
    }

    #[test]
    fn the_file_keeps_one_port_per_project() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache").join(FILE);
        let mut memory = PortMemory::load(&file);
        assert_eq!(memory, PortMemory::default());
        let (a, b) = (Path::new("/work/a"), Path::new("/work/b"));
        memory.set(a, Remembered::of(&usb("/dev/ttyACM0", Some("S1"))));
        memory.set(b, Remembered::of(&usb("/dev/ttyACM1", None)));
        memory.set(a, Remembered::of(&usb("/dev/ttyACM2", Some("S2"))));
        memory.save(&file).unwrap();
        let again = PortMemory::load(&file);
        assert_eq!(again, memory);
        assert_eq!(again.get(a).map(|r| r.name.as_str()), Some("/dev/ttyACM2"));
        assert_eq!(again.get(b).map(|r| r.name.as_str()), Some("/dev/ttyACM1"));
        assert!(again.get(Path::new("/work/c")).is_none());
        // A damaged file remembers nothing rather than failing the command.
        std::fs::write(&file, "{ not json").unwrap();
        assert_eq!(PortMemory::load(&file), PortMemory::default());
    }
}
