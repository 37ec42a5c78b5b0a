//! The CLI: commands that talk to a running server over its HTTP API.
//!
//! Every command takes `--server` (`SKYHOOK_SERVER`, default `http://127.0.0.1:8071`)
//! and `--token` (`SKYHOOK_TOKEN`). Output is one line per object, tab-separated, or
//! the raw JSON with `--json`.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

mod listen;
mod recover;
mod trigger;

/// Where the server is and how to authenticate.
#[derive(Args, Clone, Debug)]
pub struct Remote {
    /// Base URL of the Skyhook server.
    #[arg(long, env = "SKYHOOK_SERVER", default_value = "http://127.0.0.1:8071")]
    pub server: String,
    /// An API token (admin, or limited to the application used).
    #[arg(long, env = "SKYHOOK_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Print the server's JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// The commands that talk to a server.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Applications (projects).
    App {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: AppCommand,
    },
    /// Endpoints of an application.
    Endpoint {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: EndpointCommand,
    },
    /// Messages (events) of an application.
    Msg {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: MsgCommand,
    },
    /// Send a realistic example event (e.g. `quotation.created`) to an application.
    Trigger {
        #[command(flatten)]
        remote: Remote,
        /// The event type; `quotation.created` has a full example payload.
        event_type: String,
        /// The application (id or uid).
        #[arg(long)]
        app: String,
    },
    /// Receive an application's webhooks here and forward them to a local URL: a
    /// temporary endpoint streams every delivery to this command (works behind NAT).
    Listen {
        #[command(flatten)]
        remote: Remote,
        /// The application (id or uid).
        #[arg(long)]
        app: String,
        /// Where to POST each webhook, signature headers unchanged.
        #[arg(long)]
        forward_to: String,
        /// Only these event types (comma-separated); all by default.
        #[arg(long)]
        event_types: Option<String>,
    },
    /// Resend every failed message of an endpoint since a time, with a progress bar.
    Recover {
        #[command(flatten)]
        remote: Remote,
        /// The application (id or uid).
        #[arg(long)]
        app: String,
        /// The endpoint (id or uid).
        #[arg(long)]
        endpoint: String,
        /// How far back: a duration (`2h`, `30m`, `3d`) or an RFC 3339 time.
        #[arg(long)]
        since: String,
        /// How long to follow the resent deliveries before returning.
        #[arg(long, default_value = "2m")]
        wait: humantime::Duration,
    },
}

#[derive(Subcommand, Debug)]
pub enum AppCommand {
    /// List applications.
    List,
    /// Create an application.
    Create {
        /// Its name.
        name: String,
        /// An optional uid to address it by.
        #[arg(long)]
        uid: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum EndpointCommand {
    /// List an application's endpoints.
    List {
        /// The application (id or uid).
        #[arg(long)]
        app: String,
    },
    /// Create an endpoint; prints its id and signing secret.
    Create {
        /// The application (id or uid).
        #[arg(long)]
        app: String,
        /// Where deliveries go.
        #[arg(long)]
        url: String,
        /// An optional uid.
        #[arg(long)]
        uid: Option<String>,
        /// Subscribe to these event types only (repeat the flag); all by default.
        #[arg(long = "event-type")]
        event_types: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum MsgCommand {
    /// List an application's messages, newest first.
    List {
        /// The application (id or uid).
        #[arg(long)]
        app: String,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Send a message.
    Send {
        /// The application (id or uid).
        #[arg(long)]
        app: String,
        /// Its event type.
        #[arg(long)]
        event_type: String,
        /// The JSON payload (an object).
        #[arg(long, default_value = "{}")]
        data: String,
        /// An optional eventId (deduplicates: a second message with it gets 409).
        #[arg(long)]
        event_id: Option<String>,
    },
}

/// Runs one CLI command.
pub async fn run(command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::App { remote, command } => {
            let c = Client::new(&remote)?;
            match command {
                AppCommand::List => {
                    let page = c.get("/api/v1/app?limit=250").await?;
                    c.print_list(&page, |a| {
                        format!(
                            "{}\t{}\t{}",
                            a["id"].as_str().unwrap_or(""),
                            a["uid"].as_str().unwrap_or("-"),
                            a["name"].as_str().unwrap_or("")
                        )
                    });
                }
                AppCommand::Create { name, uid } => {
                    let app = c
                        .post("/api/v1/app", json!({"name": name, "uid": uid}))
                        .await?;
                    c.print(&app, || {
                        format!(
                            "{}\t{}",
                            app["id"].as_str().unwrap_or(""),
                            app["name"].as_str().unwrap_or("")
                        )
                    });
                }
            }
        }
        ClientCommand::Endpoint { remote, command } => {
            let c = Client::new(&remote)?;
            match command {
                EndpointCommand::List { app } => {
                    let page = c
                        .get(&format!("/api/v1/app/{}/endpoint?limit=250", seg(&app)))
                        .await?;
                    c.print_list(&page, |e| {
                        format!(
                            "{}\t{}\t{}{}",
                            e["id"].as_str().unwrap_or(""),
                            e["url"].as_str().unwrap_or(""),
                            e["uid"].as_str().unwrap_or("-"),
                            if e["disabled"] == true {
                                "\tdisabled"
                            } else {
                                ""
                            }
                        )
                    });
                }
                EndpointCommand::Create {
                    app,
                    url,
                    uid,
                    event_types,
                } => {
                    let mut spec = json!({"url": url, "uid": uid});
                    if !event_types.is_empty() {
                        spec["eventTypes"] = json!(event_types);
                    }
                    let ep = c
                        .post(&format!("/api/v1/app/{}/endpoint", seg(&app)), spec)
                        .await?;
                    let id = ep["id"].as_str().unwrap_or_default();
                    let secret = c
                        .get(&format!(
                            "/api/v1/app/{}/endpoint/{}/secret",
                            seg(&app),
                            seg(id)
                        ))
                        .await?;
                    c.print(&ep, || {
                        format!(
                            "{id}\t{}\tsecret: {}",
                            ep["url"].as_str().unwrap_or(""),
                            secret["key"].as_str().unwrap_or("")
                        )
                    });
                }
            }
        }
        ClientCommand::Msg { remote, command } => {
            let c = Client::new(&remote)?;
            match command {
                MsgCommand::List { app, limit } => {
                    let page = c
                        .get(&format!(
                            "/api/v1/app/{}/msg?limit={limit}&with_content=false",
                            seg(&app)
                        ))
                        .await?;
                    c.print_list(&page, |m| {
                        format!(
                            "{}\t{}\t{}\t{}",
                            m["id"].as_str().unwrap_or(""),
                            m["timestamp"].as_str().unwrap_or(""),
                            m["eventType"].as_str().unwrap_or(""),
                            m["eventId"].as_str().unwrap_or("-")
                        )
                    });
                }
                MsgCommand::Send {
                    app,
                    event_type,
                    data,
                    event_id,
                } => {
                    let payload: Value =
                        serde_json::from_str(&data).context("--data must be JSON")?;
                    if !payload.is_object() {
                        bail!("--data must be a JSON object");
                    }
                    let msg = c
                        .post(
                            &format!("/api/v1/app/{}/msg", seg(&app)),
                            json!({"eventType": event_type, "eventId": event_id, "payload": payload}),
                        )
                        .await?;
                    c.print(&msg, || {
                        format!(
                            "{}\t{}",
                            msg["id"].as_str().unwrap_or(""),
                            msg["eventType"].as_str().unwrap_or("")
                        )
                    });
                }
            }
        }
        ClientCommand::Trigger {
            remote,
            event_type,
            app,
        } => {
            trigger::run(&Client::new(&remote)?, &event_type, &app).await?;
        }
        ClientCommand::Listen {
            remote,
            app,
            forward_to,
            event_types,
        } => {
            listen::run(
                &Client::new(&remote)?,
                &app,
                &forward_to,
                event_types.as_deref(),
            )
            .await?;
        }
        ClientCommand::Recover {
            remote,
            app,
            endpoint,
            since,
            wait,
        } => {
            recover::run(&Client::new(&remote)?, &app, &endpoint, &since, wait.into()).await?;
        }
    }
    Ok(())
}

/// A path segment, percent-encoded.
pub(crate) fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A JSON client for the server's API.
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    json: bool,
}

impl Client {
    fn new(remote: &Remote) -> anyhow::Result<Self> {
        let base = remote.server.trim_end_matches('/').to_string();
        url::Url::parse(&base).with_context(|| format!("--server {base:?} is not a URL"))?;
        Ok(Self {
            http: reqwest::Client::builder()
                .user_agent(concat!("skyhook-cli/", env!("CARGO_PKG_VERSION")))
                .build()?,
            base,
            token: remote.token.clone(),
            json: remote.json,
        })
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> anyhow::Result<Value> {
        let resp = req
            .send()
            .await
            .with_context(|| format!("{what}: cannot reach {}", self.base))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !status.is_success() {
            bail!("{what}: HTTP {status}: {body}");
        }
        Ok(body)
    }

    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(
            self.request(reqwest::Method::GET, path),
            &format!("GET {path}"),
        )
        .await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(
            self.request(reqwest::Method::POST, path).json(&body),
            &format!("POST {path}"),
        )
        .await
    }

    fn print(&self, value: &Value, line: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else {
            println!("{}", line());
        }
    }

    fn print_list(&self, page: &Value, line: impl Fn(&Value) -> String) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(page).unwrap_or_default());
            return;
        }
        for item in page["data"].as_array().into_iter().flatten() {
            println!("{}", line(item));
        }
    }
}
