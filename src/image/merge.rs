//! TODO(owner: image helper): see image/mod.rs.
