//! `create_database(databases)`: schemas with an optional character set
//! and collation (cast). Every name and every character set and collation
//! is checked (the latter against the server) before any schema is made.

use serde_json::Value;

use crate::command::{
    Args, Env, Method, ParseCx, ParseError, WriteMethod, args::into_object, parse,
};
use crate::model::{ActionType, Attempt, Charset, Database, DbResult, NewDatabase, Resource};

use super::Effect;

/// `create_database`.
#[derive(Debug)]
pub struct CreateDatabase(pub Vec<NewDatabase>);

impl Method for CreateDatabase {
    const NAME: &'static str = "create_database";

    fn parse(args: &mut Args, cx: &ParseCx<'_>) -> Result<Self, ParseError> {
        let list = args.list("databases", cx.limits.max_items)?;
        Ok(CreateDatabase(parse_databases(list, cx)?))
    }
}

/// Trove's serialized schemas, every one checked before any is accepted
/// (also `prepare`'s `databases`).
pub fn parse_databases(list: Vec<Value>, cx: &ParseCx<'_>) -> Result<Vec<NewDatabase>, ParseError> {
    let mut out: Vec<NewDatabase> = Vec::with_capacity(list.len());
    for item in list {
        let mut d = into_object("databases", item)?;
        let name = parse::schema_name(&mut d, cx)?;
        let charset = d
            .opt_string("_character_set")?
            .map(|s| Charset::parse("character set", &s))
            .transpose()?;
        let collation = d
            .opt_string("_collate")?
            .map(|s| Charset::parse("collation", &s))
            .transpose()?;
        if out.iter().any(|o| o.name == name) {
            return Err(ParseError::Duplicate(name.to_string()));
        }
        out.push(NewDatabase {
            name,
            charset,
            collation,
        });
    }
    Ok(out)
}

impl WriteMethod for CreateDatabase {
    const ACTION: ActionType = ActionType::DatabaseCreate;
    const TROVE_CAST: bool = true;
    const EFFECT: Option<Effect> = Some(Effect::Present);

    fn resources(&self) -> Vec<Resource> {
        self.0
            .iter()
            .map(|d| Resource::Database(d.name.clone()))
            .collect()
    }

    async fn apply<D: Database>(&self, env: Env<'_, D>, _: Attempt) -> DbResult<Value> {
        env.db.create_databases(&self.0).await?;
        Ok(Value::Null)
    }
}
