//! HTML building blocks: escaping, the page layout, and the number/time formats every page uses.
//!
//! Pages are plain strings built with `write!`: every user-controlled value (span names, JSON,
//! ids, agent names, prompt texts) goes through [`Esc`], which escapes the five HTML-significant
//! characters, so it can sit both in text and in double- or single-quoted attribute values. The
//! response also carries a Content-Security-Policy allowing scripts only from the server itself,
//! so even a missed escape could not run inline script.

use std::fmt::{self, Write as _};

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// Escapes its text for HTML text and quoted attribute values when displayed.
///
/// ```
/// use staso_server::ui::html::Esc;
/// assert_eq!(Esc("<script>alert('x')</script> & \"y\"").to_string(),
///            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// Percent-encodes a path segment or query value (everything but `A-Z a-z 0-9 - . _ ~`).
pub fn url_enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Decodes [`url_enc`] (and any `%XX`); invalid escapes are kept as they are.
pub fn url_dec(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The sections of the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// `/`.
    Traces,
    /// `/agents`.
    Agents,
    /// `/escalations`.
    Escalations,
    /// `/datasets`.
    Datasets,
    /// `/prompts`.
    Prompts,
    /// Pages outside the bar (login, errors).
    None,
}

/// What a page shows in its frame besides its body.
#[derive(Debug, Clone)]
pub struct Frame<'a> {
    /// `<title>` and heading.
    pub title: &'a str,
    /// Highlighted section.
    pub nav: Nav,
    /// Who is looking: `None` on a loopback server (every workspace), else the key's workspaces.
    pub viewer: Option<String>,
}

/// A complete HTML page: layout, navigation, body; served with a strict CSP.
pub fn page(frame: &Frame<'_>, body: &str) -> Response {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · staso</title><link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"/ui/assets/ui.css\">\
         <script src=\"/ui/assets/ui.js\" defer></script></head><body>\
         <header class=\"top\"><a class=\"brand\" href=\"/\">staso</a><nav>",
        Esc(frame.title)
    );
    for (nav, href, label) in [
        (Nav::Traces, "/", "Traces"),
        (Nav::Agents, "/agents", "Agents"),
        (Nav::Escalations, "/escalations", "Escalations"),
        (Nav::Datasets, "/datasets", "Datasets"),
        (Nav::Prompts, "/prompts", "Prompts"),
    ] {
        let class = if nav == frame.nav {
            " class=\"on\""
        } else {
            ""
        };
        let _ = write!(out, "<a href=\"{href}\"{class}>{label}</a>");
    }
    out.push_str("</nav><span class=\"viewer\">");
    match &frame.viewer {
        _ if frame.nav == Nav::None => {}
        None => out.push_str("local · all workspaces"),
        Some(w) => {
            let _ = write!(
                out,
                "{} <form method=\"post\" action=\"/logout\" class=\"inline\">\
                 <button type=\"submit\">Forget key</button></form>",
                Esc(w)
            );
        }
    }
    let _ = write!(
        out,
        "</span></header><main><h1>{}</h1>{body}</main></body></html>",
        Esc(frame.title)
    );
    html_response(out)
}

/// A `text/html` response with the UI's security headers.
pub fn html_response(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                 img-src 'self' data:; connect-src 'self'; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// `12.3 ms`, `1.25 s`, `2m 05s`.
pub fn duration(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        return "—".to_owned();
    }
    if ms < 1.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else if ms < 60_000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        let s = (ms / 1000.0).round() as u64;
        format!("{}m {:02}s", s / 60, s % 60)
    }
}

/// `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `$12.35` from a dollar up; below, three significant digits (`$0.0199`, `$0.00575`, `$0.50`);
/// `—` when unknown.
pub fn cost(usd: Option<f64>) -> String {
    match usd {
        None => "—".to_owned(),
        Some(v) if v.abs() == 0.0 => "$0".to_owned(),
        Some(v) if v.abs() >= 1.0 || !v.is_finite() => format!("${v:.2}"),
        Some(v) => {
            let decimals = (2 - v.abs().log10().floor() as i64).clamp(2, 9) as usize;
            let mut s = format!("{v:.decimals$}");
            while s.ends_with('0') && s.len() - s.find('.').unwrap_or(0) > 3 {
                s.pop();
            }
            format!("${s}")
        }
    }
}

/// `2026-11-30 05:10:42` (UTC) from an RFC 3339 timestamp; the input when it is shorter.
pub fn time(ts: &str) -> String {
    match ts.get(..19) {
        Some(t) => t.replacen('T', " ", 1),
        None => ts.to_owned(),
    }
}

/// Pretty-printed JSON in a `<pre>`; `null` as a muted dash.
pub fn json_block(v: &Value) -> String {
    match v {
        Value::Null => "<p class=\"muted\">—</p>".to_owned(),
        Value::String(s) => format!("<pre class=\"json\">{}</pre>", Esc(s)),
        other => format!(
            "<pre class=\"json\">{}</pre>",
            Esc(&serde_json::to_string_pretty(other).unwrap_or_default())
        ),
    }
}

/// A short one-line preview of a JSON value (strings unquoted), at most `max` characters.
pub fn preview(v: &Value, max: usize) -> String {
    let text = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() <= max {
        text
    } else {
        let mut t: String = text.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// A status badge (`ok`, `error`, `timeout`, `running`, `pending`, …).
pub fn badge(status: &str) -> String {
    let class: String = status
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!(
        "<span class=\"badge s-{}\">{}</span>",
        class.to_ascii_lowercase(),
        Esc(status)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_every_significant_character() {
        assert_eq!(
            Esc("<img src=x onerror='a()'>&\"").to_string(),
            "&lt;img src=x onerror=&#39;a()&#39;&gt;&amp;&quot;"
        );
        assert_eq!(Esc("plain ünïcode").to_string(), "plain ünïcode");
        assert_eq!(Esc("").to_string(), "");
        assert_eq!(
            json_block(&json!({"a": "</pre><script>x</script>"})),
            "<pre class=\"json\">{\n  &quot;a&quot;: &quot;&lt;/pre&gt;&lt;script&gt;x&lt;/script&gt;&quot;\n}</pre>"
        );
        assert!(badge("<b>").contains("&lt;b&gt;") && badge("<b>").contains("s-b\""));
    }

    #[test]
    fn urls_round_trip() {
        let raw = "a b/c?d#e&f=ü%";
        assert_eq!(url_enc(raw), "a%20b%2Fc%3Fd%23e%26f%3D%C3%BC%25");
        assert_eq!(url_dec(&url_enc(raw)), raw);
        assert_eq!(url_dec("%zz%4"), "%zz%4");
    }

    #[test]
    fn formats() {
        assert_eq!(duration(0.5), "0.50 ms");
        assert_eq!(duration(12.34), "12.3 ms");
        assert_eq!(duration(1250.0), "1.25 s");
        assert_eq!(duration(125_000.0), "2m 05s");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(cost(None), "—");
        assert_eq!(cost(Some(0.0045)), "$0.0045");
        assert_eq!(cost(Some(12.345)), "$12.35");
        assert_eq!(cost(Some(0.0199)), "$0.0199");
        assert_eq!(cost(Some(0.00575)), "$0.00575");
        assert_eq!(cost(Some(0.5)), "$0.50");
        assert_eq!(cost(Some(0.000_001_5)), "$0.0000015");
        assert_eq!(time("2026-11-30T05:10:42.123+00:00"), "2026-11-30 05:10:42");
        assert_eq!(preview(&json!("abcdef"), 3), "abc…");
    }
}
