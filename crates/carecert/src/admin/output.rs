//! How `carecert admin` prints: text for people, or `--json` (the answer as the server sent
//! it, pretty-printed with its keys in order), and how a client error reads.

use anyhow::{Result, anyhow};
use serde::Serialize;

/// Prints `v` as JSON, or the text `text` makes of it.
pub(crate) fn print<T: Serialize>(json_out: bool, v: &T, text: impl FnOnce(&T) -> String) {
    if json_out {
        println!("{}", json(v));
    } else {
        println!("{}", text(v));
    }
}

/// `v` as pretty JSON. Going through `serde_json::Value` sorts the keys, as the output
/// always has been.
pub(crate) fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v).and_then(|v| serde_json::to_string_pretty(&v)).unwrap_or_default()
}

/// A Unix time as `YYYY-MM-DD HH:MMZ` (empty when absent).
pub(crate) fn date(t: impl Into<Option<i64>>) -> String {
    t.into()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .map(|t| {
            format!("{:04}-{:02}-{:02} {:02}:{:02}Z", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
        })
        .unwrap_or_default()
}

/// The answer of a call, with a refusal worded for the operator (`… (HTTP 404)`).
pub(crate) trait Answer<T> {
    /// The value, or the error as the operator reads it.
    fn answer(self) -> Result<T>;
}

impl<T> Answer<T> for Result<T, client::Error> {
    fn answer(self) -> Result<T> {
        self.map_err(|e| match e {
            client::Error::Refused { status, message, .. } => anyhow!("{message} (HTTP {status})"),
            other => other.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_refusals_read_as_before() {
        assert_eq!(date(0), "1970-01-01 00:00Z");
        assert_eq!(date(None), "");
        let r: Result<(), client::Error> =
            Err(client::Error::Refused { status: 404, code: "not_found".into(), message: "no such thing".into() });
        assert_eq!(r.answer().unwrap_err().to_string(), "no such thing (HTTP 404)");
    }

    #[test]
    fn json_keys_are_sorted() {
        #[derive(Serialize)]
        struct S {
            b: i32,
            a: i32,
        }
        assert_eq!(json(&S { b: 1, a: 2 }), "{\n  \"a\": 2,\n  \"b\": 1\n}");
    }
}
