//! The delivery worker: claim due deliveries, run their attempts concurrently, record.
//!
//! Wake-ups: the API pokes [`Worker::waker`] after committing a message, so a new
//! delivery starts within milliseconds; otherwise the worker sleeps exactly until the
//! earliest due row (a retry, or a lease that may expire), never on a fixed poll.
//! Concurrency is bounded by a semaphore; each attempt is its own task, so one slow
//! endpoint holds only its own permits.

use std::sync::Arc;
use std::time::Duration;

use skyhook_domain::clock::{Millis, now_ms};
use skyhook_domain::ids;
use skyhook_domain::model::{Attempt, DeliveryStatus, TriggerType};
use skyhook_domain::retry::RetrySchedule;
use skyhook_store::{Claim, Outcome, Store};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::client::{AttemptResult, Sender};

/// How the worker runs.
#[derive(Clone)]
pub struct WorkerConfig {
    /// Waits between attempts.
    pub schedule: RetrySchedule,
    /// Attempts in flight at once.
    pub concurrency: usize,
    /// How long a claim stays invisible to other workers; longer than an attempt.
    pub lease: Duration,
    /// The longest the worker sleeps without checking the database (a safety net
    /// for wake-ups from other processes).
    pub max_idle: Duration,
    /// How long shutdown waits for in-flight attempts before leaving them to lease expiry.
    pub shutdown_grace: Duration,
}

/// Claims and delivers.
pub struct Worker {
    store: Arc<dyn Store>,
    sender: Sender,
    config: WorkerConfig,
    wake: Arc<Notify>,
    permits: Arc<Semaphore>,
}

impl Worker {
    /// A worker over `store` that sends with `sender`.
    pub fn new(
        store: Arc<dyn Store>,
        sender: Sender,
        config: WorkerConfig,
        wake: Arc<Notify>,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(config.concurrency));
        Self {
            store,
            sender,
            config,
            wake,
            permits,
        }
    }

    /// Runs until `shutdown` is cancelled, then waits (bounded) for in-flight attempts.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        while !shutdown.is_cancelled() {
            let wait = match this.tick().await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming deliveries failed; retrying shortly");
                    Some(Duration::from_millis(500))
                }
            };
            let Some(wait) = wait else { continue };
            tokio::select! {
                _ = this.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => {}
            }
        }
        let all = this.config.concurrency as u32;
        if tokio::time::timeout(this.config.shutdown_grace, this.permits.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!(
                "shutdown: attempts still in flight are left to lease expiry and will be retried"
            );
        }
    }

    /// Claims what fits and starts it; returns how long to sleep, or `None` to go again at once.
    async fn tick(self: &Arc<Self>) -> Result<Option<Duration>, skyhook_store::StoreError> {
        let free = self.permits.available_permits().min(256) as u32;
        if free == 0 {
            return Ok(Some(self.config.max_idle));
        }
        let now = now_ms();
        let claims = self
            .store
            .claim_due(now, free, self.config.lease.as_millis() as i64)
            .await?;
        let full = claims.len() as u32 == free;
        for claim in claims {
            let permit = self
                .permits
                .clone()
                .acquire_owned()
                .await
                .expect("semaphore never closed");
            let this = self.clone();
            tokio::spawn(async move {
                this.deliver(claim).await;
                drop(permit);
                // A freed slot may be able to take work that was left waiting.
                this.wake.notify_one();
            });
        }
        if full {
            return Ok(None);
        }
        let next = self.store.next_due().await?;
        Ok(Some(sleep_until(next, now_ms(), self.config.max_idle)))
    }

    async fn deliver(&self, claim: Claim) {
        let started = now_ms();
        // An endpoint disabled after the message was queued gets no request: the
        // delivery fails at once with a visible reason and can be resent once re-enabled.
        let result = if claim.endpoint.disabled {
            AttemptResult {
                status_code: 0,
                response: "endpoint is disabled".into(),
                duration: Duration::ZERO,
            }
        } else {
            self.sender
                .attempt(&claim.endpoint, &claim.message, started)
                .await
        };
        let finished = now_ms();
        let success = result.is_success();
        let outcome = if success {
            Outcome::Success
        } else if claim.manual || claim.endpoint.disabled {
            Outcome::Fail
        } else {
            match self.config.schedule.next_delay(claim.attempts_made) {
                Some(d) => Outcome::RetryAt(finished + d.as_millis() as Millis),
                None => Outcome::Fail,
            }
        };
        let attempt = Attempt {
            id: ids::new_id(ids::ATTEMPT, finished),
            msg_id: claim.message.id.clone(),
            endpoint_id: claim.endpoint.id.clone(),
            url: claim.endpoint.url.clone(),
            status: if success {
                DeliveryStatus::Success
            } else {
                DeliveryStatus::Fail
            },
            response_status_code: i64::from(result.status_code),
            response: result.response,
            response_duration_ms: result.duration.as_millis() as i64,
            trigger_type: if claim.manual {
                TriggerType::Manual
            } else {
                TriggerType::Scheduled
            },
            created_at: finished,
        };
        tracing::debug!(msg_id = %attempt.msg_id, endpoint_id = %attempt.endpoint_id, status = attempt.response_status_code, ?outcome, "attempt");
        // Recording can fail while the database is away; keep trying, since the
        // attempt happened. If the lease is lost meanwhile, the row is redelivered.
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.store.complete(&claim, &attempt, outcome).await {
                Ok(true) => return,
                Ok(false) => {
                    tracing::warn!(msg_id = %attempt.msg_id, "lease lost before the attempt was recorded; it will be retried");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "recording an attempt failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// The handle the API uses to wake this worker.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}

fn sleep_until(next_due: Option<Millis>, now: Millis, max: Duration) -> Duration {
    match next_due {
        Some(t) if t <= now => Duration::ZERO,
        Some(t) => Duration::from_millis((t - now) as u64).min(max),
        None => max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeps_until_the_next_due_row_within_the_cap() {
        let max = Duration::from_secs(30);
        assert_eq!(sleep_until(None, 1_000, max), max);
        assert_eq!(sleep_until(Some(900), 1_000, max), Duration::ZERO);
        assert_eq!(
            sleep_until(Some(1_250), 1_000, max),
            Duration::from_millis(250)
        );
        assert_eq!(sleep_until(Some(1_000_000), 1_000, max), max);
    }
}
