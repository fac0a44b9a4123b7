//! Client versions as users and operators write them: one to four dot-separated numbers
//! ("4", "4.1", "4.1.0", "4.1.0.0", optionally after a `v`), with an optional semantic-version
//! pre-release or build suffix ("1.2.3-rc.1", "1.2.3+abc"). Missing parts count as 0, so
//! "4.1" = "4.1.0" = "4.1.0.0"; a pre-release sorts before its release (as in semver).

use std::cmp::Ordering;
use std::fmt;

use thiserror::Error;

/// A version that is not one to four numbers.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "{0:?} is not a version: write one to four numbers separated by dots, such as 4.1.0.0 or 1.2.3 (a suffix like -rc.1 is allowed)"
)]
pub struct InvalidVersion(pub String);

/// A parsed client version (`ecmt`, `carecert-agent`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientVersion {
    parts: [u64; 4],
    /// How many parts were written (1–4), kept so the text round-trips.
    written: usize,
    /// Pre-release suffix after `-` (empty for a release).
    pre: String,
    /// Build suffix after `+` (ignored when comparing).
    build: String,
}

impl ClientVersion {
    /// Parses "4.1.0.0", "v1.2.3", "1.2.3-rc.1", …
    pub fn parse(s: &str) -> Result<Self, InvalidVersion> {
        let bad = || InvalidVersion(s.to_string());
        let t = s.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let (t, build) = match t.split_once('+') {
            Some((a, b)) if !b.is_empty() => (a, b.to_string()),
            Some(_) => return Err(bad()),
            None => (t, String::new()),
        };
        let (nums, pre) = match t.split_once('-') {
            Some((a, p)) if !p.is_empty() => (a, p.to_string()),
            Some(_) => return Err(bad()),
            None => (t, String::new()),
        };
        let mut parts = [0u64; 4];
        let mut written = 0;
        for (i, p) in nums.split('.').enumerate() {
            if i >= 4 || p.is_empty() || p.len() > 9 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            parts[i] = p.parse().map_err(|_| bad())?;
            written = i + 1;
        }
        let ok_suffix = |x: &str| x.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if written == 0 || !ok_suffix(&pre) || !ok_suffix(&build) {
            return Err(bad());
        }
        Ok(ClientVersion { parts, written, pre, build })
    }

    /// The numeric parts, missing ones as 0.
    pub fn parts(&self) -> [u64; 4] {
        self.parts
    }
}

impl std::str::FromStr for ClientVersion {
    type Err = InvalidVersion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ClientVersion::parse(s)
    }
}

impl fmt::Display for ClientVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n: Vec<String> = self.parts[..self.written.max(1)].iter().map(u64::to_string).collect();
        write!(f, "{}", n.join("."))?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}

impl Ord for ClientVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts.cmp(&other.parts).then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => compare_pre(&self.pre, &other.pre),
        })
    }
}

impl PartialOrd for ClientVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Semver's pre-release order: numeric identifiers numerically, others as text, fewer first.
fn compare_pre(a: &str, b: &str) -> Ordering {
    let mut x = a.split('.');
    let mut y = b.split('.');
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => {
                let o = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => p.cmp(q),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ClientVersion {
        ClientVersion::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn four_part_versions_parse_and_compare_with_three_part_ones() {
        assert_eq!(v("4.1.0.0").to_string(), "4.1.0.0");
        assert_eq!(v("v1.2.3").to_string(), "1.2.3");
        assert!(v("4.1.0.0") > v("4.0.8.0"));
        assert!(v("4.1.0.0") > v("3.0.0.2"));
        assert!(v("4.1.0.1") > v("4.1.0"));
        assert_eq!(v("4.1").cmp(&v("4.1.0.0")), Ordering::Equal);
        assert!(v("1.2.3-rc.1") < v("1.2.3"));
        assert!(v("1.2.3-rc.2") < v("1.2.3-rc.10"));
        assert!(v("0.10.0") > v("0.9.9.9"));
        for bad in ["", "4.1.0.0.0", "a.b", "4..1", "4.1-", "1.2.3+", "-1", "4.1 .0"] {
            assert!(ClientVersion::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(ClientVersion::parse("x").unwrap_err().to_string().contains("4.1.0.0"));
    }
}
