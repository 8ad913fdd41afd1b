//! Replies to the extended protocol held until `Sync`, as Postgres holds them.
//!
//! pgwire flushes the socket after `ParseComplete`, `BindComplete`, a row description and
//! `CommandComplete`: for one prepared lookup that is four writes, four loopback TCP segments
//! and as many wake-ups of the client, about a quarter of the server's CPU. Postgres sends
//! nothing before `Sync` or `Flush` asks for it (clients wait for `ReadyForQuery` anyway).
//! [`DeferFlushes`] wraps the connection in a [`DeferredFlush`] while `Parse`, `Bind`,
//! `Describe`, `Execute` and `Close` are answered: their flushes leave the bytes in the write buffer (which still drains
//! itself when it fills, so large results stream), and `Sync`'s `ReadyForQuery` flushes them
//! all in one write.

use std::collections::HashMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use datafusion_postgres::pgwire::api::portal::Portal;
use datafusion_postgres::pgwire::api::query::ExtendedQueryHandler;
use datafusion_postgres::pgwire::api::results::Response;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{
    ClientInfo, ClientPortalStore, PgWireConnectionState, SessionExtensions,
};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::extendedquery::{Bind, Close, Describe, Execute, Parse};
use datafusion_postgres::pgwire::messages::response::TransactionStatus;
use datafusion_postgres::pgwire::messages::startup::SecretKey;
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, ProtocolVersion};
use futures::Sink;
use rustls_pki_types::CertificateDer;

/// The connection, with flushes deferred except where the client must answer before `Sync`.
pub(crate) struct DeferredFlush<'a, C> {
    client: &'a mut C,
    /// A message the client acts on before it sends `Sync` was written: flush for real.
    urgent: bool,
}

impl<'a, C> DeferredFlush<'a, C> {
    pub(crate) fn new(client: &'a mut C) -> Self {
        DeferredFlush {
            client,
            urgent: false,
        }
    }
}

/// `COPY … FROM STDIN` waits for the client's data: its response cannot wait for `Sync`.
fn needs_answer_before_sync(message: &PgWireBackendMessage) -> bool {
    matches!(
        message,
        PgWireBackendMessage::CopyInResponse(_) | PgWireBackendMessage::CopyBothResponse(_)
    )
}

impl<C> Sink<PgWireBackendMessage> for DeferredFlush<'_, C>
where
    C: Sink<PgWireBackendMessage> + Unpin,
{
    type Error = C::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), C::Error>> {
        Pin::new(&mut *self.client).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: PgWireBackendMessage) -> Result<(), C::Error> {
        self.urgent |= needs_answer_before_sync(&item);
        Pin::new(&mut *self.client).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), C::Error>> {
        if !self.urgent {
            return Poll::Ready(Ok(()));
        }
        let flushed = Pin::new(&mut *self.client).poll_flush(cx);
        if matches!(flushed, Poll::Ready(Ok(()))) {
            self.urgent = false;
        }
        flushed
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), C::Error>> {
        Pin::new(&mut *self.client).poll_close(cx)
    }
}

impl<C: ClientPortalStore> ClientPortalStore for DeferredFlush<'_, C> {
    type PortalStore = C::PortalStore;

    fn portal_store(&self) -> &Self::PortalStore {
        self.client.portal_store()
    }
}

impl<C: ClientInfo> ClientInfo for DeferredFlush<'_, C> {
    fn socket_addr(&self) -> SocketAddr {
        self.client.socket_addr()
    }

    fn is_secure(&self) -> bool {
        self.client.is_secure()
    }

    fn protocol_version(&self) -> ProtocolVersion {
        self.client.protocol_version()
    }

    fn set_protocol_version(&mut self, version: ProtocolVersion) {
        self.client.set_protocol_version(version)
    }

    fn pid_and_secret_key(&self) -> (i32, SecretKey) {
        self.client.pid_and_secret_key()
    }

    fn set_pid_and_secret_key(&mut self, pid: i32, secret_key: SecretKey) {
        self.client.set_pid_and_secret_key(pid, secret_key)
    }

    fn state(&self) -> PgWireConnectionState {
        self.client.state()
    }

    fn set_state(&mut self, new_state: PgWireConnectionState) {
        self.client.set_state(new_state)
    }

    fn transaction_status(&self) -> TransactionStatus {
        self.client.transaction_status()
    }

    fn set_transaction_status(&mut self, new_status: TransactionStatus) {
        self.client.set_transaction_status(new_status)
    }

    fn metadata(&self) -> &HashMap<String, String> {
        self.client.metadata()
    }

    fn metadata_mut(&mut self) -> &mut HashMap<String, String> {
        self.client.metadata_mut()
    }

    fn session_extensions(&self) -> &SessionExtensions {
        self.client.session_extensions()
    }

    fn sni_server_name(&self) -> Option<&str> {
        self.client.sni_server_name()
    }

    fn client_certificates<'a>(&self) -> Option<&[CertificateDer<'a>]> {
        self.client.client_certificates()
    }
}

/// An extended-query handler whose replies before `Sync` are flushed by `Sync`.
pub(crate) struct DeferFlushes<H>(pub(crate) Arc<H>);

/// `DeferFlushes` passes each message on to the handler it wraps, with the connection wrapped
/// for these messages. (A macro around the whole impl: `async_trait` does not expand macros.)
macro_rules! defer_flushes_of {
    ($($method:ident($message:ty);)*) => {
        #[async_trait]
        impl<H: ExtendedQueryHandler> ExtendedQueryHandler for DeferFlushes<H> {
            type Statement = H::Statement;
            type QueryParser = H::QueryParser;

            fn query_parser(&self) -> Arc<Self::QueryParser> {
                self.0.query_parser()
            }

            $(
            async fn $method<C>(&self, client: &mut C, message: $message) -> PgWireResult<()>
            where
                C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
                C::PortalStore: PortalStore<Statement = Self::Statement>,
                C::Error: Debug,
                PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
            {
                self.0.$method(&mut DeferredFlush::new(client), message).await
            }
            )*

            async fn do_query<C>(
                &self,
                client: &mut C,
                portal: &Portal<Self::Statement>,
                max_rows: usize,
            ) -> PgWireResult<Response>
            where
                C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
                C::PortalStore: PortalStore<Statement = Self::Statement>,
                C::Error: Debug,
                PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
            {
                self.0.do_query(client, portal, max_rows).await
            }
        }
    };
}

defer_flushes_of! {
    on_parse(Parse);
    on_bind(Bind);
    on_describe(Describe);
    on_execute(Execute);
    on_close(Close);
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_postgres::pgwire::messages::copy::CopyInResponse;
    use datafusion_postgres::pgwire::messages::extendedquery::ParseComplete;
    use futures::SinkExt;

    /// A connection that counts what reaches it.
    #[derive(Default)]
    struct Counting {
        sent: usize,
        flushes: usize,
    }

    impl Sink<PgWireBackendMessage> for Counting {
        type Error = PgWireError;

        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<PgWireResult<()>> {
            Poll::Ready(Ok(()))
        }

        fn start_send(mut self: Pin<&mut Self>, _: PgWireBackendMessage) -> PgWireResult<()> {
            self.sent += 1;
            Ok(())
        }

        fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<PgWireResult<()>> {
            self.flushes += 1;
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<PgWireResult<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn replies_wait_for_sync_unless_the_client_must_answer_first() {
        let mut socket = Counting::default();
        let mut deferred = DeferredFlush::new(&mut socket);
        // `send` flushes after each message; none of these reaches the socket's flush.
        for _ in 0..3 {
            deferred
                .send(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
                .await
                .unwrap();
        }
        deferred
            .send(PgWireBackendMessage::CopyInResponse(CopyInResponse::new(
                0,
                1,
                vec![0],
            )))
            .await
            .unwrap();
        // Once flushed for real, later replies wait again.
        deferred
            .send(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
            .await
            .unwrap();
        assert_eq!((socket.sent, socket.flushes), (5, 1));
    }
}
