//! `completions SHELL`: print a completion script for the shell, generated from the clap
//! definition so that it can never fall behind the real flags.
//!
//! Users type `cargo esp32s3 …`, and cargo's own completion scripts stop at external
//! subcommands (bash and zsh complete file names after `cargo esp32s3`). So the bash and zsh
//! scripts also take over `cargo`'s completion with a small dispatcher: after `cargo esp32s3`
//! they complete our commands and flags; for every other cargo command they hand over to
//! cargo's own completion function, loaded as before. The other shells' scripts complete
//! `cargo-esp32s3 …` (the installed binary) only.

use clap::CommandFactory;
use clap_complete::Shell;

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo esp32s3 completions bash > ~/.local/share/bash-completion/completions/cargo-esp32s3
  cargo esp32s3 completions zsh > ~/.zfunc/_cargo-esp32s3
  cargo esp32s3 completions fish > ~/.config/fish/completions/cargo-esp32s3.fish
  cargo esp32s3 completions powershell >> $PROFILE

bash and zsh: load the script after cargo's own completion (rustup installs that one); it then
completes `cargo esp32s3 <TAB>` and leaves every other cargo command to cargo's completion.
fish, powershell and elvish: the script completes `cargo-esp32s3 <TAB>`.")]
pub struct Args {
    /// The shell: bash, zsh, fish, powershell or elvish
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// The name the generated functions complete.
const BIN: &str = "cargo-esp32s3";

/// Print the script on stdout.
pub fn run(args: Args) -> super::Result<()> {
    super::out::write(&script(args.shell));
    Ok(())
}

/// The whole script for `shell`.
pub fn script(shell: Shell) -> String {
    match shell {
        Shell::Bash => bash_script(),
        Shell::Zsh => generate(shell, BIN) + ZSH_CARGO_DISPATCH,
        _ => generate(shell, BIN),
    }
}

/// clap's script for `shell`, completing `bin_name`.
fn generate(shell: Shell, bin_name: &str) -> String {
    // Usage lines say `cargo esp32s3`; the script's names must not have a space.
    let mut command = super::Cli::command().bin_name(bin_name);
    let mut generated = Vec::new();
    clap_complete::generate(shell, &mut command, bin_name, &mut generated);
    String::from_utf8_lossy(&generated).into_owned()
}

/// bash: clap's script generated for a hyphen-free name (with `cargo-esp32s3`, clap_complete
/// names the subcommands' cases apart from its own dispatch, so flags after a subcommand would
/// never complete), registered for `cargo-esp32s3`, plus the `cargo esp32s3` dispatcher.
fn bash_script() -> String {
    let mut script = String::new();
    for line in generate(Shell::Bash, BASH_NAME).lines() {
        match line.trim_start().strip_prefix("complete -F ") {
            Some(_) => {
                let registered = line.strip_suffix(BASH_NAME).unwrap_or(line);
                script.push_str(registered);
                if registered.len() != line.len() {
                    script.push_str(BIN);
                }
            }
            None => script.push_str(line),
        }
        script.push('\n');
    }
    script + BASH_CARGO_DISPATCH
}

/// The name bash's generated functions are made for.
const BASH_NAME: &str = "esp32s3";

/// bash: `cargo esp32s3 …` completes through the generated `_esp32s3` (which reads COMP_WORDS,
/// here without the leading `cargo`), any other `cargo …` goes to cargo's own `_cargo` when it
/// is loaded.
const BASH_CARGO_DISPATCH: &str = r#"
# `cargo esp32s3 <TAB>`: cargo's own completion does not reach external subcommands, so this
# takes `cargo` over and hands every other cargo command back to cargo's `_cargo`.
_cargo_esp32s3_dispatch() {
    if [[ ${COMP_CWORD} -ge 2 && ${COMP_WORDS[1]} == esp32s3 ]]; then
        local -a COMP_WORDS=("${COMP_WORDS[@]:1}")
        local COMP_CWORD=$((COMP_CWORD - 1))
        local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
        _esp32s3 esp32s3 "$cur" "$prev"
    elif declare -F _cargo >/dev/null; then
        _cargo "$@"
    fi
}
complete -F _cargo_esp32s3_dispatch -o bashdefault -o default cargo
"#;

/// zsh: the same hand-over, through `words`/`CURRENT`.
const ZSH_CARGO_DISPATCH: &str = r#"
# `cargo esp32s3 <TAB>`: cargo's own completion does not reach external subcommands, so this
# takes `cargo` over and hands every other cargo command back to cargo's `_cargo`.
_cargo_esp32s3_dispatch() {
    if (( CURRENT > 2 )) && [[ ${words[2]} == esp32s3 ]]; then
        words=(cargo-esp32s3 "${(@)words[3,-1]}")
        (( CURRENT-- ))
        _cargo-esp32s3 "$@"
    elif (( $+functions[_cargo] )); then
        _cargo "$@"
    fi
}
if (( $+functions[compdef] )); then
    compdef _cargo_esp32s3_dispatch cargo
fi
"#;
