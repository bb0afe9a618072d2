//! Comparing releases, for `regression` rules with `newer_release_only`: is the release an
//! issue came back in newer than the one it was resolved in?
//!
//! A release is a dotted numeric version (`1.10.0`, `v2.3`, `42`), optionally prefixed by
//! the app's name (`shop@1.10.0`, `@acme/web@2.0.1`: the part after the last `@`, as Sentry
//! SDKs name releases), optionally with a semver pre-release (`-beta.2`, which sorts before
//! the release itself) and build metadata (`+sha.1f3c`, ignored). Missing components count
//! as zero (`1.2` = `1.2.0`).

use std::cmp::Ordering;

/// Whether `release` is newer than `resolved_in`; `None` when that cannot be told: either is
/// not a version, or both name an app and the names differ.
pub(crate) fn is_newer(release: &str, resolved_in: &str) -> Option<bool> {
    let (name, version) = Release::parse(release)?;
    let (resolved_name, resolved) = Release::parse(resolved_in)?;
    if let (Some(a), Some(b)) = (name, resolved_name)
        && a != b
    {
        return None;
    }
    Some(version.compare(&resolved) == Ordering::Greater)
}

#[derive(Debug)]
struct Release<'a> {
    numbers: Vec<u64>,
    pre: Option<&'a str>,
}

impl<'a> Release<'a> {
    /// The app name, if any, and the version.
    fn parse(text: &'a str) -> Option<(Option<&'a str>, Self)> {
        let text = text.trim();
        let (name, version) = match text.rsplit_once('@') {
            Some((name, version)) => (Some(name).filter(|name| !name.is_empty()), version),
            None => (None, text),
        };
        let version = version.strip_prefix(['v', 'V']).unwrap_or(version);
        let version = version.split_once('+').map_or(version, |(core, _)| core);
        let (core, pre) = match version.split_once('-') {
            Some((core, pre)) if !pre.is_empty() => (core, Some(pre)),
            Some(_) => return None,
            None => (version, None),
        };
        let numbers = core
            .split('.')
            .map(|part| {
                // A leading `+` or an empty part would parse or slip through otherwise.
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                part.parse::<u64>().ok()
            })
            .collect::<Option<Vec<_>>>()?;
        Some((name, Self { numbers, pre }))
    }

    /// Not `Ord`: `1.2` and `1.2.0` are the same release but not the same text.
    fn compare(&self, other: &Self) -> Ordering {
        let len = self.numbers.len().max(other.numbers.len());
        let number = |numbers: &[u64], i: usize| numbers.get(i).copied().unwrap_or(0);
        (0..len)
            .map(|i| number(&self.numbers, i).cmp(&number(&other.numbers, i)))
            .find(|order| order.is_ne())
            .unwrap_or_else(|| match (self.pre, other.pre) {
                (None, None) => Ordering::Equal,
                // `1.0.0-rc.1` comes before `1.0.0`.
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => compare_pre(a, b),
            })
    }
}

/// Semver's pre-release order: identifier by identifier, numbers numerically and before
/// words, a shorter list first when one is a prefix of the other.
fn compare_pre(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if order.is_ne() {
                    return order;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_components_compare_as_numbers() {
        assert_eq!(is_newer("1.10.0", "1.9.2"), Some(true));
        assert_eq!(is_newer("shop@1.10.0", "shop@1.9.2"), Some(true));
        assert_eq!(is_newer("shop@1.9.2", "shop@1.10.0"), Some(false));
        assert_eq!(is_newer("2", "1.99"), Some(true));
        assert_eq!(is_newer("v1.2.1", "1.2"), Some(true));
    }

    #[test]
    fn the_same_release_is_not_newer() {
        assert_eq!(is_newer("1.2.0", "1.2.0"), Some(false));
        assert_eq!(is_newer("1.2", "1.2.0"), Some(false));
        assert_eq!(is_newer("1.2.0+build.7", "1.2.0+build.6"), Some(false));
    }

    #[test]
    fn pre_releases_come_before_the_release() {
        assert_eq!(is_newer("1.0.0", "1.0.0-rc.1"), Some(true));
        assert_eq!(is_newer("1.0.0-rc.2", "1.0.0-rc.1"), Some(true));
        assert_eq!(is_newer("1.0.0-rc.10", "1.0.0-rc.9"), Some(true));
        assert_eq!(is_newer("1.0.0-beta", "1.0.0-alpha.5"), Some(true));
        assert_eq!(is_newer("1.0.0-alpha", "1.0.0-alpha.1"), Some(false));
        assert_eq!(is_newer("1.0.0-rc.1", "1.0.0"), Some(false));
    }

    #[test]
    fn scoped_names_and_name_mismatches() {
        assert_eq!(is_newer("@acme/web@2.0.1", "@acme/web@2.0.0"), Some(true));
        assert_eq!(is_newer("web@2.0.1", "shop@2.0.0"), None);
        // Only one side names the app: the versions are still comparable.
        assert_eq!(is_newer("shop@2.0.1", "2.0.0"), Some(true));
    }

    #[test]
    fn what_is_not_a_version_cannot_be_compared() {
        for text in [
            "", "main", "1f3c9a2", "1..2", "1.2.", "1.x", "1.2-", "+1.2", "shop@",
        ] {
            assert_eq!(is_newer(text, "1.0"), None, "{text:?}");
            assert_eq!(is_newer("1.0", text), None, "{text:?}");
        }
        assert_eq!(is_newer("99999999999999999999999.0", "1.0"), None);
    }
}
