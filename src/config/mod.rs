//! Temporary stand-in for the configuration module (replaced by the real one).
#![allow(missing_docs)]
use secrecy::SecretString;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug)]
pub struct Config {
    pub guest_id: String,
    pub amqp: AmqpConfig,
    pub mysql: MysqlConfig,
    pub state: StateConfig,
    pub log: LogConfig,
    pub limits: LimitsConfig,
}
#[derive(Debug)]
pub struct AmqpConfig {
    pub url: SecretString,
    pub exchange: String,
    pub conductor_topic: String,
    pub rpc_encryption_key: Option<SecretString>,
    pub allow_plaintext: bool,
    pub report_interval: Duration,
    pub prefetch: u16,
}
#[derive(Debug)]
pub struct MysqlConfig {
    pub socket: PathBuf,
    pub user: String,
    pub password: Option<SecretString>,
    pub ignore_users: Vec<String>,
    pub ignore_dbs: Vec<String>,
}
#[derive(Debug)]
pub struct StateConfig {
    pub dir: PathBuf,
}
#[derive(Debug)]
pub struct LogConfig {
    pub level: String,
}
#[derive(Debug)]
pub struct LimitsConfig {
    pub max_message_bytes: usize,
    pub max_items: usize,
}
#[derive(Debug, thiserror::Error)]
#[error("config error")]
pub struct ConfigError;
impl Config {
    pub fn load(_path: &Path) -> Result<Config, ConfigError> {
        Err(ConfigError)
    }
    pub fn load_trove(_p: &[PathBuf], _o: Option<&Path>) -> Result<Config, ConfigError> {
        Err(ConfigError)
    }
    pub fn render_redacted(&self) -> String {
        String::new()
    }
    pub fn amqp_url_redacted(&self) -> String {
        String::new()
    }
}
