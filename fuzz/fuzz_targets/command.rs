//! `Command::parse` for every method the agent serves on hostile
//! arguments: the JSON object of the input when it is one, else an argument
//! object shaped from the bytes with Trove's argument names and a dictionary
//! of hostile values (system accounts, loopback hosts, wildcards, quotes).
//!
//! Checks, for every method:
//! - no panic;
//! - a parsed command names no system account or schema (design rule 3),
//!   and every name in it passes its own validation again (rule 1), and no
//!   list in it is longer than the limit (`testkit::parse_checked`);
//! - what the agent shows of the outcome (error text, or the command's
//!   `Debug`) does not depend on the passwords in the arguments, only on
//!   their validity (rule 2): changing them changes nothing shown.
#![no_main]

use std::sync::LazyLock;

use arbitrary::Unstructured;
use guestagent::testkit::{ARGUMENT_KEYS as KEYS, method_names, parse_checked};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Number, Value};

static METHODS: LazyLock<Vec<&'static str>> = LazyLock::new(method_names);

/// Values that sit on a rule's edge.
const WORDS: &[&str] = &[
    "root",
    "os_admin",
    "mariadb.sys",
    "mysql.session",
    "mysql",
    "sys",
    "information_schema",
    "performance_schema",
    "MySQL",
    "%",
    "localhost",
    "LOCALHOST",
    "127.0.0.1",
    "127.1",
    "::1",
    "0:0:0:0:0:0:0:1",
    "localhost.localdomain",
    "10.0.0.%",
    "10.0.0._",
    "%.%.%.%",
    "fe80::1",
    "10.0.0.0/8",
    "192.168.1.0/255.255.255.0",
    "a_b",
    "a%b",
    "app",
    "app_db",
    "x' OR '1'='1",
    "x`; DROP DATABASE mysql; -- ",
    "a\\b",
    "a'b",
    "a\"b",
    "a`b",
    "a;b",
    "a--b",
    "a#b",
    "a/*b",
    "a\0b",
    "a\nb",
    " a",
    "a ",
    "",
    "😀",
    "ünïcødé",
    "utf8mb4",
    "utf8mb4_bin",
    "latin1",
    "application",
    "readonly",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    ":word",
    "%s",
    "{}",
    "%(x)s",
];

fn value(u: &mut Unstructured, depth: u32) -> arbitrary::Result<Value> {
    let top = if depth >= 4 { 6 } else { 8 };
    Ok(match u.int_in_range(0..=top)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::from(u.int_in_range(0i64..=200)?),
        3 => match u.int_in_range(0..=1)? {
            0 => Value::from(u.arbitrary::<i64>()?),
            _ => Number::from_f64(u.arbitrary()?).map_or(Value::Null, Value::Number),
        },
        4 | 5 => Value::String((*u.choose(WORDS)?).to_owned()),
        6 => Value::String(u.arbitrary()?),
        7 => {
            let n = u.int_in_range(0..=4)?;
            Value::Array(
                (0..n)
                    .map(|_| value(u, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => Value::Object(object(u, depth + 1)?),
    })
}

fn object(u: &mut Unstructured, depth: u32) -> arbitrary::Result<Map<String, Value>> {
    let n = u.int_in_range(0..=6)?;
    let mut m = Map::new();
    for _ in 0..n {
        let key = if u.ratio(1, 12)? {
            u.arbitrary::<String>()?
        } else {
            (*u.choose(KEYS)?).to_owned()
        };
        m.insert(key, value(u, depth)?);
    }
    Ok(m)
}

fn args_of(data: &[u8]) -> Map<String, Value> {
    if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(data) {
        return m;
    }
    object(&mut Unstructured::new(data), 0).unwrap_or_default()
}

/// The same value with every password (a string under `_password`,
/// `password` or `root_password`) altered without changing its validity:
/// ASCII letters change case, digits move on by one; length, emptiness and
/// NUL bytes stay as they were. Returns whether anything changed.
fn alter_passwords(v: &mut Value, under_password: bool) -> bool {
    match v {
        Value::String(s) if under_password => {
            let altered: String = s
                .chars()
                .map(|c| match c {
                    'a'..='z' => c.to_ascii_uppercase(),
                    'A'..='Z' => c.to_ascii_lowercase(),
                    '0'..='8' => char::from(c as u8 + 1),
                    '9' => '0',
                    _ => c,
                })
                .collect();
            let changed = altered != *s;
            *s = altered;
            changed
        }
        Value::Array(a) => a
            .iter_mut()
            .fold(false, |acc, x| alter_passwords(x, false) | acc),
        Value::Object(m) => m.iter_mut().fold(false, |acc, (k, x)| {
            let pw = matches!(k.as_str(), "_password" | "password" | "root_password");
            alter_passwords(x, pw) | acc
        }),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let args = args_of(data);
    // The same request with other passwords of the same validity: whatever
    // the agent shows of it must not change, or a password leaks into it.
    let mut altered = Value::Object(args.clone());
    let differs = alter_passwords(&mut altered, false);
    let Value::Object(altered) = altered else {
        unreachable!()
    };

    for method in METHODS.iter() {
        let text = parse_checked(method, args.clone());
        if differs {
            let other = parse_checked(method, altered.clone());
            assert_eq!(
                text, other,
                "{method}: a password shows in what the agent shows"
            );
        }
    }
});
