//! TODO(owner: loader/sim helper).

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Run the command.
pub fn run(_args: Args) -> crate::Result<()> {
    Ok(())
}
