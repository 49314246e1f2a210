//! [`StasoLayer`]: the `tracing_subscriber::Layer` that turns `tracing` spans opened under a staso
//! span into staso spans, and keeps `tracing` events on the span they happen in.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ::tracing::level_filters::LevelFilter;
use ::tracing::span::{Attributes, Id, Record};
use ::tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::events::{self, EventList};
use super::fields::{self, Accumulated, FieldValues};
use super::guards;
use crate::{Context, Span, SpanId, current_span_ref};

/// Bridged spans alive in the process (all layers), counted per slot of their `tracing` span id:
/// the callbacks of a span whose slot is zero return before looking the span up in the registry
/// (one relaxed load), also while other spans are bridged. Ids sharing a slot only cost a lookup.
static LIVE: [AtomicU32; SLOTS] = [const { AtomicU32::new(0) }; SLOTS];
const SLOTS: usize = 1 << SLOT_BITS;
const SLOT_BITS: u32 = 12;

fn slot(id: &Id) -> usize {
    // Fibonacci hashing: registry ids are slab indices with a generation in the high bits.
    (id.into_u64().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOT_BITS)) as usize
}

/// Whether a `tracing` span with no staso span around it may start a trace here: not on staso's
/// own threads (delivery workers, the blocking API's helpers), where the HTTP client's spans
/// would become traces whose export makes more spans.
fn may_be_root() -> bool {
    let thread = std::thread::current();
    thread
        .name()
        .is_none_or(|n| !n.starts_with("staso-") || n.starts_with("staso-eval"))
}

/// Whether the span `id` may be bridged (no false negatives).
fn may_be_bridged(id: &Id) -> bool {
    LIVE[slot(id)].load(Ordering::Relaxed) != 0
}
/// Distinguishes layers in the per-thread guard stack (span ids are per subscriber).
static NEXT_LAYER: AtomicU64 = AtomicU64::new(1);

/// The most events [`StasoLayerBuilder::max_events`] accepts per span.
pub const MAX_EVENTS_LIMIT: usize = 1024;

/// A `tracing_subscriber::Layer` that bridges `tracing` spans and events into staso.
///
/// - A `tracing` span opened while a staso span is current (an instrumented fn, a manual span, a
///   bridged span that is entered), or whose explicit parent is bridged, becomes a staso span
///   under it, started when the `tracing` span is created, current while it is entered, and
///   ended when it closes. Other `tracing` spans are ignored, unless
///   [`roots(true)`](StasoLayerBuilder::roots) makes them roots of new traces.
/// - Name: the span's name, or its `otel.name` field. Kind: from `gen_ai.operation.name`
///   (`chat`/`text_completion`/`generate_content` → `llm`, `execute_tool` → `tool`,
///   `invoke_agent`/`create_agent` → `agent`, `retrieval`/`embeddings` → `retriever`), else
///   `chain`. Both are read when the span is created.
/// - Fields, at creation and through `record`: each is a metadata key; `gen_ai.*` fields fill the
///   LLM span's fields (model, provider, tokens, finish reason, response id, temperature,
///   `max_tokens`, `top_p`, `tool_name`); message and tool-call content fields
///   (`gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.tool.call.arguments`, …)
///   become the input and output; an `error` field or `otel.status_code = "ERROR"` sets the
///   status to error, with `otel.status_description` / `error.message` (else the `error` value)
///   as the message.
/// - Events at [`event_level`](StasoLayerBuilder::event_level) or more severe (default `WARN`)
///   inside a bridged or staso span are kept in its metadata under `events` (at most
///   [`max_events`](StasoLayerBuilder::max_events), default 32; the rest are counted in
///   `events_dropped`).
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let layer = staso::tracing::StasoLayer::builder()
///     .event_level(tracing::Level::INFO)
///     .max_events(64)
///     .build();
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info_span!("outside any staso span: ignored").in_scope(|| {});
/// });
/// ```
#[derive(Debug)]
pub struct StasoLayer {
    id: u64,
    event_level: LevelFilter,
    max_events: usize,
    roots: bool,
}

/// Options of a [`StasoLayer`] (see [`StasoLayer::builder`]).
#[derive(Clone, Debug)]
#[must_use = "call .build() to get the layer"]
pub struct StasoLayerBuilder {
    event_level: LevelFilter,
    max_events: usize,
    roots: bool,
}

impl Default for StasoLayerBuilder {
    fn default() -> Self {
        StasoLayerBuilder {
            event_level: LevelFilter::WARN,
            max_events: 32,
            roots: false,
        }
    }
}

impl StasoLayerBuilder {
    /// Events at this level or more severe are kept (default `WARN`: warnings and errors);
    /// `LevelFilter::OFF` keeps none.
    pub fn event_level(mut self, level: impl Into<LevelFilter>) -> Self {
        self.event_level = level.into();
        self
    }

    /// Events kept per span (default 32, at most [`MAX_EVENTS_LIMIT`]); later ones are only
    /// counted, in the metadata key `events_dropped`.
    pub fn max_events(mut self, n: usize) -> Self {
        self.max_events = n.min(MAX_EVENTS_LIMIT);
        self
    }

    /// Whether a `tracing` span with no staso span around it starts a new staso trace (default
    /// `false`: it is ignored). With `true`, consider a per-layer filter
    /// (`layer.with_filter(..)`) so that only the spans you want become traces. Spans on staso's
    /// own threads (`staso-transport`, …) never become roots: the exporter's HTTP client would
    /// trace its own exports.
    pub fn roots(mut self, roots: bool) -> Self {
        self.roots = roots;
        self
    }

    /// The layer.
    pub fn build(self) -> StasoLayer {
        StasoLayer {
            id: NEXT_LAYER.fetch_add(1, Ordering::Relaxed),
            event_level: self.event_level,
            max_events: self.max_events,
            roots: self.roots,
        }
    }
}

impl StasoLayer {
    /// The options, starting from the defaults of [`layer()`](super::layer).
    pub fn builder() -> StasoLayerBuilder {
        StasoLayerBuilder::default()
    }
}

impl Default for StasoLayer {
    fn default() -> Self {
        StasoLayer::builder().build()
    }
}

/// The staso side of a bridged `tracing` span, kept in its extensions.
struct Bridged {
    span: Arc<Span>,
    /// The staso span current in the context it was created in (its conversation, user and
    /// agent): entered on `on_enter`. Not `span.enter()`, which would take the conversation
    /// and agent of the thread polling the span: a worker thread of a plain `tokio::spawn` has
    /// none.
    context: Context,
    /// The `tracing` span id's slot in [`LIVE`].
    slot: usize,
    /// The staso span's id, to tell whether the current staso span is this one.
    span_id: Option<SpanId>,
    fields: Mutex<Accumulated>,
    /// A lock of its own: an event logged while fields are applied (a setter's warning through a
    /// `log` → `tracing` bridge) must not wait on the fields' lock.
    events: Mutex<EventList>,
    finished: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Bridged {
    fn new(id: &Id, span: Span, fields: Accumulated) -> Bridged {
        let span_id = span
            .span_id()
            .as_deref()
            .and_then(SpanId::parse)
            .filter(|_| span.is_recording());
        let slot = slot(id);
        LIVE[slot].fetch_add(1, Ordering::Relaxed);
        Bridged {
            context: span.context(),
            span: Arc::new(span),
            slot,
            span_id,
            fields: Mutex::new(fields),
            events: Mutex::new(EventList::default()),
            finished: AtomicBool::new(false),
        }
    }

    fn record(&self, values: FieldValues) {
        let mut acc = lock(&self.fields);
        fields::apply(&self.span, &mut acc, values);
    }

    fn keep_event(&self, max: usize, event: &Event<'_>) {
        {
            let mut list = lock(&self.events);
            if !list.has_room(max) {
                list.dropped += 1;
                return;
            }
        }
        // Built outside the lock: formatting runs user `Debug` impls.
        let json = events::event_json(event);
        let mut list = lock(&self.events);
        if list.has_room(max) {
            list.kept.push(json);
        } else {
            list.dropped += 1;
        }
    }

    /// Writes the events and ends the staso span (once).
    fn finish(&self) {
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        let list = std::mem::take(&mut *lock(&self.events));
        list.write_to(&self.span);
        self.span.end();
    }
}

impl Drop for Bridged {
    fn drop(&mut self) {
        // Normally done in `on_close`; this covers a registry dropped with spans still open.
        self.finish();
        LIVE[self.slot].fetch_sub(1, Ordering::Relaxed);
    }
}

/// The bridged staso side of the `tracing` span `id`, if any.
fn bridged<S>(ctx: &LayerContext<'_, S>, id: &Id) -> Option<Arc<Bridged>>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if !may_be_bridged(id) {
        return None;
    }
    let span = ctx.span(id)?;
    let ext = span.extensions();
    ext.get::<Arc<Bridged>>().cloned()
}

impl<S> Layer<S> for StasoLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        // An explicit parent that is bridged; a contextual parent that is bridged is entered,
        // so its staso span (or a staso span inside it) is current.
        let parent = attrs.parent().and_then(|p| bridged(&ctx, p));
        if parent.is_none() && current_span_ref().is_none() && !(self.roots && may_be_root()) {
            return;
        }
        let mut values = FieldValues::default();
        attrs.record(&mut values);
        let meta = attrs.metadata();
        let (name, kind) = fields::name_and_kind(meta.name(), &values);
        let span = match &parent {
            Some(p) => p.span.context().in_scope(|| Span::start(name, kind)),
            None => Span::start(name, kind),
        };
        if !span.is_recording() {
            return;
        }
        span.set_metadata("tracing.target", meta.target());
        let mut acc = Accumulated::default();
        fields::apply(&span, &mut acc, values);
        let bridged = Arc::new(Bridged::new(id, span, acc));
        if let Some(s) = ctx.span(id) {
            let old = s.extensions_mut().replace(bridged);
            drop(old);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let Some(b) = bridged(&ctx, id) else {
            return;
        };
        let mut fields = FieldValues::default();
        values.record(&mut fields);
        b.record(fields);
    }

    fn on_enter(&self, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(b) = bridged(&ctx, id) else {
            return;
        };
        let mut frame = b.context.frame().clone();
        if let Some(me) = frame.span.as_mut() {
            // Discarded meanwhile (`drop_span`): what starts under it is not recorded either.
            me.recording &= b.span.is_recording();
        }
        guards::push(self.id, id.into_u64(), Context::from_frame(frame).attach());
    }

    fn on_exit(&self, id: &Id, _ctx: LayerContext<'_, S>) {
        // An entered bridged span cannot have closed, so its slot is still counted.
        if !may_be_bridged(id) {
            return;
        }
        guards::pop(self.id, id.into_u64());
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        if !may_be_bridged(&id) {
            return;
        }
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let b = span.extensions_mut().remove::<Arc<Bridged>>();
        drop(span);
        if let Some(b) = b {
            b.finish();
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        if *event.metadata().level() > self.event_level {
            return;
        }
        if let Some(b) = event.parent().and_then(|p| bridged(&ctx, p)) {
            b.keep_event(self.max_events, event);
            return;
        }
        let Some(current) = current_span_ref() else {
            return;
        };
        // The innermost `tracing` span is bridged and its staso span is the current one.
        let innermost = ctx
            .current_span()
            .id()
            .and_then(|id| bridged(&ctx, id))
            .filter(|b| b.span_id == Some(current.span_id));
        match innermost {
            Some(b) => b.keep_event(self.max_events, event),
            None => events::keep_on_current(current.span_id, self.max_events, event),
        }
    }
}
