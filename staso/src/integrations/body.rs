//! A response body recorded as it streams to the caller: each data frame is fed to the stream
//! recorder (which keeps only the accumulated reply), the span ends at the last frame, on an
//! error, or when the body is dropped unfinished (`Cancelled`).

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use http_body::{Body, Frame, SizeHint};
use staso_core::llm::LlmStreamRecorder;

pin_project_lite::pin_project! {
    pub(crate) struct RecordedBody<B> {
        #[pin]
        inner: B,
        recorder: Option<LlmStreamRecorder>,
    }
}

impl<B> RecordedBody<B> {
    pub(crate) fn new(inner: B, recorder: LlmStreamRecorder) -> Self {
        RecordedBody {
            inner,
            recorder: Some(recorder),
        }
    }
}

impl<B> Body for RecordedBody<B>
where
    B: Body,
    B::Data: AsRef<[u8]>,
    B::Error: std::fmt::Display,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let mut inner = this.inner;
        let frame = std::task::ready!(inner.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let (Some(data), Some(r)) = (f.data_ref(), this.recorder.as_mut()) {
                    r.feed_bytes(data.as_ref());
                }
                // A consumer may stop polling once the body says it has ended.
                if inner.is_end_stream()
                    && let Some(r) = this.recorder.take()
                {
                    r.finish();
                }
            }
            Some(Err(e)) => {
                if let Some(r) = this.recorder.take() {
                    r.fail(e.to_string(), "BodyError");
                }
            }
            None => {
                if let Some(r) = this.recorder.take() {
                    r.finish();
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
