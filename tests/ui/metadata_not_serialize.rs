struct Opaque;

#[staso::trace(metadata = { "handle": Opaque })]
fn a() {}

fn main() {}
