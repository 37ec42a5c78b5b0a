//! `skyhook listen`: deliveries handed to a CLI session over a long-lived connection.
//!
//! The API's listen route registers a session here and creates a temporary endpoint
//! whose URL is `skyhook-listen://<session>`. The sender, seeing that scheme, does not
//! POST: it hands the signed request (headers and body, exactly as they would have been
//! sent) to the session, and the attempt succeeds once the session's stream has taken
//! it. The CLI then re-POSTs it, signature headers unchanged, to its `--forward-to` URL.
//!
//! Single node only: the session lives in the memory of the process that serves the
//! listen connection, so the worker that delivers must run in that same process. A
//! delivery claimed by another node (or after a restart) fails with "no listen session"
//! and is retried on the schedule.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// URL scheme of a listen session's temporary endpoint.
pub const SCHEME: &str = "skyhook-listen://";

/// How long a delivery waits for the session's stream to take it.
const HANDOFF_TIMEOUT: Duration = Duration::from_secs(10);

/// One signed delivery for a listen session.
#[derive(Debug)]
pub struct ListenEvent {
    /// The message id (`webhook-id`).
    pub msg_id: String,
    /// Every header the delivery would have carried.
    pub headers: Vec<(String, String)>,
    /// The payload, byte for byte.
    pub body: String,
    /// Fired when the stream has taken the event.
    pub taken: Option<oneshot::Sender<()>>,
}

/// The listen sessions of this process.
#[derive(Clone, Default)]
pub struct Hub {
    sessions: Arc<Mutex<HashMap<String, mpsc::Sender<ListenEvent>>>>,
}

/// A registered session: its events, and its registration (removed on drop).
pub struct Session {
    /// The session id (the host part of the endpoint URL).
    pub id: String,
    /// Events to stream.
    pub events: mpsc::Receiver<ListenEvent>,
    hub: Hub,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.hub.lock().remove(&self.id);
    }
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<ListenEvent>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new session with id `id`.
    pub fn register(&self, id: String) -> Session {
        let (tx, rx) = mpsc::channel(64);
        self.lock().insert(id.clone(), tx);
        Session {
            id,
            events: rx,
            hub: self.clone(),
        }
    }

    /// Whether session `id` is connected to this process.
    pub fn is_connected(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    /// Hands `event` to session `id`; `Ok` once its stream has taken it.
    pub async fn deliver(&self, id: &str, mut event: ListenEvent) -> Result<(), String> {
        let tx = self.lock().get(id).cloned().ok_or_else(|| {
            format!("no listen session {id} on this node (the CLI disconnected, or the session is served by another node)")
        })?;
        let (taken_tx, taken_rx) = oneshot::channel();
        event.taken = Some(taken_tx);
        tokio::time::timeout(HANDOFF_TIMEOUT, async {
            tx.send(event)
                .await
                .map_err(|_| "the listen session closed".to_string())?;
            taken_rx
                .await
                .map_err(|_| "the listen session closed before taking the event".to_string())
        })
        .await
        .map_err(|_| {
            format!("the listen session did not take the event within {HANDOFF_TIMEOUT:?}")
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_session_takes_events_and_unregisters_on_drop() {
        let hub = Hub::default();
        let mut session = hub.register("s1".into());
        assert!(hub.is_connected("s1"));
        let taker = tokio::spawn(async move {
            let mut ev = session.events.recv().await.unwrap();
            ev.taken.take().unwrap().send(()).unwrap();
            (ev.msg_id, session)
        });
        let ev = ListenEvent {
            msg_id: "msg_1".into(),
            headers: vec![],
            body: "{}".into(),
            taken: None,
        };
        hub.deliver("s1", ev).await.unwrap();
        let (id, session) = taker.await.unwrap();
        assert_eq!(id, "msg_1");
        drop(session);
        assert!(!hub.is_connected("s1"));
        let ev = ListenEvent {
            msg_id: "msg_2".into(),
            headers: vec![],
            body: "{}".into(),
            taken: None,
        };
        assert!(
            hub.deliver("s1", ev)
                .await
                .unwrap_err()
                .contains("no listen session")
        );
    }
}
