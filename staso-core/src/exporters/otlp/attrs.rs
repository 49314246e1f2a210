//! OTLP attributes in insertion order, and JSON metadata values as OTLP `AnyValue`s.

use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue};
use serde_json::Value;

/// Attributes in insertion order; a key set twice keeps its first position and the last value.
#[derive(Default)]
pub(crate) struct Attrs(Vec<KeyValue>);

impl Attrs {
    pub(super) fn set(&mut self, key: impl Into<String>, value: Av) {
        let key = key.into();
        let value = Some(AnyValue { value: Some(value) });
        match self.0.iter_mut().find(|kv| kv.key == key) {
            Some(kv) => kv.value = value,
            None => self.0.push(KeyValue {
                key,
                value,
                ..Default::default()
            }),
        }
    }

    /// Sets `key` to `value` (replacing an earlier value).
    pub(super) fn put(&mut self, key: &str, value: Av) {
        self.set(key, value);
    }

    pub(super) fn str(&mut self, key: &str, v: &str) {
        if !v.is_empty() {
            self.set(key, Av::StringValue(v.to_owned()));
        }
    }

    pub(super) fn int(&mut self, key: &str, v: u64) {
        self.set(key, Av::IntValue(i64::try_from(v).unwrap_or(i64::MAX)));
    }

    /// A metadata value: primitives and homogeneous primitive arrays as themselves, anything else
    /// (objects, mixed arrays) as its JSON text; `null` is left out.
    pub(super) fn json(&mut self, key: String, v: &Value) {
        if let Some(av) = any_value(v) {
            self.set(key, av);
        }
    }

    pub(crate) fn into_vec(self) -> Vec<KeyValue> {
        self.0
    }
}

fn primitive(v: &Value) -> Option<Av> {
    Some(match v {
        Value::String(s) => Av::StringValue(s.clone()),
        Value::Bool(b) => Av::BoolValue(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Av::IntValue(i),
            None => Av::DoubleValue(n.as_f64()?),
        },
        _ => return None,
    })
}

fn any_value(v: &Value) -> Option<Av> {
    match v {
        Value::Null => None,
        Value::Array(items) => {
            let values: Option<Vec<Av>> = items.iter().map(primitive).collect();
            match values {
                Some(vals)
                    if vals.windows(2).all(|w| {
                        std::mem::discriminant(&w[0]) == std::mem::discriminant(&w[1])
                    }) =>
                {
                    Some(Av::ArrayValue(ArrayValue {
                        values: vals
                            .into_iter()
                            .map(|v| AnyValue { value: Some(v) })
                            .collect(),
                    }))
                }
                _ => Some(Av::StringValue(v.to_string())),
            }
        }
        Value::Object(_) => Some(Av::StringValue(v.to_string())),
        other => primitive(other),
    }
}
