#![deny(unused_must_use)]

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = staso::Config::builder().enabled(false).build()?;
    staso::init(config)?;
    Ok(())
}
