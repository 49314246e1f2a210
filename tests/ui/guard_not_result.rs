#[staso::tool(guard)]
fn lookup(id: u32) -> u32 {
    id
}

fn main() {}
