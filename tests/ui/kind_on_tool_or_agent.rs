#[staso::tool(kind = "llm")]
fn a() {}

#[staso::agent(kind = "agent")]
fn b() {}

fn main() {}
