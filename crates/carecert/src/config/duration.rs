//! Durations written with a unit: `"30s"`, `"15m"`, `"8h"`, `"14d"`, `"1h30m"`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A duration as written in the file; [`DurationText::parse`] checks it (in `validate`, so a
/// bad one is reported with the others instead of stopping the parse).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DurationText {
    /// `"15m"`.
    Text(String),
    /// A bare number (refused by `parse`: the unit is required).
    Number(i64),
}

impl From<&str> for DurationText {
    fn from(s: &str) -> Self {
        Self::Text(s.to_string())
    }
}

impl DurationText {
    /// Seconds, from a command-line flag.
    pub fn seconds(n: u64) -> Self {
        Self::Text(format!("{n}s"))
    }

    /// The duration, or what is wrong with it.
    pub fn parse(&self) -> Result<Duration, String> {
        let text = match self {
            Self::Number(n) if *n <= 0 => return Err("must be positive".into()),
            Self::Number(n) => return Err(format!("write it with a unit, e.g. \"{n}s\", \"{n}m\" or \"{n}d\"")),
            Self::Text(t) => t.trim(),
        };
        if text.starts_with('-') {
            return Err("must be positive".into());
        }
        let bad = || format!("'{text}' is not a duration like \"30s\", \"15m\", \"8h\" or \"14d\"");
        let mut total: u64 = 0;
        let mut digits = String::new();
        for c in text.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                _ => return Err(bad()),
            };
            let n: u64 = digits.parse().map_err(|_| bad())?;
            total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
            digits.clear();
        }
        if !digits.is_empty() || text.is_empty() {
            return Err(bad());
        }
        if total == 0 {
            return Err("must be positive".into());
        }
        Ok(Duration::from_secs(total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_add_up_and_bad_ones_say_why() {
        assert_eq!(DurationText::from("1h30m").parse(), Ok(Duration::from_secs(5400)));
        assert_eq!(DurationText::from("14d").parse(), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(DurationText::from("-5m").parse(), Err("must be positive".into()));
        assert_eq!(DurationText::from("0s").parse(), Err("must be positive".into()));
        assert_eq!(DurationText::Number(-3).parse(), Err("must be positive".into()));
        assert!(DurationText::Number(900).parse().unwrap_err().contains("900s"));
        assert!(DurationText::from("15 minutes").parse().is_err());
        assert!(DurationText::from("15").parse().is_err());
        assert!(DurationText::from("").parse().is_err());
    }
}
