//! The measurements in their order (the agent answering, its idle
//! footprint, the soak, then every method at every level in flight) and the
//! results they print. The order matters: the soak runs first, from a fresh
//! agent, and fixtures for a method exist only while it is measured.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::agent::{Proc, Workdir};
use crate::broker::Route;
use crate::cli::{Method, RunArgs};
use crate::drive::row;
use crate::machine::loadavg;
use crate::report::{self, mib};
use crate::request::{Ctx, Op, Target, install_template, one, revive};
use crate::soak::{print_soak, soak, thin};
use crate::targets::targets;
use crate::{floor, procfs, wire};

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
pub(crate) async fn measure(
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

    // The soak comes first, from a fresh agent, so its RSS samples show
    // the steady state of get_user alone, not what listings left behind.
    let soak_out = if args.soak > 0 {
        eprintln!(
            "soak: {} {}, {} in flight, at most {} s",
            args.soak,
            args.soak_method.op().template(),
            args.soak_concurrency,
            args.soak_secs
        );
        Some(
            soak(
                ctx,
                args.soak_method.op(),
                args.soak,
                args.soak_concurrency,
                Duration::from_secs(args.soak_secs),
            )
            .await,
        )
    } else {
        None
    };

    let n = args.requests.max(10);
    let mut listed = Vec::new();
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
            let (_, body) = one(ctx, Target::Agent, Op::ListUsers, 0).await?;
            let count = listed_count(&body);
            eprintln!("{}: the agent lists {count} users", plan[0].0);
            listed.push((plan[0].0, count));
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
                rows.push(row(ctx, label, op, c, count, first, args.rounds).await);
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
    for (label, count) in &listed {
        println!(
            "{label}: the agent listed {count} users (other accounts on the server count too)"
        );
    }
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
