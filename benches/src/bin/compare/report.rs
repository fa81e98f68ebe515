//! The compare table: per figure, each server's median (and spread) over
//! rounds, and filo-mio's advantage over each other server (per-round
//! ratio, oriented so that above 1 means filo-mio is better).

use std::fmt::Write as _;

use filo_benches::rounds::Spread;

/// What is measured and which way is better.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Figure {
    /// e.g. `small 4x16`.
    pub(crate) name: String,
    /// e.g. `req/s`.
    pub(crate) unit: String,
    /// Higher is better (rates) or lower (costs).
    pub(crate) higher_better: bool,
}

impl Figure {
    /// A rate: higher is better.
    pub(crate) fn higher(name: &str, unit: &str) -> Self {
        Self {
            name: name.to_owned(),
            unit: unit.to_owned(),
            higher_better: true,
        }
    }

    /// A cost: lower is better.
    pub(crate) fn lower(name: &str, unit: &str) -> Self {
        Self {
            higher_better: false,
            ..Self::higher(name, unit)
        }
    }
}

/// Figures by server; column 0 is filo-mio.
pub(crate) struct Table {
    servers: [&'static str; 3],
    rows: Vec<(Figure, [Vec<f64>; 3])>,
}

impl Table {
    /// An empty table for these servers (filo-mio first).
    pub(crate) fn new(servers: [&'static str; 3]) -> Self {
        Self {
            servers,
            rows: Vec::new(),
        }
    }

    /// Records one round's value of `fig` for server `col`.
    pub(crate) fn push(&mut self, fig: Figure, col: usize, value: f64) {
        let i = match self.rows.iter().position(|(f, _)| *f == fig) {
            Some(i) => i,
            None => {
                self.rows.push((fig, Default::default()));
                self.rows.len() - 1
            }
        };
        self.rows[i].1[col].push(value);
    }

    /// filo-mio's advantage over server `col` per round: `filo / other`
    /// for rates, `other / filo` for costs.
    fn advantage(fig: &Figure, v: &[Vec<f64>; 3], col: usize) -> Option<Spread> {
        let r: Vec<f64> = v[0]
            .iter()
            .zip(&v[col])
            .map(|(f, o)| if fig.higher_better { f / o } else { o / f })
            .filter(|x| x.is_finite())
            .collect();
        Spread::of(&r)
    }

    /// The table as markdown.
    pub(crate) fn markdown(&self) -> String {
        let [f, a, b] = self.servers;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "| figure | {f} | {a} | {b} | {f} vs {a} | {f} vs {b} |\n|---|---|---|---|---|---|"
        );
        let cell = |v: &[f64]| match Spread::of(v) {
            Some(sp) => format!("{} ({}..{})", num(sp.median), num(sp.min), num(sp.max)),
            None => "-".into(),
        };
        let adv = |sp: Option<Spread>| match sp {
            Some(sp) => format!("**{:.2}x** ({:.2}..{:.2})", sp.median, sp.min, sp.max),
            None => "-".into(),
        };
        for (fig, v) in &self.rows {
            let _ = writeln!(
                s,
                "| {} ({}, {}) | {} | {} | {} | {} | {} |",
                fig.name,
                fig.unit,
                if fig.higher_better {
                    "higher is better"
                } else {
                    "lower is better"
                },
                cell(&v[0]),
                cell(&v[1]),
                cell(&v[2]),
                adv(Self::advantage(fig, v, 1)),
                adv(Self::advantage(fig, v, 2)),
            );
        }
        s.push_str(
            "\nMedian (min..max) over rounds. \"vs\" is filo-mio's advantage per round \
             (rate ratio, or cost ratio inverted): above 1 means filo-mio did better.\n",
        );
        s
    }

    /// The table as JSON (values per round, medians, advantages).
    pub(crate) fn json(&self) -> String {
        let spread = |sp: Option<Spread>| match sp {
            Some(s) => format!(
                "{{\"median\":{},\"min\":{},\"max\":{}}}",
                s.median, s.min, s.max
            ),
            None => "null".into(),
        };
        let rows: Vec<String> = self
            .rows
            .iter()
            .map(|(fig, v)| {
                let per: Vec<String> = (0..3)
                    .map(|i| {
                        format!(
                            "{:?}:{{\"rounds\":{:?},\"spread\":{}}}",
                            self.servers[i],
                            v[i],
                            spread(Spread::of(&v[i]))
                        )
                    })
                    .collect();
                format!(
                    "{{\"figure\":{:?},\"unit\":{:?},\"higher_is_better\":{},\"servers\":{{{}}},\"filo_advantage\":{{{:?}:{},{:?}:{}}}}}",
                    fig.name,
                    fig.unit,
                    fig.higher_better,
                    per.join(","),
                    self.servers[1],
                    spread(Self::advantage(fig, v, 1)),
                    self.servers[2],
                    spread(Self::advantage(fig, v, 2)),
                )
            })
            .collect();
        format!("[{}]\n", rows.join(",\n "))
    }
}

/// A number with 3 significant-ish digits.
fn num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advantage_is_oriented_by_figure() {
        let mut t = Table::new(["f", "a", "b"]);
        let rate = Figure::higher("r", "req/s");
        let cost = Figure::lower("c", "µs");
        for (col, r, c) in [(0, 200.0, 5.0), (1, 100.0, 10.0), (2, 400.0, 2.5)] {
            t.push(rate.clone(), col, r);
            t.push(cost.clone(), col, c);
        }
        let (_, v) = &t.rows[0];
        assert_eq!(Table::advantage(&rate, v, 1).map(|s| s.median), Some(2.0));
        assert_eq!(Table::advantage(&rate, v, 2).map(|s| s.median), Some(0.5));
        let (_, v) = &t.rows[1];
        assert_eq!(Table::advantage(&cost, v, 1).map(|s| s.median), Some(2.0));
        assert_eq!(Table::advantage(&cost, v, 2).map(|s| s.median), Some(0.5));
        let md = t.markdown();
        assert!(md.contains("**2.00x**") && md.contains("**0.50x**"), "{md}");
        assert!(t.json().contains("\"higher_is_better\":false"));
    }
}
