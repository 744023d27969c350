//! HAProxy's `show stat` (the CSV of its runtime API) read by its column
//! names, once for every reader: the load generator's capacity and
//! per-server responses (`load::haproxy_stat`) and the controller's
//! request counts (`scaling::metrics`).

use std::collections::BTreeMap;

/// The CSV `show stat` prints: a header line `# pxname,svname,...` naming
/// the columns, then one row per frontend, server and backend.
pub struct ShowStat<'a> {
    columns: BTreeMap<&'a str, usize>,
    rows: Vec<Vec<&'a str>>,
}

impl<'a> ShowStat<'a> {
    /// The table of `text`; `None` when it does not start with the header.
    pub fn parse(text: &'a str) -> Option<ShowStat<'a>> {
        let mut lines = text.lines();
        let header = lines.next()?.strip_prefix("# ")?;
        Some(ShowStat {
            columns: header.split(',').enumerate().map(|(i, c)| (c, i)).collect(),
            rows: lines
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.split(',').collect())
                .collect(),
        })
    }

    /// Whether the header names every one of `columns`.
    pub fn has(&self, columns: &[&str]) -> bool {
        columns.iter().all(|c| self.columns.contains_key(c))
    }

    /// The servers' rows (not the `BACKEND` and `FRONTEND` summaries).
    pub fn servers(&self) -> impl Iterator<Item = Row<'_, 'a>> {
        self.rows
            .iter()
            .map(|fields| Row {
                columns: &self.columns,
                fields,
            })
            .filter(|r| {
                r.get("svname")
                    .is_some_and(|s| s != "BACKEND" && s != "FRONTEND")
            })
    }
}

/// One row of [`ShowStat`].
pub struct Row<'t, 'a> {
    columns: &'t BTreeMap<&'a str, usize>,
    fields: &'t [&'a str],
}

impl<'a> Row<'_, 'a> {
    /// The field of `column`, if the header names it and the row has it.
    pub fn get(&self, column: &str) -> Option<&'a str> {
        self.columns
            .get(column)
            .and_then(|&i| self.fields.get(i).copied())
    }
}
