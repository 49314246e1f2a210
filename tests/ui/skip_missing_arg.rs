#[staso::tool(skip(api_key))]
fn search(query: &str, api_token: &str) -> usize {
    query.len() + api_token.len()
}

fn main() {}
