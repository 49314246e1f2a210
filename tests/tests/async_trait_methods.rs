//! Attributes on methods inside `#[async_trait]` impls.

mod common;

use common::{json, setup};
use serde_json::json as j;

#[async_trait::async_trait]
trait Tool {
    async fn call(&self, input: String) -> Result<String, String>;
    async fn name(&self) -> &'static str;
}

struct Echo;

#[async_trait::async_trait]
impl Tool for Echo {
    #[staso::tool(name = "echo")]
    async fn call(&self, input: String) -> Result<String, String> {
        tokio::task::yield_now().await;
        if input.is_empty() {
            return Err("empty".into());
        }
        Ok(input.to_uppercase())
    }

    #[staso::trace]
    async fn name(&self) -> &'static str {
        "echo"
    }
}

#[staso::agent]
async fn uses_tool(t: &(dyn Tool + Sync), q: &str) -> Result<String, String> {
    let _ = t.name().await;
    t.call(q.to_owned()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_trait_methods_are_instrumented() {
    let h = setup();
    assert_eq!(uses_tool(&Echo, "hi").await, Ok("HI".to_owned()));
    assert!(Echo.call(String::new()).await.is_err());
    let calls = h.all_named("echo");
    assert_eq!(calls.len(), 2);
    let agent = h.by_name("uses_tool");
    assert_eq!(
        calls[0].span.parent_span_id.as_deref(),
        Some(agent.span.span_id.as_str())
    );
    assert_eq!(json(&calls[0].span.input)["input"], "hi");
    assert_eq!(json(&calls[0].span.output), j!({"result": "HI"}));
    assert_eq!(calls[1].span.status, "error");
    assert_eq!(calls[1].span.error_message.as_deref(), Some("empty"));
    assert_eq!(json(&h.by_name("name").span.output), j!({"result": "echo"}));
}
