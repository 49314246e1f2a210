//! Who may look: the loopback-vs-key rule, the key form and its session cookie, and the checks
//! that keep other sites from driving the UI's forms.
//!
//! - On a loopback address the UI needs no key and sees every workspace (as Phoenix and Jaeger
//!   do locally). Requests must then name a loopback host (`127.0.0.1`, `localhost`, `[::1]`), so
//!   a web page that rebinds its own DNS name to 127.0.0.1 cannot read the UI.
//! - Elsewhere (or with `ServerBuilder::ui_requires_key(true)`) the first page asks for an API
//!   key, which is kept in the session cookie [`COOKIE`] (`HttpOnly`, `SameSite=Strict`, no
//!   expiry: the browser forgets it when it closes); pages show only that key's workspaces. A
//!   script may send the key as `X-API-Key` instead.
//! - Every form post must come from the UI itself: an `Origin` of another host, or
//!   `Sec-Fetch-Site: cross-site`, is refused.

use std::net::IpAddr;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, Query, State as AxState};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::error::UiError;
use super::html::{self, Esc, Frame, Nav};
use crate::http::State;
use crate::keys::{KeyRing, Scope};

/// The cookie holding the key given to the key form.
pub const COOKIE: &str = "staso_ui_key";

/// Whether the UI asks for a key when the server is bound to `ip`: not on loopback addresses.
///
/// ```
/// use staso_server::ui::requires_key;
/// assert!(!requires_key("127.0.0.1".parse().unwrap()));
/// assert!(requires_key("0.0.0.0".parse().unwrap()));
/// ```
pub fn requires_key(ip: IpAddr) -> bool {
    !ip.is_loopback()
}

/// Why a request may not see the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No key, or one the server does not accept, where a key is needed.
    NeedKey,
    /// A keyless (loopback) UI reached under a host name that is not a loopback name.
    ForeignHost(String),
}

/// What a request may see, and how to say so in the page header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The workspaces visible.
    pub scope: Scope,
    /// `None` on a keyless UI; else a description of the key's workspaces.
    pub viewer: Option<String>,
}

/// The loopback-vs-key rule: with `requires_key` off, any request whose `Host` is a loopback
/// name sees everything; with it on, `presented` must be an accepted key, whose scope applies.
pub fn decide_access(
    requires_key: bool,
    host: Option<&str>,
    presented: Option<&str>,
    keys: &KeyRing,
) -> Result<Access, Denied> {
    if !requires_key {
        return match host {
            Some(h) if !is_loopback_host(h) => Err(Denied::ForeignHost(h.to_owned())),
            _ => Ok(Access {
                scope: Scope::everything(),
                viewer: None,
            }),
        };
    }
    let scope = presented
        .filter(|k| !k.is_empty())
        .and_then(|k| keys.authenticate(k))
        .ok_or(Denied::NeedKey)?;
    let viewer = match scope.workspaces() {
        None => "key · all workspaces".to_owned(),
        Some(list) => format!("key · workspaces {}", list.join(", ")),
    };
    Ok(Access {
        scope,
        viewer: Some(viewer),
    })
}

/// `127.0.0.1[:port]`, `localhost[:port]`, `[::1][:port]`, any loopback IP.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn cookie_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| html::url_dec(value))
}

fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The access of a request (an extractor): its key from the `X-API-Key` header or the cookie.
impl FromRequestParts<State> for Access {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, UiError> {
        let presented = header_str(&parts.headers, staso_wire::API_KEY_HEADER)
            .map(str::to_owned)
            .or_else(|| cookie_key(&parts.headers));
        let host = header_str(&parts.headers, header::HOST);
        decide_access(
            state.ui_requires_key,
            host,
            presented.as_deref(),
            &state.keys,
        )
        .map_err(|d| match d {
            Denied::NeedKey => UiError::NeedKey {
                next: parts
                    .uri
                    .path_and_query()
                    .map_or("/".to_owned(), |p| p.as_str().to_owned()),
            },
            Denied::ForeignHost(h) => UiError::Forbidden(format!(
                "host {h:?} is not a loopback name; open the UI as http://127.0.0.1:PORT/"
            )),
        })
    }
}

/// Refuses a form post sent by another site: a foreign `Origin`, or `Sec-Fetch-Site:
/// cross-site`/`same-site`.
pub fn check_same_origin(headers: &HeaderMap) -> Result<(), UiError> {
    if let Some(site) = header_str(headers, "sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Err(UiError::Forbidden(format!(
            "Sec-Fetch-Site: {site}: forms are accepted only from this UI"
        )));
    }
    if let Some(origin) = header_str(headers, header::ORIGIN) {
        let host = header_str(headers, header::HOST).unwrap_or_default();
        let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
        if origin_host != host {
            return Err(UiError::Forbidden(format!(
                "Origin {origin:?} is not this server ({host:?}): forms are accepted only from \
                 this UI"
            )));
        }
    }
    Ok(())
}

/// A safe place to return to: a local path, never another site (`//host`, `/\host`).
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.starts_with("/\\") => {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// `next` of the key form.
#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /login`: the key form (straight back when no key is needed).
pub async fn login_page(AxState(state): AxState<State>, Query(q): Query<NextQuery>) -> Response {
    let next = local_path(q.next.as_deref());
    if !state.ui_requires_key {
        return Redirect::to(&next).into_response();
    }
    key_form(&next, None, StatusCode::OK)
}

fn key_form(next: &str, error: Option<&str>, status: StatusCode) -> Response {
    let mut body = String::from(
        "<p>This server asks for an API key: the UI shows the workspaces that key may see. \
         The key is kept in a session cookie until the browser closes.</p>",
    );
    if let Some(e) = error {
        body.push_str(&format!("<p class=\"error-msg\">{}</p>", Esc(e)));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/login\" class=\"card login\">\
         <label>API key <input type=\"password\" name=\"key\" autocomplete=\"current-password\" \
         required autofocus></label><input type=\"hidden\" name=\"next\" value=\"{}\">\
         <button type=\"submit\">Open</button></form>",
        Esc(next)
    ));
    let frame = Frame {
        title: "API key",
        nav: Nav::None,
        viewer: None,
    };
    (status, html::page(&frame, &body)).into_response()
}

/// The key form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    key: String,
    next: Option<String>,
}

/// `POST /login`: checks the key; sets the cookie and goes to `next`, or shows the form again.
pub async fn login(
    AxState(state): AxState<State>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, UiError> {
    check_same_origin(&headers)?;
    let Form(form) = form.map_err(super::error::form_error)?;
    let next = local_path(form.next.as_deref());
    if state.keys.authenticate(form.key.trim()).is_none() {
        return Ok(key_form(
            &next,
            Some("key: this server does not accept that key"),
            StatusCode::UNAUTHORIZED,
        ));
    }
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        html::url_enc(form.key.trim())
    );
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response())
}

/// `POST /logout`: forgets the key.
pub async fn logout(headers: HeaderMap) -> Result<Response, UiError> {
    check_same_origin(&headers)?;
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::ApiKey;

    fn ring() -> KeyRing {
        KeyRing::new(vec![
            ApiKey::all_workspaces("ak_all"),
            ApiKey::scoped("ak_a", ["team-a"]),
        ])
    }

    #[test]
    fn loopback_needs_no_key_and_sees_everything() {
        for ip in ["127.0.0.1", "127.8.9.1", "::1"] {
            assert!(!requires_key(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["0.0.0.0", "::", "192.168.1.20", "10.0.0.1"] {
            assert!(requires_key(ip.parse().unwrap()), "{ip}");
        }
        let keys = ring();
        for host in [
            None,
            Some("127.0.0.1:7070"),
            Some("localhost:7070"),
            Some("[::1]:80"),
        ] {
            let a = decide_access(false, host, None, &keys).unwrap();
            assert_eq!(a.scope, Scope::everything(), "{host:?}");
            assert_eq!(a.viewer, None);
        }
        // A wrong key does not matter where none is asked for.
        assert!(decide_access(false, Some("localhost"), Some("nope"), &keys).is_ok());
    }

    #[test]
    fn a_foreign_host_name_is_refused_on_loopback() {
        assert_eq!(
            decide_access(false, Some("evil.example:7070"), None, &ring()),
            Err(Denied::ForeignHost("evil.example:7070".into()))
        );
    }

    #[test]
    fn elsewhere_a_key_is_needed_and_scopes_the_view() {
        let keys = ring();
        assert_eq!(
            decide_access(true, Some("10.0.0.1:7070"), None, &keys),
            Err(Denied::NeedKey)
        );
        assert_eq!(
            decide_access(true, Some("10.0.0.1:7070"), Some("wrong"), &keys),
            Err(Denied::NeedKey)
        );
        assert_eq!(
            decide_access(true, None, Some(""), &keys),
            Err(Denied::NeedKey)
        );
        let a = decide_access(true, Some("10.0.0.1:7070"), Some("ak_a"), &keys).unwrap();
        assert!(a.scope.allows("team-a") && !a.scope.allows("team-b"));
        assert_eq!(a.viewer.as_deref(), Some("key · workspaces team-a"));
        let all = decide_access(true, None, Some("ak_all"), &keys).unwrap();
        assert_eq!(all.scope, Scope::everything());
    }

    #[test]
    fn cookie_and_origin_checks() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; staso_ui_key=ak%3Ax%20y; b=2".parse().unwrap(),
        );
        assert_eq!(cookie_key(&h).as_deref(), Some("ak:x y"));
        h.insert(header::HOST, "127.0.0.1:7070".parse().unwrap());
        assert!(check_same_origin(&h).is_ok());
        h.insert(header::ORIGIN, "http://127.0.0.1:7070".parse().unwrap());
        assert!(check_same_origin(&h).is_ok());
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(matches!(check_same_origin(&h), Err(UiError::Forbidden(_))));
        h.remove(header::ORIGIN);
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(check_same_origin(&h).is_err());
        assert_eq!(local_path(Some("//evil.example")), "/");
        assert_eq!(local_path(Some("/traces/x?span=1")), "/traces/x?span=1");
        assert_eq!(local_path(None), "/");
    }
}
