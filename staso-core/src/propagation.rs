//! W3C Trace Context and Baggage: the current span written into outgoing HTTP headers
//! ([`inject`]), and an incoming request's headers read back into a context its spans continue
//! ([`extract`] → [`RemoteContext`]).
//!
//! - `traceparent`: `00-<trace id, 32 hex>-<span id, 16 hex>-<flags>`: the staso trace id is the
//!   W3C trace id (the same 128 bits), the current span's 64-bit id is the parent id, and the
//!   sampled flag says whether the trace records here (a span head sampling dropped, or one under
//!   a dropped span, sends `00`: the next service records nothing for it either).
//! - `baggage`: `session.id` (the conversation), `user.id` and `gen_ai.agent.name`, percent-encoded;
//!   other members already in the header are kept.
//!
//! Spans opened under a [`RemoteContext`] are the remote span's children: their `parent_span_id`
//! is the remote span's id and their trace id the remote trace id, so a server that receives both
//! processes' spans shows one tree. The remote sampled flag is followed (parent-based sampling).
//!
//! Invalid headers are ignored — never an error for the request — counted
//! ([`invalid_headers`]) and logged once per process.
//!
//! ```
//! use staso_core::propagation::{extract, inject};
//! let mut headers = http::HeaderMap::new();
//! inject(&mut headers); // no span current: nothing written
//! assert!(headers.get("traceparent").is_none());
//! headers.insert(
//!     "traceparent",
//!     http::HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
//! );
//! let remote = extract(&headers).expect("valid traceparent");
//! assert!(remote.is_sampled());
//! remote.in_scope(|| { /* spans opened here continue the remote trace */ });
//! ```

use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use http::{HeaderMap, HeaderValue};

use crate::context::{Context, WithContext};
use crate::frame::{Frame, ParentRef};
use crate::ids::{SpanId, TraceId};
use crate::shared_str::SharedStr;

/// The `traceparent` header.
pub const TRACEPARENT: &str = "traceparent";
/// The `baggage` header.
pub const BAGGAGE: &str = "baggage";
/// The baggage key of the conversation (session) id.
pub const BAGGAGE_SESSION: &str = "session.id";
/// The baggage key of the user id.
pub const BAGGAGE_USER: &str = "user.id";
/// The baggage key of the agent name.
pub const BAGGAGE_AGENT: &str = "gen_ai.agent.name";

/// Longest `baggage` header read (W3C Baggage: at least 8192 bytes must be supported).
const MAX_BAGGAGE_BYTES: usize = 8192;
/// Most baggage members read (W3C Baggage: at least 64).
const MAX_BAGGAGE_MEMBERS: usize = 180;
/// Longest value taken for one of our keys.
const MAX_VALUE_BYTES: usize = 1024;

static INVALID: AtomicU64 = AtomicU64::new(0);
static LOGGED: AtomicBool = AtomicBool::new(false);

/// How many invalid `traceparent`/`baggage` headers [`extract`] ignored in this process.
pub fn invalid_headers() -> u64 {
    INVALID.load(Ordering::Relaxed)
}

fn invalid(what: &str) {
    INVALID.fetch_add(1, Ordering::Relaxed);
    if !LOGGED.swap(true, Ordering::Relaxed) {
        log::warn!(
            "staso: ignored an invalid {what} header (further invalid headers are counted, not logged)"
        );
    }
}

/// A trace continued from another process: the remote span (trace id, span id, sampled flag) and
/// the conversation, user and agent its baggage carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteContext {
    trace_id: TraceId,
    parent_span_id: SpanId,
    sampled: bool,
    session_id: Option<String>,
    user_id: Option<String>,
    agent_name: Option<String>,
}

impl RemoteContext {
    /// A remote context from its parts (for transports other than HTTP headers).
    pub fn new(trace_id: TraceId, parent_span_id: SpanId, sampled: bool) -> Self {
        RemoteContext {
            trace_id,
            parent_span_id,
            sampled,
            session_id: None,
            user_id: None,
            agent_name: None,
        }
    }

    /// The remote trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The remote span's id: the parent of the spans opened under this context.
    pub fn parent_span_id(&self) -> SpanId {
        self.parent_span_id
    }

    /// Whether the remote side records the trace (spans here record only then).
    pub fn is_sampled(&self) -> bool {
        self.sampled
    }

    /// The conversation id from the baggage.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The user id from the baggage.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// The agent name from the baggage.
    pub fn agent_name(&self) -> Option<&str> {
        self.agent_name.as_deref()
    }

    /// The context spans opened under the remote span run in: the remote span as the current
    /// (parent) span, with the baggage's conversation, user and agent.
    pub fn context(&self) -> Context {
        let text = |v: &Option<String>| v.clone().map(SharedStr::from);
        Context::from_frame(Frame {
            span: Some(ParentRef {
                trace_id: self.trace_id,
                span_id: self.parent_span_id,
                recording: self.sampled,
                held: false,
            }),
            session: text(&self.session_id),
            user: text(&self.user_id),
            agent: text(&self.agent_name),
        })
    }

    /// Runs `f` (and the spans it opens) as the remote span's children.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        self.context().in_scope(f)
    }

    /// Wraps `future` so it runs (on every poll) as the remote span's child.
    pub fn in_scope_async<F: Future>(&self, future: F) -> WithContext<F> {
        self.context().wrap(future)
    }

    /// The `traceparent` value of this remote span.
    pub fn traceparent(&self) -> String {
        format_traceparent(self.trace_id, self.parent_span_id, self.sampled)
    }
}

/// `00-<trace>-<span>-<flags>`.
fn format_traceparent(trace_id: TraceId, span_id: SpanId, sampled: bool) -> String {
    format!(
        "00-{:032x}-{:016x}-{}",
        trace_id.0,
        span_id.0,
        if sampled { "01" } else { "00" }
    )
}

/// The `traceparent` of the current span, when one is current (recording or not).
pub fn current_traceparent() -> Option<String> {
    if !crate::client::is_recording() {
        return None;
    }
    let p = crate::context::with_current(|f| f.span)?;
    Some(format_traceparent(p.trace_id, p.span_id, p.recording))
}

/// Writes the current span as `traceparent` and the current conversation, user and agent as
/// `baggage` members into `headers` (existing `baggage` members with other keys are kept). Writes
/// nothing when no span is current.
pub fn inject(headers: &mut HeaderMap) {
    let Some(traceparent) = current_traceparent() else {
        return;
    };
    if let Ok(v) = HeaderValue::from_str(&traceparent) {
        headers.insert(TRACEPARENT, v);
    }
    let (session, user, agent) = crate::context::with_current(|f| {
        (
            f.session.as_ref().map(|s| s.to_string()),
            f.user.as_ref().map(|s| s.to_string()),
            f.agent.as_ref().map(|s| s.to_string()),
        )
    });
    let ours = [
        (BAGGAGE_SESSION, session),
        (BAGGAGE_USER, user),
        (BAGGAGE_AGENT, agent),
    ];
    if ours.iter().all(|(_, v)| v.is_none()) {
        return;
    }
    let mut out = String::new();
    for member in headers
        .get_all(BAGGAGE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        let key = member.split(['=', ';']).next().unwrap_or("").trim();
        if ours.iter().any(|(k, v)| v.is_some() && *k == key) {
            continue;
        }
        push_member(&mut out, member);
    }
    for (key, value) in ours {
        if let Some(value) = value {
            let mut member = format!("{key}=");
            percent_encode(&value, &mut member);
            push_member(&mut out, &member);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&out) {
        headers.insert(BAGGAGE, v);
    }
}

fn push_member(out: &mut String, member: &str) {
    if !out.is_empty() {
        out.push(',');
    }
    out.push_str(member);
}

/// Reads `traceparent` (and `baggage`) from `headers`. `None` when there is no `traceparent` or
/// it is invalid (counted, logged once); an invalid `baggage` is ignored alone.
pub fn extract(headers: &HeaderMap) -> Option<RemoteContext> {
    let mut values = headers.get_all(TRACEPARENT).iter();
    let first = values.next()?;
    if values.next().is_some() {
        invalid(TRACEPARENT);
        return None;
    }
    let Some((trace_id, parent_span_id, sampled)) = first.to_str().ok().and_then(parse_traceparent)
    else {
        invalid(TRACEPARENT);
        return None;
    };
    let mut remote = RemoteContext::new(trace_id, parent_span_id, sampled);
    let baggage: Vec<&str> = headers
        .get_all(BAGGAGE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !baggage.is_empty() {
        match parse_baggage(&baggage) {
            Some(members) => {
                for (k, v) in members {
                    match k {
                        BAGGAGE_SESSION => remote.session_id = Some(v),
                        BAGGAGE_USER => remote.user_id = Some(v),
                        BAGGAGE_AGENT => remote.agent_name = Some(v),
                        _ => {}
                    }
                }
            }
            None => invalid(BAGGAGE),
        }
    }
    Some(remote)
}

/// Parses a `traceparent` value (W3C Trace Context level 1: version `00` exactly 55 characters;
/// a later version at least that, with the same first four fields; lowercase hex; neither id all
/// zeros; version `ff` invalid).
pub fn parse_traceparent(value: &str) -> Option<(TraceId, SpanId, bool)> {
    let v = value.trim_matches([' ', '\t']).as_bytes();
    if v.len() < 55 {
        return None;
    }
    let version = hex_field(&v[0..2])?;
    if version == 0xff || (version == 0 && v.len() != 55) || (v.len() > 55 && v[55] != b'-') {
        return None;
    }
    if v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let trace = hex_field(&v[3..35])?;
    let span = u64::try_from(hex_field(&v[36..52])?).ok()?;
    let flags = hex_field(&v[53..55])?;
    if trace == 0 || span == 0 {
        return None;
    }
    Some((TraceId(trace), SpanId(span), flags & 1 == 1))
}

/// Lowercase hex digits only (W3C: uppercase is invalid).
fn hex_field(digits: &[u8]) -> Option<u128> {
    let mut v: u128 = 0;
    for &c in digits {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u128::from(d);
    }
    Some(v)
}

/// The members of `baggage` headers as (key, decoded value), properties dropped; `None` when the
/// headers are over the limits or a member is malformed.
fn parse_baggage(headers: &[&str]) -> Option<Vec<(&'static str, String)>> {
    if headers.iter().map(|h| h.len()).sum::<usize>() > MAX_BAGGAGE_BYTES {
        return None;
    }
    let mut out = Vec::new();
    let mut count = 0;
    for member in headers.iter().flat_map(|h| h.split(',')) {
        let member = member.trim_matches([' ', '\t']);
        if member.is_empty() {
            continue;
        }
        count += 1;
        if count > MAX_BAGGAGE_MEMBERS {
            return None;
        }
        let pair = member.split(';').next()?;
        let (key, value) = pair.split_once('=')?;
        let key = key.trim_matches([' ', '\t']);
        if key.is_empty() || !key.bytes().all(is_token_char) {
            return None;
        }
        let ours = match key {
            BAGGAGE_SESSION => BAGGAGE_SESSION,
            BAGGAGE_USER => BAGGAGE_USER,
            BAGGAGE_AGENT => BAGGAGE_AGENT,
            _ => continue,
        };
        let decoded = percent_decode(value.trim_matches([' ', '\t']))?;
        if decoded.is_empty() || decoded.len() > MAX_VALUE_BYTES {
            continue;
        }
        out.push((ours, decoded));
    }
    Some(out)
}

/// RFC 7230 `tchar`.
fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// W3C Baggage `baggage-octet`: printable ASCII except space, `"`, `,`, `;`, `\`, and `%` (which
/// starts an escape).
fn is_baggage_octet(c: u8) -> bool {
    matches!(c, 0x21 | 0x23..=0x24 | 0x26..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

fn percent_encode(value: &str, out: &mut String) {
    for &b in value.as_bytes() {
        if is_baggage_octet(b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hi = char::from(hex[0]).to_digit(16)?;
                let lo = char::from(hex[1]).to_digit(16)?;
                out.push(u8::try_from(hi * 16 + lo).ok()?);
                i += 3;
            }
            c if is_baggage_octet(c) => {
                out.push(c);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn parses_the_spec_example_and_rejects_its_invalid_forms() {
        let (t, s, sampled) = parse_traceparent(VALID).expect("valid");
        assert_eq!(t.0, 0x0af7651916cd43dd8448eb211c80319c);
        assert_eq!(s.0, 0xb7ad6b7169203331);
        assert!(sampled);
        assert!(
            !parse_traceparent(&VALID.replace("-01", "-00"))
                .expect("valid")
                .2
        );
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "0g-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad:?}");
        }
        // A later version may carry more fields after a dash.
        assert!(
            parse_traceparent("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-xyz")
                .is_some()
        );
    }

    #[test]
    fn baggage_round_trips_through_percent_encoding() {
        let mut encoded = String::new();
        percent_encode("conv 42, \"ü\";%", &mut encoded);
        assert!(
            encoded.bytes().all(|c| c == b'%' || is_baggage_octet(c)),
            "{encoded}"
        );
        assert_eq!(
            percent_decode(&encoded).as_deref(),
            Some("conv 42, \"ü\";%")
        );
        let header = format!("other=1;prop=2, session.id={encoded} ,user.id=u-1");
        let members = parse_baggage(&[&header]).expect("valid baggage");
        assert_eq!(
            members,
            vec![
                (BAGGAGE_SESSION, "conv 42, \"ü\";%".to_owned()),
                (BAGGAGE_USER, "u-1".to_owned())
            ]
        );
        assert!(parse_baggage(&["no-equals-sign"]).is_none());
        assert!(parse_baggage(&["session.id=bad value"]).is_none());
        assert!(
            parse_baggage(&[&"k=v,".repeat(3000)]).is_none(),
            "over 8192 bytes"
        );
    }

    #[test]
    fn extract_ignores_duplicates_and_counts_invalid_headers() {
        let before = invalid_headers();
        let mut h = HeaderMap::new();
        h.append(TRACEPARENT, HeaderValue::from_static(VALID));
        h.append(TRACEPARENT, HeaderValue::from_static(VALID));
        assert!(extract(&h).is_none());
        let mut h = HeaderMap::new();
        h.insert(TRACEPARENT, HeaderValue::from_static("garbage"));
        assert!(extract(&h).is_none());
        assert!(invalid_headers() >= before + 2);
        let mut h = HeaderMap::new();
        h.insert(TRACEPARENT, HeaderValue::from_static(VALID));
        h.insert(BAGGAGE, HeaderValue::from_static("user.id=%ZZ"));
        let r = extract(&h).expect("a bad baggage alone is ignored");
        assert_eq!(r.user_id(), None);
        assert_eq!(r.traceparent(), VALID);
    }
}
