//! Passwords the agent generated for one command, by `name@host`: handed
//! back once, in the reply, and kept nowhere.

use serde_json::{Map, Value};

use crate::model::{Account, DbError, NewUser, Password};

/// The passwords generated for one command.
#[derive(Debug, Default)]
pub struct Generated(Vec<(String, Password)>);

impl Generated {
    /// A new password for `account`, from the OS CSPRNG, remembered for the
    /// reply.
    pub fn generate(&mut self, account: &Account) -> Result<Password, DbError> {
        let p = Password::generate()
            .map_err(|e| DbError::Protocol(format!("no randomness for a password: {e}")))?;
        self.0.push((account.to_string(), p.clone()));
        Ok(p)
    }

    /// Whether any of `users` comes without a password, so that one would
    /// be generated (which only a call can hand back).
    pub fn needed(users: &[NewUser]) -> bool {
        users.iter().any(|u| u.password.is_none())
    }

    /// Generates the passwords `users` come without.
    pub fn fill(&mut self, users: &mut [NewUser]) -> Result<(), DbError> {
        for u in users.iter_mut().filter(|u| u.password.is_none()) {
            u.password = Some(self.generate(&u.account)?);
        }
        Ok(())
    }

    /// `{"name@host": "<password>"}`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for (k, p) in &self.0 {
            m.insert(k.clone(), Value::String(p.expose_for_reply().to_owned()));
        }
        Value::Object(m)
    }

    /// True when nothing was generated.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
