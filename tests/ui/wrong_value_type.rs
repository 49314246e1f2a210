#[staso::trace(name = 5)]
fn a() {}

#[staso::agent(capture_input = "yes")]
fn b() {}

#[staso::tool(tags = "rag")]
fn c() {}

fn main() {}
