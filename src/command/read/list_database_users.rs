//! `list_database_users(page, per_page)`: Cloud66's listing of database
//! users.
//!
//! `{"response": [{"uid", "username", "host", "databases", "user_type",
//! "created_at", "_require", "_max_connections", "_max_queries_per_hour",
//! "_locked", "_password_expire_days", "_auth_plugin"}], "count",
//! "pagination": {"previous", "next", "current", "per_page", "count",
//! "pages"}}`. `uid` is stable for `name@host`;
//! `user_type` is read back from the grants, so it is true for accounts
//! made elsewhere; `created_at` comes from the journal, `null` for accounts
//! the agent did not create.

use serde_json::{Value, json};

use crate::command::{Answer, Args, Env, Method, ParseCx, ParseError, ReadMethod};
use crate::journal::rfc3339;
use crate::model::{AccessLevel, Database, DbResult};

/// Page size when the caller gives none.
const DEFAULT_PER_PAGE: usize = 30;

/// `list_database_users`.
#[derive(Debug)]
pub struct ListDatabaseUsers {
    pub page: usize,
    pub per_page: usize,
}

impl Method for ListDatabaseUsers {
    const NAME: &'static str = "list_database_users";

    fn parse(args: &mut Args, _: &ParseCx<'_>) -> Result<Self, ParseError> {
        Ok(ListDatabaseUsers {
            page: args.opt_count("page")?.unwrap_or(1),
            per_page: args.opt_count("per_page")?.unwrap_or(DEFAULT_PER_PAGE),
        })
    }
}

impl ReadMethod for ListDatabaseUsers {
    const LISTING: bool = true;

    async fn apply<D: Database>(&self, env: Env<'_, D>) -> DbResult<Answer> {
        let (page, per_page) = (self.page, self.per_page);
        let users = env.db.access_levels().await?;
        let total = users.len();
        let pages = total.div_ceil(per_page).max(1);
        let created = env.journal.created_users();
        let response: Vec<Value> = users
            .iter()
            .skip((page - 1).saturating_mul(per_page))
            .take(per_page)
            .map(|(account, view, dbs)| {
                let mut user = serde_json::Map::new();
                user.insert("uid".into(), json!(account.uid()));
                user.insert("username".into(), json!(account.name.as_str()));
                user.insert("host".into(), json!(account.host.as_str()));
                user.insert(
                    "databases".into(),
                    json!(dbs.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>()),
                );
                user.insert(
                    "user_type".into(),
                    json!(AccessLevel::user_type(dbs.iter().map(|(_, l)| *l))),
                );
                user.insert(
                    "created_at".into(),
                    json!(created.get(account).map(|t| rfc3339(*t))),
                );
                view.extend(&mut user);
                Value::Object(user)
            })
            .collect();
        Ok(Answer::Value(json!({
            "response": response,
            "count": total,
            "pagination": {
                "previous": (page > 1).then(|| page - 1),
                "next": (page < pages).then(|| page + 1),
                "current": page,
                "per_page": per_page,
                "count": total,
                "pages": pages,
            },
        })))
    }
}
