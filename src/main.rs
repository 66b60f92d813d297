//! The `guestagent` binary: everything lives in the library; this only sets
//! the allocator up and maps the outcome of [`guestagent::cli::run`] to the
//! process exit code.

fn main() -> std::process::ExitCode {
    guestagent::memory::tune();
    guestagent::cli::run()
}
