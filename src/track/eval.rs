//! Priority arithmetic as keepalived does it, with no IO: tracked checks and their weights
//! in, effective priority or FAULT out.

use std::fmt;

use super::CheckState;
use crate::config::PRIORITY_OWNER;

/// How a check moves the priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Scripts, processes, interfaces: weight 0 = failure means FAULT; negative = subtracted
    /// on failure; positive = added on success.
    Status {
        /// The weight.
        weight: i32,
    },
    /// Files: the number in the file times the weight is added; with weight 0 any non-zero
    /// number means FAULT.
    Value {
        /// The weight.
        weight: i32,
    },
}

/// One tracked check as an instance sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Input<'a> {
    /// Names the check in logs: "check chk_nginx", "interface eth1", "file maint".
    pub(crate) source: &'a str,
    /// How it moves the priority.
    pub(crate) rule: Rule,
    /// What it says now.
    pub(crate) state: &'a CheckState,
}

/// Why an instance must be in FAULT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    /// What failed: "check chk_nginx", "interface eth0".
    pub(crate) source: String,
    /// How: "exit status 7", "down".
    pub(crate) detail: String,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.detail)
    }
}

/// The outcome for one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Evaluation {
    /// The effective priority: base plus deltas, clamped to 1..=254; 255 stays 255.
    pub(crate) priority: u8,
    /// The first check that demands FAULT, if any.
    pub(crate) fault: Option<Fault>,
    /// The checks that moved the priority, in words: "check chk_nginx failed (-20)".
    pub(crate) why: String,
}

/// keepalived's effective priority.
pub(crate) fn evaluate(base: u8, inputs: &[Input<'_>]) -> Evaluation {
    let mut delta: i32 = 0;
    let mut fault = None;
    let mut moved = Vec::new();
    for input in inputs {
        let s = input.state;
        match input.rule {
            Rule::Status { weight: 0 } if !s.ok => {
                fault.get_or_insert_with(|| Fault {
                    source: input.source.to_string(),
                    detail: s.detail.clone(),
                });
            }
            Rule::Status { weight } if weight < 0 && !s.ok => {
                delta += weight;
                moved.push(format!("{} failed: {} ({weight})", input.source, s.detail));
            }
            Rule::Status { weight } if weight > 0 && s.ok => {
                delta += weight;
                moved.push(format!("{} healthy (+{weight})", input.source));
            }
            Rule::Status { .. } => {}
            Rule::Value { weight: 0 } if s.value != 0 => {
                fault.get_or_insert_with(|| Fault {
                    source: input.source.to_string(),
                    detail: format!("reads {} (weight 0)", s.value),
                });
            }
            Rule::Value { weight } => {
                let d = s.value.saturating_mul(i64::from(weight));
                if d != 0 {
                    delta = delta.saturating_add(i32::try_from(d).unwrap_or(if d < 0 {
                        i32::MIN
                    } else {
                        i32::MAX
                    }));
                    moved.push(format!("{} reads {} ({d:+})", input.source, s.value));
                }
            }
        }
    }
    let priority = if base == PRIORITY_OWNER {
        PRIORITY_OWNER
    } else {
        let p = i64::from(base) + i64::from(delta);
        p.clamp(1, 254) as u8
    };
    let why = if moved.is_empty() {
        "every tracked check is healthy".to_string()
    } else {
        moved.join(", ")
    };
    Evaluation {
        priority,
        fault,
        why,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn st(ok: bool, value: i64) -> CheckState {
        CheckState {
            ok,
            value,
            detail: if ok { "exit status 0" } else { "exit status 1" }.into(),
        }
    }

    fn eval(base: u8, checks: &[(Rule, CheckState)]) -> Evaluation {
        let inputs: Vec<Input<'_>> = checks
            .iter()
            .map(|(rule, state)| Input {
                source: "check c",
                rule: *rule,
                state,
            })
            .collect();
        evaluate(base, &inputs)
    }

    #[test]
    fn negative_weight_subtracts_on_failure_only() {
        let r = Rule::Status { weight: -20 };
        assert_eq!(eval(100, &[(r, st(true, 0))]).priority, 100);
        let e = eval(100, &[(r, st(false, 0))]);
        assert_eq!(e.priority, 80);
        assert_eq!(e.why, "check c failed: exit status 1 (-20)");
        assert_eq!(e.fault, None);
    }

    #[test]
    fn positive_weight_adds_on_success_only() {
        let r = Rule::Status { weight: 15 };
        assert_eq!(eval(100, &[(r, st(true, 0))]).priority, 115);
        assert_eq!(eval(100, &[(r, st(false, 0))]).priority, 100);
    }

    #[test]
    fn weight_zero_failure_is_fault() {
        let e = eval(100, &[(Rule::Status { weight: 0 }, st(false, 0))]);
        assert_eq!(
            e.fault.unwrap().to_string(),
            "check c: exit status 1",
            "names the check and how it failed"
        );
        assert_eq!(
            eval(100, &[(Rule::Status { weight: 0 }, st(true, 0))]).fault,
            None
        );
    }

    #[test]
    fn result_is_clamped_and_owner_does_not_move() {
        let down = Rule::Status { weight: -253 };
        let up = Rule::Status { weight: 253 };
        assert_eq!(eval(100, &[(down, st(false, 0))]).priority, 1);
        assert_eq!(eval(100, &[(up, st(true, 0))]).priority, 254);
        assert_eq!(eval(255, &[(down, st(false, 0))]).priority, 255);
        assert_eq!(
            eval(100, &[(down, st(false, 0)), (down, st(false, 0))]).priority,
            1
        );
    }

    #[test]
    fn file_value_times_weight() {
        assert_eq!(
            eval(100, &[(Rule::Value { weight: -50 }, st(true, 1))]).priority,
            50
        );
        assert_eq!(
            eval(100, &[(Rule::Value { weight: 1 }, st(true, -30))]).priority,
            70
        );
        assert_eq!(
            eval(100, &[(Rule::Value { weight: 1 }, st(true, 0))]).priority,
            100
        );
        let e = eval(100, &[(Rule::Value { weight: 0 }, st(true, 2))]);
        assert_eq!(e.fault.unwrap().detail, "reads 2 (weight 0)");
        assert_eq!(
            eval(100, &[(Rule::Value { weight: 3 }, st(true, i64::MAX))]).priority,
            254,
            "no overflow"
        );
    }

    #[test]
    fn deltas_add_up() {
        let e = eval(
            100,
            &[
                (Rule::Status { weight: -20 }, st(false, 0)),
                (Rule::Status { weight: 5 }, st(true, 0)),
                (Rule::Value { weight: -1 }, st(true, 10)),
            ],
        );
        assert_eq!(e.priority, 75);
    }
}
