//! One request to any target: the agent, the AMQP floor (the echo server,
//! with and without transactions) or the SQL floor. Every target's request
//! is built here from the same index, so the agent and its floors always do
//! the same work and cannot drift apart; also the context every worker shares.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::broker::{Client, Route};
use crate::{floor, wire};

/// What every worker shares.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) client: Client,
    pub(crate) agent_q: String,
    pub(crate) echo_q: String,
    pub(crate) conductor_topic: String,
    pub(crate) users10: Vec<String>,
    pub(crate) probe: floor::Probe,
    pub(crate) opts: mysql_async::Opts,
    pub(crate) conns: Vec<tokio::sync::Mutex<mysql_async::Conn>>,
    /// One permit per floor connection: the SQL floor hands connections
    /// out as a pool does (the agent's holds four).
    pub(crate) sql_slots: tokio::sync::Semaphore,
    pub(crate) agent_pid: u32,
    pub(crate) echo_pid: u32,
}

/// Where a phase sends its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Agent,
    Echo,
    EchoTx,
    Sql,
}

/// One kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    GetUser,
    ListUsers,
    ListDatabases,
    CreateUser,
    DeleteUser,
    Grant,
}

impl Op {
    pub(crate) fn template(self) -> &'static str {
        match self {
            Op::GetUser => "get_user",
            Op::ListUsers => "list_users",
            Op::ListDatabases => "list_databases",
            Op::CreateUser => "create_user",
            Op::DeleteUser => "delete_user",
            Op::Grant => "grant_access",
        }
    }

    pub(crate) fn is_cast(self) -> bool {
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
pub(crate) async fn one(
    ctx: &Ctx,
    target: Target,
    op: Op,
    i: usize,
) -> Result<(Duration, Vec<u8>), String> {
    let (method, args, sql) = op.request(ctx, target, i);
    if target == Target::Sql {
        // From the moment the request exists, as for the agent: with more
        // requests in flight than connections, waiting for one is part of
        // the cost (the agent's latency includes the same wait for its pool).
        let t0 = Instant::now();
        let _slot = ctx
            .sql_slots
            .acquire()
            .await
            .map_err(|e| format!("floor pool: {e}"))?;
        let mut conn = ctx
            .conns
            .iter()
            .find_map(|c| c.try_lock().ok())
            .ok_or("floor pool: no free connection")?;
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

/// The agent's reply to one request of `op`, installed as the echo server's
/// template for it (split at the request's key).
pub(crate) async fn install_template(ctx: &Arc<Ctx>, op: Op, i: usize) -> Result<(), String> {
    let (_, body) = one(ctx, Target::Agent, op, i).await?;
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

/// Replaces floor connections that mysqld closed (it may restart under the bench).
pub(crate) async fn revive(ctx: &Ctx) {
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
