//! `/traces/{trace_id}`: the trace's header, its waterfall and the detail panel of the selected
//! span (`?span=`, default the first root), with the form posting a score to
//! `/traces/{trace_id}/scores` (stored as an annotation, as `POST /v1/traces/{id}/annotations`
//! would).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State as AxState};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;
use staso_wire::annotation::{Annotation, AnnotationRequest};

use super::auth::{Access, check_same_origin};
use super::error::UiError;
use super::html::{self, Esc, Frame, Nav, url_enc};
use super::waterfall;
use crate::http::{State, blocking};
use crate::pricing::{CostSource, PriceTable};
use crate::store::{annotations, traces};
use crate::timefmt;

/// `?span=` of the trace page.
#[derive(Debug, Default, Deserialize)]
pub struct TraceParams {
    span: Option<String>,
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// `GET /traces/{trace_id}`.
pub async fn page(
    AxState(state): AxState<State>,
    access: Access,
    Path(trace_id): Path<String>,
    Query(params): Query<TraceParams>,
) -> Result<Response, UiError> {
    let scope = access.scope.clone();
    let id = trace_id.clone();
    let (trace, notes) = blocking(&state, move |s| {
        Ok((
            traces::get(s, &scope, &id)?,
            annotations::list(s, &scope, &id)?,
        ))
    })
    .await?;
    let trace = trace.ok_or_else(|| UiError::NotFound(format!("trace {trace_id:?} not found")))?;
    let empty = Vec::new();
    let spans = trace
        .get("spans")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let layout = waterfall::layout(spans);
    let selected = params
        .span
        .as_deref()
        .and_then(|want| layout.bars.iter().find(|b| b.span_id == want))
        .or(layout.bars.first());
    let mut body = String::new();
    header(&mut body, &trace, spans, &state.prices, layout.total_us);
    body.push_str("<div class=\"trace-grid\"><section class=\"card\"><h2>Waterfall</h2>");
    body.push_str(&waterfall::render(
        &layout,
        &trace_id,
        selected.map(|b| b.span_id),
    ));
    body.push_str("</section><section class=\"card detail\" id=\"detail\">");
    match selected {
        Some(b) => detail(&mut body, &trace_id, b.span, &notes, &state.prices),
        None => body.push_str("<p class=\"muted\">This trace has no spans.</p>"),
    }
    body.push_str("</section></div>");
    let title = layout
        .bars
        .first()
        .map(|b| text(b.span, "name").to_owned())
        .unwrap_or_else(|| trace_id.clone());
    let frame = Frame {
        title: &title,
        nav: Nav::Traces,
        viewer: access.viewer,
    };
    Ok(html::page(&frame, &body))
}

fn header(out: &mut String, trace: &Value, spans: &[Value], prices: &PriceTable, total_us: i64) {
    let mut tokens = 0u64;
    let mut cost: Option<f64> = None;
    let mut status = "ok";
    let (mut agent, mut session) = ("", "");
    for s in spans {
        let t = u64_of(s, "total_tokens");
        tokens += if t > 0 {
            t
        } else {
            u64_of(s, "input_tokens") + u64_of(s, "output_tokens")
        };
        if let Some(c) = prices.cost_of_span_json(s) {
            *cost.get_or_insert(0.0) += c.usd;
        }
        match text(s, "status") {
            "error" => status = "error",
            "timeout" if status != "error" => status = "timeout",
            _ => {}
        }
        if agent.is_empty() {
            agent = text(s, "agent_name");
        }
        if session.is_empty() {
            session = text(s, "session_id");
        }
    }
    let _ = write!(
        out,
        "<dl class=\"facts\"><div><dt>Trace</dt><dd class=\"mono\" id=\"trace-id\">{}</dd></div>\
         <div><dt>Status</dt><dd>{}</dd></div><div><dt>Start (UTC)</dt><dd>{}</dd></div>\
         <div><dt>Duration</dt><dd>{}</dd></div><div><dt>Spans</dt><dd>{}</dd></div>\
         <div><dt>Tokens</dt><dd id=\"trace-tokens\">{}</dd></div>\
         <div><dt>Cost</dt><dd id=\"trace-cost\">{}</dd></div>\
         <div><dt>Agent</dt><dd>{}</dd></div><div><dt>Environment</dt><dd>{}</dd></div>\
         <div><dt>Workspace</dt><dd>{}</dd></div>",
        Esc(text(trace, "trace_id")),
        html::badge(status),
        Esc(&html::time(text(trace, "timestamp"))),
        html::duration(total_us as f64 / 1000.0),
        spans.len(),
        html::count(tokens),
        html::cost(cost),
        Esc(agent),
        Esc(text(trace, "environment")),
        Esc(text(trace, "workspace_slug")),
    );
    if !session.is_empty() {
        let _ = write!(
            out,
            "<div><dt>Conversation</dt><dd><a href=\"/conversations/{}\">{}</a></dd></div>",
            url_enc(session),
            Esc(session)
        );
    }
    out.push_str("</dl>");
}

fn fact(out: &mut String, id: &str, label: &str, value: &str) {
    if !value.is_empty() {
        let _ = write!(
            out,
            "<div><dt>{label}</dt><dd id=\"d-{id}\">{}</dd></div>",
            Esc(value)
        );
    }
}

fn detail(out: &mut String, trace_id: &str, s: &Value, notes: &[Annotation], prices: &PriceTable) {
    let attrs = s.get("attributes").cloned().unwrap_or(Value::Null);
    let span_id = text(s, "span_id");
    let _ = write!(
        out,
        "<h2 id=\"detail-name\">{}</h2><p>{} {}</p><dl class=\"facts small\">",
        Esc(text(s, "name")),
        html::badge(text(s, "kind")),
        html::badge(text(s, "status")),
    );
    fact(out, "span", "Span", span_id);
    fact(out, "parent", "Parent", text(s, "parent_span_id"));
    fact(out, "start", "Start", &html::time(text(s, "timestamp")));
    let ms = s.get("duration_ms").and_then(Value::as_f64).unwrap_or(0.0);
    fact(out, "duration", "Duration", &html::duration(ms));
    fact(out, "model", "Model", text(s, "model"));
    if text(s, "requested_model") != text(s, "model") {
        fact(
            out,
            "requested",
            "Requested model",
            text(s, "requested_model"),
        );
    }
    fact(out, "provider", "Provider", text(s, "provider"));
    let (i, o, t) = (
        u64_of(s, "input_tokens"),
        u64_of(s, "output_tokens"),
        u64_of(s, "total_tokens"),
    );
    if i + o + t > 0 {
        let total = if t > 0 { t } else { i + o };
        let tokens = format!(
            "{} in · {} out · {} total",
            html::count(i),
            html::count(o),
            html::count(total)
        );
        fact(out, "tokens", "Tokens", &tokens);
    }
    let cached = ["cached_input_tokens", "cache_read_input_tokens"]
        .iter()
        .map(|k| u64_of(&attrs, k))
        .max()
        .unwrap_or(0);
    if cached > 0 {
        fact(out, "cached", "Cached input", &html::count(cached));
    }
    if let Some(c) = prices.cost_of_span_json(s) {
        let source = match c.source {
            CostSource::Reported => "reported by the span",
            CostSource::PriceTable => "from the price table",
        };
        fact(
            out,
            "cost",
            "Cost",
            &format!("{} ({source})", html::cost(Some(c.usd))),
        );
    }
    if let Some(ttft) = attrs.get("time_to_first_token").and_then(Value::as_f64) {
        fact(out, "ttft", "Time to first token", &html::duration(ttft));
    }
    fact(out, "agent", "Agent", text(s, "agent_name"));
    fact(out, "user", "User", text(s, "user_id"));
    out.push_str("</dl>");
    if let Some(tags) = attrs.get("tags").and_then(Value::as_array) {
        out.push_str("<p class=\"tags\" id=\"d-tags\">");
        for t in tags {
            let _ = write!(
                out,
                "<span class=\"chip\">{}</span> ",
                Esc(&html::preview(t, 80))
            );
        }
        out.push_str("</p>");
    }
    if text(s, "status") == "error" || !text(s, "error_message").is_empty() {
        let _ = write!(
            out,
            "<div class=\"error-box\" id=\"d-error\"><strong>{}</strong> {}</div>",
            Esc(attrs
                .get("exception.type")
                .and_then(Value::as_str)
                .unwrap_or("error")),
            Esc(text(s, "error_message"))
        );
    }
    annotations_html(out, notes, span_id);
    let _ = write!(
        out,
        "<form method=\"post\" action=\"/traces/{}/scores\" class=\"score-form\" id=\"score-form\">\
         <input type=\"hidden\" name=\"span_id\" value=\"{}\">\
         <label>Score name<input name=\"name\" required value=\"quality\"></label>\
         <label>Value<input name=\"value\" required inputmode=\"decimal\" placeholder=\"0.9\"></label>\
         <label>Comment<input name=\"comment\"></label>\
         <button type=\"submit\">Add score</button></form>",
        url_enc(trace_id),
        Esc(span_id)
    );
    for (key, label) in [("input", "Input"), ("output", "Output")] {
        let _ = write!(
            out,
            "<h3>{label}</h3><div id=\"d-{key}\">{}</div>",
            html::json_block(s.get(key).unwrap_or(&Value::Null))
        );
    }
    let _ = write!(
        out,
        "<h3>Metadata</h3><div id=\"d-metadata\">{}</div>",
        html::json_block(&attrs)
    );
}

fn annotations_html(out: &mut String, notes: &[Annotation], span_id: &str) {
    let mine: Vec<&Annotation> = notes
        .iter()
        .filter(|a| a.span_id.as_deref().is_none_or(|s| s == span_id))
        .collect();
    out.push_str("<h3>Scores and annotations</h3><ul class=\"notes\" id=\"d-annotations\">");
    if mine.is_empty() {
        out.push_str("<li class=\"muted\">none yet</li>");
    }
    for a in mine {
        let _ = write!(
            out,
            "<li><strong>{}</strong> = <span class=\"mono\">{}</span>{}{} <span class=\"muted\">{}</span></li>",
            Esc(&a.name),
            Esc(&html::preview(&a.value, 200)),
            if a.span_id.is_none() { " (trace)" } else { "" },
            a.comment
                .as_deref()
                .map(|c| format!(" — {}", Esc(c)))
                .unwrap_or_default(),
            Esc(&html::time(&a.created_at)),
        );
    }
    out.push_str("</ul>");
}

/// The score form's fields.
#[derive(Debug, Deserialize)]
pub struct ScoreForm {
    name: String,
    value: String,
    comment: Option<String>,
    span_id: Option<String>,
}

/// `POST /traces/{trace_id}/scores`: stores a numeric annotation and goes back to the span.
pub async fn add_score(
    AxState(state): AxState<State>,
    access: Access,
    Path(trace_id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<ScoreForm>, FormRejection>,
) -> Result<Response, UiError> {
    check_same_origin(&headers)?;
    let Form(form) = form.map_err(super::error::form_error)?;
    let value: f64 = form
        .value
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| UiError::BadRequest(format!("value: {:?} is not a number", form.value)))?;
    let req = AnnotationRequest {
        name: form.name.trim().to_owned(),
        value: Value::from(value),
        data_type: "numeric".to_owned(),
        span_id: form.span_id.filter(|s| !s.is_empty()),
        comment: form.comment.filter(|c| !c.trim().is_empty()),
    };
    crate::annotations::check(&req)?;
    let back = format!(
        "/traces/{}{}#detail",
        url_enc(&trace_id),
        req.span_id
            .as_deref()
            .map(|s| format!("?span={}", url_enc(s)))
            .unwrap_or_default()
    );
    let note = Annotation {
        id: uuid::Uuid::new_v4().to_string(),
        trace_id,
        span_id: req.span_id,
        name: req.name,
        value: req.value,
        data_type: req.data_type,
        comment: req.comment,
        created_at: timefmt::now_rfc3339(),
    };
    let scope = access.scope;
    let note = Arc::new(note);
    blocking(&state, move |s| {
        // Unlike the API (which may annotate spans not sent yet), the form scores stored traces.
        if traces::workspace_of(s, &scope, &note.trace_id)?.is_none() {
            return Err(crate::store::StoreError::NotFound(format!(
                "trace {:?} not found",
                note.trace_id
            )));
        }
        let ws = annotations::target_workspace(s, &scope, &note.trace_id, note.span_id.as_deref())?;
        annotations::insert(s, &ws, &note)
    })
    .await?;
    Ok(Redirect::to(&back).into_response())
}
