#[staso::trace(kind = "planner")]
fn plan() {}

fn main() {}
