//! The platform layer. `unix.rs` and `windows.rs` export the same names with the same
//! signatures; the rest of the crate calls `sys::imp` and carries no `cfg`.
//!
//! All `unsafe` of the crate lives below this module, each block with a `// SAFETY:`
//! line.

#[cfg(unix)]
pub(crate) mod unix;
#[cfg(unix)]
pub(crate) use unix as imp;

#[cfg(not(unix))]
compile_error!(
    "kennel supports Unix (Linux, macOS, BSD) today; the Windows backend lands with Job Objects"
);
