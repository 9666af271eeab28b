//! `portcullis resource create|list|show|update|delete`: the APIs
//! registered for RFC 8707 resource indicators. The rules are
//! [`crate::app::resources`], shared with `/admin/v1/resources`; every
//! change is recorded as an `admin_change` event (`initiator` `cli`).

use std::sync::Arc;

use clap::Subcommand;

use super::open_store;
use crate::adapters::system::{OsRng, SystemClock};
use crate::app::resources::{self, NewResource, ResourceChanges, ResourceView};
use crate::config::Config;
use crate::domain::event::Event;
use crate::factory;
use crate::ports::{Clock, Store};

/// `resource …`
#[derive(Debug, Subcommand)]
pub enum ResourceCmd {
    /// Register an API: access tokens asked for it (the `resource`
    /// parameter) carry its identifier as `aud` and only its scopes.
    Create {
        /// The resource indicator: an absolute URI without a fragment
        /// (e.g. https://api.example.com).
        #[arg(long, value_name = "URI")]
        id: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// A scope the API defines (repeat for several; at least one, no
        /// OpenID scope).
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the registered APIs.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one API.
    Show {
        /// The resource indicator.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change an API's name or scopes (the scopes given replace them all).
    Update {
        /// The resource indicator.
        id: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A scope the API defines (repeat for several; replaces the list).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete an API (refused while clients still allow it).
    Delete {
        /// The resource indicator.
        id: String,
    },
}

fn print(r: &ResourceView, json: bool) {
    if json {
        println!("{}", serde_json::to_value(r).unwrap_or_default());
    } else {
        println!("{}\t{}\t{}", r.resource_id, r.name, r.scopes.join(" "));
    }
}

/// Records a change as an `admin_change` event; the change is made
/// already, so a sink that cannot be opened is reported on stderr.
async fn record(config: &Config, store: &Arc<dyn Store>, action: &'static str, target: &str) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // An admin change is a security alert when alerts are configured
    // (queued in the outbox), even when the event sink cannot be opened.
    let sink = factory::build_delivering_sink(
        config,
        super::audit_sink(config, clock.clone()),
        store.clone(),
        clock.clone(),
    );
    let stamp = crate::http::audit::event_stamp(&OsRng, clock.now());
    sink.emit(Event::admin_change_by_cli(stamp, action, target));
    if let Err(e) = sink.flush().await {
        eprintln!("warning: the change was not recorded in the events ({e})");
    }
}

/// Runs a `resource` command.
pub async fn run(cmd: ResourceCmd, config: &Config) -> anyhow::Result<()> {
    let shared = open_store(config).await?;
    let store = shared.as_ref();
    match cmd {
        ResourceCmd::Create {
            id,
            name,
            scopes,
            json,
        } => {
            let r =
                resources::create(store, &SystemClock, NewResource { id, name, scopes }).await?;
            record(config, &shared, resources::ACTION_CREATED, &r.id).await;
            print(&ResourceView::from(&r), json);
        }
        ResourceCmd::List { json } => {
            let all = resources::list(store).await?;
            let views: Vec<ResourceView> = all.iter().map(ResourceView::from).collect();
            if json {
                println!("{}", serde_json::to_value(&views).unwrap_or_default());
            } else {
                for v in &views {
                    print(v, false);
                }
            }
        }
        ResourceCmd::Show { id, json } => {
            let r = resources::get(store, &id).await?;
            print(&ResourceView::from(&r), json);
        }
        ResourceCmd::Update {
            id,
            name,
            scopes,
            json,
        } => {
            let changes = ResourceChanges {
                name,
                scopes: (!scopes.is_empty()).then_some(scopes),
            };
            let r = resources::update(store, &SystemClock, &id, changes).await?;
            record(config, &shared, resources::ACTION_UPDATED, &r.id).await;
            print(&ResourceView::from(&r), json);
        }
        ResourceCmd::Delete { id } => {
            resources::delete(store, &id).await?;
            record(config, &shared, resources::ACTION_DELETED, &id).await;
            println!("deleted resource {id}");
        }
    }
    Ok(())
}
