// With `off`, the attributes still check their arguments: each error points at its token.

#[staso::tool(retries = 3)]
fn unknown_option(id: u32) -> u32 {
    id
}

#[staso::tool(skip(api_key))]
fn skip_missing_arg(query: &str, api_token: &str) -> usize {
    query.len() + api_token.len()
}

#[staso::tool(guard = true)]
fn guard_with_value(id: u32) -> Result<u32, Box<dyn std::error::Error>> {
    Ok(id)
}

#[staso::trace(kind = "planner")]
fn unknown_kind() {}

#[staso::agent(guard)]
fn guard_on_agent() {}

#[staso::agent]
struct NotAFn;

fn main() {}
