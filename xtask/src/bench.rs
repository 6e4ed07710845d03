//! `cargo xtask bench`: The benchmarks (issue 7). Not built yet.

use crate::stages::Ran;
use crate::Ctx;

/// Command-line arguments of `cargo xtask bench`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// `cargo xtask bench`.
pub fn run(_ctx: &Ctx, _args: Args) -> Result<(), String> {
    Err("`cargo xtask bench` is not built yet".into())
}

/// The `bench` stage of `cargo xtask test`.
pub(crate) fn stage(_ctx: &Ctx) -> Result<Ran, String> {
    Ok(Ran::NotPresent("bench stage not present yet"))
}
