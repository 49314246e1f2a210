//! `/escalations` (with approve/reject forms posting to `/escalations/{id}/approve|reject`),
//! `/datasets` (each dataset with its entries) and `/prompts` (every version of every prompt).

use std::fmt::Write as _;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State as AxState};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use staso_wire::guard::EscalationDecision;

use super::auth::{Access, check_same_origin};
use super::error::UiError;
use super::html::{self, Esc, Frame, Nav, url_enc};
use crate::http::{State, blocking};
use crate::store::{datasets as dstore, guard as gstore, ui as uistore};

/// Entries shown per dataset.
const ENTRIES_SHOWN: u32 = 50;

/// `?status=` of the escalations page.
#[derive(Debug, Default, Deserialize)]
pub struct EscalationParams {
    status: Option<String>,
}

/// `GET /escalations`: pending first, then decided, newest first.
pub async fn escalations(
    AxState(state): AxState<State>,
    access: Access,
    Query(params): Query<EscalationParams>,
) -> Result<Response, UiError> {
    let status = params.status.filter(|s| !s.is_empty() && s != "all");
    let scope = access.scope.clone();
    let filter = status.clone();
    let mut list = blocking(&state, move |s| {
        gstore::list_escalations(s, &scope, filter.as_deref())
    })
    .await?;
    list.sort_by(|a, b| {
        (a.status != "pending")
            .cmp(&(b.status != "pending"))
            .then_with(|| b.created_at.cmp(&a.created_at))
    });
    let mut body = String::from("<nav class=\"tabs\">");
    for s in ["all", "pending", "approved", "rejected"] {
        let on = status.as_deref().unwrap_or("all") == s;
        let _ = write!(
            body,
            "<a href=\"/escalations?status={s}\"{}>{s}</a>",
            if on { " class=\"on\"" } else { "" }
        );
    }
    body.push_str(
        "</nav><table class=\"escalations\"><thead><tr><th>Created (UTC)</th><th>Status</th>\
         <th>Tool</th><th>Input</th><th>Rule</th><th>Reason</th><th>Decision</th></tr></thead><tbody>",
    );
    if list.is_empty() {
        body.push_str("<tr class=\"empty\"><td colspan=\"7\">No escalations.</td></tr>");
    }
    for e in &list {
        let _ = write!(
            body,
            "<tr data-escalation-id=\"{id}\" data-status=\"{st}\"><td class=\"nowrap\">{created}</td>\
             <td>{badge}</td><td class=\"mono\">{tool}</td><td>{input}</td><td>{rule}</td>\
             <td>{reason}</td><td>",
            id = Esc(&e.escalation_id),
            st = Esc(&e.status),
            created = Esc(&html::time(&e.created_at)),
            badge = html::badge(&e.status),
            tool = Esc(&e.tool_name),
            input = html::json_block(&e.tool_input),
            rule = Esc(&e.rule_name),
            reason = Esc(&e.escalation_reason),
        );
        if e.status == "pending" {
            let id = url_enc(&e.escalation_id);
            let _ = write!(
                body,
                "<form method=\"post\" action=\"/escalations/{id}/approve\" class=\"decide\">\
                 <input name=\"reason\" placeholder=\"reason (optional)\">\
                 <button type=\"submit\" class=\"approve\">Approve</button></form>\
                 <form method=\"post\" action=\"/escalations/{id}/reject\" class=\"decide\">\
                 <input name=\"reason\" placeholder=\"reason (optional)\">\
                 <button type=\"submit\" class=\"reject\">Reject</button></form>"
            );
        } else {
            let _ = write!(
                body,
                "{}{}",
                Esc(e.decided_by.as_deref().unwrap_or("")),
                e.reason
                    .as_deref()
                    .map(|r| format!(": {}", Esc(r)))
                    .unwrap_or_default()
            );
        }
        body.push_str("</td></tr>");
    }
    body.push_str("</tbody></table>");
    let frame = Frame {
        title: "Guard escalations",
        nav: Nav::Escalations,
        viewer: access.viewer,
    };
    Ok(html::page(&frame, &body))
}

/// The decision form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct DecideForm {
    reason: Option<String>,
}

/// `POST /escalations/{id}/approve|reject`: decides as `web-ui` and goes back to the list.
pub async fn decide(
    AxState(state): AxState<State>,
    access: Access,
    Path((id, decision)): Path<(String, String)>,
    headers: HeaderMap,
    form: Result<Form<DecideForm>, FormRejection>,
) -> Result<Response, UiError> {
    check_same_origin(&headers)?;
    let Form(form) = form.map_err(super::error::form_error)?;
    let approve = match decision.as_str() {
        "approve" => true,
        "reject" => false,
        other => {
            return Err(UiError::NotFound(format!(
                "no decision {other:?}: approve or reject"
            )));
        }
    };
    let d = EscalationDecision {
        decided_by: Some("web-ui".to_owned()),
        reason: form.reason.filter(|r| !r.trim().is_empty()),
        modified_input: None,
    };
    let scope = access.scope;
    blocking(&state, move |s| gstore::decide(s, &scope, &id, approve, &d)).await?;
    Ok(Redirect::to("/escalations").into_response())
}

/// `GET /datasets`: every dataset with its columns and first entries.
pub async fn datasets(AxState(state): AxState<State>, access: Access) -> Result<Response, UiError> {
    let scope = access.scope.clone();
    let sets = blocking(&state, move |s| {
        let sets = dstore::list_datasets(s, &scope, None, 500, 0)?;
        let mut out = Vec::with_capacity(sets.len());
        for d in sets {
            let entries = dstore::list_entries(s, &scope, &d.id, None, ENTRIES_SHOWN, 0)?;
            out.push((d, entries));
        }
        Ok(out)
    })
    .await?;
    let mut body = String::new();
    if sets.is_empty() {
        body.push_str("<p class=\"muted\">No datasets yet.</p>");
    }
    for (d, entries) in &sets {
        let _ = write!(
            body,
            "<section class=\"card dataset\" data-dataset-id=\"{}\"><h2>{}</h2>\
             <p class=\"muted\">{} · {} entries · kind {} · created {}</p>",
            Esc(&d.id),
            Esc(&d.name),
            Esc(&d.description),
            d.entry_count,
            Esc(&d.kind),
            Esc(&html::time(&d.created_at)),
        );
        let mut columns: Vec<String> = d.columns.iter().map(|c| c.name.clone()).collect();
        for e in entries {
            for k in e.data.keys() {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
        }
        body.push_str("<table><thead><tr><th>#</th>");
        for c in &columns {
            let _ = write!(body, "<th>{}</th>", Esc(c));
        }
        body.push_str("<th>Split</th><th>Source</th></tr></thead><tbody>");
        for (i, e) in entries.iter().enumerate() {
            let _ = write!(body, "<tr><td>{}</td>", i + 1);
            for c in &columns {
                let cell = e.data.get(c).map(|v| html::preview(v, 300));
                let _ = write!(body, "<td>{}</td>", Esc(cell.as_deref().unwrap_or("")));
            }
            let _ = write!(
                body,
                "<td>{}</td><td>{}</td></tr>",
                Esc(e.split_id.as_deref().unwrap_or("")),
                Esc(&e.source_type)
            );
        }
        body.push_str("</tbody></table>");
        if d.entry_count > u64::from(ENTRIES_SHOWN) {
            let _ = write!(
                body,
                "<p class=\"muted\">First {ENTRIES_SHOWN} of {} entries; all of them: \
                 <code>GET /v1/datasets/{}/entries</code>.</p>",
                d.entry_count,
                Esc(&d.id)
            );
        }
        body.push_str("</section>");
    }
    let frame = Frame {
        title: "Datasets",
        nav: Nav::Datasets,
        viewer: access.viewer,
    };
    Ok(html::page(&frame, &body))
}

/// `GET /prompts`: every prompt by workspace and name, newest version first, with its labels.
pub async fn prompts(AxState(state): AxState<State>, access: Access) -> Result<Response, UiError> {
    let scope = access.scope.clone();
    let versions = blocking(&state, move |s| uistore::prompt_versions(s, &scope)).await?;
    let mut body = String::new();
    if versions.is_empty() {
        body.push_str("<p class=\"muted\">No prompts yet.</p>");
    }
    let mut current: Option<(&str, &str)> = None;
    for v in &versions {
        if current != Some((&v.workspace_slug, &v.name)) {
            if current.is_some() {
                body.push_str("</section>");
            }
            current = Some((&v.workspace_slug, &v.name));
            let _ = write!(
                body,
                "<section class=\"card prompt\" data-prompt=\"{}\"><h2>{} \
                 <span class=\"muted\">workspace {}</span></h2>",
                Esc(&v.name),
                Esc(&v.name),
                Esc(&v.workspace_slug)
            );
        }
        let _ = write!(
            body,
            "<div class=\"version\" data-version=\"{}\"><p><strong>v{}</strong> \
             <span class=\"muted\">{}</span> ",
            v.version,
            v.version,
            Esc(&html::time(&v.created_at))
        );
        for l in &v.labels {
            let _ = write!(body, "<span class=\"chip label\">{}</span> ", Esc(l));
        }
        let _ = write!(
            body,
            "</p><pre class=\"prompt-text\">{}</pre></div>",
            Esc(&v.content)
        );
    }
    if current.is_some() {
        body.push_str("</section>");
    }
    let frame = Frame {
        title: "Prompts",
        nav: Nav::Prompts,
        viewer: access.viewer,
    };
    Ok(html::page(&frame, &body))
}
