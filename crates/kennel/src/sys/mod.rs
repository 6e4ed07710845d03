//! The platform layer. `unix.rs` and `windows.rs` export the same names with the same
//! signatures; the rest of the crate calls `sys::imp` and carries no `cfg`.
//!
//! All `unsafe` of the crate lives below this module, each block with a `// SAFETY:`
//! line.

#[cfg(unix)]
pub(crate) mod unix;
#[cfg(unix)]
pub(crate) use unix as imp;

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) mod splice;

#[cfg(windows)]
pub(crate) mod windows;
#[cfg(windows)]
pub(crate) use windows as imp;

#[cfg(not(any(unix, windows)))]
compile_error!("kennel supports Unix (Linux, macOS, BSD) and Windows");
