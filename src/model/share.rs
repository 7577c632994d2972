//! What a target shares with its linkers as `<P>_ENV_*`: the target's own
//! choice (`io.linkshim.share-env`) and the host's policy (`share_env =` in
//! the config file). The stricter of the two wins.
//!
//! The choice is applied when the target registers (what is not shared is
//! never stored) and again when a linker is rendered (a row stored under a
//! looser policy, or by an older linkshim, shares nothing it may not).

use std::collections::HashSet;

use super::vars;

/// How much of its own environment a target cascades. As the host's policy:
/// the most any target may share. As the mark of a stored record: how its
/// stored variables were chosen.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Docker's behaviour: every variable but the excluded ones.
    #[default]
    All,
    /// Only the keys the target lists in `io.linkshim.share-env`.
    Declared,
    /// Nothing.
    None,
}

impl Policy {
    /// May a record whose stored variables were chosen under `mark` share
    /// them under this policy? `declared` admits only rows filtered by a
    /// declaration (or holding nothing); `none` admits nothing.
    pub fn admits(self, mark: Policy) -> bool {
        match self {
            Policy::All => true,
            Policy::Declared => mark != Policy::All,
            Policy::None => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Policy::All => "all",
            Policy::Declared => "declared",
            Policy::None => "none",
        }
    }
}

/// A target's `io.linkshim.share-env`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Choice {
    /// No annotation: Docker's behaviour.
    #[default]
    Default,
    /// `none`.
    Nothing,
    /// `KEY1 KEY2`: these keys alone.
    Keys(Vec<String>),
}

impl Choice {
    /// Parse the annotation's value: `none`, or keys separated by commas or
    /// white space. A key is what a variable may be called (no `=`, no NUL,
    /// no control character, not empty).
    pub fn parse(text: &str) -> Result<Choice, String> {
        let words: Vec<&str> = text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
            .collect();
        match words.as_slice() {
            [] => Err("it names no key (write KEY1 KEY2, or none)".into()),
            ["none"] => Ok(Choice::Nothing),
            _ if words.contains(&"none") => Err("none stands alone".into()),
            _ => {
                for w in &words {
                    if let Err(why) = vars::check_key(w) {
                        return Err(format!("{w:?} is not a variable name: {why}"));
                    }
                }
                Ok(Choice::Keys(words.iter().map(|w| w.to_string()).collect()))
            }
        }
    }
}

/// The variables of `own` a target shares under `policy` by `choice`, and
/// the mark they are stored with. Excluded keys (`NOT_CASCADED`) and
/// variables no process could receive are never shared; each one dropped
/// for being malformed is handed to `dropped` with the reason.
pub fn shared(
    own: Vec<(String, String)>,
    choice: &Choice,
    policy: Policy,
    mut dropped: impl FnMut(&str, &str),
) -> (Vec<(String, String)>, Policy) {
    let (keys, mark): (Option<HashSet<&str>>, Policy) = match (choice, policy) {
        (_, Policy::None) | (Choice::Nothing, _) | (Choice::Default, Policy::Declared) => {
            return (Vec::new(), Policy::None);
        }
        (Choice::Keys(k), _) => (
            Some(k.iter().map(String::as_str).collect()),
            Policy::Declared,
        ),
        (Choice::Default, Policy::All) => (None, Policy::All),
    };
    let kept = own
        .into_iter()
        .filter(|(k, v)| {
            if super::NOT_CASCADED.contains(&k.as_str()) {
                return false;
            }
            if keys.as_ref().is_some_and(|keys| !keys.contains(k.as_str())) {
                return false;
            }
            match vars::check_pair(k, v) {
                Ok(()) => true,
                Err(why) => {
                    dropped(k, why);
                    false
                }
            }
        })
        .collect();
    (kept, mark)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn keys(v: &[(String, String)]) -> Vec<&str> {
        v.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn choice_parses() {
        assert_eq!(Choice::parse("none"), Ok(Choice::Nothing));
        assert_eq!(
            Choice::parse("A, B  C"),
            Ok(Choice::Keys(vec!["A".into(), "B".into(), "C".into()]))
        );
        for bad in ["", " , ", "A=B", "A\0", "A\u{7f}"] {
            assert!(Choice::parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            Choice::parse("none A").is_err(),
            "none is no key: {:?}",
            Choice::parse("none A")
        );
    }

    #[test]
    fn stricter_of_choice_and_policy_wins() {
        let own = || env(&[("A", "1"), ("B", "2"), ("PATH", "/bin"), ("HOME", "/")]);
        let ab = Choice::Keys(vec!["A".into(), "PATH".into()]);
        struct Case<'a> {
            desc: &'a str,
            choice: Choice,
            policy: Policy,
            want: &'a [&'a str],
            mark: Policy,
        }
        let cases = [
            Case {
                desc: "default, all: Docker's behaviour",
                choice: Choice::Default,
                policy: Policy::All,
                want: &["A", "B"],
                mark: Policy::All,
            },
            Case {
                desc: "declared keys under all: those alone (never an excluded one)",
                choice: ab.clone(),
                policy: Policy::All,
                want: &["A"],
                mark: Policy::Declared,
            },
            Case {
                desc: "declared keys under declared",
                choice: ab.clone(),
                policy: Policy::Declared,
                want: &["A"],
                mark: Policy::Declared,
            },
            Case {
                desc: "no declaration under declared: nothing",
                choice: Choice::Default,
                policy: Policy::Declared,
                want: &[],
                mark: Policy::None,
            },
            Case {
                desc: "declared keys under none: nothing",
                choice: ab,
                policy: Policy::None,
                want: &[],
                mark: Policy::None,
            },
            Case {
                desc: "none under all: nothing",
                choice: Choice::Nothing,
                policy: Policy::All,
                want: &[],
                mark: Policy::None,
            },
        ];
        for c in cases {
            let (got, mark) = shared(own(), &c.choice, c.policy, |_, _| {});
            assert_eq!(keys(&got), c.want, "{}", c.desc);
            assert_eq!(mark, c.mark, "{}", c.desc);
        }
    }

    #[test]
    fn malformed_variables_are_dropped_and_reported() {
        let own = env(&[("OK", "1"), ("NUL", "a\0b"), ("A\nB", "x"), ("", "y")]);
        let mut seen = Vec::new();
        let (got, _) = shared(own, &Choice::Default, Policy::All, |k, _| {
            seen.push(k.to_string())
        });
        assert_eq!(keys(&got), ["OK"]);
        assert_eq!(seen, ["NUL", "A\nB", ""]);
    }

    #[test]
    fn admits_table() {
        use Policy::*;
        for (policy, mark, want) in [
            (All, All, true),
            (All, Declared, true),
            (Declared, All, false),
            (Declared, Declared, true),
            (Declared, None, true),
            (None, Declared, false),
            (None, None, false),
        ] {
            assert_eq!(policy.admits(mark), want, "{policy:?} admits {mark:?}");
        }
    }
}
