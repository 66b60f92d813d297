//! The command line: `run`, `check-config`, `--version`.
//!
//! Exit codes are an interface: 0 success, 1 runtime failure, 2 bad
//! configuration (the unit sets `RestartPreventExitStatus=2`, so a broken
//! config does not restart-loop).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError};

/// Exit status for a configuration the agent cannot run with.
pub const EXIT_CONFIG: u8 = 2;
/// Exit status for a failure at run time.
pub const EXIT_RUNTIME: u8 = 1;

/// guestagent: applies Trove's user and database commands to the local mysqld.
#[derive(Debug, Parser)]
#[command(name = "guestagent", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

/// Where the configuration comes from.
#[derive(Debug, clap::Args)]
struct ConfigArgs {
    /// The guestagent TOML file.
    #[arg(long, value_name = "PATH", required_unless_present = "trove_config")]
    config: Option<PathBuf>,
    /// Trove's own guest_info.conf / trove-guestagent.conf, or a directory
    /// holding them; `--config`, if also given, overrides what they set.
    #[arg(long, value_name = "DIR_OR_FILE", num_args = 1..)]
    trove_config: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the agent in the foreground until SIGTERM or SIGINT.
    Run(ConfigArgs),
    /// Validate the configuration and print it with every secret redacted.
    CheckConfig(ConfigArgs),
    /// List recent actions from the journal (no secrets are ever stored).
    Actions(ActionsArgs),
    /// Create (or update) the agent's own mysqld account, authenticated by
    /// the unix socket. Run once as root, e.g. by the package's postinst.
    Bootstrap(BootstrapArgs),
}

/// Which actions to show.
#[derive(Debug, clap::Args)]
struct ActionsArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// How many of the newest actions.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

/// Where bootstrap connects and what it creates.
#[derive(Debug, clap::Args)]
struct BootstrapArgs {
    /// mysqld's unix socket.
    #[arg(long, value_name = "PATH", default_value = crate::config::DEFAULT_MYSQL_SOCKET)]
    socket: String,
    /// The account to create, `<name>@localhost`; the OS user of the same
    /// name logs in as it without a password. Set `mysql.user` to it.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_ADMIN_ACCOUNT)]
    account: String,
}

/// The agent's admin account name made by `bootstrap`, and the OS user the
/// packaged service runs as.
pub const DEFAULT_ADMIN_ACCOUNT: &str = "guestagent";
/// Exit status of `bootstrap` when mysqld cannot be reached (run it later).
pub const EXIT_MYSQL_UNREACHABLE: u8 = 3;

impl ConfigArgs {
    fn load(&self) -> Result<Config, ConfigError> {
        if self.trove_config.is_empty() {
            match &self.config {
                Some(p) => Config::load(p),
                None => Config::load_trove(&[], None),
            }
        } else {
            Config::load_trove(&self.trove_config, self.config.as_deref())
        }
    }
}

/// Runs the command line and returns the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::CheckConfig(args) => match args.load() {
            Ok(cfg) => {
                print!("{}", cfg.render_redacted());
                ExitCode::SUCCESS
            }
            Err(e) => config_error(&e),
        },
        Cmd::Bootstrap(args) => bootstrap(&args),
        Cmd::Actions(args) => actions(&args),
        Cmd::Run(args) => {
            let cfg = match args.load() {
                Ok(c) => c,
                Err(e) => return config_error(&e),
            };
            crate::logging::init(&cfg.log.level);
            run_agent(cfg)
        }
    }
}

fn actions(args: &ActionsArgs) -> ExitCode {
    let cfg = match args.config.load() {
        Ok(c) => c,
        Err(e) => return config_error(&e),
    };
    let list = match crate::journal::Journal::peek(&cfg.state.dir, args.limit) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("guestagent: actions: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    if args.json {
        for a in &list {
            println!("{}", a.public_json());
        }
        return ExitCode::SUCCESS;
    }
    println!(
        "{:>6}  {:<20}  {:<30}  {:<8}  {:<20}  MESSAGE",
        "ID", "CREATED", "ACTION", "STATUS", "RESOURCE"
    );
    for a in &list {
        let status = serde_json::to_value(a.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        println!(
            "{:>6}  {:<20}  {:<30}  {:<8}  {:<20}  {}",
            a.id,
            crate::journal::rfc3339(a.created_at),
            a.action_type.as_str(),
            status,
            a.resource_id.as_deref().unwrap_or("-"),
            a.finished_message.as_deref().unwrap_or("")
        );
    }
    ExitCode::SUCCESS
}

fn bootstrap(args: &BootstrapArgs) -> ExitCode {
    let valid = crate::model::UserName::parse(&args.account);
    if valid.is_err() || args.account == "root" {
        eprintln!(
            "guestagent: bootstrap: {:?} cannot be the agent's account",
            args.account
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("guestagent: bootstrap: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    match runtime.block_on(crate::mysql::bootstrap(&args.socket, &args.account)) {
        Ok(crate::mysql::Bootstrapped::Created) => {
            println!(
                "guestagent: bootstrap: created {}@localhost (unix socket authentication); set [mysql] user = \"{}\"",
                args.account, args.account
            );
            ExitCode::SUCCESS
        }
        Ok(crate::mysql::Bootstrapped::Existing) => {
            println!(
                "guestagent: bootstrap: {}@localhost exists; left as it is (its authentication and privileges are the operator's)",
                args.account
            );
            ExitCode::SUCCESS
        }
        Err(e) if e.is_transient() => {
            eprintln!(
                "guestagent: bootstrap: mysqld is not reachable on {}: {e}\n  start mysqld, then run: guestagent bootstrap --socket {} --account {}",
                args.socket, args.socket, args.account
            );
            ExitCode::from(EXIT_MYSQL_UNREACHABLE)
        }
        Err(e) => {
            eprintln!("guestagent: bootstrap: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn config_error(e: &ConfigError) -> ExitCode {
    eprintln!("guestagent: configuration error: {e}");
    ExitCode::from(EXIT_CONFIG)
}

fn run_agent(cfg: Config) -> ExitCode {
    // A core dump (outside the unit's LimitCORE=0: a debugger, an operator's
    // ulimit) would hold the broker password, the RPC key and passwords in
    // flight; not dumpable also keeps other processes of the same user out
    // of /proc/<pid>/mem.
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!(error = %e, "cannot mark the process not dumpable");
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        guest_id = %cfg.guest_id,
        broker = %cfg.amqp_url_redacted(),
        socket = %cfg.mysql.socket.display(),
        "starting"
    );
    runtime.block_on(async move {
        let shutdown = match crate::shutdown::install() {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot install signal handlers");
                return ExitCode::from(EXIT_RUNTIME);
            }
        };
        match crate::agent::run(cfg, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "agent stopped");
                ExitCode::from(EXIT_RUNTIME)
            }
        }
    })
}
