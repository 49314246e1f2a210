//! `/`: the trace list, newest first, with filters and keyset pagination; the first page polls
//! `/ui/fragments/traces` (the same rows as HTML) so new traces appear without a reload.

use std::fmt::Write as _;

use axum::extract::{Query, State as AxState};
use axum::response::Response;
use serde::Deserialize;

use super::auth::Access;
use super::error::UiError;
use super::html::{self, Esc, Frame, Nav, url_enc};
use crate::http::{State, blocking};
use crate::store::traces::parse_cursor;
use crate::store::ui::{self as uistore, TraceRow, UiTraceFilter};
use crate::timefmt;

/// Rows per page.
const PAGE_SIZE: usize = 50;

/// The list's query: filters, time range and cursor.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ListParams {
    agent: Option<String>,
    conversation: Option<String>,
    user: Option<String>,
    status: Option<String>,
    environment: Option<String>,
    q: Option<String>,
    range: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
}

/// Relative ranges offered by the form, with their length in seconds.
const RANGES: [(&str, &str, i64); 6] = [
    ("", "any time", 0),
    ("15m", "last 15 minutes", 15 * 60),
    ("1h", "last hour", 3600),
    ("24h", "last 24 hours", 86_400),
    ("7d", "last 7 days", 7 * 86_400),
    ("30d", "last 30 days", 30 * 86_400),
];

fn now_us() -> i64 {
    timefmt::parse_micros(&timefmt::now_rfc3339()).unwrap_or(0)
}

impl ListParams {
    fn filter(&self) -> Result<UiTraceFilter, UiError> {
        let time = |field: &str, v: &Option<String>| -> Result<Option<i64>, UiError> {
            match v.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(s) => timefmt::parse_query_time(s).map(Some).ok_or_else(|| {
                    UiError::BadRequest(format!(
                        "{field}: {s:?} is not RFC 3339 or seconds since the epoch"
                    ))
                }),
            }
        };
        let mut since_us = time("since", &self.since)?;
        if let Some(r) = self.range.as_deref().filter(|r| !r.is_empty()) {
            let secs = RANGES
                .iter()
                .find(|(k, _, _)| *k == r)
                .map(|(_, _, s)| *s)
                .ok_or_else(|| UiError::BadRequest(format!("range: unknown range {r:?}")))?;
            let from = now_us() - secs * 1_000_000;
            since_us = Some(since_us.map_or(from, |s| s.max(from)));
        }
        Ok(UiTraceFilter {
            agent_name: self.agent.clone(),
            session_id: self.conversation.clone(),
            user_id: self.user.clone(),
            status: self.status.clone(),
            environment: self.environment.clone(),
            name_contains: self.q.clone(),
            since_us,
            until_us: time("until", &self.until)?,
        })
    }

    /// The query string of the filters (no cursor), `&`-joined, for links and polling.
    fn filter_query(&self) -> String {
        let pairs = [
            ("agent", &self.agent),
            ("conversation", &self.conversation),
            ("user", &self.user),
            ("status", &self.status),
            ("environment", &self.environment),
            ("q", &self.q),
            ("range", &self.range),
            ("since", &self.since),
            ("until", &self.until),
        ];
        pairs
            .iter()
            .filter_map(|(k, v)| {
                v.as_deref()
                    .filter(|v| !v.is_empty())
                    .map(|v| format!("{k}={}", url_enc(v)))
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

async fn load(
    state: &State,
    access: Access,
    params: &ListParams,
) -> Result<(Vec<TraceRow>, Option<String>), UiError> {
    let filter = params.filter()?;
    let cursor = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(parse_cursor(c).ok_or_else(|| {
            UiError::BadRequest("cursor: not a cursor from this server".to_owned())
        })?),
    };
    let prices = std::sync::Arc::clone(&state.prices);
    let scope = access.scope;
    Ok(blocking(state, move |s| {
        uistore::list_traces(s, &scope, &prices, &filter, PAGE_SIZE, cursor)
    })
    .await?)
}

/// The `<tr>`s of a page of traces.
fn rows_html(rows: &[TraceRow]) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        out.push_str("<tr class=\"empty\"><td colspan=\"8\">No traces match.</td></tr>");
    }
    for r in rows {
        let t = &r.summary;
        let _ = write!(
            out,
            "<tr data-trace-id=\"{id}\"><td class=\"nowrap\">{start}</td>\
             <td><a class=\"trace-link\" href=\"/traces/{href}\">{name}</a>",
            id = Esc(&t.trace_id),
            start = Esc(&html::time(&t.timestamp)),
            href = url_enc(&t.trace_id),
            name = Esc(if t.root_name.is_empty() {
                &t.trace_id
            } else {
                &t.root_name
            }),
        );
        if !t.session_id.is_empty() {
            let _ = write!(
                out,
                " <a class=\"chip\" title=\"conversation\" href=\"/conversations/{}\">{}</a>",
                url_enc(&t.session_id),
                Esc(&t.session_id)
            );
        }
        let _ = write!(
            out,
            "</td><td>{agent}</td><td>{status}</td><td class=\"num\">{spans}</td>\
             <td class=\"num\">{dur}</td><td class=\"num\">{tokens}</td>\
             <td class=\"num cost\">{cost}</td></tr>",
            agent = Esc(&t.agent_name),
            status = html::badge(&t.status),
            spans = t.span_count,
            dur = html::duration(t.duration_ms),
            tokens = if r.usage.total_tokens > 0 {
                html::count(r.usage.total_tokens)
            } else {
                "—".to_owned()
            },
            cost = html::cost(r.usage.cost_usd),
        );
    }
    out
}

/// `GET /`: the trace list.
pub async fn page(
    AxState(state): AxState<State>,
    access: Access,
    Query(params): Query<ListParams>,
) -> Result<Response, UiError> {
    let viewer = access.viewer.clone();
    let (rows, next) = load(&state, access, &params).await?;
    let fq = params.filter_query();
    let mut body = String::new();
    filter_form(&mut body, &params);
    let first_page = params.cursor.as_deref().is_none_or(str::is_empty);
    let poll = if first_page {
        format!(" data-poll=\"/ui/fragments/traces?{}\"", Esc(&fq))
    } else {
        String::new()
    };
    let _ = write!(
        body,
        "<table class=\"traces\"><thead><tr><th>Start (UTC)</th><th>Name</th><th>Agent</th>\
         <th>Status</th><th class=\"num\">Spans</th><th class=\"num\">Duration</th>\
         <th class=\"num\">Tokens</th><th class=\"num\">Cost</th></tr></thead>\
         <tbody id=\"trace-rows\"{poll}>{}</tbody></table><nav class=\"pager\">",
        rows_html(&rows)
    );
    if !first_page {
        let _ = write!(body, "<a href=\"/?{}\">⇤ Newest</a>", Esc(&fq));
    }
    if let Some(c) = next {
        let sep = if fq.is_empty() { "" } else { "&" };
        let _ = write!(
            body,
            "<a class=\"next\" href=\"/?{}{sep}cursor={}\">Older →</a>",
            Esc(&fq),
            url_enc(&c)
        );
    }
    if first_page {
        body.push_str("<span class=\"muted live\" id=\"live\">live · refreshes every 3 s</span>");
    }
    body.push_str("</nav>");
    let frame = Frame {
        title: "Traces",
        nav: Nav::Traces,
        viewer,
    };
    Ok(html::page(&frame, &body))
}

fn filter_form(out: &mut String, p: &ListParams) {
    let text = |out: &mut String, name: &str, label: &str, v: &Option<String>| {
        let _ = write!(
            out,
            "<label>{label}<input name=\"{name}\" value=\"{}\"></label>",
            Esc(v.as_deref().unwrap_or(""))
        );
    };
    out.push_str("<form class=\"filters\" method=\"get\" action=\"/\">");
    text(out, "q", "Name contains", &p.q);
    text(out, "agent", "Agent", &p.agent);
    text(out, "conversation", "Conversation", &p.conversation);
    text(out, "user", "User", &p.user);
    text(out, "environment", "Environment", &p.environment);
    out.push_str("<label>Status<select name=\"status\">");
    for s in ["", "ok", "error", "timeout", "running"] {
        let sel = if p.status.as_deref().unwrap_or("") == s {
            " selected"
        } else {
            ""
        };
        let label = if s.is_empty() { "any" } else { s };
        let _ = write!(out, "<option value=\"{s}\"{sel}>{label}</option>");
    }
    out.push_str("</select></label><label>Time<select name=\"range\">");
    for (k, label, _) in RANGES {
        let sel = if p.range.as_deref().unwrap_or("") == k {
            " selected"
        } else {
            ""
        };
        let _ = write!(out, "<option value=\"{k}\"{sel}>{label}</option>");
    }
    out.push_str("</select></label>");
    for (name, label, v) in [("since", "From", &p.since), ("until", "To", &p.until)] {
        let _ = write!(
            out,
            "<label>{label}<input name=\"{name}\" value=\"{}\" \
             placeholder=\"RFC 3339 or epoch s\"></label>",
            Esc(v.as_deref().unwrap_or(""))
        );
    }
    out.push_str(
        "<button type=\"submit\">Filter</button><a class=\"reset\" href=\"/\">Reset</a></form>",
    );
}

/// `GET /ui/fragments/traces`: the first page's rows as HTML, for the list's polling.
pub async fn fragment(
    AxState(state): AxState<State>,
    access: Access,
    Query(mut params): Query<ListParams>,
) -> Result<Response, UiError> {
    params.cursor = None;
    let (rows, _) = load(&state, access, &params).await?;
    Ok(html::html_response(rows_html(&rows)))
}
