#[staso::agent(guard)]
fn plan() {}

fn main() {}
