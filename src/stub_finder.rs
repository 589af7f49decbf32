//! `stub = "auto"`: find the ESP32-S3 flasher stub of an esptool the user already has, so the
//! flash can overlap erasing and writing with the transfer, without this project shipping a
//! stub.
//!
//! esptool keeps its stubs as JSON files inside its package, in one of these layouts:
//! - `esptool/targets/stub_flasher/1/esp32s3.json` (4.8 and later: the legacy stub, esptool's
//!   default) and `.../2/esp32s3.json` (5.x: the new esp-flasher-stub, which adds `bss_start`
//!   and plugins; `crate::loader::StubImage` reads both formats);
//! - `esptool/targets/stub_flasher/stub_flasher_32s3.json` (4.0 to 4.7).
//!
//! Where a package lives is the caller's business (the command line asks `python3` and looks
//! next to `esptool`/`esptool.py` on `PATH`); this module only turns such places into candidate
//! files, in order, and returns the first that exists. It reads no environment.

use std::path::{Path, PathBuf};

/// The stub files inside an esptool package directory, most preferred first.
const IN_PACKAGE: &[&str] = &[
    "targets/stub_flasher/1/esp32s3.json",
    "targets/stub_flasher/stub_flasher_32s3.json",
    "targets/stub_flasher/2/esp32s3.json",
];

/// The first ESP32-S3 stub found in the esptool package directories `packages` (each the
/// `esptool` folder of a Python installation), or `None`.
pub fn find_in_packages(packages: &[PathBuf]) -> Option<PathBuf> {
    packages
        .iter()
        .flat_map(|package| IN_PACKAGE.iter().map(move |file| package.join(file)))
        .find(|candidate| candidate.is_file())
}

/// The esptool package directories that belong to an `esptool` or `esptool.py` script found in
/// one of `path_dirs` (the directories of `PATH`): a virtual environment or a `pip install
/// --user` puts the script in `bin/` and the package in `lib/pythonX.Y/site-packages/esptool`
/// (`Lib/site-packages/esptool` beside `Scripts/` on Windows).
pub fn packages_near_scripts(path_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in path_dirs {
        let has_script = ["esptool", "esptool.py", "esptool.exe"]
            .iter()
            .any(|name| dir.join(name).is_file());
        if !has_script {
            continue;
        }
        let Some(prefix) = dir.parent() else {
            continue;
        };
        // The script may be a symlink into the package's environment.
        for script in ["esptool", "esptool.py"] {
            if let Ok(real) = std::fs::canonicalize(dir.join(script)) {
                if let Some(real_prefix) = real.parent().and_then(Path::parent) {
                    out.extend(site_packages(real_prefix));
                }
            }
        }
        out.extend(site_packages(prefix));
    }
    out.dedup();
    out
}

/// `<prefix>/lib/python*/site-packages/esptool` and `<prefix>/Lib/site-packages/esptool`.
fn site_packages(prefix: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(prefix.join("lib")) {
        let mut pythons: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("python"))
            })
            .collect();
        pythons.sort();
        out.extend(pythons.into_iter().map(|p| p.join("site-packages/esptool")));
    }
    out.push(prefix.join("Lib/site-packages/esptool"));
    out.into_iter().filter(|p| p.is_dir()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "{}").unwrap();
    }

    #[test]
    fn both_layouts_are_found_the_legacy_stub_first() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old/esptool");
        touch(&old.join("targets/stub_flasher/stub_flasher_32s3.json"));
        let new = dir.path().join("new/esptool");
        touch(&new.join("targets/stub_flasher/2/esp32s3.json"));
        touch(&new.join("targets/stub_flasher/1/esp32s3.json"));
        assert_eq!(
            find_in_packages(std::slice::from_ref(&old)),
            Some(old.join("targets/stub_flasher/stub_flasher_32s3.json"))
        );
        assert_eq!(
            find_in_packages(&[new.clone(), old]),
            Some(new.join("targets/stub_flasher/1/esp32s3.json"))
        );
        assert_eq!(find_in_packages(&[dir.path().join("none")]), None);
    }

    #[test]
    fn a_script_on_path_leads_to_its_environment() {
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join("venv");
        touch(&venv.join("bin/esptool.py"));
        let package = venv.join("lib/python3.11/site-packages/esptool");
        touch(&package.join("targets/stub_flasher/1/esp32s3.json"));
        let found = packages_near_scripts(&[dir.path().join("elsewhere"), venv.join("bin")]);
        assert_eq!(found, std::slice::from_ref(&package));
        assert_eq!(
            find_in_packages(&found),
            Some(package.join("targets/stub_flasher/1/esp32s3.json"))
        );
    }
}
