//! Cancel requests (what psql sends on Ctrl-C): find the connection by its key and stop its
//! statement.
//!
//! A cancel request arrives on a new connection carrying the (pid, secret key) pair that the
//! target connection received at startup. pgwire's [`ConnectionManager`] interrupts a statement
//! that is still being planned; the [`QueryControl`] of the connection stops one whose rows are
//! already being computed and sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use datafusion_postgres::pgwire::api::ConnectionManager;
use datafusion_postgres::pgwire::api::cancel::CancelHandler;
use datafusion_postgres::pgwire::messages::cancel::CancelRequest;
use datafusion_postgres::pgwire::messages::startup::SecretKey;

use prov9_query::session::QueryControl;

type Key = (i32, Vec<u8>);

/// Every authenticated connection's statement control, by cancel key.
#[derive(Debug, Default)]
pub struct CancelRegistry {
    pub(crate) pgwire: Arc<ConnectionManager>,
    controls: Mutex<HashMap<Key, Weak<QueryControl>>>,
}

/// Removes a connection from the registry when the connection ends.
#[derive(Debug)]
pub struct Registration {
    registry: Arc<CancelRegistry>,
    key: Key,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut controls) = self.registry.controls.lock() {
            controls.remove(&self.key);
        }
    }
}

impl CancelRegistry {
    pub fn register(
        self: &Arc<Self>,
        pid: i32,
        secret: &SecretKey,
        control: &Arc<QueryControl>,
    ) -> Registration {
        let key = (pid, secret.to_bytes().to_vec());
        self.controls
            .lock()
            .expect("cancel registry lock")
            .insert(key.clone(), Arc::downgrade(control));
        Registration {
            registry: self.clone(),
            key,
        }
    }
}

#[derive(Debug)]
pub struct CancelRequests(pub Arc<CancelRegistry>);

#[async_trait]
impl CancelHandler for CancelRequests {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let key = (request.pid, request.secret_key.to_bytes().to_vec());
        let control = self
            .0
            .controls
            .lock()
            .ok()
            .and_then(|c| c.get(&key).and_then(Weak::upgrade));
        // Unknown keys are ignored without a word, as Postgres does: the sender learns nothing.
        if let Some(control) = control {
            tracing::info!(pid = request.pid, "cancel request");
            control.cancel();
            self.0.pgwire.cancel(request.pid, &request.secret_key).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(pid: i32, secret: i32) -> CancelRequest {
        CancelRequest::new(pid, SecretKey::I32(secret))
    }

    #[tokio::test]
    async fn only_the_right_key_cancels_and_only_while_registered() {
        let registry = Arc::new(CancelRegistry::default());
        let handler = CancelRequests(registry.clone());
        let control = Arc::new(QueryControl::default());
        control.begin_message(None);
        let registration = registry.register(7, &SecretKey::I32(42), &control);
        handler.on_cancel_request(request(7, 41)).await;
        handler.on_cancel_request(request(8, 42)).await;
        assert!(
            !control.is_cancelled(),
            "a wrong pid or secret cancels nothing"
        );
        handler.on_cancel_request(request(7, 42)).await;
        assert!(control.is_cancelled());
        // The next message starts afresh; once the connection ends its key is forgotten.
        control.begin_message(None);
        drop(registration);
        handler.on_cancel_request(request(7, 42)).await;
        assert!(!control.is_cancelled());
    }
}
