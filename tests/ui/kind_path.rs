#[staso::trace(kind = staso::SpanKind::Planner)]
fn plan() {}

#[staso::trace(kind = staso::SpanKind::Llm(1))]
fn call() {}

#[staso::trace(kind = 3)]
fn three() {}

mod not_a_kind {
    pub enum Kinds {
        Llm,
    }
}

#[staso::trace(kind = not_a_kind::Kinds::Llm)]
fn other_type() {}

fn main() {}
