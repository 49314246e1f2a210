#[staso::trace(name = "a", name = "b")]
fn step() {}

fn main() {}
