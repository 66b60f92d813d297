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
mod echo;
mod floor;
mod procfs;
mod report;
mod wire;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use lapin::options::QueueDeclareOptions;
use serde_json::{Value, json};

use agent::{AgentSpec, Proc, Workdir};
use broker::{Client, Route};
use report::{Lat, Row, mib, ms};

/// Benchmark of guestagent against the floor of the same SQL and AMQP round trip.
#[derive(Debug, Parser)]
#[command(name = "guestagent-bench")]
struct Cli {
    #[command(subcommand)]
    sub: Option<Sub>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Sub {
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Method {
    GetUser,
    ListUsers10,
    ListUsers1000,
    ListDatabases,
    CreateDeleteUser,
    GrantAccess,
}

#[derive(Debug, Clone, clap::Args)]
struct RunArgs {
    /// The agent binary (copied into the run's directory before it starts).
    #[arg(long, default_value = "target/release/guestagent")]
    agent: PathBuf,
    /// The broker, for the bench, the echo server and the agent's default.
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    url: String,
    /// The control exchange.
    #[arg(long, default_value = "trove")]
    exchange: String,
    /// mysqld's socket.
    #[arg(long, default_value = "/run/mysqld/mysqld.sock")]
    socket: String,
    /// The account the agent and the SQL floor log in as (socket auth).
    #[arg(long, default_value = "root")]
    mysql_user: String,
    /// Requests per phase for get_user, list_users (10) and list_databases;
    /// grant_access gets half, create/delete a quarter, list_users (1000) a tenth.
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Requests in flight, one set of phases each.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    concurrency: Vec<usize>,
    /// Methods to measure (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    methods: Vec<Method>,
    /// After the table, this many get_user calls sampling the agent's RSS (0: none).
    #[arg(long, default_value_t = 0)]
    soak: usize,
    /// Requests in flight during the soak.
    #[arg(long, default_value_t = 32)]
    soak_concurrency: usize,
    /// The soak stops after this many seconds even if unfinished.
    #[arg(long, default_value_t = 600)]
    soak_secs: u64,
    /// The agent's `log.level` (its default, `info`, logs one line per command).
    #[arg(long, default_value = "info")]
    log_level: String,
    /// The agent's and the echo server's `prefetch`.
    #[arg(long, default_value_t = 16)]
    prefetch: u16,
    /// Also print the results as Markdown rows for docs/benchmarks.md.
    #[arg(long)]
    markdown: bool,
    /// Keep the run's directory (agent log, journal, config) afterwards.
    #[arg(long)]
    keep: bool,
    /// Extra environment for the agent, `KEY=VALUE` (repeatable), e.g. glibc
    /// malloc tunables to try.
    #[arg(long, value_name = "KEY=VALUE")]
    agent_env: Vec<String>,
    /// Before starting, wait (up to 30 min) for the 1-minute load average
    /// to drop to this: other work on the machine skews every number.
    #[arg(long)]
    wait_load: Option<f64>,
}

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
        None => rt.block_on(run(cli.run)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("guestagent-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What every worker shares.
#[derive(Debug)]
struct Ctx {
    client: Client,
    agent_q: String,
    echo_q: String,
    conductor_topic: String,
    users10: Vec<String>,
    probe: floor::Probe,
    opts: mysql_async::Opts,
    conns: Vec<tokio::sync::Mutex<mysql_async::Conn>>,
    agent_pid: u32,
    echo_pid: u32,
}

/// Where a phase sends its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Agent,
    Echo,
    EchoTx,
    Sql,
}

/// One kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    GetUser,
    ListUsers,
    ListDatabases,
    CreateUser,
    DeleteUser,
    Grant,
}

impl Op {
    fn template(self) -> &'static str {
        match self {
            Op::GetUser => "get_user",
            Op::ListUsers => "list_users",
            Op::ListDatabases => "list_databases",
            Op::CreateUser => "create_user",
            Op::DeleteUser => "delete_user",
            Op::Grant => "grant_access",
        }
    }

    fn is_cast(self) -> bool {
        matches!(self, Op::CreateUser | Op::DeleteUser)
    }

    /// The i-th request: (method, args) for the wire, and the same work as SQL.
    /// Users made by casts are named per target so the agent's and the
    /// floor's never meet.
    fn request(self, ctx: &Ctx, target: Target, i: usize) -> (&'static str, Value, floor::Sql) {
        let user = || ctx.users10[i % ctx.users10.len()].clone();
        let made = format!(
            "{}{}{i:06}",
            floor::PREFIX,
            if target == Target::Sql { 's' } else { 'a' }
        );
        let page = json!({"limit": null, "marker": null, "include_marker": false});
        match self {
            Op::GetUser => {
                let u = user();
                (
                    "get_user",
                    json!({"username": u, "hostname": "%"}),
                    floor::Sql::GetUser(u),
                )
            }
            Op::ListUsers => ("list_users", page, floor::Sql::ListUsers),
            Op::ListDatabases => ("list_databases", page, floor::Sql::ListDatabases),
            Op::CreateUser => {
                let pw = format!("bench-pw-{i}");
                (
                    "create_user",
                    json!({"users": [{"_name": made, "_host": "%", "_password": pw,
                        "_databases": [{"_name": floor::DB, "_character_set": null, "_collate": null}]}]}),
                    floor::Sql::CreateUser(made, pw),
                )
            }
            Op::DeleteUser => (
                "delete_user",
                json!({"user": {"_name": made, "_host": "%", "_password": null,
                    "_databases": [], "_is_root": false}}),
                floor::Sql::DeleteUser(made),
            ),
            Op::Grant => {
                let u = user();
                (
                    "grant_access",
                    json!({"username": u, "hostname": "%", "databases": [floor::DB]}),
                    floor::Sql::Grant(u),
                )
            }
        }
    }
}

const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Sends one request to `target` and waits for its answer. Returns the
/// latency and the answer's body.
async fn one(
    ctx: &Ctx,
    target: Target,
    op: Op,
    i: usize,
    lane: usize,
) -> Result<(Duration, Vec<u8>), String> {
    let (method, args, sql) = op.request(ctx, target, i);
    if target == Target::Sql {
        let mut conn = ctx.conns[lane % ctx.conns.len()].lock().await;
        let t0 = Instant::now();
        return match floor::run(&mut conn, &ctx.probe, &sql).await {
            Ok(_) => Ok((t0.elapsed(), Vec::new())),
            Err(e) => {
                // mysqld may have restarted under the bench: count the error
                // and carry on with a fresh connection.
                if let Ok(fresh) = floor::connect(&ctx.opts).await {
                    *conn = fresh;
                }
                Err(e)
            }
        };
    }
    let key = wire::new_id();
    let (body, reply_to) = if op.is_cast() {
        (
            wire::request(method, args, wire::Kind::Cast, &key),
            (ctx.client.exchange.as_str(), ctx.conductor_topic.as_str()),
        )
    } else {
        let kind = wire::Kind::Call {
            msg_id: &key,
            reply_q: &ctx.client.reply_q,
        };
        (
            wire::request(method, args, kind, &format!("req-{key}")),
            ("", ctx.client.reply_q.as_str()),
        )
    };
    let route = match target {
        Target::Agent => Route {
            routing_key: ctx.agent_q.clone(),
            template: None,
        },
        Target::Echo | Target::EchoTx => Route {
            routing_key: if target == Target::Echo {
                ctx.echo_q.clone()
            } else {
                format!("{}-tx", ctx.echo_q)
            },
            template: Some(op.template().to_owned()),
        },
        Target::Sql => unreachable!("handled above"),
    };
    let t0 = Instant::now();
    let reply = ctx
        .client
        .request(&route, &key, &body, reply_to, CALL_TIMEOUT)
        .await?;
    if let Some(f) = reply.failure {
        return Err(f);
    }
    Ok((reply.at.duration_since(t0), reply.body))
}

/// Runs `n` requests of `op` against `target` with `c` in flight.
async fn drive(ctx: &Arc<Ctx>, target: Target, op: Op, c: usize, n: usize, first: usize) -> Lat {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(c);
    for lane in 0..c.max(1) {
        let ctx = ctx.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            let mut first_error = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                match one(&ctx, target, op, first + i, lane).await {
                    Ok((d, _)) => lat.push(d),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (lat, errors, first_error)
        }));
    }
    let mut all = Vec::with_capacity(n);
    let mut errors = 0;
    let mut first_error = None;
    for t in tasks {
        match t.await {
            Ok((l, e, f)) => {
                all.extend(l);
                errors += e;
                if first_error.is_none() {
                    first_error = f;
                }
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    Lat::new(all, errors, first_error, started.elapsed())
}

/// A phase with the CPU and peak memory of the process behind `target`.
async fn measured(
    ctx: &Arc<Ctx>,
    target: Target,
    op: Op,
    c: usize,
    n: usize,
    first: usize,
) -> (Lat, f64, u64) {
    let pid = match target {
        Target::Agent => Some(ctx.agent_pid),
        Target::Echo | Target::EchoTx => Some(ctx.echo_pid),
        Target::Sql => None,
    };
    if let Some(p) = pid {
        procfs::reset_peak(p);
    }
    let before = pid.map(procfs::snapshot).unwrap_or_default();
    let lat = drive(ctx, target, op, c, n, first).await;
    let after = pid.map(procfs::snapshot).unwrap_or_default();
    let answered = (lat.n + lat.errors).max(1) as f64;
    let cpu = (after.ticks.saturating_sub(before.ticks)) as f64 * procfs::TICK_MS / answered;
    (lat, cpu, after.hwm_kib)
}

/// The agent's reply to one request of `op`, installed as the echo server's
/// template for it (split at the request's key).
async fn install_template(ctx: &Arc<Ctx>, op: Op, i: usize) -> Result<(), String> {
    let (_, body) = one(ctx, Target::Agent, op, i, 0).await?;
    // The answer names its request by `_msg_id` (calls) or request id
    // (casts); find it again to split on.
    let answer = wire::parse_answer(&body).ok_or("unreadable agent answer")?;
    for q in [ctx.echo_q.clone(), format!("{}-tx", ctx.echo_q)] {
        ctx.client
            .install_template(&q, op.template(), &body, &answer.key)
            .await?;
    }
    Ok(())
}

/// All phases of one row.
async fn row(ctx: &Arc<Ctx>, label: &str, op: Op, c: usize, n: usize, first: usize) -> Row {
    if !op.is_cast() {
        // Wake the agent's pool (idle connections close after 60 s) and the
        // broker's queues; not recorded.
        let warm = n.min(20);
        drive(ctx, Target::Agent, op, c, warm, 0).await;
        drive(ctx, Target::Echo, op, c, warm, 0).await;
    }
    let (agent, agent_cpu_ms, agent_peak_kib) = measured(ctx, Target::Agent, op, c, n, first).await;
    let (echo, echo_cpu_ms, _) = measured(ctx, Target::Echo, op, c, n, first).await;
    let (echo_tx, echo_tx_cpu_ms, _) = measured(ctx, Target::EchoTx, op, c, n, first).await;
    revive(ctx).await;
    let sql = drive(ctx, Target::Sql, op, c, n, first).await;
    eprintln!(
        "  {label:<20} c={c:<3} agent p50 {} ms, floor {} ms (echo {} + sql {}), {:.0} req/s, cpu {:.3} ms/req",
        ms(agent.p50),
        ms(echo.p50 + sql.p50),
        ms(echo.p50),
        ms(sql.p50),
        agent.rps(),
        agent_cpu_ms
    );
    Row {
        method: label.to_owned(),
        concurrency: c,
        agent,
        echo,
        echo_tx,
        sql,
        agent_cpu_ms,
        echo_cpu_ms,
        echo_tx_cpu_ms,
        agent_peak_kib,
    }
}

/// Replaces floor connections that mysqld closed (it may restart under the bench).
async fn revive(ctx: &Ctx) {
    use mysql_async::prelude::Queryable;
    for c in &ctx.conns {
        let mut conn = c.lock().await;
        if conn.ping().await.is_err()
            && let Ok(fresh) = floor::connect(&ctx.opts).await
        {
            *conn = fresh;
        }
    }
}

/// The soak: RSS samples (requests done, seconds, KiB) and the latencies.
#[derive(Debug, Default)]
struct Soak {
    samples: Vec<(usize, f64, u64)>,
    lat: Lat,
    cpu_ms: f64,
    hwm_kib: u64,
}

async fn soak(ctx: &Arc<Ctx>, total: usize, c: usize, max: Duration) -> Soak {
    let done = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + max;
    let pid = ctx.agent_pid;
    procfs::reset_peak(pid);
    let before = procfs::snapshot(pid);
    let started = Instant::now();
    let sampler = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let d = done.load(Ordering::Relaxed);
                let rss = procfs::status(pid, "VmRSS").unwrap_or(0);
                samples.push((d, started.elapsed().as_secs_f64(), rss));
                if d >= total || Instant::now() >= deadline {
                    return samples;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for lane in 0..c.max(1) {
        let (ctx, done, next) = (ctx.clone(), done.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors, mut first_error) = (Vec::new(), 0usize, None);
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                match one(&ctx, Target::Agent, Op::GetUser, i, lane).await {
                    Ok((d, _)) => lat.push(d),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            (lat, errors, first_error)
        }));
    }
    let (mut all, mut errors, mut first_error) = (Vec::new(), 0, None);
    for t in tasks {
        if let Ok((l, e, f)) = t.await {
            all.extend(l);
            errors += e;
            if first_error.is_none() {
                first_error = f;
            }
        }
    }
    let wall = started.elapsed();
    // The sampler stops on its own once everything is done.
    let mut samples = sampler.await.unwrap_or_default();
    samples.push((
        done.load(Ordering::Relaxed),
        wall.as_secs_f64(),
        procfs::status(pid, "VmRSS").unwrap_or(0),
    ));
    let after = procfs::snapshot(pid);
    let answered = done.load(Ordering::Relaxed).max(1) as f64;
    Soak {
        samples,
        lat: Lat::new(all, errors, first_error, wall),
        cpu_ms: after.ticks.saturating_sub(before.ticks) as f64 * procfs::TICK_MS / answered,
        hwm_kib: after.hwm_kib,
    }
}

fn sh(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn machine(probe: &floor::Probe) -> Vec<(String, String)> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|x| x.1.trim().to_owned())
            })
        })
        .unwrap_or_default();
    let total_mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_owned()))
        })
        .unwrap_or_default();
    let rabbit = sh("rabbitmqctl", &["-q", "version"]).unwrap_or_else(|| "unknown".into());
    vec![
        (
            "date (UTC)".into(),
            guestagent::journal::action::now_rfc3339(),
        ),
        (
            "cores (nproc)".into(),
            std::thread::available_parallelism()
                .map(|n| n.to_string())
                .unwrap_or_default(),
        ),
        ("CPU".into(), cpu),
        ("memory".into(), total_mem),
        (
            "kernel".into(),
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
        ),
        ("MariaDB".into(), probe.version.clone()),
        ("RabbitMQ".into(), rabbit),
        (
            "agent commit".into(),
            sh("git", &["describe", "--always", "--dirty"]).unwrap_or_else(|| "unknown".into()),
        ),
        ("load average before".into(), loadavg()),
    ]
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Waits (at most 30 minutes) until the 1-minute load average is at most `max`.
async fn wait_for_quiet(max: f64) {
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let one: f64 = loadavg()
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if one <= max || Instant::now() >= deadline {
            return;
        }
        eprintln!("load average {one:.2} > {max}: waiting");
        tokio::time::sleep(Duration::from_secs(15)).await;
    }
}

async fn run(args: RunArgs) -> Result<(), String> {
    if !args.agent.exists() {
        return Err(format!(
            "{} not found: build it first (cargo build --release)",
            args.agent.display()
        ));
    }
    let methods: Vec<Method> = if args.methods.is_empty() {
        Method::value_variants().to_vec()
    } else {
        args.methods.clone()
    };
    if let Some(max) = args.wait_load {
        wait_for_quiet(max).await;
    }
    let tag = wire::short_tag();
    let dir = Workdir::create(&tag, args.keep)?;
    eprintln!("run {tag}: files in {}", dir.path.display());

    // mysqld: fixtures and the floor's connections.
    let opts = floor::opts(&args.socket, &args.mysql_user);
    let mut admin = floor::connect(&opts).await?;
    let probe = floor::probe(&mut admin).await?;
    let left = floor::cleanup(&mut admin).await?;
    if left > 0 {
        eprintln!("removed {left} accounts left by an earlier run");
    }
    floor::create_db(&mut admin).await?;
    let users10: Vec<String> = (0..10)
        .map(|i| format!("{}u{i:03}", floor::PREFIX))
        .collect();
    floor::create_users(&mut admin, &users10).await?;
    let max_c = args.concurrency.iter().copied().max().unwrap_or(1);
    let mut conns = Vec::new();
    for _ in 0..max_c.clamp(1, 4) {
        conns.push(tokio::sync::Mutex::new(floor::connect(&opts).await?));
    }
    let info = machine(&probe);

    // The broker: the bench's client, the agent's queues declared as the
    // taskmanager would, the echo server's.
    let spec = AgentSpec {
        guest_id: format!("bench-{tag}"),
        conductor_topic: format!("bench-conductor-{tag}"),
        log_level: args.log_level.clone(),
        prefetch: args.prefetch,
        socket: args.socket.clone(),
        env: args
            .agent_env
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    };
    let client = Client::connect(&args.url, &args.exchange, &spec.conductor_topic).await?;
    let shared = QueueDeclareOptions {
        durable: false,
        auto_delete: false,
        exclusive: false,
        ..Default::default()
    };
    for q in spec.queues() {
        broker::declare_bound(client.channel(), &args.exchange, &q, shared).await?;
    }
    let echo_q = format!("bench-echo-{tag}");
    let auto = QueueDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    for q in [echo_q.clone(), format!("{echo_q}-tx")] {
        broker::declare_bound(client.channel(), &args.exchange, &q, auto).await?;
    }

    let mut agent = agent::start_agent(&args.agent, &dir, &spec)?;
    let mut echo = agent::start_echo(&dir, &args.url, &args.exchange, &echo_q)?;
    let ctx = Arc::new(Ctx {
        client,
        agent_q: spec.queues()[0].clone(),
        echo_q,
        conductor_topic: spec.conductor_topic.clone(),
        users10,
        probe: probe.clone(),
        opts: opts.clone(),
        conns,
        agent_pid: agent.pid,
        echo_pid: echo.pid,
    });
    let result = measure(&ctx, &args, &methods, &mut agent, &mut echo, &info, &dir).await;

    // Tear down whatever happened.
    let status = agent.stop(Duration::from_secs(35));
    echo.stop(Duration::from_secs(5));
    eprintln!("agent stopped: {status}");
    for q in spec.queues() {
        ctx.client.delete_queue(&q).await;
    }
    for q in [ctx.echo_q.clone(), format!("{}-tx", ctx.echo_q)] {
        ctx.client.delete_queue(&q).await;
    }
    let _ = admin.disconnect().await;
    match floor::connect(&opts).await {
        Ok(mut conn) => {
            match floor::cleanup(&mut conn).await {
                Ok(n) => eprintln!("removed {n} bench accounts and {}", floor::DB),
                Err(e) => eprintln!("cleanup failed ({e}); the next run removes what is left"),
            }
            let _ = conn.disconnect().await;
        }
        Err(e) => eprintln!("cleanup skipped ({e}); the next run removes what is left"),
    }
    if let Ok(ctx) = Arc::try_unwrap(ctx) {
        for c in ctx.conns {
            let _ = c.into_inner().disconnect().await;
        }
        ctx.client.close().await;
    }
    result
}

async fn wait_ready(ctx: &Arc<Ctx>, agent: &mut Proc, dir: &Workdir) -> Result<Duration, String> {
    let started = Instant::now();
    let route = Route {
        routing_key: ctx.agent_q.clone(),
        template: None,
    };
    while started.elapsed() < Duration::from_secs(60) {
        if !agent.alive() {
            let log = std::fs::read_to_string(dir.path.join("agent.log")).unwrap_or_default();
            return Err(format!("the agent exited:\n{log}"));
        }
        let key = wire::new_id();
        let body = wire::request(
            "rpc_ping",
            json!({}),
            wire::Kind::Call {
                msg_id: &key,
                reply_q: &ctx.client.reply_q,
            },
            &key,
        );
        let reply = ctx
            .client
            .request(
                &route,
                &key,
                &body,
                ("", &ctx.client.reply_q),
                Duration::from_millis(500),
            )
            .await;
        if reply.is_ok() {
            return Ok(started.elapsed());
        }
    }
    Err("the agent did not answer rpc_ping within 60 s".into())
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    ctx: &Arc<Ctx>,
    args: &RunArgs,
    methods: &[Method],
    agent: &mut Proc,
    echo: &mut Proc,
    info: &[(String, String)],
    dir: &Workdir,
) -> Result<(), String> {
    let ready = wait_ready(ctx, agent, dir).await?;
    // Settle, then read the idle footprint.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = procfs::snapshot(ctx.agent_pid);
    eprintln!(
        "agent ready after {} ms; idle RSS {} MiB (anon {}, file {}), {} threads",
        ready.as_millis(),
        mib(idle.rss_kib),
        mib(idle.anon_kib),
        mib(idle.file_kib),
        idle.threads
    );
    let _ = echo;

    let n = args.requests.max(10);
    let mut rows = Vec::new();
    let mut base = 0usize;
    for &m in methods {
        let plan: Vec<(&str, Op, usize)> = match m {
            Method::GetUser => vec![("get_user", Op::GetUser, n)],
            Method::ListUsers10 => vec![("list_users (10)", Op::ListUsers, n)],
            Method::ListDatabases => vec![("list_databases", Op::ListDatabases, n)],
            Method::ListUsers1000 => vec![("list_users (1000)", Op::ListUsers, (n / 10).max(20))],
            Method::CreateDeleteUser => vec![
                ("create_user (cast)", Op::CreateUser, (n / 4).max(10)),
                ("delete_user (cast)", Op::DeleteUser, (n / 4).max(10)),
            ],
            Method::GrantAccess => vec![("grant_access", Op::Grant, (n / 2).max(10))],
        };
        let mut many = Vec::new();
        if m == Method::ListUsers1000 {
            // 990 more users, each granted on the bench schema, for 1,000.
            revive(ctx).await;
            let mut conn = ctx.conns[0].lock().await;
            many = (0..990)
                .map(|i| format!("{}l{i:04}", floor::PREFIX))
                .collect::<Vec<_>>();
            floor::create_users(&mut conn, &many).await?;
        }
        if m == Method::ListUsers10 || m == Method::ListUsers1000 {
            let (_, body) = one(ctx, Target::Agent, Op::ListUsers, 0, 0).await?;
            let listed = listed_count(&body);
            eprintln!("{}: the agent lists {listed} users", plan[0].0);
        }
        for &c in &args.concurrency {
            for &(label, op, count) in &plan {
                // A template from the agent's own answer for this method.
                if op == Op::CreateUser {
                    // Templates for both casts, from one extra pair.
                    install_template(ctx, Op::CreateUser, 999_000 + base).await?;
                    install_template(ctx, Op::DeleteUser, 999_000 + base).await?;
                } else if op != Op::DeleteUser {
                    install_template(ctx, op, base).await?;
                }
                let first = if op.is_cast() { base } else { 0 };
                rows.push(row(ctx, label, op, c, count, first).await);
                if !ctx.client.connected() {
                    return Err("the broker connection broke during the run \
                         (was RabbitMQ restarted by something else?); nothing measured after it counts"
                        .into());
                }
                if !agent.alive() {
                    return Err(format!(
                        "the agent exited during the run; see {}",
                        dir.path.join("agent.log").display()
                    ));
                }
            }
            base += 100_000;
        }
        if !many.is_empty() {
            revive(ctx).await;
            let mut conn = ctx.conns[0].lock().await;
            floor::drop_users(&mut conn, &many).await?;
        }
    }

    let soak_out = if args.soak > 0 {
        eprintln!(
            "soak: {} get_user, {} in flight, at most {} s",
            args.soak, args.soak_concurrency, args.soak_secs
        );
        Some(
            soak(
                ctx,
                args.soak,
                args.soak_concurrency,
                Duration::from_secs(args.soak_secs),
            )
            .await,
        )
    } else {
        None
    };

    tokio::time::sleep(Duration::from_secs(3)).await;
    let end = procfs::snapshot(ctx.agent_pid);
    let peak = rows
        .iter()
        .map(|r| r.agent_peak_kib)
        .chain(soak_out.as_ref().map(|s| s.hwm_kib))
        .max()
        .unwrap_or(0);

    println!();
    for (k, v) in info {
        println!("{k:<20} {v}");
    }
    println!(
        "{:<20} frame_max 8192 (agent default), prefetch {}, mysql pool 0..4, current_thread runtime, log level {}{}",
        "agent settings",
        args.prefetch,
        args.log_level,
        if args.agent_env.is_empty() {
            String::new()
        } else {
            format!(", env {}", args.agent_env.join(" "))
        }
    );
    println!();
    report::print_text(&rows);
    println!();
    println!(
        "agent RSS: idle {} MiB (anon {} + file {}; {} threads); peak under load {} MiB; \
         idle after the run {} MiB (anon {} + file {}; {} threads)",
        mib(idle.rss_kib),
        mib(idle.anon_kib),
        mib(idle.file_kib),
        idle.threads,
        mib(peak),
        mib(end.rss_kib),
        mib(end.anon_kib),
        mib(end.file_kib),
        end.threads
    );
    println!("load average after: {}", loadavg());
    if let Some(s) = &soak_out {
        print_soak(s);
    }
    targets(&rows, &idle, peak, soak_out.as_ref());
    if args.markdown {
        println!();
        println!("--- markdown ---");
        println!();
        for (k, v) in info {
            println!("| {k} | {v} |");
        }
        println!();
        report::print_markdown(&rows);
        println!();
        println!("| agent RSS | idle | peak under load | idle after the run |");
        println!("| --- | ---: | ---: | ---: |");
        println!(
            "| VmRSS MiB (anon + file) | {} ({} + {}) | {} | {} ({} + {}) |",
            mib(idle.rss_kib),
            mib(idle.anon_kib),
            mib(idle.file_kib),
            mib(peak),
            mib(end.rss_kib),
            mib(end.anon_kib),
            mib(end.file_kib)
        );
        if let Some(s) = &soak_out {
            println!();
            println!("| requests done | seconds | agent VmRSS MiB |");
            println!("| ---: | ---: | ---: |");
            for (d, t, k) in thin(&s.samples, 12) {
                println!("| {d} | {t:.0} | {} |", mib(k));
            }
        }
    }
    Ok(())
}

fn listed_count(body: &[u8]) -> usize {
    let outer: Option<Value> = serde_json::from_slice(body).ok();
    outer
        .as_ref()
        .and_then(|o| o.get("oslo.message")?.as_str())
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|v| {
            v.pointer("/result/0")
                .and_then(Value::as_array)
                .map(Vec::len)
        })
        .unwrap_or(0)
}

/// At most `k` samples, evenly spaced, first and last included.
fn thin(s: &[(usize, f64, u64)], k: usize) -> Vec<(usize, f64, u64)> {
    if s.len() <= k {
        return s.to_vec();
    }
    (0..k).map(|j| s[j * (s.len() - 1) / (k - 1)]).collect()
}

fn print_soak(s: &Soak) {
    println!();
    println!(
        "soak: {} get_user in {:.0} s ({:.0}/s), {} errors, p50 {} ms, p99 {} ms, max {} ms, cpu {:.3} ms/req, peak {} MiB",
        s.lat.n,
        s.lat.wall.as_secs_f64(),
        s.lat.rps(),
        s.lat.errors,
        ms(s.lat.p50),
        ms(s.lat.p99),
        ms(s.lat.max),
        s.cpu_ms,
        mib(s.hwm_kib)
    );
    for (d, t, k) in thin(&s.samples, 12) {
        println!("  {d:>8} requests  {t:>6.0} s  RSS {} MiB", mib(k));
    }
    if let Some(e) = &s.lat.first_error {
        println!("  first error: {e}");
    }
}

/// Issue 9's targets, checked against this run.
fn targets(rows: &[Row], idle: &procfs::Snapshot, peak: u64, soak: Option<&Soak>) {
    println!();
    println!("targets (issue 9):");
    let check = |ok: bool| if ok { "ok  " } else { "MISS" };
    let find = |m: &str, c: usize| rows.iter().find(|r| r.method == m && r.concurrency == c);
    if let Some(r) = find("get_user", 1) {
        println!(
            "  {} get_user p50 {} ms = {:.2}x floor {} ms (target <= 1.3x)",
            check(r.ratio() <= 1.3),
            ms(r.agent.p50),
            r.ratio(),
            ms(r.floor())
        );
    }
    let gets: Vec<&Row> = rows.iter().filter(|r| r.method == "get_user").collect();
    if let Some(worst) = gets.iter().map(|r| r.agent_cpu_ms).reduce(f64::max) {
        println!(
            "  {} CPU per get_user {:.3} ms (worst in-flight level; target <= 0.3 ms)",
            check(worst <= 0.3),
            worst
        );
    }
    let lists: Vec<&Row> = rows
        .iter()
        .filter(|r| r.method == "list_users (1000)")
        .collect();
    if let Some(worst) = lists.iter().map(|r| r.agent_cpu_ms).reduce(f64::max) {
        println!(
            "  {} CPU per list_users(1000) {:.3} ms (target <= 5 ms)",
            check(worst <= 5.0),
            worst
        );
    }
    println!(
        "  {} RSS idle {} MiB (target <= 8 MiB)",
        check(idle.rss_kib <= 8 * 1024),
        mib(idle.rss_kib)
    );
    println!(
        "  {} RSS peak under load {} MiB (target <= 12 MiB)",
        check(peak <= 12 * 1024),
        mib(peak)
    );
    if let Some(s) = soak {
        let tenth = s
            .samples
            .iter()
            .find(|x| x.0 >= s.lat.n / 10)
            .map_or(0, |x| x.2);
        let last = s.samples.last().map_or(0, |x| x.2);
        println!(
            "  {} RSS growth over the soak: {} MiB at 10% -> {} MiB at the end ({} requests, {} errors)",
            check(last <= tenth + 256 && s.lat.errors == 0),
            mib(tenth),
            mib(last),
            s.lat.n + s.lat.errors,
            s.lat.errors
        );
    }
    if let Some(r) = find("get_user", 32) {
        println!(
            "  {} get_user with 32 in flight: {:.0}/s, {} errors (target >= 1000/s, none)",
            check(r.agent.rps() >= 1000.0 && r.agent.errors == 0),
            r.agent.rps(),
            r.agent.errors
        );
    }
}
