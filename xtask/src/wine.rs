//! `cargo xtask wine-setup`: a Wine prefix with the ProcessPrng shim installed, so
//! `x86_64-pc-windows-gnu` test binaries run under `wine` (see test-support/wine/README.md).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cmd::Cmd;
use crate::Ctx;

/// The Rust target whose binaries run under Wine.
pub const TARGET: &str = "x86_64-pc-windows-gnu";
const MINGW_GCC: &str = "x86_64-w64-mingw32-gcc";
/// Written into the prefix once `wineboot --init` succeeded; holds `wine --version`.
const MARKER: &str = ".kennel-wine-setup";

/// A ready prefix and the environment to run Wine in it.
pub struct WineEnv {
    pub prefix: PathBuf,
    /// Environment changes: `Some` sets, `None` removes.
    pub vars: Vec<(OsString, Option<OsString>)>,
}

impl WineEnv {
    fn new(prefix: PathBuf) -> WineEnv {
        let mut vars: Vec<(OsString, Option<OsString>)> = vec![
            ("WINEPREFIX".into(), Some(prefix.clone().into())),
            ("WINEDEBUG".into(), Some("-all".into())),
            // Headless: no X11/Wayland windows, no dialogs waiting for a click.
            ("DISPLAY".into(), None),
            ("WAYLAND_DISPLAY".into(), None),
        ];
        // Don't let a prefix (re)initialisation try to install Mono/Gecko.
        if std::env::var_os("WINEDLLOVERRIDES").is_none() {
            vars.push(("WINEDLLOVERRIDES".into(), Some("mscoree,mshtml=".into())));
        }
        WineEnv { prefix, vars }
    }

    /// Start the prefix's wineserver in persistent mode, until [`WineEnv::shutdown`].
    /// Each test binary is its own `wine` run, and a wineserver left to exit by itself
    /// (3 s after its last client) can race the next binary's start: that binary then
    /// dies with `wine client error:0: recvmsg: Connection reset by peer` before any
    /// test ran (seen once in CI, session 7). `wineserver -p` detaches and returns.
    pub fn keep_server(&self) -> Result<(), String> {
        Cmd::new("wineserver")
            .arg("-p")
            .envs(&self.vars)
            .run()
            .map_err(|e| format!("cannot start a persistent wineserver: {e}"))
    }

    /// Kill whatever is still running in the prefix (leaked test processes) and the
    /// wineserver itself, so nothing outlives the test run. Best effort.
    pub fn shutdown(&self) {
        let _ = Cmd::new("wineserver")
            .arg("-k")
            .envs(&self.vars)
            .succeeds_quietly();
    }
}

pub fn prefix_path(ctx: &Ctx) -> Result<PathBuf, String> {
    match std::env::var_os("WINEPREFIX") {
        Some(p) if !p.is_empty() => std::path::absolute(PathBuf::from(p))
            .map_err(|e| format!("WINEPREFIX is not a usable path: {e}")),
        _ => Ok(ctx.target_dir.join("wine-prefix")),
    }
}

/// Create the prefix (once), build the shim (when shim.c changed) and install it
/// (when the installed copy differs). Fast when everything is already in place.
pub fn setup(ctx: &Ctx) -> Result<WineEnv, String> {
    if cfg!(windows) {
        return Err("wine-setup runs on Linux (use the native tests on Windows)".into());
    }
    crate::setup::ensure_programs(
        &["wine", "wineserver", MINGW_GCC],
        &crate::setup::WINE_PACKAGES,
        "the Windows tests under Wine",
    )?;

    let env = WineEnv::new(prefix_path(ctx)?);
    let started = Instant::now();

    // 1. The prefix.
    let version = Cmd::new("wine")
        .arg("--version")
        .envs(&env.vars)
        .read()?
        .trim()
        .to_string();
    let marker = env.prefix.join(MARKER);
    let ready = std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == version);
    if ready {
        println!("wine: prefix {} ready ({version})", env.prefix.display());
    } else {
        println!(
            "wine: creating prefix {} with {version} (takes ~10-20 s once)",
            env.prefix.display()
        );
        let t = Instant::now();
        std::fs::create_dir_all(&env.prefix)
            .map_err(|e| format!("cannot create {}: {e}", env.prefix.display()))?;
        Cmd::new("wine")
            .args(["wineboot", "--init"])
            .envs(&env.vars)
            .run()?;
        std::fs::write(&marker, format!("{version}\n"))
            .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
        println!("wine: prefix created in {:.1} s", t.elapsed().as_secs_f64());
    }

    // 2. The shim, built into the target dir.
    let src = ctx.root.join("test-support/wine/shim.c");
    let dll = ctx.target_dir.join("wine-shim/bcryptprimitives.dll");
    if is_stale(&dll, &src) {
        std::fs::create_dir_all(dll.parent().unwrap_or(Path::new(".")))
            .map_err(|e| format!("cannot create the shim directory: {e}"))?;
        Cmd::new(MINGW_GCC)
            .args(["-O2", "-shared", "-o"])
            .arg(&dll)
            .arg(&src)
            .args(["-ladvapi32", "-Wl,--kill-at"])
            .run()?;
    }

    // 3. Installed where the loader finds it: a native DLL in system32.
    let installed = env
        .prefix
        .join("drive_c/windows/system32/bcryptprimitives.dll");
    let built = std::fs::read(&dll).map_err(|e| format!("cannot read {}: {e}", dll.display()))?;
    if std::fs::read(&installed).ok().as_deref() != Some(built.as_slice()) {
        std::fs::write(&installed, &built)
            .map_err(|e| format!("cannot install {}: {e}", installed.display()))?;
        println!(
            "wine: installed ProcessPrng shim at {}",
            installed.display()
        );
    } else {
        println!("wine: ProcessPrng shim already installed");
    }
    println!(
        "wine: setup done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(env)
}

/// True when `out` is missing or older than `src`.
fn is_stale(out: &Path, src: &Path) -> bool {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (mtime(out), mtime(src)) {
        (Some(o), Some(s)) => o < s,
        (Some(_), None) => false,
        (None, _) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_when_output_missing() {
        let dir = std::env::temp_dir();
        assert!(is_stale(
            &dir.join("xtask-no-such-file.dll"),
            &dir.join("xtask-no-such-file.c")
        ));
    }

    #[test]
    fn env_is_headless_and_quiet() {
        let env = WineEnv::new(PathBuf::from("/p"));
        let get = |k: &str| {
            env.vars
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("DISPLAY"), Some(None));
        assert_eq!(get("WINEDEBUG"), Some(Some("-all".into())));
        assert_eq!(get("WINEPREFIX"), Some(Some("/p".into())));
    }
}
