//! Expanded code emits no warnings in the user's crate (#13): guard tools sync and async with
//! one-line and multi-statement bodies, the other attributes, the kind and name forms, and
//! `conversation!` in all its forms.
#![deny(warnings)]

use staso::{GuardBlocked, SpanKind};

#[staso::tool(guard)]
fn add_one(x: u32) -> Result<u32, GuardBlocked> { Ok(x + 1) }

#[staso::tool(guard)]
fn add_two(x: u32) -> Result<u32, GuardBlocked> {
    let y = x + 1;
    Ok(y + 1)
}

#[staso::tool(guard)]
async fn add_one_async(x: u32) -> Result<u32, GuardBlocked> { Ok(x + 1) }

#[staso::tool(guard)]
async fn add_two_async(mut x: u32) -> Result<u32, GuardBlocked> {
    x += 1;
    Ok(x + 1)
}

#[staso::tool(guard, name = "lookup")]
fn lookup(id: u32) -> Result<String, Box<dyn std::error::Error>> { Ok(id.to_string()) }

#[staso::tool]
fn one_line(x: u32) -> u32 { x + 1 }

#[staso::tool("named-tool")]
fn named_tool(x: u32) -> u32 { x * 2 }

#[staso::agent("named-agent")]
async fn named_agent(x: u32) -> u32 { one_line(x) + named_tool(x) }

#[staso::agent]
fn plain_agent() {}

#[staso::trace(kind = SpanKind::Llm)]
fn llm_short_path(prompt: &str) -> usize { prompt.len() }

#[staso::trace("retrieve", kind = staso::SpanKind::Retriever, tags = ["rag"])]
async fn retrieve(q: &str) -> Vec<String> {
    let doc = format!("doc about {q}");
    vec![doc]
}

#[staso::trace(kind = "chain", metadata = { "k": 2 })]
fn chain() -> Option<u8> { Some(1) }

fn conversations() {
    let n = staso::conversation!("c", user_id = "u", { 1 });
    let m = staso::conversation!(user_id = "u", { n + 1 });
    let id: Option<String> = None;
    let user: Option<&str> = Some("u");
    let k = staso::conversation!(id, user_id = user, { m + 1 });
    let _future = staso::conversation!(user_id = "u", async move { k + 1 });
}

fn main() {
    // Referenced, not run: nothing here should reach a guard or a backend.
    let _ = (add_one, add_two, add_one_async, add_two_async, lookup);
    let _ = (one_line, named_tool, named_agent, plain_agent, llm_short_path, retrieve, chain);
    conversations();
}
