#[staso::tool(retries = 3)]
fn lookup(id: u32) -> u32 {
    id
}

fn main() {}
