//! The `guestagent` binary: everything lives in the library; this only maps
//! the outcome of [`guestagent::cli::run`] to the process exit code.

fn main() -> std::process::ExitCode {
    guestagent::cli::run()
}
