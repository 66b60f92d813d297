//! Parsing with the design's rules asserted on the result, for the
//! `command` fuzz target: whatever arguments arrive, a parsed command names
//! no system account or schema (rule 3), every name in it passes its own
//! validation again (rule 1), and no list in it is longer than the limit.

use std::sync::LazyLock;

use serde_json::{Map, Value};

use crate::command::{Command, Limits, ParseCx, Read, Write};
use crate::model::{Account, Charset, Classify, DbName, HostPattern, Protected, UserName};

/// The limit the checks parse with.
const LIMITS: Limits = Limits { max_items: 100 };

static PROTECTED: LazyLock<Protected> = LazyLock::new(|| Protected::new("os_admin", &[], &[]));

/// Every wire name the agent serves.
pub fn method_names() -> Vec<&'static str> {
    crate::command::method_names().collect()
}

/// Parses `method` with `args` and panics if the result breaks a rule.
/// Returns what the agent can show of the parse: the error's class and
/// text, or the command's `Debug` (what it logs).
pub fn parse_checked(method: &str, args: Map<String, Value>) -> String {
    let cx = ParseCx {
        protected: &PROTECTED,
        limits: LIMITS,
        allow_root_enable: true,
    };
    match Command::parse(method, args, &cx) {
        Ok(cmd) => {
            let base = |m: &str| m.trim_end_matches("_with_password").to_owned();
            assert_eq!(base(cmd.name()), base(method));
            check(method, &cmd);
            if let Command::Write(w) = &cmd {
                let _ = (w.action(), w.resources(), w.gates());
            }
            format!("ok {cmd:?}")
        }
        Err(e) => format!("error {} {e} {e:?}", e.wire_class().name()),
    }
}

fn check(method: &str, cmd: &Command) {
    let max = LIMITS.max_items;
    let count = |what: &str, n: usize, may_be_empty: bool| {
        assert!(n <= max && (may_be_empty || n > 0), "{method}: {n} {what}");
    };
    match cmd {
        Command::Write(Write::CreateUser(c)) => {
            count("users", c.0.len(), false);
            for u in &c.0 {
                check_account(method, &u.account);
                count("databases", u.databases.len(), true);
                u.databases.iter().for_each(|d| check_db(method, d));
            }
        }
        Command::Read(Read::GetUser(c)) => check_account(method, &c.0),
        Command::Read(Read::ListAccess(c)) => check_account(method, &c.0),
        Command::Write(Write::DeleteUser(c)) => check_account(method, &c.0),
        Command::Write(Write::RegeneratePassword(c)) => check_account(method, &c.account),
        Command::Write(Write::CreateDatabase(c)) => {
            count("databases", c.0.len(), false);
            for d in &c.0 {
                check_db(method, &d.name);
                check_charset(method, d.charset.as_ref());
                check_charset(method, d.collation.as_ref());
            }
        }
        Command::Write(Write::DeleteDatabase(c)) => check_db(method, &c.0),
        Command::Write(Write::UpdateAttributes(c)) => {
            check_account(method, &c.account);
            if let Some(to) = &c.change.rename {
                check_account(method, to);
            }
        }
        Command::Write(Write::ChangePasswords(c)) => {
            count("users", c.0.len(), false);
            c.0.iter().for_each(|(a, _)| check_account(method, a));
        }
        Command::Write(Write::GrantAccess(c)) => {
            check_account(method, &c.account);
            count("databases", c.databases.len(), false);
            c.databases.iter().for_each(|d| check_db(method, d));
        }
        Command::Write(Write::RevokeAccess(c)) => {
            check_account(method, &c.account);
            check_db(method, &c.database);
        }
        _ => {}
    }
}

fn check_account(method: &str, a: &Account) {
    let (name, host) = (a.name.as_str(), a.host.as_str());
    assert!(
        !PROTECTED.is_system_user(name, host),
        "{method}: parsed a system account {name:?}@{host:?}"
    );
    assert!(
        UserName::parse(name).is_ok(),
        "{method}: invalid user name {name:?} accepted"
    );
    assert_eq!(
        HostPattern::parse(host)
            .ok()
            .map(|h| h.as_str().to_owned())
            .as_deref(),
        Some(host),
        "{method}: invalid host {host:?} accepted"
    );
}

fn check_db(method: &str, d: &DbName) {
    let name = d.as_str();
    assert!(
        !PROTECTED.is_system_db(name),
        "{method}: parsed a system schema {name:?}"
    );
    assert!(
        DbName::parse(name).is_ok(),
        "{method}: invalid database name {name:?} accepted"
    );
}

fn check_charset(method: &str, c: Option<&Charset>) {
    if let Some(c) = c {
        assert!(
            Charset::parse("charset", c.as_str()).is_ok(),
            "{method}: invalid charset/collation {c:?} accepted"
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_method_parses_checked() {
        let Value::Object(args) = json!({
            "users": [{"_name": "app", "_host": "%", "_password": "pw", "_databases": ["d"]}],
            "user": {"_name": "app", "_host": "%"},
            "username": "app", "hostname": "%",
            "user_attrs": {"name": "app2"},
            "databases": [{"_name": "d"}],
            "database": {"_name": "d"},
            "id": 1,
        }) else {
            unreachable!()
        };
        for m in method_names() {
            let shown = parse_checked(m, args.clone());
            assert!(!shown.contains("\"pw\""), "{m}: {shown}");
        }
    }
}
