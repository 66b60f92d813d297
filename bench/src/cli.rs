//! The command line. Its options and their help are the bench's interface
//! (docs/benchmarks.md lists them), so they live together here, apart from
//! the code that acts on them.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::request::Op;

/// Benchmark of guestagent against the floor of the same SQL and AMQP round trip.
#[derive(Debug, Parser)]
#[command(name = "guestagent-bench")]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) sub: Option<Sub>,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Sub {
    /// The AMQP echo server (started by the bench itself).
    #[command(hide = true)]
    EchoServer {
        #[arg(long)]
        url: String,
        #[arg(long)]
        exchange: String,
        #[arg(long)]
        queue: String,
        #[arg(long, default_value_t = 16)]
        prefetch: u16,
    },
    /// How long refusing an undecryptable message takes, by the way it
    /// fails (no broker, no agent process: the codec alone).
    DecryptTiming {
        /// Runs per case.
        #[arg(long, default_value_t = 20_000)]
        iterations: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Method {
    GetUser,
    ListUsers10,
    ListUsers1000,
    ListDatabases,
    CreateDeleteUser,
    GrantAccess,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SoakMethod {
    GetUser,
    GrantAccess,
}

impl SoakMethod {
    pub(crate) fn op(self) -> Op {
        match self {
            SoakMethod::GetUser => Op::GetUser,
            SoakMethod::GrantAccess => Op::Grant,
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RunArgs {
    /// The agent binary (copied into the run's directory before it starts).
    #[arg(long, default_value = "target/release/guestagent")]
    pub(crate) agent: PathBuf,
    /// The broker, for the bench, the echo server and the agent's default.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    pub(crate) url: String,
    /// The control exchange.
    #[arg(long, default_value = "trove")]
    pub(crate) exchange: String,
    /// mysqld's socket.
    #[arg(long, default_value = "/run/mysqld/mysqld.sock")]
    pub(crate) socket: String,
    /// The account the agent and the SQL floor log in as (socket auth).
    #[arg(long, default_value = "root")]
    pub(crate) mysql_user: String,
    /// Requests per phase for get_user, list_users (10) and list_databases;
    /// grant_access gets half, create/delete a quarter, list_users (1000) a tenth.
    #[arg(long, default_value_t = 2000)]
    pub(crate) requests: usize,
    /// Requests in flight, one set of phases each.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    pub(crate) concurrency: Vec<usize>,
    /// Methods to measure (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub(crate) methods: Vec<Method>,
    /// After the table, this many get_user calls sampling the agent's RSS (0: none).
    #[arg(long, default_value_t = 0)]
    pub(crate) soak: usize,
    /// What the soak sends: `get-user` (reads) or `grant-access` (mutations,
    /// each journaled).
    #[arg(long, value_enum, default_value = "get-user")]
    pub(crate) soak_method: SoakMethod,
    /// Requests in flight during the soak.
    #[arg(long, default_value_t = 32)]
    pub(crate) soak_concurrency: usize,
    /// The soak stops after this many seconds even if unfinished.
    #[arg(long, default_value_t = 600)]
    pub(crate) soak_secs: u64,
    /// The agent's `log.level` (its default, `info`, logs one line per command).
    #[arg(long, default_value = "info")]
    pub(crate) log_level: String,
    /// The agent's and the echo server's `prefetch`.
    #[arg(long, default_value_t = 16)]
    pub(crate) prefetch: u16,
    /// Also print the results as Markdown rows for docs/benchmarks.md.
    #[arg(long)]
    pub(crate) markdown: bool,
    /// Keep the run's directory (agent log, journal, config) afterwards.
    #[arg(long)]
    pub(crate) keep: bool,
    /// Extra environment for the agent, `KEY=VALUE` (repeatable), e.g. glibc
    /// malloc tunables to try.
    #[arg(long, value_name = "KEY=VALUE")]
    pub(crate) agent_env: Vec<String>,
    /// Each row runs in this many interleaved rounds of agent, echo and SQL.
    #[arg(long, default_value_t = 4)]
    pub(crate) rounds: usize,
    /// After measuring, keep the agent running this many seconds before
    /// stopping it (to inspect it with gdb, heaptrack, /proc).
    #[arg(long, default_value_t = 0)]
    pub(crate) hold: u64,
    /// Before starting, wait (up to 30 min) for the 1-minute load average
    /// to drop to this: other work on the machine skews every number.
    #[arg(long)]
    pub(crate) wait_load: Option<f64>,
}
