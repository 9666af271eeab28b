//! Building and running the HTTP server (zero2prod's `Application`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::config::{Config, ConnectionLimits};
use crate::factory::{self, Overrides};
use crate::http;
use crate::ports::Mailer;
use crate::state::AppState;

/// A built server, bound and ready to run.
pub struct App {
    listener: TcpListener,
    management: Option<TcpListener>,
    state: AppState,
    mailer: Arc<dyn Mailer>,
}

impl App {
    /// Builds the adapters and the router on an already bound listener (tests
    /// bind `127.0.0.1:0` first so the issuer can carry the real port), and
    /// binds the management listener (`PORTCULLIS_MANAGEMENT_LISTEN`).
    pub async fn build(
        config: Config,
        listener: TcpListener,
        overrides: Overrides,
    ) -> anyhow::Result<Self> {
        let management_listen = config.management_listen;
        let mailer = match overrides.mailer.clone() {
            Some(m) => m,
            None => factory::build_mailer(&config).context("start-up failed")?,
        };
        // Boxed: the factory's future is large (clippy::large_futures).
        let state = Box::pin(factory::build(config, overrides))
            .await
            .context("start-up failed")?;
        let management = match management_listen {
            Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| {
                format!("cannot listen on {addr} (PORTCULLIS_MANAGEMENT_LISTEN)")
            })?),
            None => None,
        };
        Ok(Self {
            listener,
            management,
            state,
            mailer,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The bound address of the management listener, if it is on.
    pub fn management_addr(&self) -> Option<SocketAddr> {
        self.management.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The state the handlers share (tests reach the store through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run_until_stopped<F>(self, shutdown: F) -> anyhow::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let grace = self.state.config.shutdown_grace;
        let limits = self.state.config.connections;
        let _refresher = spawn_key_refresh(&self.state);
        // The outbox worker: sends queued mail, retrying while the mail
        // server is away (stopped with the server; unsent mail stays queued).
        let _outbox = crate::app::outbox::spawn(&self.state, self.mailer.clone());
        // The delivery worker: sends the back-channel logout tokens queued
        // when sessions end, retrying while a relying party is away.
        let _deliveries = crate::app::backchannel::spawn(&self.state);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
            let _ = tx.send(());
        });
        // The management listener: few connections, the same timeouts.
        let _management = self.management.map(|listener| {
            let router = http::management(self.state.clone());
            let limits = ConnectionLimits {
                max_connections: limits.max_connections.min(MANAGEMENT_CONNECTIONS),
                ..limits
            };
            AbortOnDrop(tokio::spawn(crate::server::serve(
                listener,
                router,
                limits,
                stop_rx.clone(),
            )))
        });
        let service = http::service(self.state.clone());
        let server = AbortOnDrop(tokio::spawn(crate::server::serve(
            self.listener,
            service,
            limits,
            stop_rx,
        )));
        let mut server = server;
        tokio::select! {
            res = &mut server.0 => { res.context("server task failed")?; }
            _ = rx => {
                tracing::info!("shutting down: draining in-flight requests");
                if let Ok(res) = tokio::time::timeout(grace, &mut server.0).await {
                    res.context("server task failed")?;
                } else {
                    tracing::warn!(?grace, "grace period over; closing remaining connections");
                }
            }
        }
        drop(server);
        // Every event emitted so far goes to its store or the spool.
        let events = &self.state.events;
        match events.flush().await {
            Ok(()) => tracing::info!(stats = ?events.stats(), "events flushed"),
            Err(e) => tracing::error!(error = %e, stats = ?events.stats(), "events flush failed"),
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Connections the management listener serves at once (a scraper and an
/// operator, not the public).
const MANAGEMENT_CONNECTIONS: usize = 64;

/// Reloads the signing keys every `PORTCULLIS_KEY_REFRESH_SECS`, so that
/// this instance follows rotations made elsewhere. A failed refresh keeps
/// the keys loaded before and is retried at the next tick. Aborted when the
/// server stops (the returned guard aborts it when dropped).
fn spawn_key_refresh(state: &AppState) -> AbortOnDrop {
    let keys = state.keys.clone();
    let every = state.config.key_rotation.refresh_interval;
    AbortOnDrop(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // the first tick is immediate; keys were just loaded
        loop {
            ticks.tick().await;
            if let Err(e) = keys.refresh().await {
                tracing::warn!(error = %e, "signing key refresh failed; keeping the keys loaded before");
            }
        }
    }))
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
