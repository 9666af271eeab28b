//! `portcullis serve` (run the server) and `portcullis healthcheck` (probe
//! a running one).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::{Context as _, bail};

use crate::config::Config;
use crate::factory::Overrides;
use crate::startup::{App, shutdown_signal};

/// Runs the server until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (PORTCULLIS_LISTEN)", config.listen))?;
    let issuer = config.issuer.clone();
    let app = Box::pin(App::build(config, listener, Overrides::default())).await?;
    let _purge = start_purge(&app);
    let _archive = start_archive(&app);
    let management = app.management_addr().map(|a| a.to_string());
    tracing::info!(addr = %app.local_addr()?, %issuer, database = app.state().store.backend_name(), management = management.as_deref().unwrap_or("off"), "listening");
    // Boxed: the server's future is large (clippy::large_futures).
    Box::pin(app.run_until_stopped(shutdown_signal())).await
}

/// Starts the periodic purge of dead rows (`PORTCULLIS_PURGE_INTERVAL_SECS`;
/// stopped when the returned guard is dropped, after the server stopped).
fn start_purge(app: &App) -> Option<crate::app::housekeeping::PeriodicPurge> {
    let state = app.state();
    crate::app::housekeeping::spawn_periodic(
        state.store.clone(),
        state.clock.clone(),
        crate::app::housekeeping::PurgeSettings::from_config(&state.config),
        state.config.purge_interval,
    )
}

/// Starts the periodic event archive (`PORTCULLIS_ARCHIVE_INTERVAL_SECS`,
/// when an archive is configured; stopped when the guard is dropped).
fn start_archive(app: &App) -> Option<crate::app::archive::PeriodicArchive> {
    let state = app.state();
    let every = state.config.archive.as_ref()?.interval;
    crate::app::archive::spawn_periodic(
        state.archive.clone()?,
        state.event_reader.clone(),
        state.clock.clone(),
        every,
    )
}

/// The address `healthcheck` probes: the listen address, with an
/// unspecified host (`0.0.0.0`, `::`) replaced by loopback.
pub fn probe_addr(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    SocketAddr::new(ip, listen.port())
}

/// Requests `/healthz` of the local server; an error unless it answers 2xx.
pub async fn healthcheck(config: &Config) -> anyhow::Result<()> {
    let healthz = crate::protocol::endpoints::Endpoint::Healthz.path();
    let url = format!("http://{}{healthz}", probe_addr(config.listen));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .no_proxy()
        .build()
        .context("cannot build an HTTP client")?;
    let resp = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("{url} is unreachable"))?;
    if !resp.status().is_success() {
        bail!("{url} answered {}", resp.status());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthcheck_probes_loopback_when_listening_everywhere() {
        let probe = |s: &str| probe_addr(s.parse().unwrap()).to_string();
        assert_eq!(probe("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(probe("[::]:8080"), "[::1]:8080");
        assert_eq!(probe("10.1.2.3:9000"), "10.1.2.3:9000");
    }
}
