#[derive(Debug)]
struct MyError;

#[staso::tool(guard)]
async fn lookup(id: u32) -> Result<u32, MyError> {
    Ok(id)
}

fn main() {}
