//! A small support agent: an agent calling a retriever and tools (one of which fails), inside a
//! conversation. Configured entirely from the environment:
//!
//! ```sh
//! cargo run -p staso-server -- serve            # prints a dev API key
//! STASO_BASE_URL=http://127.0.0.1:7070 STASO_API_KEY=<key> cargo run --example support_agent
//! cargo run -p staso-server -- traces
//! ```

use std::time::Duration;

use serde::Serialize;
use staso::SpanKind;

#[derive(Debug, Serialize, Clone)]
pub struct Doc {
    pub id: u32,
    pub text: String,
}

#[derive(Debug)]
pub struct ToolError(pub String);

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ToolError {}

#[staso::trace(kind = "retriever", tags = ["rag"], metadata = { "index": "faq-v2", "k": 2 })]
pub async fn retrieve(question: &str) -> Vec<Doc> {
    tokio::time::sleep(Duration::from_millis(3)).await;
    vec![
        Doc {
            id: 1,
            text: format!("Refunds are issued within 5 days ({question})"),
        },
        Doc {
            id: 2,
            text: "Orders can be cancelled before shipping".into(),
        },
    ]
}

#[staso::tool]
pub async fn lookup_order(order_id: u64) -> Result<String, ToolError> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    Ok(format!("order {order_id}: shipped"))
}

#[staso::tool(skip(api_token))]
pub async fn issue_refund(order_id: u64, api_token: &str) -> Result<String, ToolError> {
    let _ = api_token;
    Err(ToolError(format!(
        "refund for order {order_id} declined: already shipped"
    )))
}

#[staso::agent(name = "support-agent")]
pub async fn answer(question: &str, order_id: u64) -> Result<String, ToolError> {
    let docs = retrieve(question).await;
    let best = staso::span("rank-docs", SpanKind::Chain, |s| {
        s.set_metadata("candidates", docs.len());
        docs.iter().max_by_key(|d| d.text.len()).cloned()
    });
    let status = lookup_order(order_id).await?;
    let refund = match issue_refund(order_id, "sk-not-recorded").await {
        Ok(r) => r,
        Err(e) => format!("no refund ({e})"),
    };
    Ok(format!(
        "{status}; {refund}; see doc {}",
        best.map(|d| d.id).unwrap_or(0)
    ))
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = staso::Config::builder().agent_name("support-bot").build()?;
    let staso = staso::init(config)?;
    let reply = staso::conversation!("conv-support-1", user_id = "user-alice", async {
        answer("Can I get a refund?", 42).await
    })
    .await?;
    println!("agent replied: {reply}");
    let report = staso.shutdown(Duration::from_secs(5));
    println!(
        "delivery: delivered {} of {} spans (ok: {})",
        report.delivered,
        report.accepted,
        report.ok()
    );
    Ok(())
}
