//! Cloud66's database-user view: stable user ids, user types read back from
//! the grants, and its paginated listing shape.

use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use super::Env;
use super::db::Database;
use super::names::Account;
use crate::mysql::MysqlError;
use crate::mysql::access::Level;

/// Page size when the caller gives none.
pub const DEFAULT_PER_PAGE: usize = 30;

/// A user's stable id: the same `name@host` always gives the same uid.
pub fn uid(account: &Account) -> String {
    let digest = Sha1::digest(account.to_string().as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("user_{hex}")
}

/// `application` when the user holds ALL on every database it can reach,
/// `readonly` when it holds only SELECT and SHOW VIEW, `custom` otherwise.
fn user_type(levels: &[Level]) -> &'static str {
    if levels.iter().all(|l| *l == Level::All) {
        "application"
    } else if levels.iter().all(|l| *l == Level::ReadOnly) {
        "readonly"
    } else {
        "custom"
    }
}

/// `list_database_users(page, per_page)`.
pub async fn list_database_users<D: Database>(
    env: Env<'_, D>,
    page: usize,
    per_page: usize,
) -> Result<Value, MysqlError> {
    let users = env.db.access_levels().await?;
    let total = users.len();
    let pages = total.div_ceil(per_page).max(1);
    let created = env.journal.created_users();
    let response: Vec<Value> = users
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|(account, dbs)| {
            let id = uid(account);
            let levels: Vec<Level> = dbs.iter().map(|(_, l)| *l).collect();
            json!({
                "uid": id,
                "username": account.name.as_str(),
                "host": account.host.as_str(),
                "databases": dbs.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>(),
                "user_type": user_type(&levels),
                "created_at": created.get(&account.to_string()),
            })
        })
        .collect();
    Ok(json!({
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
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::names::{HostPattern, UserName};

    #[test]
    fn uid_is_stable_and_distinct() {
        let a = Account {
            name: UserName::parse("app").unwrap(),
            host: HostPattern::any(),
        };
        let b = Account {
            name: UserName::parse("app").unwrap(),
            host: HostPattern::parse("10.0.0.1").unwrap(),
        };
        assert_eq!(uid(&a), uid(&a.clone()));
        assert_ne!(uid(&a), uid(&b));
        assert!(uid(&a).starts_with("user_") && uid(&a).len() == 17);
    }

    #[test]
    fn user_types() {
        assert_eq!(user_type(&[Level::All, Level::All]), "application");
        assert_eq!(user_type(&[]), "application");
        assert_eq!(user_type(&[Level::ReadOnly]), "readonly");
        assert_eq!(user_type(&[Level::All, Level::ReadOnly]), "custom");
    }
}
