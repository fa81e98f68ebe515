//! Interleaved A/B rounds and their statistics. On a shared machine
//! absolute times are noise; a ratio of two measurements taken side by side,
//! round after round, is not (much). Every figure filo publishes is such a
//! ratio: median over rounds, with the spread (min..max).

// A harness reads the clock.
#![allow(clippy::disallowed_methods)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Median, min and max of a set of values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The median (mean of the middle two for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// Statistics of `values`; `None` if empty or any value is NaN.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() || values.iter().any(|v| v.is_nan()) {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Self {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }
}

/// Times of one workload on two subjects, one pair per round.
#[derive(Clone, Debug, Default)]
pub struct Rounds {
    /// Subject A's time per round.
    pub a: Vec<Duration>,
    /// Subject B's time per round.
    pub b: Vec<Duration>,
}

/// Runs `warmup + rounds` rounds of `a` and `b`, alternating which goes
/// first, and keeps the times of the last `rounds`.
pub fn interleave(
    warmup: usize,
    rounds: usize,
    mut a: impl FnMut(),
    mut b: impl FnMut(),
) -> Rounds {
    let mut out = Rounds::default();
    for r in 0..warmup + rounds {
        let time = |f: &mut dyn FnMut()| {
            let t = Instant::now();
            f();
            t.elapsed()
        };
        let (ta, tb) = if r % 2 == 0 {
            let ta = time(&mut a);
            (ta, time(&mut b))
        } else {
            let tb = time(&mut b);
            (time(&mut a), tb)
        };
        if r >= warmup {
            out.a.push(ta);
            out.b.push(tb);
        }
    }
    out
}

/// One line of a ratio table: a workload measured on A and B.
#[derive(Clone, Debug)]
pub struct Row {
    /// The workload.
    pub workload: String,
    /// What a rate counts (e.g. `req/s`).
    pub unit: String,
    /// A's rate, per round.
    pub a_rate: Spread,
    /// B's rate, per round.
    pub b_rate: Spread,
    /// A's rate over B's, per round (A and B timed in the same round).
    pub ratio: Spread,
    /// Rounds measured.
    pub rounds: usize,
}

impl Row {
    /// A row from interleaved rounds in which each subject did `units` of
    /// work (requests, bytes, handshakes) per round. `None` if there were
    /// no rounds or a time was zero.
    pub fn from_rounds(workload: &str, unit: &str, units: f64, r: &Rounds) -> Option<Self> {
        let rate = |d: &Duration| units / d.as_secs_f64();
        let a: Vec<f64> = r.a.iter().map(rate).collect();
        let b: Vec<f64> = r.b.iter().map(rate).collect();
        let ratio: Vec<f64> = a.iter().zip(&b).map(|(a, b)| a / b).collect();
        if a.iter().chain(&b).any(|v| !v.is_finite()) {
            return None;
        }
        Some(Self {
            workload: workload.to_owned(),
            unit: unit.to_owned(),
            a_rate: Spread::of(&a)?,
            b_rate: Spread::of(&b)?,
            ratio: Spread::of(&ratio)?,
            rounds: a.len(),
        })
    }
}

/// A rate with an SI prefix (`1.23 M`).
pub fn si(v: f64) -> String {
    let (d, p) = match v.abs() {
        x if x >= 1e9 => (1e9, " G"),
        x if x >= 1e6 => (1e6, " M"),
        x if x >= 1e3 => (1e3, " k"),
        _ => (1.0, " "),
    };
    format!("{:.3}{p}", v / d)
}

/// A markdown table of `rows`, A and B named in the header.
pub fn markdown(rows: &[Row], a: &str, b: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| workload | {a} (median) | {b} (median) | {a} / {b}: median | min..max | rounds |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {}{} | {}{} | **{:.3}** | {:.3}..{:.3} | {} |",
            r.workload,
            si(r.a_rate.median),
            r.unit,
            si(r.b_rate.median),
            r.unit,
            r.ratio.median,
            r.ratio.min,
            r.ratio.max,
            r.rounds
        );
    }
    s
}

/// `rows` as a JSON array (no dependencies: the fields are numbers and
/// plain names).
pub fn json(rows: &[Row], a: &str, b: &str) -> String {
    let spread = |s: &Spread| {
        format!(
            "{{\"median\":{},\"min\":{},\"max\":{}}}",
            s.median, s.min, s.max
        )
    };
    let items: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{{\"workload\":{:?},\"unit\":{:?},\"a\":{:?},\"b\":{:?},\"a_rate\":{},\"b_rate\":{},\"ratio\":{},\"rounds\":{}}}",
                r.workload,
                r.unit,
                a,
                b,
                spread(&r.a_rate),
                spread(&r.b_rate),
                spread(&r.ratio),
                r.rounds
            )
        })
        .collect();
    format!("[{}]\n", items.join(",\n "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_odd_and_even_sets() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).expect("spread");
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        let s = Spread::of(&[4.0, 1.0, 2.0, 3.0]).expect("spread");
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
        assert!(Spread::of(&[]).is_none());
        assert!(Spread::of(&[1.0, f64::NAN]).is_none());
    }

    #[test]
    fn rows_take_the_ratio_per_round() {
        let ms = Duration::from_millis;
        let r = Rounds {
            a: vec![ms(100), ms(200), ms(100)],
            b: vec![ms(50), ms(200), ms(200)],
        };
        let row = Row::from_rounds("w", "req/s", 10.0, &r).expect("row");
        // Per round: A 100/50/100 req/s, B 200/50/50 req/s.
        assert_eq!(row.a_rate.median, 100.0);
        assert_eq!(row.b_rate.median, 50.0);
        assert_eq!(
            (row.ratio.min, row.ratio.median, row.ratio.max),
            (0.5, 1.0, 2.0)
        );
        assert!(Row::from_rounds("w", "x", 1.0, &Rounds::default()).is_none());
        let zero = Rounds {
            a: vec![Duration::ZERO],
            b: vec![ms(1)],
        };
        assert!(Row::from_rounds("w", "x", 1.0, &zero).is_none());
    }

    #[test]
    fn interleave_alternates_and_drops_warmup() {
        let order = std::cell::RefCell::new(Vec::new());
        let r = interleave(
            1,
            3,
            || order.borrow_mut().push('a'),
            || order.borrow_mut().push('b'),
        );
        assert_eq!(r.a.len(), 3);
        assert_eq!(r.b.len(), 3);
        assert_eq!(order.into_inner(), ['a', 'b', 'b', 'a', 'a', 'b', 'b', 'a']);
    }

    #[test]
    fn tables_name_both_subjects() {
        let ms = Duration::from_millis;
        let r = Rounds {
            a: vec![ms(10)],
            b: vec![ms(20)],
        };
        let row = Row::from_rounds("small GETs", " req/s", 100.0, &r).expect("row");
        let md = markdown(std::slice::from_ref(&row), "filo-core", "raw quiche");
        assert!(md.contains("filo-core / raw quiche"));
        assert!(md.contains("**2.000**"), "{md}");
        let js = json(&[row], "filo-core", "raw quiche");
        assert!(js.contains("\"ratio\":{\"median\":2,"), "{js}");
    }
}
