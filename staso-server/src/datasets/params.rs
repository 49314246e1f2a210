//! Query parameters and split names shared by the dataset routes (`datasets` and its CSV child),
//! kept apart so the children need nothing from their parent.

use serde::Deserialize;

use crate::error::ApiError;

/// Splits of §7.2.
pub const SPLITS: [&str; 3] = ["train", "test", "validation"];

/// `limit`, `offset`, `folder_id`, `parent_id`, `split_id` query parameters.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    pub(super) limit: Option<String>,
    pub(super) offset: Option<String>,
    pub(super) folder_id: Option<String>,
    pub(super) parent_id: Option<String>,
    pub(super) split_id: Option<String>,
}

impl PageQuery {
    /// `(limit, offset)`: `limit` in `0..=1000` (default 100), `offset` any `u32` (default 0).
    pub(super) fn page(&self) -> Result<(u32, u32), ApiError> {
        let num =
            |name: &str, v: &Option<String>, default: u32, max: u32| match v {
                None => Ok(default),
                Some(s) => s.parse::<u32>().ok().filter(|n| *n <= max).ok_or_else(|| {
                    ApiError::field(name, format!("must be an integer in 0..={max}"))
                }),
            };
        Ok((
            num("limit", &self.limit, 100, 1000)?,
            num("offset", &self.offset, 0, u32::MAX)?,
        ))
    }
}

/// Checks a split name (`None` and `""` mean no split).
pub fn check_split(split: Option<String>) -> Result<Option<String>, ApiError> {
    match split.filter(|s| !s.is_empty()) {
        Some(s) if !SPLITS.contains(&s.as_str()) => Err(ApiError::field(
            "split_id",
            format!("must be one of {}", SPLITS.join(", ")),
        )),
        other => Ok(other),
    }
}
