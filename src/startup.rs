//! Building and running the HTTP server (zero2prod's `Application`).

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::factory::{self, Overrides};
use crate::http;
use crate::state::AppState;

/// A built server, bound and ready to run.
pub struct App {
    listener: TcpListener,
    state: AppState,
}

impl App {
    /// Builds the adapters and the router on an already bound listener (tests
    /// bind `127.0.0.1:0` first so the issuer can carry the real port).
    pub async fn build(
        config: Config,
        listener: TcpListener,
        overrides: Overrides,
    ) -> anyhow::Result<Self> {
        let state = factory::build(config, overrides)
            .await
            .context("start-up failed")?;
        Ok(Self { listener, state })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
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
        let _refresher = spawn_key_refresh(&self.state);
        let service = http::service(self.state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            let _ = tx.send(());
        };
        let server = axum::serve(
            self.listener,
            axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
                SocketAddr,
            >(service),
        )
        .with_graceful_shutdown(signal);
        let server = tokio::spawn(async move { server.await });
        tokio::pin!(server);
        tokio::select! {
            res = &mut server => { res.context("server task failed")?.context("server failed")?; }
            _ = rx => {
                tracing::info!("shutting down: draining in-flight requests");
                if let Ok(res) = tokio::time::timeout(grace, &mut server).await {
                    res.context("server task failed")?.context("server failed")?;
                } else {
                    tracing::warn!(?grace, "grace period over; closing remaining connections");
                }
            }
        }
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
