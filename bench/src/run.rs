//! One run from start to end: the fixtures in mysqld, the queues on the
//! broker, the agent and the echo server started, measured, and then torn
//! down whatever happened, so that a failed run leaves as little as
//! possible behind (the next run's cleanup removes the rest).

use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;
use lapin::options::QueueDeclareOptions;

use crate::agent::{self, AgentSpec, Workdir};
use crate::broker::{self, Client};
use crate::cli::{Method, RunArgs};
use crate::machine::{machine, wait_for_quiet};
use crate::measure::measure;
use crate::request::Ctx;
use crate::{floor, wire};

pub(crate) async fn run(args: RunArgs) -> Result<(), String> {
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
        sql_slots: tokio::sync::Semaphore::new(conns.len()),
        conns,
        agent_pid: agent.pid,
        echo_pid: echo.pid,
    });
    let result = measure(&ctx, &args, &methods, &mut agent, &mut echo, &info, &dir).await;
    if args.hold > 0 {
        eprintln!("holding: agent pid {} for {} s", agent.pid, args.hold);
        tokio::time::sleep(Duration::from_secs(args.hold)).await;
    }

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
