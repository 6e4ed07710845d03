//! `cargo xtask matrix`: The fixture matrix (issue 6). Not built yet.

use crate::stages::Ran;
use crate::Ctx;

/// Command-line arguments of `cargo xtask matrix`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// `cargo xtask matrix`.
pub fn run(_ctx: &Ctx, _args: Args) -> Result<(), String> {
    Err("`cargo xtask matrix` is not built yet".into())
}

/// The `matrix` stage of `cargo xtask test`.
pub(crate) fn stage(_ctx: &Ctx) -> Result<Ran, String> {
    Ok(Ran::NotPresent("matrix stage not present yet"))
}
