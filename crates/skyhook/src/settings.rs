//! Settings: defaults, then `skyhook.toml`, then `SKYHOOK_*` variables, then flags.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use skyhook_domain::retry::RetrySchedule;

/// Every setting, as flags; an absent flag falls through to the environment, the file, the default.
#[derive(Debug, Clone, Default, Serialize, clap::Args)]
pub struct Flags {
    /// Read settings from this TOML file (default: ./skyhook.toml if it exists).
    #[arg(long, global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address to serve on.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// `sqlite://…` or `postgres://…`.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// PostgreSQL: connections per node (default 16).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_pool_size: Option<u32>,
    /// PostgreSQL: longest a statement may run, e.g. `30s` (`0` for no limit).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_statement_timeout: Option<String>,
    /// Base of every projectUrl and dashboard link.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Base64 of 32 random bytes sealing secrets at rest (default: generated into the
    /// SQLite data directory; required on PostgreSQL).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main_key: Option<String>,
    /// Admin bearer token (default: generated once and stored hashed).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
    /// Waits between attempts after the first, e.g. `5s,5m,30m`.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<String>,
    /// Per attempt, connect to last byte, e.g. `15s`.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_timeout: Option<String>,
    /// An endpoint failing without a single success for this long is disabled, e.g. `5d`.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_disable_after: Option<String>,
    /// PEM bundle of CA certificates trusted for deliveries besides the system roots.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_ca_certs: Option<PathBuf>,
    /// Comma-separated CIDRs that may be delivered to although private.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_private_destinations: Option<String>,
    /// Refuse http:// endpoint URLs.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https_only: Option<bool>,
    /// Larger event payloads are refused with 413.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_payload_bytes: Option<usize>,
    /// Which parts this node runs: `api`, `worker`, or both.
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_roles: Option<String>,
}

/// The merged settings, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub database_url: String,
    pub database_pool_size: u32,
    pub database_statement_timeout: Duration,
    pub public_url: Option<String>,
    pub admin_token: Option<String>,
    pub main_key: Option<String>,
    pub retry_schedule: RetrySchedule,
    pub delivery_timeout: Duration,
    pub endpoint_disable_after: Duration,
    /// The PEM bundle's contents, read at start so a bad path fails at once.
    pub extra_ca_certs: Option<Vec<u8>>,
    pub allowed_private_destinations: Vec<IpNet>,
    pub https_only: bool,
    pub max_payload_bytes: usize,
    pub run_api: bool,
    pub run_worker: bool,
}

#[derive(Debug, Deserialize, Serialize)]
struct Raw {
    listen: String,
    database_url: String,
    database_pool_size: u32,
    database_statement_timeout: String,
    public_url: Option<String>,
    admin_token: Option<String>,
    main_key: Option<String>,
    retry_schedule: String,
    delivery_timeout: String,
    endpoint_disable_after: String,
    extra_ca_certs: Option<PathBuf>,
    allowed_private_destinations: String,
    https_only: bool,
    max_payload_bytes: usize,
    node_roles: String,
}

impl Default for Raw {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8071".into(),
            database_url: "sqlite://./skyhook-data/skyhook.db".into(),
            database_pool_size: 16,
            database_statement_timeout: "30s".into(),
            public_url: None,
            admin_token: None,
            main_key: None,
            retry_schedule: RetrySchedule::DEFAULT.into(),
            delivery_timeout: "15s".into(),
            endpoint_disable_after: "5d".into(),
            extra_ca_certs: None,
            allowed_private_destinations: String::new(),
            https_only: false,
            max_payload_bytes: 1_048_576,
            node_roles: "api,worker".into(),
        }
    }
}

impl Settings {
    /// Merges the sources in order of precedence and checks every value.
    pub fn load(flags: &Flags) -> anyhow::Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Raw::default()));
        match &flags.config {
            Some(path) => {
                if !path.exists() {
                    bail!("config file {} does not exist", path.display());
                }
                fig = fig.merge(Toml::file(path));
            }
            None => fig = fig.merge(Toml::file("skyhook.toml")),
        }
        let raw: Raw = fig
            .merge(Env::prefixed("SKYHOOK_"))
            .merge(Serialized::defaults(flags))
            .extract()
            .context("reading settings")?;
        let roles: Vec<&str> = raw
            .node_roles
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .collect();
        if let Some(bad) = roles.iter().find(|r| !matches!(**r, "api" | "worker")) {
            bail!("NODE_ROLES: unknown role {bad:?} (use api, worker or api,worker)");
        }
        let allowed = raw
            .allowed_private_destinations
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                    .with_context(|| format!("ALLOWED_PRIVATE_DESTINATIONS: {s:?} is not a CIDR"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            listen: raw.listen,
            database_url: raw.database_url,
            database_pool_size: raw.database_pool_size.max(1),
            database_statement_timeout: match raw.database_statement_timeout.trim() {
                "0" => Duration::ZERO,
                t => humantime::parse_duration(t).context("DATABASE_STATEMENT_TIMEOUT")?,
            },
            public_url: raw.public_url,
            admin_token: raw.admin_token.filter(|t| !t.is_empty()),
            main_key: raw.main_key.filter(|k| !k.is_empty()),
            retry_schedule: RetrySchedule::parse(&raw.retry_schedule).context("RETRY_SCHEDULE")?,
            delivery_timeout: humantime::parse_duration(&raw.delivery_timeout)
                .context("DELIVERY_TIMEOUT")?,
            endpoint_disable_after: humantime::parse_duration(&raw.endpoint_disable_after)
                .context("ENDPOINT_DISABLE_AFTER")?,
            extra_ca_certs: raw
                .extra_ca_certs
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| {
                    std::fs::read(&p)
                        .with_context(|| format!("EXTRA_CA_CERTS: cannot read {}", p.display()))
                })
                .transpose()?,
            allowed_private_destinations: allowed,
            https_only: raw.https_only,
            max_payload_bytes: raw.max_payload_bytes,
            run_api: roles.contains(&"api"),
            run_worker: roles.contains(&"worker"),
        })
    }
}
