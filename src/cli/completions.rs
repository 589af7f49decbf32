//! `completions SHELL`: print a completion script for the shell, generated from the clap
//! definition so that it can never fall behind the real flags.

use clap::CommandFactory;
use clap_complete::Shell;

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 completions bash > ~/.local/share/bash-completion/completions/cargo-esp32s3
  cargo esp32s3 completions zsh > ~/.zfunc/_cargo-esp32s3
  cargo esp32s3 completions fish > ~/.config/fish/completions/cargo-esp32s3.fish
  cargo esp32s3 completions powershell >> $PROFILE")]
pub struct Args {
    /// The shell: bash, zsh, fish, powershell or elvish
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// Print the script on stdout.
pub fn run(args: Args) -> super::Result<()> {
    let mut command = super::Cli::command();
    // The script completes the binary as installed; `cargo esp32s3` completion comes from
    // cargo's own script, which delegates to `cargo-esp32s3`.
    clap_complete::generate(
        args.shell,
        &mut command,
        "cargo-esp32s3",
        &mut std::io::stdout(),
    );
    Ok(())
}
