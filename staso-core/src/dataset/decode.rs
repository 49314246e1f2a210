//! Reading answers and checking arguments, shared by the dataset calls.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::StasoDatasetError;
use super::types::SplitType;

pub(super) type Result<T> = std::result::Result<T, StasoDatasetError>;

/// Reads one object of wire type `W` and converts it.
pub(super) fn one<W: DeserializeOwned, T: From<W>>(v: Option<Value>, what: &str) -> Result<T> {
    let v = v.unwrap_or(Value::Null);
    serde_json::from_value::<W>(v.clone())
        .map(T::from)
        .map_err(|e| StasoDatasetError::invalid_response(what, e, &v.to_string()))
}

/// Reads a list answered either bare or as `{key: [...]}` (§7.3); anything else is empty.
pub(super) fn many<W: DeserializeOwned, T: From<W>>(v: Option<Value>, key: &str) -> Result<Vec<T>> {
    let items = match v {
        Some(Value::Array(a)) => a,
        Some(Value::Object(mut o)) => match o.remove(key) {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    items
        .into_iter()
        .map(|item| {
            serde_json::from_value::<W>(item.clone())
                .map(T::from)
                .map_err(|e| StasoDatasetError::invalid_response(key, e, &item.to_string()))
        })
        .collect()
}

/// Serializes entry data, which must be a JSON object.
pub(super) fn object_of<T: Serialize + ?Sized>(data: &T, what: &str) -> Result<Map<String, Value>> {
    match serde_json::to_value(data) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(StasoDatasetError::invalid_argument(format!(
            "{what} must serialize to a JSON object, not {}",
            json_kind(&other)
        ))),
        Err(e) => Err(StasoDatasetError::invalid_argument(format!(
            "{what} could not be serialized: {e}"
        ))),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) fn split_query(split: Option<&SplitType>) -> Option<(&'static str, String)> {
    split
        .map(|s| s.as_str().to_owned())
        .filter(|s| !s.is_empty())
        .map(|s| ("split_id", s))
}
