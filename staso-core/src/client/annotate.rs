//! The hand-off of annotations to the client's sink: `Annotation::send`, `annotate`,
//! `Client::annotate`.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{Client, ClientInner, current_client};
use crate::annotation::{Annotation, AnnotationError, AnnotationValue};

impl Client {
    /// Validates `annotation` and queues it on this client's delivery worker, like
    /// [`Annotation::send`] does on the global client. Never blocks.
    ///
    /// # Errors
    /// [`AnnotationError`] when the annotation is invalid; nothing is queued then.
    pub fn annotate(&self, annotation: Annotation) -> Result<(), AnnotationError> {
        annotation.validate()?;
        submit(&self.inner, annotation);
        Ok(())
    }
}

impl Annotation {
    /// Validates, then queues the annotation on the global client's delivery worker and returns
    /// at once. Never blocks, never does I/O, so it is fine inside async code.
    ///
    /// Without a client a warning is logged and nothing is sent; with a disabled client nothing
    /// is sent (debug log). Delivery failures, and a full queue, are logged and counted in
    /// [`DeliveryReport::annotations`](crate::report::DeliveryReport::annotations), not returned.
    ///
    /// # Errors
    /// [`AnnotationError`] when [`validate`](Self::validate) fails; nothing is queued then.
    pub fn send(self) -> Result<(), AnnotationError> {
        self.validate()?;
        match current_client() {
            Some(client) => submit(&client, self),
            None => log::warn!(
                "staso: annotation {:?} on trace {} not sent: no client (call staso::init first)",
                self.name,
                self.trace_id
            ),
        }
        Ok(())
    }
}

/// Annotates a whole trace: `Annotation::new(trace_id, name, value).send()`.
///
/// Use [`Annotation::new`] to scope it to a span or add a comment. See [`Annotation::send`] for
/// what happens without a client and how delivery is reported.
///
/// ```no_run
/// # let trace_id = String::new();
/// staso_core::annotate(&trace_id, "user_rating", 4)?;
/// staso_core::annotate(&trace_id, "category", "billing")?;
/// # Ok::<(), staso_core::AnnotationError>(())
/// ```
///
/// # Errors
/// [`AnnotationError`] for an empty name or trace id, or a non-finite number.
pub fn annotate(
    trace_id: impl Into<String>,
    name: impl Into<String>,
    value: impl Into<AnnotationValue>,
) -> Result<(), AnnotationError> {
    Annotation::new(trace_id, name, value).send()
}

/// Hands a validated annotation to `client`'s transport.
fn submit(client: &ClientInner, annotation: Annotation) {
    if client.exporter.is_none() {
        log::debug!(
            "staso: annotation {:?} not sent: the client is disabled",
            annotation.name
        );
        return;
    }
    match &client.annotations {
        // Rejections (queue full, shut down) are logged and counted by the transport.
        Some(sink) => {
            let _ = sink.offer(annotation);
        }
        None => {
            static WARNED: AtomicBool = AtomicBool::new(false);
            if !WARNED.swap(true, Ordering::Relaxed) {
                log::warn!(
                    "staso: annotations are not sent by clients installed with \
                     init_with_exporter (they need the HTTP transport of init); dropping them"
                );
            }
        }
    }
}
