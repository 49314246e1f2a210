#[staso::agent]
struct Agent {
    name: String,
}

#[staso::trace]
const LIMIT: u32 = 3;

fn main() {}
