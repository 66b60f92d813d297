//! What the journal records of a mutation: its Cloud66 action type and the
//! resources it touches.

use serde::{Deserialize, Serialize};

use super::{Account, DbName, HostPattern, UserName};

/// A mutation's kind, by Cloud66's names (design.md, "the action model").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionType {
    /// `create_user`.
    DatabaseUserCreate,
    /// `delete_user`.
    DatabaseUserDelete,
    /// `update_attributes`.
    DatabaseUserUpdate,
    /// `change_passwords`, `regenerate_password`.
    DatabaseUserPasswordChange,
    /// `grant_access`.
    DatabaseUserGrant,
    /// `revoke_access`.
    DatabaseUserRevoke,
    /// `create_database`.
    DatabaseCreate,
    /// `delete_database`.
    DatabaseDelete,
    /// `enable_root`, `enable_root_with_password`.
    RootEnable,
    /// `disable_root`.
    RootDisable,
    /// `prepare`: the databases, users and root password of an instance
    /// create request, as one action.
    InstancePrepare,
    /// `ssl_action`, `ssl_rollback`: the instance's TLS mode.
    InstanceTls,
}

/// What kind of thing an action acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    /// Accounts.
    DatabaseUser,
    /// Schemas.
    Database,
    /// The remote root account.
    Root,
    /// The instance as a whole (`prepare`).
    Instance,
}

impl ActionType {
    /// The wire name, e.g. `database_user_create`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::DatabaseUserCreate => "database_user_create",
            ActionType::DatabaseUserDelete => "database_user_delete",
            ActionType::DatabaseUserUpdate => "database_user_update",
            ActionType::DatabaseUserPasswordChange => "database_user_password_change",
            ActionType::DatabaseUserGrant => "database_user_grant",
            ActionType::DatabaseUserRevoke => "database_user_revoke",
            ActionType::DatabaseCreate => "database_create",
            ActionType::DatabaseDelete => "database_delete",
            ActionType::RootEnable => "root_enable",
            ActionType::RootDisable => "root_disable",
            ActionType::InstancePrepare => "instance_prepare",
            ActionType::InstanceTls => "instance_tls",
        }
    }

    /// What it acts on.
    pub fn resource_type(self) -> ResourceType {
        match self {
            ActionType::DatabaseCreate | ActionType::DatabaseDelete => ResourceType::Database,
            ActionType::RootEnable | ActionType::RootDisable => ResourceType::Root,
            ActionType::InstancePrepare | ActionType::InstanceTls => ResourceType::Instance,
            _ => ResourceType::DatabaseUser,
        }
    }
}

/// One thing a mutation touches. Enough to check after a crash whether the
/// mutation took effect, and to keep two mutations on it in order; never a
/// secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    /// An account.
    User(Account),
    /// A schema.
    Database(DbName),
}

impl Resource {
    /// Cloud66's `resource_id`: a user's uid, a schema's name.
    pub fn id(&self) -> String {
        match self {
            Resource::User(a) => a.uid(),
            Resource::Database(d) => d.to_string(),
        }
    }

    /// Reads what [`Resource`]'s `Display` wrote (`name@host` for an
    /// account, the name for a schema), as the journal kept it: the names
    /// are validated again, so nothing unchecked reaches SQL.
    pub fn parse(kind: ResourceType, text: &str) -> Option<Resource> {
        match kind {
            ResourceType::DatabaseUser => {
                let (name, host) = text.rsplit_once('@')?;
                Some(Resource::User(Account {
                    name: UserName::parse(name).ok()?,
                    host: HostPattern::parse(host).ok()?,
                }))
            }
            ResourceType::Database => DbName::parse(text).ok().map(Resource::Database),
            ResourceType::Root | ResourceType::Instance => None,
        }
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resource::User(a) => a.fmt(f),
            Resource::Database(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cloud66s() {
        for t in [
            ActionType::DatabaseUserCreate,
            ActionType::DatabaseUserPasswordChange,
            ActionType::RootEnable,
            ActionType::DatabaseDelete,
        ] {
            let json = serde_json::to_value(t).unwrap();
            assert_eq!(json, t.as_str());
            assert!(
                t.as_str().starts_with(
                    serde_json::to_value(t.resource_type())
                        .unwrap()
                        .as_str()
                        .unwrap()
                )
            );
        }
    }

    #[test]
    fn resources_read_back_what_they_wrote() {
        let u = Resource::parse(ResourceType::DatabaseUser, "app@10.0.%").unwrap();
        assert_eq!(u.to_string(), "app@10.0.%");
        let d = Resource::parse(ResourceType::Database, "shop_db").unwrap();
        assert_eq!(d.id(), "shop_db");
        assert!(u.id().starts_with("user_"));
        assert_eq!(Resource::parse(ResourceType::DatabaseUser, "app"), None);
        assert_eq!(Resource::parse(ResourceType::Database, "a`b"), None);
    }
}
