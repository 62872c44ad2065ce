//! Policy coverage: which rules, alternatives and `require` entries the
//! cases exercised, counted exactly.
//!
//! The items of a policy are every alternative of every rule (a rule with
//! one action is one item, `fields./email`; a rule with a list has one item
//! per alternative, `fields./email[1]`) and every `require` entry
//! (`require[0]`). An alternative is covered when it governed a value in
//! some case; a `require` entry is covered when it rejected some case's
//! lead (a requirement that always held was never seen doing its job).
//!
//! The record comes from the native engine
//! ([`Engine::transform_traced`](leadfilter_engine::Engine::transform_traced)),
//! the same code that is compiled into the component; the test results
//! themselves come from the component.

use std::cmp::Ordering;

use leadfilter_engine::Coverage;
use leadfilter_engine::Policy;
use serde::Serialize;

/// One thing a policy says that a case can exercise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// Where it is in the policy: `fields./email`, `fields./email[1]`,
    /// `require[0]`.
    pub location: String,
    /// What it does: the action's name, or the `require` reason.
    pub what: String,
    /// Whether a case exercised it.
    pub covered: bool,
}

/// The coverage of one policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyCoverage {
    /// Every item, rules (in pattern order) then `require` entries.
    pub items: Vec<Item>,
}

impl PolicyCoverage {
    /// Checks `record` against everything `policy` says.
    pub fn new(policy: &Policy, record: &Coverage) -> PolicyCoverage {
        let mut items = Vec::new();
        for (pattern, rule) in &policy.fields {
            let many = rule.alternatives.len() > 1;
            for (i, alternative) in rule.alternatives.iter().enumerate() {
                let location = if many {
                    format!("fields.{pattern}[{i}]")
                } else {
                    format!("fields.{pattern}")
                };
                items.push(Item {
                    location,
                    what: alternative.action.name().to_owned(),
                    covered: record.alternative(pattern, i),
                });
            }
        }
        for (i, requirement) in policy.require.iter().enumerate() {
            items.push(Item {
                location: format!("require[{i}]"),
                what: format!("rejects: {}", requirement.reason),
                covered: record.rejected_by(i),
            });
        }
        PolicyCoverage { items }
    }

    /// The exact fraction covered.
    pub fn ratio(&self) -> Ratio {
        Ratio {
            covered: self.items.iter().filter(|i| i.covered).count() as u64,
            total: self.items.len() as u64,
        }
    }
}

/// `covered` out of `total`, exactly. Nothing to cover counts as all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Ratio {
    /// Items covered.
    pub covered: u64,
    /// Items in all.
    pub total: u64,
}

impl std::ops::Add for Ratio {
    type Output = Ratio;

    /// Both policies' counts together.
    fn add(self, other: Ratio) -> Ratio {
        Ratio {
            covered: self.covered + other.covered,
            total: self.total + other.total,
        }
    }
}

impl Ratio {
    /// Compares with a percentage exactly (no rounding: 11/12 is below
    /// 100 and below 91.67, and above 91.66).
    pub fn cmp_percent(&self, percent: &Percent) -> Ordering {
        if self.total == 0 {
            return 100u128
                .checked_mul(percent.scale)
                .map_or(Ordering::Less, |p| p.cmp(&percent.value));
        }
        // covered / total  vs  value / (100 * scale)
        let left = u128::from(self.covered) * 100 * percent.scale;
        let right = percent.value * u128::from(self.total);
        left.cmp(&right)
    }
}

impl std::fmt::Display for Ratio {
    /// `11/12 (91.66%)`: the percentage is cut, never rounded up, to two
    /// decimals, so `100%` means every item.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (covered, total) = if self.total == 0 {
            (1, 1)
        } else {
            (u128::from(self.covered), u128::from(self.total))
        };
        let hundredths = covered * 10_000 / total;
        let (whole, part) = (hundredths / 100, hundredths % 100);
        if part == 0 {
            write!(f, "{}/{} ({whole}%)", self.covered, self.total)
        } else {
            write!(f, "{}/{} ({whole}.{part:02}%)", self.covered, self.total)
        }
    }
}

/// A percentage as given on the command line (`100`, `87.5`), held exactly
/// as `value / scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percent {
    value: u128,
    scale: u128,
}

impl std::str::FromStr for Percent {
    type Err = String;

    fn from_str(text: &str) -> Result<Percent, String> {
        let bad =
            || format!("`{text}` is not a percentage between 0 and 100 (e.g. `100` or `87.5`)");
        let (whole, part) = text.split_once('.').unwrap_or((text, ""));
        if whole.is_empty()
            || part.len() > 6
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !part.bytes().all(|b| b.is_ascii_digit())
            || (text.contains('.') && part.is_empty())
        {
            return Err(bad());
        }
        let scale = 10u128.pow(part.len() as u32);
        let whole: u128 = whole.parse().map_err(|_| bad())?;
        let part: u128 = if part.is_empty() {
            0
        } else {
            part.parse().map_err(|_| bad())?
        };
        let value = whole
            .checked_mul(scale)
            .and_then(|w| w.checked_add(part))
            .ok_or_else(bad)?;
        if value > 100 * scale {
            return Err(bad());
        }
        Ok(Percent { value, scale })
    }
}

impl std::fmt::Display for Percent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits = self.scale.ilog10() as usize;
        let whole = self.value / self.scale;
        if digits == 0 {
            write!(f, "{whole}%")
        } else {
            write!(f, "{whole}.{:0digits$}%", self.value % self.scale)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn percent(text: &str) -> Percent {
        text.parse().unwrap()
    }

    #[test]
    fn the_gate_compares_exact_fractions() {
        let r = Ratio {
            covered: 11,
            total: 12,
        };
        assert_eq!(r.cmp_percent(&percent("100")), Ordering::Less);
        assert_eq!(r.cmp_percent(&percent("91.67")), Ordering::Less);
        assert_eq!(r.cmp_percent(&percent("91.66")), Ordering::Greater);
        let one_short = Ratio {
            covered: 11_999,
            total: 12_000,
        };
        assert_eq!(one_short.cmp_percent(&percent("100")), Ordering::Less);
        assert_eq!(one_short.to_string(), "11999/12000 (99.99%)");
        let all = Ratio {
            covered: 12,
            total: 12,
        };
        assert_eq!(all.cmp_percent(&percent("100")), Ordering::Equal);
        assert_eq!(all.to_string(), "12/12 (100%)");
        assert_eq!(
            Ratio::default().cmp_percent(&percent("100")),
            Ordering::Equal
        );
        assert_eq!(
            Ratio {
                covered: 1,
                total: 3
            }
            .to_string(),
            "1/3 (33.33%)"
        );
        assert_eq!(
            Ratio {
                covered: 11,
                total: 12
            }
            .to_string(),
            "11/12 (91.66%)"
        );
    }

    #[test]
    fn percentages_parse_exactly() {
        assert_eq!(percent("87.5").to_string(), "87.5%");
        assert_eq!(percent("0").to_string(), "0%");
        for bad in [
            "",
            "101",
            "100.01",
            "-1",
            "1e2",
            "50.",
            ".5",
            "abc",
            "12.3456789",
        ] {
            assert!(bad.parse::<Percent>().is_err(), "{bad}");
        }
    }
}
