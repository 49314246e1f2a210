//! `/conversations/{session_id}` (the session's traces as a timeline of turns) and `/agents`
//! (per-agent statistics over a window).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State as AxState};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::auth::Access;
use super::error::UiError;
use super::html::{self, Esc, Frame, Nav, url_enc};
use crate::http::{State, blocking};
use crate::store::ui as uistore;
use crate::timefmt;

/// The text a person typed or read, from a root span's input or output: a string as is; an
/// object's only string field (`{"question": "…"}`, ignoring the SDK's `agent_name`); else the
/// JSON.
fn message_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Object(m) => {
            let mut fields = m.iter().filter(|(k, _)| k.as_str() != "agent_name");
            match (fields.next(), fields.next()) {
                (Some((_, Value::String(s))), None) => s.clone(),
                _ => html::preview(v, 2000),
            }
        }
        _ => html::preview(v, 2000),
    }
}

/// `GET /conversations/{session_id}`.
pub async fn conversation(
    AxState(state): AxState<State>,
    access: Access,
    Path(session_id): Path<String>,
) -> Result<Response, UiError> {
    let scope = access.scope.clone();
    let prices = Arc::clone(&state.prices);
    let sid = session_id.clone();
    let turns = blocking(&state, move |s| {
        uistore::conversation_turns(s, &scope, &prices, &sid)
    })
    .await?;
    if turns.is_empty() {
        return Err(UiError::NotFound(format!(
            "conversation {session_id:?} not found"
        )));
    }
    let tokens: u64 = turns.iter().map(|t| t.usage.total_tokens).sum();
    let cost = turns
        .iter()
        .filter_map(|t| t.usage.cost_usd)
        .reduce(|a, b| a + b);
    let users: Vec<&str> = turns
        .iter()
        .map(|t| t.user_id.as_str())
        .filter(|u| !u.is_empty())
        .fold(Vec::new(), |mut acc, u| {
            if !acc.contains(&u) {
                acc.push(u);
            }
            acc
        });
    let mut body = format!(
        "<dl class=\"facts\"><div><dt>Turns</dt><dd id=\"turn-count\">{}</dd></div>\
         <div><dt>User</dt><dd>{}</dd></div><div><dt>Tokens</dt><dd>{}</dd></div>\
         <div><dt>Cost</dt><dd id=\"conversation-cost\">{}</dd></div>\
         <div><dt>Traces</dt><dd><a href=\"/?conversation={}\">list</a></dd></div></dl>\
         <ol class=\"timeline\">",
        turns.len(),
        Esc(&users.join(", ")),
        html::count(tokens),
        html::cost(cost),
        url_enc(&session_id),
    );
    for (i, t) in turns.iter().enumerate() {
        let s = &t.summary;
        let _ = write!(
            body,
            "<li class=\"turn\" data-trace-id=\"{id}\"><div class=\"turn-head\">\
             <span class=\"muted\">#{n} · {start}</span> {status} \
             <a href=\"/traces/{href}\">{name}</a> <span class=\"muted\">{by}</span>\
             <span class=\"turn-stats\">{dur} · {tokens} tokens · {cost}</span></div>\
             <div class=\"bubble user\"><span class=\"who\">{user}</span>{input}</div>\
             <div class=\"bubble agent\"><span class=\"who\">{agent}</span>{output}</div></li>",
            id = Esc(&s.trace_id),
            n = i + 1,
            start = Esc(&html::time(&s.timestamp)),
            status = html::badge(&s.status),
            href = url_enc(&s.trace_id),
            name = Esc(&s.root_name),
            agent = Esc(if s.agent_name.is_empty() {
                "agent"
            } else {
                &s.agent_name
            }),
            by = if s.agent_name == s.root_name {
                String::new()
            } else {
                Esc(&s.agent_name).to_string()
            },
            dur = html::duration(s.duration_ms),
            tokens = html::count(t.usage.total_tokens),
            cost = html::cost(t.usage.cost_usd),
            user = Esc(if t.user_id.is_empty() {
                "user"
            } else {
                &t.user_id
            }),
            input = Esc(&message_text(&t.input)),
            output = Esc(&message_text(&t.output)),
        );
    }
    body.push_str("</ol>");
    let title = format!("Conversation {session_id}");
    let frame = Frame {
        title: &title,
        nav: Nav::Traces,
        viewer: access.viewer,
    };
    Ok(html::page(&frame, &body))
}

/// `?window=` of the agents page.
#[derive(Debug, Default, Deserialize)]
pub struct AgentParams {
    window: Option<String>,
}

const WINDOWS: [(&str, &str, i64); 5] = [
    ("1h", "last hour", 3600),
    ("24h", "last 24 hours", 86_400),
    ("7d", "last 7 days", 7 * 86_400),
    ("30d", "last 30 days", 30 * 86_400),
    ("all", "all time", 0),
];

/// `GET /agents`.
pub async fn agents(
    AxState(state): AxState<State>,
    access: Access,
    Query(params): Query<AgentParams>,
) -> Result<Response, UiError> {
    let window = params.window.as_deref().unwrap_or("24h");
    let secs = WINDOWS
        .iter()
        .find(|(k, _, _)| *k == window)
        .map(|(_, _, s)| *s)
        .ok_or_else(|| UiError::BadRequest(format!("window: unknown window {window:?}")))?;
    let since = (secs > 0)
        .then(|| timefmt::parse_micros(&timefmt::now_rfc3339()).unwrap_or(0) - secs * 1_000_000);
    let scope = access.scope.clone();
    let prices = Arc::clone(&state.prices);
    let stats = blocking(&state, move |s| {
        uistore::agent_stats(s, &scope, &prices, since)
    })
    .await?;
    let mut body = String::from("<form class=\"filters\" method=\"get\" action=\"/agents\">");
    body.push_str("<label>Window<select name=\"window\">");
    for (k, label, _) in WINDOWS {
        let sel = if k == window { " selected" } else { "" };
        let _ = write!(body, "<option value=\"{k}\"{sel}>{label}</option>");
    }
    body.push_str(
        "</select></label><button type=\"submit\">Show</button></form>\
         <table class=\"agents\"><thead><tr><th>Agent</th><th class=\"num\">Traces</th>\
         <th class=\"num\">Errors</th><th class=\"num\">Error rate</th><th class=\"num\">p50</th>\
         <th class=\"num\">p95</th><th class=\"num\">Tokens</th><th class=\"num\">Cost</th>\
         </tr></thead><tbody>",
    );
    if stats.is_empty() {
        body.push_str("<tr class=\"empty\"><td colspan=\"8\">No traces in this window.</td></tr>");
    }
    for a in &stats {
        let name = if a.agent_name.is_empty() {
            "(none)"
        } else {
            &a.agent_name
        };
        let _ = write!(
            body,
            "<tr data-agent=\"{attr}\"><td><a href=\"/?agent={href}\">{name}</a></td>\
             <td class=\"num\">{traces}</td><td class=\"num\">{errors}</td>\
             <td class=\"num\">{rate:.1}%</td><td class=\"num\">{p50}</td><td class=\"num\">{p95}</td>\
             <td class=\"num\">{tokens}</td><td class=\"num cost\">{cost}</td></tr>",
            attr = Esc(&a.agent_name),
            href = url_enc(&a.agent_name),
            name = Esc(name),
            traces = a.traces,
            errors = a.errors,
            rate = a.error_rate() * 100.0,
            p50 = html::duration(a.p50_ms),
            p95 = html::duration(a.p95_ms),
            tokens = html::count(a.usage.total_tokens),
            cost = html::cost(a.usage.cost_usd),
        );
    }
    body.push_str("</tbody></table>");
    let frame = Frame {
        title: "Agents",
        nav: Nav::Agents,
        viewer: access.viewer,
    };
    Ok(html::page(&frame, &body))
}
