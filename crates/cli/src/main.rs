//! The `prov9` binary: parse arguments, set up logging, run the command.

fn main() -> std::process::ExitCode {
    prov9_cli::main()
}
