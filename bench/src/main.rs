//! guestagent-bench: what the agent costs, against the floor, in one run.
//!
//! One command starts a copy of `target/release/guestagent` with its own
//! configuration (a unique guest id, a unique conductor topic the bench
//! consumes as a stand-in conductor, a temporary state directory), starts
//! an AMQP echo server (this program, `echo-server`), and for each method
//! and each number of requests in flight measures:
//!
//! * the agent: Trove-shaped calls (reply on the bench's reply queue) and
//!   casts (confirmed by `notify_end` on the stand-in conductor queue);
//! * the floor: the same request bytes through the echo server, answered with
//!   the agent's own reply bytes, and the same SQL on direct connections;
//! * the agent's CPU (utime+stime) per request and its RSS from /proc.
//!
//! `--soak N` adds N get_user calls sampling RSS. See docs/benchmarks.md.

mod agent;
mod broker;
mod cli;
mod decrypt;
mod drive;
mod echo;
mod floor;
mod machine;
mod measure;
mod procfs;
mod report;
mod request;
mod run;
mod soak;
mod targets;
mod wire;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Sub};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("guestagent-bench: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.sub {
        Some(Sub::EchoServer {
            url,
            exchange,
            queue,
            prefetch,
        }) => rt.block_on(echo::serve(&url, &exchange, &queue, prefetch)),
        Some(Sub::DecryptTiming { iterations }) => decrypt::run(iterations),
        None => rt.block_on(run::run(cli.run)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("guestagent-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
