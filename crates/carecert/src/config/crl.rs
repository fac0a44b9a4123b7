//! `[crl]` (issue 12): how each online CA's CRL is split into shards.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::DurationText;

/// `[crl]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrlSection {
    /// Shards per online CA (0: one CRL per CA).
    pub shards: i64,
    /// The whole CRL follows a revocation on a shard within this long.
    pub whole_crl_delay: DurationText,
    /// How long a CRL is valid (nextUpdate − thisUpdate).
    pub validity: DurationText,
    /// A CRL is published again when it is this old, revoked or not.
    pub refresh: DurationText,
}

impl Default for CrlSection {
    fn default() -> Self {
        Self {
            shards: i64::from(ca::DEFAULT_CRL_SHARDS),
            whole_crl_delay: "1m".into(),
            validity: "24h".into(),
            refresh: "1h".into(),
        }
    }
}

/// The checked `[crl]`.
#[derive(Debug, Clone)]
pub struct CrlSettings {
    /// Shards per online CA.
    pub shards: u16,
    /// Longest delay of the whole CRL behind a shard.
    pub whole_crl_delay: Duration,
    /// nextUpdate − thisUpdate.
    pub validity: Duration,
    /// Age at which a CRL is published again.
    pub refresh: Duration,
}

impl CrlSection {
    /// Checks the section; problems are pushed as (key, message).
    pub(super) fn check(&self, problems: &mut Vec<(String, String)>) -> CrlSettings {
        let defaults = ca::AuthorityConfig::default();
        let shards = match u16::try_from(self.shards) {
            Ok(n) if n <= 4096 => n,
            _ => {
                problems.push(("crl.shards".into(), "must be a whole number from 0 (no shards) to 4096".into()));
                defaults.crl_shards
            }
        };
        let mut duration = |key: &str, text: &DurationText, fallback: Duration| match text.parse() {
            Ok(d) => d,
            Err(m) => {
                problems.push((format!("crl.{key}"), m));
                fallback
            }
        };
        let whole_crl_delay = duration("whole_crl_delay", &self.whole_crl_delay, defaults.whole_crl_delay);
        let validity = duration("validity", &self.validity, defaults.crl_validity);
        let refresh = duration("refresh", &self.refresh, defaults.crl_refresh);
        if refresh >= validity {
            problems.push((
                "crl.refresh".into(),
                format!(
                    "must be shorter than crl.validity ({}s), or relying parties hold expired CRLs between publications",
                    validity.as_secs()
                ),
            ));
        }
        CrlSettings { shards, whole_crl_delay, validity, refresh }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_bad_values_are_named() {
        let mut problems = vec![];
        let ok = CrlSection::default().check(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(ok.shards, ca::DEFAULT_CRL_SHARDS);
        assert_eq!(ok.whole_crl_delay, Duration::from_secs(60));
        let bad = CrlSection { shards: 70_000, refresh: "2d".into(), ..CrlSection::default() };
        bad.check(&mut problems);
        let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["crl.shards", "crl.refresh"]);
    }
}
