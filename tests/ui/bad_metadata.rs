#[staso::trace(metadata = ["k", 1])]
fn a() {}

#[staso::trace(metadata = { k: 1 })]
fn b() {}

#[staso::trace(metadata = { "k": 1, "k": 2 })]
fn c() {}

fn main() {}
