//! `ES02xx`: the codes of [`ProjectError`] (finding the Cargo package a library script works
//! on). It must not know how the project is found.

use crate::project::ProjectError;

catalogue! {
    /// The code of a project error.
    pub(super) fn code(&ProjectError);
    /// `ES02xx`: finding the project.
    pub(super) const ENTRIES;
    wrappers {}
    ProjectError::NoManifest { .. } => ES0201 {
        example: ProjectError::NoManifest { dir: "/home/me/firmware".into() },
        cause: "There is no Cargo.toml in the directory or above it: the script runs outside the project.",
        fix: "Run it inside a Cargo package (or pass the package's directory), or create one with `cargo new`.",
    },
    ProjectError::NotAPackage { .. } => ES0202 {
        example: ProjectError::NotAPackage { manifest: "Cargo.toml".into() },
        cause: "The manifest is a virtual workspace (no [package]) and no member was chosen.",
        fix: "Point at one of its members (its directory or its Cargo.toml), or choose one with `Discover::package`.",
    },
}
