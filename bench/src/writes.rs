//! Organization + API token creation: HTTP against the real server vs the same inserts
//! straight against the store, in the same transaction shape (each write with its audit event,
//! the token's after the organization's existence check, as the core does).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use palisade::open_store;
use palisade_core::audit::{Actor, AuditEvent, Change, ObjectKind};
use palisade_core::id::{ApiTokenId, AuditEventId, OrganizationId};
use palisade_core::model::{now, ApiToken, Organization, OrganizationStatus};
use palisade_core::secret::new_token_secret;
use palisade_core::{Scope, Store};
use palisade_testkit::{Backend, TestDatabase};
use serde_json::json;

use crate::measure::{drive, ms, Stats};
use crate::{backend_name, db_settings, serve, OPERATOR};

pub async fn run(backends: &[Backend], levels: &[usize], pairs: usize, max: Duration) -> anyhow::Result<()> {
    println!(
        "palisade write path: organization + API token pairs ({pairs} per level, at most {}s)",
        max.as_secs()
    );
    println!(
        "{:>9} {:>8} | {:>11} {:>8} {:>8} | {:>11} {:>8} {:>8} | {:>6}",
        "backend", "clients", "http pair/s", "p50 ms", "p99 ms", "raw pair/s", "p50 ms", "p99 ms", "ratio"
    );
    for &backend in backends {
        for &clients in levels {
            let (http, raw) = level(backend, clients, pairs, max).await?;
            println!(
                "{:>9} {:>8} | {:>11.0} {:>8.2} {:>8.2} | {:>11.0} {:>8.2} {:>8.2} | {:>5.0}%",
                backend_name(backend),
                clients,
                http.rate(),
                ms(http.percentile(0.5)),
                ms(http.percentile(0.99)),
                raw.rate(),
                ms(raw.percentile(0.5)),
                ms(raw.percentile(0.99)),
                100.0 * http.rate() / raw.rate(),
            );
        }
    }
    println!("ratio = HTTP throughput as a share of the raw store ceiling (same inserts, same transactions, no HTTP)");
    Ok(())
}

async fn level(
    backend: Backend,
    clients: usize,
    pairs: usize,
    max: Duration,
) -> anyhow::Result<(Stats, Stats)> {
    let db = TestDatabase::new(backend).await;
    let crate::Served { base, stop, server, .. } = serve(&db.url).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
    let http = drive(clients, pairs, max, move |n| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let sub = format!("h-{n}");
            let org: serde_json::Value = client
                .post(format!("{base}/api/v1/organizations"))
                .bearer_auth(OPERATOR)
                .json(&json!({"name": sub, "sub_domain": sub}))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let id = org["organization"]["id"].as_str().context("no id")?;
            client
                .post(format!("{base}/api/v1/organizations/{id}/api_tokens"))
                .bearer_auth(OPERATOR)
                .json(&json!({"name": "bench", "scopes": ["security_groups", "ip_addresses"]}))
                .send()
                .await?
                .error_for_status()?;
            Ok(true)
        }
    })
    .await?;
    let _ = stop.send(());
    server.await??;
    drop(db);

    let db = TestDatabase::new(backend).await;
    let store: Arc<dyn Store> = open_store(&db.url, &db_settings()).await?;
    let raw = drive(clients, pairs, max, move |n| {
        let store = store.clone();
        async move {
            let at = now();
            let sub = format!("r-{n}");
            let org = Organization {
                id: OrganizationId::random(),
                name: sub.clone(),
                sub_domain: sub,
                status: OrganizationStatus::Active,
                resource_creation_restricted: false,
                created_at: at,
                updated_at: at,
            };
            // As the core writes it: the organization and its audit event, in one transaction.
            let mut tx = store.write().await?;
            tx.insert_organization(&::palisade_testkit::grants::op(), &org).await?;
            tx.record_audit(&audited(Change::created(Some(org.id), ObjectKind::Organization, org.id, &org)))
                .await?;
            tx.commit().await?;
            let id = ApiTokenId::random();
            let (_, hash) = new_token_secret(id);
            let token = ApiToken {
                id,
                organization_id: org.id,
                name: "bench".into(),
                scopes: vec![Scope::SECURITY_GROUPS, Scope::IP_ADDRESSES],
                allowed_networks: vec![],
                expires_at: None,
                created_at: at,
                server_id: None,
                revoked_at: None,
            };
            let mut tx = store.write().await?;
            tx.organization(org.id).await?;
            tx.insert_api_token(&::palisade_testkit::grants::grant(token.organization_id), &token, &hash)
                .await?;
            tx.record_audit(&audited(Change::created(Some(org.id), ObjectKind::ApiToken, id, &token)))
                .await?;
            tx.commit().await?;
            Ok(true)
        }
    })
    .await?;
    Ok((http, raw))
}

/// The audit event the core records for `change` (the operator's, through the native face).
fn audited(change: Change) -> AuditEvent {
    AuditEvent {
        id: AuditEventId::random(),
        at: now(),
        organization_id: change.organization_id,
        actor: Actor::Operator,
        face: "native".into(),
        request_id: Some(uuid::Uuid::new_v4().to_string()),
        operation: change.operation,
        object_kind: change.object_kind,
        object_id: change.object_id,
        changes: change.changes,
    }
}
