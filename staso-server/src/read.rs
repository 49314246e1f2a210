//! The read API for people and tests: trace lists, one trace with its spans, conversations.
//!
//! Costs are added when read ([`crate::pricing`]): each span's `cost_usd` (its own, else priced
//! from its tokens, else `null`), a trace's `cost_usd`, and each listed trace's `cost_usd` and
//! `total_tokens`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State as AxState};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::http::{Auth, State, blocking};
use crate::pricing::PriceTable;
use crate::store::traces::{self, TraceFilter, TraceSummary};
use crate::store::ui as uistore;
use crate::store::{Store, StoreResult};
use crate::timefmt;

/// Default page size of `GET /v1/traces`.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page size.
pub const MAX_LIMIT: usize = 500;

/// Query parameters of `GET /v1/traces`.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    agent_name: Option<String>,
    environment: Option<String>,
    workspace_slug: Option<String>,
    session_id: Option<String>,
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/traces`: newest first, filtered, paginated by `cursor`.
pub async fn list_traces(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::field("query", e.body_text()))?;
    let time = |name: &str, v: &Option<String>| -> Result<Option<i64>, ApiError> {
        v.as_deref()
            .map(|s| {
                timefmt::parse_query_time(s).ok_or_else(|| {
                    ApiError::field(name, "must be RFC 3339 or seconds since the epoch")
                })
            })
            .transpose()
    };
    let filter = TraceFilter {
        since_us: time("since", &q.since)?,
        until_us: time("until", &q.until)?,
        agent_name: q.agent_name,
        environment: q.environment,
        workspace_slug: q.workspace_slug,
        session_id: q.session_id,
        status: q.status,
    };
    let limit = match q.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::field(
                    "limit",
                    format!("must be an integer in 1..={MAX_LIMIT}"),
                ));
            }
        },
    };
    let cursor = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            traces::parse_cursor(c)
                .ok_or_else(|| ApiError::field("cursor", "not a cursor from this server"))?,
        ),
    };
    let prices = Arc::clone(&state.prices);
    let (page, next) = blocking(&state, move |s| {
        let (page, next) = traces::list(s, &scope, &filter, limit, cursor)?;
        Ok((with_usage(s, &prices, page)?, next))
    })
    .await?;
    Ok(Json(json!({ "traces": page, "next_cursor": next })))
}

/// `GET /v1/traces/{trace_id}`.
pub async fn get_trace(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(trace_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = trace_id.clone();
    let mut trace = blocking(&state, move |s| traces::get(s, &scope, &id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("trace {trace_id:?} not found")))?;
    add_span_costs(&mut trace, &state.prices);
    Ok(Json(trace))
}

/// `GET /v1/conversations/{session_id}`: the session's traces, oldest first.
pub async fn conversation(
    AxState(state): AxState<State>,
    Auth(scope): Auth,
    Path(session_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let sid = session_id.clone();
    let prices = Arc::clone(&state.prices);
    let list = blocking(&state, move |s| {
        with_usage(s, &prices, traces::conversation(s, &scope, &sid)?)
    })
    .await?;
    if list.is_empty() {
        return Err(ApiError::NotFound(format!(
            "conversation {session_id:?} not found"
        )));
    }
    Ok(Json(json!({ "session_id": session_id, "traces": list })))
}

/// Each summary as JSON plus its `cost_usd` (`null` when unknown) and `total_tokens`.
fn with_usage(
    store: &Store,
    prices: &PriceTable,
    page: Vec<TraceSummary>,
) -> StoreResult<Vec<Value>> {
    let keys: Vec<(String, String)> = page
        .iter()
        .map(|t| (t.workspace_slug.clone(), t.trace_id.clone()))
        .collect();
    let mut usage = uistore::trace_usage(store, prices, &keys)?;
    page.into_iter()
        .map(|t| {
            let u = usage.remove(&t.trace_id).unwrap_or_default();
            let mut v = serde_json::to_value(&t)?;
            if let Value::Object(m) = &mut v {
                m.insert("total_tokens".into(), json!(u.total_tokens));
                m.insert("cost_usd".into(), json!(u.cost_usd));
            }
            Ok(v)
        })
        .collect()
}

/// Adds `cost_usd` to each span of a trace (its own cost, else priced, else `null`) and the sum
/// of the known ones to the trace (`null` when none is known).
pub fn add_span_costs(trace: &mut Value, prices: &PriceTable) {
    let mut total: Option<f64> = None;
    if let Some(spans) = trace.get_mut("spans").and_then(Value::as_array_mut) {
        for span in spans {
            let cost = prices.cost_of_span_json(span).map(|c| c.usd);
            if let Some(c) = cost {
                *total.get_or_insert(0.0) += c;
            }
            if let Value::Object(m) = span {
                m.insert("cost_usd".into(), json!(cost));
            }
        }
    }
    if let Value::Object(m) = trace {
        m.insert("cost_usd".into(), json!(total));
    }
}
