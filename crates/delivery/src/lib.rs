//! Delivery: turning due rows of the queue into signed HTTP requests.
//!
//! # Layout
//! - [`guard`]: which destination addresses may be reached (SSRF protection).
//! - [`client`]: the HTTP client and one attempt (sign, send, read a bounded answer).
//! - [`listen`]: deliveries handed to `skyhook listen` sessions instead of POSTed.
//! - [`metrics`]: attempt counters and histograms (the `metrics` facade).
//! - [`worker`]: the loop that claims due deliveries, runs attempts concurrently,
//!   records them and schedules the next.

pub mod client;
pub mod guard;
pub mod listen;
pub mod metrics;
pub mod worker;

pub use client::{AttemptResult, Sender};
pub use guard::Policy;
pub use worker::{Worker, WorkerConfig};
