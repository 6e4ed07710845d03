//! `cargo xtask soak`: The soak (issue 8). Not built yet.

use crate::stages::Ran;
use crate::Ctx;

/// Command-line arguments of `cargo xtask soak`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// `cargo xtask soak`.
pub fn run(_ctx: &Ctx, _args: Args) -> Result<(), String> {
    Err("`cargo xtask soak` is not built yet".into())
}

/// The `soak` stage of `cargo xtask test`.
pub(crate) fn stage(_ctx: &Ctx) -> Result<Ran, String> {
    Ok(Ran::NotPresent("soak stage not present yet"))
}
