//! What a record's captured content becomes before an exporter serializes it, under the
//! client's [`ContentPolicy`]: the user's mask callback (`mask.rs`), the built-in secret
//! scrubbers (`scrub.rs`) and the payload budgets (`budget.rs`), in that order (a document
//! already over its budget is cut first too, so a huge value is never parsed whole).
//!
//! Runs on each exporter's worker thread, just before serialization (the Staso body writer and
//! the OTLP mapping both read the record), never on the thread that made the span. A record
//! with nothing to do costs [`needs_pass`]: two flag checks, the document lengths and a size
//! bound of the metadata values.
//!
//! Only fields that the capture policy lets through are looked at; ids, name, model,
//! provider, tokens and status are never touched, and the error message is masked and
//! scrubbed but never cut.

mod budget;
mod mask;
mod scrub;

use std::borrow::{Borrow, Cow};

use serde_json::Value;

use crate::config::{
    ContentPolicy, ExportSettings, MaskContext, MaskField, OPERATIONAL_ALLOW_LIST, input_allowed,
};
use crate::kind::SpanKind;
use crate::record::SpanRecord;

#[cfg(test)]
use mask::PANIC_MARKER;

/// Metadata keys whose values are never cut (the wire's `provider` may come from it).
const UNCUT_METADATA: [&str; 1] = ["provider"];

/// What a pass changed, for the delivery report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// Fields cut to a budget (each field counted once per record).
    pub(crate) truncated_fields: u64,
    /// Values the mask panicked on (replaced by a marker).
    pub(crate) masks_dropped: u64,
}

impl Changes {
    fn add(&mut self, other: Changes) {
        self.truncated_fields += other.truncated_fields;
        self.masks_dropped += other.masks_dropped;
    }
}

/// Whether [`apply`] may change `rec`: a mask or the scrubbers are on, or a field is over a
/// budget. Cheap: lengths, and a size bound of the metadata values.
pub(crate) fn needs_pass(ctx: &ExportSettings, rec: &SpanRecord) -> bool {
    let p = &ctx.content;
    if p.mask.is_some() || p.scrub_secrets {
        return true;
    }
    let field = p.max_field_bytes;
    let mut total = 0usize;
    for doc in [&rec.input, &rec.output].into_iter().flatten() {
        if doc.len() > field {
            return true;
        }
        total += doc.len();
    }
    for (_, v) in &rec.metadata {
        let n = budget::json_len_bound(v);
        if n > field {
            return true;
        }
        total += n;
    }
    total > p.max_span_bytes
}

/// Applies the content policy to every record of `batch` that needs it, in place.
pub(crate) fn apply_all(ctx: &ExportSettings, batch: &mut [Box<SpanRecord>]) -> Changes {
    let mut changes = Changes::default();
    for rec in batch.iter_mut() {
        if needs_pass(ctx, rec) {
            changes.add(apply(ctx, rec));
        }
    }
    changes
}

/// `records` as the content policy leaves them, without changing them: borrowed when nothing
/// changes, else changed copies (for a batch the worker may only read).
pub(crate) fn applied<'a, R: Borrow<SpanRecord>>(
    ctx: &ExportSettings,
    records: &'a [R],
) -> (Vec<Cow<'a, SpanRecord>>, Changes) {
    let mut changes = Changes::default();
    let out = records
        .iter()
        .map(|r| {
            let r = r.borrow();
            if needs_pass(ctx, r) {
                let mut copy = r.clone();
                changes.add(apply(ctx, &mut copy));
                Cow::Owned(copy)
            } else {
                Cow::Borrowed(r)
            }
        })
        .collect();
    (out, changes)
}

/// Masks, scrubs and cuts the content of `rec` that the capture policy lets through.
pub(crate) fn apply(ctx: &ExportSettings, rec: &mut SpanRecord) -> Changes {
    let policy = &ctx.content;
    let capture = &ctx.policy;
    let mut changes = Changes::default();
    let SpanRecord {
        name,
        kind,
        input,
        input_prefiltered,
        output,
        metadata,
        error_message,
        ..
    } = rec;
    let (kind, name): (SpanKind, &str) = (*kind, name);
    let pass = Pass { policy, kind, name };
    let send_input = *input_prefiltered || input_allowed(capture, kind);
    // Which fields were cut already: each counts once.
    let mut cut_input = false;
    let mut cut_output = false;
    if send_input {
        cut_input = pass.document(input, MaskField::Input, &mut changes);
    }
    if capture.output {
        cut_output = pass.document(output, MaskField::Output, &mut changes);
    }
    let mut cut_meta = vec![false; metadata.len()];
    for ((key, v), cut) in metadata.iter_mut().zip(cut_meta.iter_mut()) {
        if capture.request || OPERATIONAL_ALLOW_LIST.contains(&key.as_ref()) {
            *cut = pass.metadata(key, v, &mut changes);
        }
    }
    if capture.all_on() {
        pass.error(error_message, &mut changes);
    }

    // The span budget: cut the largest fields first until the total fits.
    let mut sizes: Vec<(usize, Slot)> = Vec::new();
    if send_input {
        sizes.extend(input.as_ref().map(|d| (d.len(), Slot::Input)));
    }
    if capture.output {
        sizes.extend(output.as_ref().map(|d| (d.len(), Slot::Output)));
    }
    for (k, (key, v)) in metadata.iter().enumerate() {
        if !UNCUT_METADATA.contains(&key.as_ref()) {
            sizes.push((budget::json_len_bound(v), Slot::Metadata(k)));
        }
    }
    let total: usize = sizes.iter().map(|(n, _)| n).sum();
    let mut excess = total.saturating_sub(policy.max_span_bytes);
    if excess == 0 {
        return changes;
    }
    sizes.sort_by_key(|s| std::cmp::Reverse(s.0));
    for (size, slot) in sizes {
        if excess == 0 {
            break;
        }
        let target = size.saturating_sub(excess).max(budget::MIN_TARGET);
        if target >= size {
            continue;
        }
        let (now, first_cut) = match slot {
            Slot::Input => cut_doc(input, target, &mut cut_input),
            Slot::Output => cut_doc(output, target, &mut cut_output),
            Slot::Metadata(k) => {
                let v = &mut metadata[k].1;
                let did = budget::truncate_value(v, target);
                let first = did && !cut_meta[k];
                cut_meta[k] |= did;
                (budget::json_len_bound(v).min(size), first)
            }
        };
        changes.truncated_fields += u64::from(first_cut);
        excess = excess.saturating_sub(size - now);
    }
    changes
}

/// A field the span budget may cut.
#[derive(Clone, Copy)]
enum Slot {
    Input,
    Output,
    Metadata(usize),
}

/// Cuts `doc` to `target`; returns its new length and whether this is its first cut.
fn cut_doc(doc: &mut Option<String>, target: usize, cut: &mut bool) -> (usize, bool) {
    let Some(d) = doc else {
        return (0, false);
    };
    if d.len() <= target {
        return (d.len(), false);
    }
    *d = budget::truncate_json(d, target);
    let first = !*cut;
    *cut = true;
    (d.len(), first)
}

/// One record's pass: the policy and what the mask is told about the span.
struct Pass<'a> {
    policy: &'a ContentPolicy,
    kind: SpanKind,
    name: &'a str,
}

impl Pass<'_> {
    fn mask_ctx<'f>(&'f self, field: MaskField<'f>) -> MaskContext<'f> {
        MaskContext::new(self.kind, self.name, field)
    }

    /// Runs the mask on `v`; counts a panic.
    fn mask(&self, v: &mut Value, field: MaskField<'_>, changes: &mut Changes) {
        if let Some(mask) = &self.policy.mask
            && !mask::run(mask.as_ref(), v, &self.mask_ctx(field), self.policy)
        {
            changes.masks_dropped += 1;
        }
    }

    /// An input or output JSON document: cut to the field budget first when over it (so a huge
    /// value is never parsed whole), then masked and scrubbed, then cut again if that made it
    /// larger. A mask that sets the value to `null` removes the field. Returns whether it was cut.
    fn document(
        &self,
        doc: &mut Option<String>,
        field: MaskField<'_>,
        changes: &mut Changes,
    ) -> bool {
        let Some(d) = doc.as_mut() else {
            return false;
        };
        let max = self.policy.max_field_bytes;
        let mut cut = false;
        if d.len() > max {
            *d = budget::truncate_json(d, max);
            cut = true;
        }
        let mask = self.policy.mask.is_some();
        let scrub = self.policy.scrub_secrets && (mask || scrub::may_change_doc(d));
        if mask || scrub {
            let mut v: Value = serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.clone()));
            self.mask(&mut v, field, changes);
            let changed = scrub && scrub::value(&mut v);
            if v.is_null() {
                *doc = None;
                changes.truncated_fields += u64::from(cut);
                return cut;
            }
            if mask || changed {
                // Serializing a `Value` cannot fail: its keys are strings.
                let text = serde_json::to_string(&v).unwrap_or_else(|_| "{}".to_owned());
                // Written back into the record's own buffer, and only when it differs: the
                // buffer was allocated by the span's thread and goes back to it through the
                // record pool, where one allocated here would be freed across threads.
                if text != *d {
                    d.clear();
                    d.push_str(&text);
                }
            }
            if d.len() > max {
                *d = budget::truncate_json(d, max);
                cut = true;
            }
        }
        changes.truncated_fields += u64::from(cut);
        cut
    }

    /// One metadata value: masked, scrubbed (its key counts as a field name), cut to the field
    /// budget. Returns whether it was cut.
    fn metadata(&self, key: &str, v: &mut Value, changes: &mut Changes) -> bool {
        self.mask(v, MaskField::Metadata { key }, changes);
        if self.policy.scrub_secrets {
            scrub::entry(key, v);
        }
        if UNCUT_METADATA.contains(&key) {
            return false;
        }
        let cut = budget::truncate_value(v, self.policy.max_field_bytes);
        changes.truncated_fields += u64::from(cut);
        cut
    }

    /// The error message: masked as a JSON string and scrubbed, never cut. A mask that returns
    /// `null` removes it; any other non-string becomes its JSON text.
    fn error(&self, message: &mut Option<String>, changes: &mut Changes) {
        let Some(m) = message.as_mut() else {
            return;
        };
        if self.policy.mask.is_some() {
            let mut v = Value::String(std::mem::take(m));
            self.mask(&mut v, MaskField::Error, changes);
            match v {
                Value::Null => {
                    *message = None;
                    return;
                }
                Value::String(s) => *m = s,
                other => *m = other.to_string(),
            }
        }
        if self.policy.scrub_secrets
            && let Some(clean) = scrub::text(m)
        {
            *m = clean;
        }
    }
}

#[cfg(test)]
mod tests;
