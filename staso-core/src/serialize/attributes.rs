//! The `attributes` document of a span: assembled in wire order from the VCS info (roots), the call
//! site (`tool_name`, `code.*`, `tags`) and the record's metadata, then filtered by the capture policy
//! (PROTOCOL.md §2.5). Values are borrowed from the record, so nothing is cloned into an
//! intermediate map.

use std::borrow::Cow;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::json::JsonWriter;
use crate::capture::short_type_name;
use crate::config::CapturePolicy;
use crate::config::{ExportSettings, OPERATIONAL_ALLOW_LIST};
use crate::record::{Role, SpanRecord};

/// One attribute value, borrowed where possible.
enum AttrValue<'a> {
    Str(&'a str),
    Line(u32),
    Bool(bool),
    Tags(&'a [&'static str]),
    /// The attribute's tags, then the ones added at runtime that are not among them yet.
    MergedTags(&'a [&'static str], &'a [String]),
    Json(&'a Value),
    Owned(String),
}

impl Serialize for AttrValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AttrValue::Str(v) => s.serialize_str(v),
            AttrValue::Line(v) => s.serialize_u32(*v),
            AttrValue::Bool(v) => s.serialize_bool(*v),
            AttrValue::Tags(v) => v.serialize(s),
            AttrValue::MergedTags(site, extra) => s.collect_seq(merged_tags(site, extra)),
            AttrValue::Json(v) => v.serialize(s),
            AttrValue::Owned(v) => s.serialize_str(v),
        }
    }
}

/// One of the keys the SDK sets itself, with its written forms made at compile time: these never
/// need escaping, so the writer copies the whole `"key":` instead of scanning the key.
pub(super) struct SdkKey {
    text: &'static str,
    /// `"key":`, at body level.
    body: &'static str,
    /// `\"key\":`, inside the embedded document.
    embedded: &'static str,
}

macro_rules! sdk_key {
    ($k:literal) => {
        &SdkKey {
            text: $k,
            body: concat!("\"", $k, "\":"),
            embedded: concat!("\\\"", $k, "\\\":"),
        }
    };
}

/// One attribute.
pub(super) struct Entry<'a> {
    key: &'a str,
    /// Set when the key is one of the SDK's own. Metadata replacing such a key keeps it: the
    /// text is the same.
    sdk: Option<&'static SdkKey>,
    value: AttrValue<'a>,
}

/// The attributes of one span, in insertion order; setting an existing key replaces its value in
/// place (Python dict semantics).
pub(super) struct Attributes<'a> {
    entries: Vec<Entry<'a>>,
}

impl<'a> Attributes<'a> {
    fn insert(&mut self, key: &'a str, sdk: Option<&'static SdkKey>, value: AttrValue<'a>) {
        match self.entries.iter_mut().find(|e| e.key == key) {
            Some(slot) => slot.value = value,
            None => self.entries.push(Entry { key, sdk, value }),
        }
    }

    /// Sets one of the SDK's own keys.
    fn set(&mut self, key: &'static SdkKey, value: AttrValue<'a>) {
        self.insert(key.text, Some(key), value);
    }

    /// Appends one of the SDK's own keys without looking for it: only for the VCS and call-site
    /// keys, which come first and are distinct constants, so none can be present yet.
    fn push_new(&mut self, key: &'static SdkKey, value: AttrValue<'a>) {
        debug_assert!(self.get(key.text).is_none());
        self.entries.push(Entry {
            key: key.text,
            sdk: Some(key),
            value,
        });
    }

    fn get(&self, key: &str) -> Option<&AttrValue<'a>> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.value)
    }

    /// Assembles and filters the attributes of `record`; also returns the span's provider, which
    /// falls back to `metadata["provider"]` as it stood *before* filtering. The entries go into
    /// `scratch` (cleared first), so the body writer reuses one allocation for all the spans of a
    /// body (see [`Attributes::into_scratch`]).
    pub(super) fn build_in(
        record: &'a SpanRecord,
        ctx: &'a ExportSettings,
        mut scratch: Vec<Entry<'a>>,
    ) -> (Self, Cow<'a, str>) {
        scratch.clear();
        scratch.reserve(8 + record.metadata.len());
        let mut a = Attributes { entries: scratch };
        if record.parent_span_id.is_none()
            && let Some(vcs) = &ctx.vcs
        {
            a.push_new(sdk_key!("vcs.commit.sha"), AttrValue::Str(&vcs.commit_sha));
            a.push_new(sdk_key!("vcs.branch"), AttrValue::Str(&vcs.branch));
            a.push_new(sdk_key!("vcs.repo_url"), AttrValue::Str(&vcs.repo_url));
            a.push_new(sdk_key!("vcs.is_dirty"), AttrValue::Bool(vcs.is_dirty));
        }
        if let Some(site) = record.site {
            if site.role == Role::Tool {
                a.push_new(sdk_key!("tool_name"), AttrValue::Str(site.name));
            }
            a.push_new(sdk_key!("code.filepath"), AttrValue::Str(site.filepath()));
            a.push_new(sdk_key!("code.lineno"), AttrValue::Line(site.line));
            a.push_new(sdk_key!("code.function"), AttrValue::Str(site.function));
        }
        let site_tags = record.site.map_or(&[][..], |s| s.tags);
        if !record.tags.is_empty() {
            a.push_new(
                sdk_key!("tags"),
                AttrValue::MergedTags(site_tags, &record.tags),
            );
        } else if !site_tags.is_empty() {
            a.push_new(sdk_key!("tags"), AttrValue::Tags(site_tags));
        }
        for (k, v) in &record.metadata {
            a.insert(k, None, AttrValue::Json(v));
        }
        let provider = if !record.provider.is_empty() {
            Cow::Borrowed(record.provider.as_str())
        } else {
            match a.get("provider") {
                Some(AttrValue::Json(Value::String(s))) => Cow::Borrowed(s.as_str()),
                Some(AttrValue::Json(Value::Null)) | None => Cow::Borrowed(""),
                Some(AttrValue::Json(other)) => Cow::Owned(other.to_string()),
                Some(_) => Cow::Borrowed(""),
            }
        };
        a.filter(&ctx.policy);
        if record.provisional {
            a.set(sdk_key!("staso.provisional_root"), AttrValue::Bool(true));
        }
        if let Some(t) = &record.exception_type {
            a.set(
                sdk_key!("exception.type"),
                AttrValue::Owned(short_type_name(t)),
            );
        }
        (a, provider)
    }

    fn filter(&mut self, policy: &CapturePolicy) {
        if !policy.request {
            self.entries
                .retain(|e| OPERATIONAL_ALLOW_LIST.contains(&e.key));
        }
        if !policy.output {
            self.entries.retain(|e| {
                !matches!(e.key, "synthetic_content" | "guard.reason" | "guard_reason")
            });
        }
        if !policy.tool_arguments {
            self.entries
                .retain(|e| !matches!(e.key, "guard.modified_input" | "guard.input"));
        }
    }

    /// The emptied entry buffer, for the next span's [`Attributes::build_in`].
    pub(super) fn into_scratch(self) -> Vec<Entry<'a>> {
        let mut entries = self.entries;
        entries.clear();
        entries
    }

    /// The JSON document (`{}` when empty).
    pub(super) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Writes the document with the fast writer: the same bytes as [`Attributes::to_json`]
    /// (`w` is normally an embedded writer, so the document lands escaped inside a string).
    pub(super) fn write(&self, w: &mut JsonWriter<'_>) -> Result<(), serde_json::Error> {
        w.raw("{");
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                w.raw(",");
            }
            match e.sdk {
                Some(k) => w.by_level(k.body, k.embedded),
                None => {
                    w.str(e.key);
                    w.raw(":");
                }
            }
            match &e.value {
                AttrValue::Str(s) => w.str(s),
                AttrValue::Line(n) => w.u64(u64::from(*n)),
                AttrValue::Bool(b) => w.bool(*b),
                AttrValue::Tags(tags) => {
                    w.raw("[");
                    for (i, tag) in tags.iter().enumerate() {
                        if i > 0 {
                            w.raw(",");
                        }
                        w.str(tag);
                    }
                    w.raw("]");
                }
                AttrValue::MergedTags(site, extra) => {
                    w.raw("[");
                    for (i, tag) in merged_tags(site, extra).enumerate() {
                        if i > 0 {
                            w.raw(",");
                        }
                        w.str(tag);
                    }
                    w.raw("]");
                }
                AttrValue::Json(v) => w.value(v)?,
                AttrValue::Owned(s) => w.str(s),
            }
        }
        w.raw("}");
        Ok(())
    }
}

/// `site`, then each tag of `extra` not seen before (in `site` or earlier in `extra`).
fn merged_tags<'a>(
    site: &'a [&'static str],
    extra: &'a [String],
) -> impl Iterator<Item = &'a str> + 'a {
    let extra = extra.iter().enumerate().filter_map(move |(i, t)| {
        let seen = site.contains(&t.as_str()) || extra[..i].contains(t);
        (!seen).then_some(t.as_str())
    });
    site.iter().copied().chain(extra)
}

impl Serialize for Attributes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.entries.len()))?;
        for e in &self.entries {
            m.serialize_entry(e.key, &e.value)?;
        }
        m.end()
    }
}
