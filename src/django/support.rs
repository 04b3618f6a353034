//! Which Pythons each Django series supports.
//!
//! `Requires-Python` is only a floor and old Django releases never cap it, so the index alone
//! happily installs Django 1.11 on 3.10 or 3.2 on 3.13, which break at the first import. The
//! real answer is Django's FAQ, "What Python version can I use with Django?"
//! (`docs/faq/install.txt` in Django's repository, and each series' release notes), copied here
//! as data, including the patch release that added a Python to a series (3.10 arrived in 3.2.9).

use std::fmt;
use std::str::FromStr;

use anyhow::Result;
use pep440_rs::Version;

use super::DjangoSpec;
use crate::user_error;

/// A Python `major.minor`.
pub type Minor = (u64, u64);

/// One row of Django's table: a series, and each Python it supports with the first patch
/// release of the series that supports it (0 when the series supported it from its `.0`).
struct Row {
    django: Minor,
    pythons: &'static [(Minor, u64)],
}

/// Django's table, oldest series first. Update it when Django publishes a series or adds a
/// Python to one (the FAQ and the `X.Y.Z` release notes say so).
const TABLE: &[Row] = &[
    // The FAQ's rows for the series before 1.11 (1.5 needs Python 2.6.5, a patch this table
    // does not track: 2.6 is listed).
    Row {
        django: (1, 4),
        pythons: &[((2, 5), 0), ((2, 6), 0), ((2, 7), 0)],
    },
    Row {
        django: (1, 5),
        pythons: &[((2, 6), 0), ((2, 7), 0), ((3, 2), 0), ((3, 3), 0)],
    },
    Row {
        django: (1, 6),
        pythons: &[((2, 6), 0), ((2, 7), 0), ((3, 2), 0), ((3, 3), 0)],
    },
    Row {
        django: (1, 7),
        pythons: &[((2, 7), 0), ((3, 2), 0), ((3, 3), 0), ((3, 4), 0)],
    },
    Row {
        django: (1, 8),
        pythons: &[
            ((2, 7), 0),
            ((3, 2), 0),
            ((3, 3), 0),
            ((3, 4), 0),
            ((3, 5), 0),
        ],
    },
    Row {
        django: (1, 9),
        pythons: &[((2, 7), 0), ((3, 4), 0), ((3, 5), 0)],
    },
    Row {
        django: (1, 10),
        pythons: &[((2, 7), 0), ((3, 4), 0), ((3, 5), 0)],
    },
    Row {
        django: (1, 11),
        pythons: &[
            ((2, 7), 0),
            ((3, 4), 0),
            ((3, 5), 0),
            ((3, 6), 0),
            ((3, 7), 17),
        ],
    },
    Row {
        django: (2, 0),
        pythons: &[((3, 4), 0), ((3, 5), 0), ((3, 6), 0), ((3, 7), 0)],
    },
    Row {
        django: (2, 1),
        pythons: &[((3, 5), 0), ((3, 6), 0), ((3, 7), 0)],
    },
    Row {
        django: (2, 2),
        pythons: &[
            ((3, 5), 0),
            ((3, 6), 0),
            ((3, 7), 0),
            ((3, 8), 8),
            ((3, 9), 17),
        ],
    },
    Row {
        django: (3, 0),
        pythons: &[((3, 6), 0), ((3, 7), 0), ((3, 8), 0), ((3, 9), 11)],
    },
    Row {
        django: (3, 1),
        pythons: &[((3, 6), 0), ((3, 7), 0), ((3, 8), 0), ((3, 9), 3)],
    },
    Row {
        django: (3, 2),
        pythons: &[
            ((3, 6), 0),
            ((3, 7), 0),
            ((3, 8), 0),
            ((3, 9), 0),
            ((3, 10), 9),
        ],
    },
    Row {
        django: (4, 0),
        pythons: &[((3, 8), 0), ((3, 9), 0), ((3, 10), 0)],
    },
    Row {
        django: (4, 1),
        pythons: &[((3, 8), 0), ((3, 9), 0), ((3, 10), 0), ((3, 11), 3)],
    },
    Row {
        django: (4, 2),
        pythons: &[
            ((3, 8), 0),
            ((3, 9), 0),
            ((3, 10), 0),
            ((3, 11), 0),
            ((3, 12), 8),
        ],
    },
    Row {
        django: (5, 0),
        pythons: &[((3, 10), 0), ((3, 11), 0), ((3, 12), 0)],
    },
    Row {
        django: (5, 1),
        pythons: &[((3, 10), 0), ((3, 11), 0), ((3, 12), 0), ((3, 13), 3)],
    },
    Row {
        django: (5, 2),
        pythons: &[
            ((3, 10), 0),
            ((3, 11), 0),
            ((3, 12), 0),
            ((3, 13), 0),
            ((3, 14), 8),
        ],
    },
    Row {
        django: (6, 0),
        pythons: &[((3, 12), 0), ((3, 13), 0), ((3, 14), 0)],
    },
    Row {
        django: (6, 1),
        pythons: &[((3, 12), 0), ((3, 13), 0), ((3, 14), 0)],
    },
];

fn row(series: Minor) -> Option<&'static Row> {
    TABLE.iter().find(|r| r.django == series)
}

/// The newest series in the table.
pub fn newest_known() -> Minor {
    TABLE[TABLE.len() - 1].django
}

/// The Pythons `series` supports, oldest first; empty for a series the table does not know.
pub fn pythons_for(series: Minor) -> Vec<Minor> {
    row(series).map_or_else(Vec::new, |r| r.pythons.iter().map(|p| p.0).collect())
}

/// The newest Django series that supports `python`.
pub fn newest_django_for(python: Minor) -> Option<Minor> {
    TABLE
        .iter()
        .rev()
        .find(|r| r.pythons.iter().any(|p| p.0 == python))
        .map(|r| r.django)
}

/// What the table says about one Django series on one Python.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Supported; from this patch release on when `floor` is set (Django 3.2 on 3.10: 3.2.9).
    Supported { floor: Option<Version> },
    /// Django does not support this pair.
    Unsupported,
    /// Only patch releases from `floor` on support it, and the pin names an older one.
    TooOld { floor: Version },
    /// The table has no row for this series (newer than pyenvx, or older than 1.4).
    Unknown,
}

/// The verdict for a series on `python`.
pub fn check_series(series: Minor, python: Minor) -> Verdict {
    let Some(row) = row(series) else {
        return Verdict::Unknown;
    };
    match row.pythons.iter().find(|p| p.0 == python) {
        None => Verdict::Unsupported,
        Some((_, 0)) => Verdict::Supported { floor: None },
        Some((_, patch)) => Verdict::Supported {
            floor: Some(Version::new([series.0, series.1, *patch])),
        },
    }
}

/// The verdict for one Django release (`3.2.25`, as resolved or pinned exactly) on `python`.
pub fn check_version(django: &Version, python: Minor) -> Verdict {
    let r = django.release();
    let series = (r[0], r.get(1).copied().unwrap_or(0));
    match check_series(series, python) {
        Verdict::Supported { floor: Some(floor) } if *django < floor => Verdict::TooOld { floor },
        Verdict::Supported { .. } => Verdict::Supported { floor: None },
        other => other,
    }
}

/// The `major.minor` of a version.
pub fn minor_of(v: &Version) -> Minor {
    let r = v.release();
    (r[0], r.get(1).copied().unwrap_or(0))
}

/// One Django series on one Python, as written in `pyenvx.toml`'s `allow-unsupported`:
/// `django 3.2 on python 3.13`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    pub django: Minor,
    pub python: Minor,
}

impl fmt::Display for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "django {}.{} on python {}.{}",
            self.django.0, self.django.1, self.python.0, self.python.1
        )
    }
}

impl FromStr for Pair {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not of the form `django 3.2 on python 3.13`");
        let minor = |t: &str| -> Option<Minor> {
            let (a, b) = t.split_once('.')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        };
        let words: Vec<&str> = s.split_whitespace().collect();
        match words.as_slice() {
            [d, dv, on, p, pv]
                if d.eq_ignore_ascii_case("django")
                    && on.eq_ignore_ascii_case("on")
                    && p.eq_ignore_ascii_case("python") =>
            {
                Ok(Pair {
                    django: minor(dv).ok_or_else(bad)?,
                    python: minor(pv).ok_or_else(bad)?,
                })
            }
            _ => Err(bad()),
        }
    }
}

fn list(minors: &[Minor]) -> String {
    minors
        .iter()
        .map(|(a, b)| format!("{a}.{b}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a command lets an unsupported pair through and spells its advice.
pub struct Policy<'a> {
    /// Whether an unsupported pair may proceed (`--allow-unsupported`, or recorded in
    /// `pyenvx.toml`).
    pub allow: &'a dyn Fn(Pair) -> bool,
    /// How a suggestion reads here: `pyenvx pin django 5.2` in a project, `--django 5.2` at init.
    pub suggest: &'a dyn Fn(&str, &str) -> String,
    /// Whether a Python minor is on this machine or downloadable, to suggest only those.
    pub available: &'a dyn Fn(Minor) -> bool,
}

impl Policy<'_> {
    /// Refuse every unsupported pair, suggest `pyenvx pin`, consider every Python available.
    pub fn strict() -> Policy<'static> {
        Policy {
            allow: &|_| false,
            suggest: &|key, value| format!("`pyenvx pin {key} {value}`"),
            available: &|_| true,
        }
    }
}

/// The error for an unsupported pair: what Django supports, and what would work instead.
fn refusal(
    pair: Pair,
    detail: Option<&Version>,
    floor: Option<&Version>,
    policy: &Policy,
) -> anyhow::Error {
    let (dj, py) = (pair.django, pair.python);
    let mut nearest = Vec::new();
    if floor.is_some() {
        // The series supports this Python from a later patch: the series pin gets it.
        nearest.push((policy.suggest)("django", &format!("{}.{}", dj.0, dj.1)));
    } else {
        // The newest LTS for this Python first (what a project wants to stay on), then the
        // newest series when that is another.
        let lts = TABLE
            .iter()
            .rev()
            .find(|r| super::is_lts(r.django.0, r.django.1) && r.pythons.iter().any(|p| p.0 == py))
            .map(|r| r.django);
        let mut series: Vec<Minor> = lts.into_iter().chain(newest_django_for(py)).collect();
        series.dedup();
        for s in series {
            nearest.push((policy.suggest)("django", &format!("{}.{}", s.0, s.1)));
        }
    }
    let pythons = pythons_for(dj);
    if floor.is_none() {
        if let Some(p) = pythons.iter().rev().find(|p| (policy.available)(**p)) {
            nearest.push((policy.suggest)("python", &format!("{}.{}", p.0, p.1)));
        }
    }
    let mut hints = Vec::new();
    if !nearest.is_empty() {
        hints.push(format!("nearest pins that work: {}", nearest.join(" or ")));
    }
    if !pythons.is_empty() {
        hints.push(format!(
            "Django {}.{} supports Python {}",
            dj.0,
            dj.1,
            list(&pythons)
        ));
    }
    match newest_django_for(py) {
        Some(newest) => hints.push(format!(
            "the newest Django for Python {}.{} is {}.{}",
            py.0, py.1, newest.0, newest.1
        )),
        None => hints.push(format!(
            "no Django series pyenvx knows supports Python {}.{}",
            py.0, py.1
        )),
    }
    hints.push("`--allow-unsupported` proceeds anyway and records the choice".to_string());
    let what = match detail {
        Some(v) => format!("Django {v}"),
        None => format!("Django {}.{}", dj.0, dj.1),
    };
    let from = floor.map_or_else(String::new, |f| format!(" (supported from {f} on)"));
    user_error!(
        hint = hints.join("; "),
        "{what} does not support Python {}.{}{from}",
        py.0,
        py.1
    )
}

/// The outcome of checking a project's Django against its Python before resolving.
#[derive(Debug, Default)]
pub struct Checked {
    /// The requirements to resolve: the project's, with Django's patch floor added where a
    /// patch release added this Python.
    pub requirements: Vec<String>,
    /// Things the user should hear (a series newer than the table, an allowed unsupported pair).
    pub warnings: Vec<String>,
    /// An unsupported pair that was let through (to record in `pyenvx.toml`).
    pub allowed: Option<Pair>,
}

/// Check the Django pin against `python` before anything is resolved, and constrain the
/// resolution where only later patch releases support the pair. `allow` says whether an
/// unsupported pair may proceed (`--allow-unsupported`, or recorded in `pyenvx.toml`).
pub fn check_pin(
    requirements: &[String],
    django: Option<&DjangoSpec>,
    python: &Version,
    policy: &Policy,
) -> Result<Checked> {
    let mut out = Checked {
        requirements: requirements.to_vec(),
        ..Checked::default()
    };
    let Some(spec) = django else {
        return Ok(out);
    };
    let Some(series) = spec.series() else {
        // A range (`>=4.2,<5`) is checked on the release it resolves to.
        return Ok(out);
    };
    let py = minor_of(python);
    let pair = Pair {
        django: series,
        python: py,
    };
    let exact = spec.exact();
    let verdict = match &exact {
        Some(v) => check_version(v, py),
        None => check_series(series, py),
    };
    match verdict {
        Verdict::Supported { floor: None } => {}
        Verdict::Supported { floor: Some(floor) } => {
            let original = spec.requirement();
            for r in &mut out.requirements {
                if *r == original {
                    *r = format!("{original}, >={floor}");
                }
            }
        }
        Verdict::Unknown => out.warnings.push(unknown_warning(series)),
        Verdict::Unsupported | Verdict::TooOld { .. } => {
            if !(policy.allow)(pair) {
                let floor = match &verdict {
                    Verdict::TooOld { floor } => Some(floor),
                    _ => None,
                };
                return Err(refusal(pair, exact.as_ref(), floor, policy));
            }
            out.warnings.push(allowed_warning(pair));
            out.allowed = Some(pair);
        }
    }
    Ok(out)
}

/// Check the Django release a resolution chose (a range pin, or a lock made elsewhere).
/// `Ok` carries warnings; an unsupported pair that `allow` does not let through is an error.
pub fn check_resolved(
    django: &str,
    python: &Version,
    policy: &Policy,
) -> Result<(Vec<String>, Option<Pair>)> {
    let Ok(version) = Version::from_str(django) else {
        return Ok((Vec::new(), None));
    };
    let py = minor_of(python);
    let pair = Pair {
        django: minor_of(&version),
        python: py,
    };
    match check_version(&version, py) {
        Verdict::Supported { .. } => Ok((Vec::new(), None)),
        Verdict::Unknown => Ok((vec![unknown_warning(pair.django)], None)),
        Verdict::Unsupported | Verdict::TooOld { .. } if (policy.allow)(pair) => {
            Ok((vec![allowed_warning(pair)], Some(pair)))
        }
        Verdict::TooOld { floor } => Err(refusal(pair, Some(&version), Some(&floor), policy)),
        Verdict::Unsupported => Err(refusal(pair, Some(&version), None, policy)),
    }
}

/// One line for `status`: `None` when Django supports the locked pair (or the table cannot say).
pub fn status_note(django: &str, python: &str, allowed: &[Pair]) -> Option<String> {
    let d = Version::from_str(django).ok()?;
    let p = Version::from_str(python).ok()?;
    let py = minor_of(&p);
    let note = match check_version(&d, py) {
        Verdict::Unsupported => {
            format!("Django {django} does not support Python {}.{}", py.0, py.1)
        }
        Verdict::TooOld { floor } => format!(
            "Django {django} does not support Python {}.{} (from {floor} on)",
            py.0, py.1
        ),
        _ => return None,
    };
    let pair = Pair {
        django: minor_of(&d),
        python: py,
    };
    Some(if allowed.contains(&pair) {
        format!("{note} (allowed in pyenvx.toml)")
    } else {
        note
    })
}

fn unknown_warning(series: Minor) -> String {
    if series > newest_known() {
        format!(
            "Django {}.{} is newer than pyenvx's support table (up to {}.{}): trusting its Requires-Python",
            series.0,
            series.1,
            newest_known().0,
            newest_known().1
        )
    } else {
        format!(
            "Django {}.{} is older than pyenvx's support table (from {}.{}): trusting its Requires-Python",
            series.0, series.1, TABLE[0].django.0, TABLE[0].django.1
        )
    }
}

fn allowed_warning(pair: Pair) -> String {
    format!(
        "Django {}.{} does not support Python {}.{}; proceeding as allowed (`allow-unsupported` in pyenvx.toml)",
        pair.django.0, pair.django.1, pair.python.0, pair.python.1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::from_str(s).unwrap()
    }

    #[test]
    fn table_matches_djangos_faq() {
        assert_eq!(
            check_series((1, 11), (2, 7)),
            Verdict::Supported { floor: None }
        );
        assert_eq!(
            check_series((1, 11), (3, 7)),
            Verdict::Supported {
                floor: Some(v("1.11.17"))
            }
        );
        assert_eq!(check_series((1, 11), (3, 8)), Verdict::Unsupported);
        assert_eq!(check_series((2, 1), (3, 8)), Verdict::Unsupported);
        assert_eq!(check_series((3, 2), (3, 13)), Verdict::Unsupported);
        assert_eq!(check_series((4, 0), (3, 7)), Verdict::Unsupported);
        assert_eq!(check_series((4, 0), (3, 11)), Verdict::Unsupported);
        assert_eq!(check_series((6, 0), (3, 11)), Verdict::Unsupported);
        assert_eq!(
            check_series((6, 1), (3, 13)),
            Verdict::Supported { floor: None }
        );
        for (series, python, patch) in [
            ((2, 2), (3, 8), "2.2.8"),
            ((2, 2), (3, 9), "2.2.17"),
            ((3, 2), (3, 10), "3.2.9"),
            ((4, 1), (3, 11), "4.1.3"),
            ((4, 2), (3, 12), "4.2.8"),
            ((5, 1), (3, 13), "5.1.3"),
            ((5, 2), (3, 14), "5.2.8"),
        ] {
            assert_eq!(
                check_series(series, python),
                Verdict::Supported {
                    floor: Some(v(patch))
                },
                "{series:?} on {python:?}"
            );
        }
        assert_eq!(check_series((7, 0), (3, 14)), Verdict::Unknown);
        assert_eq!(check_series((1, 3), (2, 7)), Verdict::Unknown);
        // The FAQ's rows before 1.11.
        for (series, pythons) in [
            ((1, 4), &[(2, 5), (2, 6), (2, 7)][..]),
            ((1, 5), &[(2, 6), (2, 7), (3, 2), (3, 3)][..]),
            ((1, 6), &[(2, 6), (2, 7), (3, 2), (3, 3)][..]),
            ((1, 7), &[(2, 7), (3, 2), (3, 3), (3, 4)][..]),
            ((1, 8), &[(2, 7), (3, 2), (3, 3), (3, 4), (3, 5)][..]),
            ((1, 9), &[(2, 7), (3, 4), (3, 5)][..]),
            ((1, 10), &[(2, 7), (3, 4), (3, 5)][..]),
        ] {
            assert_eq!(pythons_for(series), pythons, "{series:?}");
        }
        assert_eq!(check_series((1, 5), (3, 6)), Verdict::Unsupported);
    }

    #[test]
    fn a_patch_release_below_the_floor_is_too_old() {
        assert_eq!(
            check_version(&v("3.2.5"), (3, 10)),
            Verdict::TooOld { floor: v("3.2.9") }
        );
        assert_eq!(
            check_version(&v("3.2.25"), (3, 10)),
            Verdict::Supported { floor: None }
        );
        assert_eq!(check_version(&v("3.2.25"), (3, 11)), Verdict::Unsupported);
    }

    #[test]
    fn newest_and_supported_lists() {
        assert_eq!(newest_django_for((3, 13)), Some((6, 1)));
        assert_eq!(newest_django_for((3, 10)), Some((5, 2)));
        assert_eq!(newest_django_for((3, 7)), Some((3, 2)));
        assert_eq!(newest_django_for((2, 7)), Some((1, 11)));
        assert_eq!(newest_django_for((3, 3)), Some((1, 8)));
        assert_eq!(newest_django_for((2, 5)), Some((1, 4)));
        assert_eq!(newest_django_for((3, 1)), None);
        assert_eq!(pythons_for((4, 0)), vec![(3, 8), (3, 9), (3, 10)]);
        assert!(pythons_for((9, 9)).is_empty());
    }

    #[test]
    fn pin_check_refuses_constrains_or_warns() {
        let no = Policy::strict();
        let yes = Policy {
            allow: &|_| true,
            ..Policy::strict()
        };
        let reqs = |spec: &DjangoSpec| vec![spec.requirement(), "requests".to_string()];

        let s = DjangoSpec::parse("3.2").unwrap();
        let checked = check_pin(&reqs(&s), Some(&s), &v("3.10.13"), &no).unwrap();
        assert_eq!(checked.requirements[0], "django~=3.2.0, >=3.2.9");
        assert_eq!(checked.requirements[1], "requests");
        assert!(checked.warnings.is_empty());

        let err = check_pin(&reqs(&s), Some(&s), &v("3.13.0"), &no).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("Django 3.2 does not support Python 3.13"),
            "{text}"
        );
        let hint = crate::error::find_hint(&err).unwrap_or_default();
        assert!(hint.contains("3.6, 3.7, 3.8, 3.9, 3.10"), "{hint}");
        assert!(
            hint.contains("newest Django for Python 3.13 is 6.1"),
            "{hint}"
        );
        assert!(
            hint.contains(
                "nearest pins that work: `pyenvx pin django 5.2` or `pyenvx pin django 6.1` or `pyenvx pin python 3.10`"
            ),
            "LTS first: {hint}"
        );

        let exact = DjangoSpec::parse("3.2.5").unwrap();
        assert!(check_pin(&reqs(&exact), Some(&exact), &v("3.10.1"), &no).is_err());

        let allowed = check_pin(&reqs(&s), Some(&s), &v("3.13.0"), &yes).unwrap();
        assert_eq!(
            allowed.allowed,
            Some(Pair {
                django: (3, 2),
                python: (3, 13)
            })
        );
        assert_eq!(allowed.warnings.len(), 1);

        let future = DjangoSpec::parse("7.0").unwrap();
        let checked = check_pin(&reqs(&future), Some(&future), &v("3.14.0"), &no).unwrap();
        assert!(
            checked.warnings[0].contains("newer than"),
            "{:?}",
            checked.warnings
        );

        let range = DjangoSpec::parse(">=3.2,<5").unwrap();
        assert!(check_pin(&reqs(&range), Some(&range), &v("3.13.0"), &no).is_ok());
        assert!(check_resolved("4.2.30", &v("3.13.0"), &no).is_err());
        assert!(check_resolved("5.2.19", &v("3.13.0"), &no)
            .unwrap()
            .0
            .is_empty());
    }

    #[test]
    fn pairs_round_trip() {
        let p: Pair = "django 3.2 on python 3.13".parse().unwrap();
        assert_eq!(p.to_string(), "django 3.2 on python 3.13");
        assert!("3.2 on 3.13".parse::<Pair>().is_err());
        assert_eq!(
            status_note("4.0.10", "3.12.1", &[]).as_deref(),
            Some("Django 4.0.10 does not support Python 3.12")
        );
        assert_eq!(status_note("4.2.30", "3.12.1", &[]), None);
        let allowed = [Pair {
            django: (4, 0),
            python: (3, 12),
        }];
        assert!(status_note("4.0.10", "3.12.1", &allowed)
            .unwrap()
            .ends_with("(allowed in pyenvx.toml)"));
    }
}
