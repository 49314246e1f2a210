#[staso::tool(guard, "lookup")]
fn lookup() {}

#[staso::agent(42)]
fn answer() {}

#[staso::trace("plan", name = "other")]
fn plan() {}

fn main() {}
