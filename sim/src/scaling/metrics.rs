//! The live metrics of an Auto Scaling group, sans-IO: the lab's clock
//! cut into periods ([`PeriodClock`]), and `ALBRequestCountPerTarget`
//! from HAProxy's per-server request counters ([`RequestCounter`], fed
//! the text of `show stat`). Whoever owns time and the admin socket
//! ([`super::run`]) calls them.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::haproxy_stat::ShowStat;

/// One CloudWatch period on AWS's clock.
pub const AWS_PERIOD: Duration = Duration::from_secs(60);

/// One period on the lab's clock: 60 s of AWS's over `time_scale` (1 s
/// at the default 60).
pub fn lab_period(time_scale: u32) -> Duration {
    AWS_PERIOD / time_scale.max(1)
}

/// The lab's clock cut into periods: given the wall time since the
/// controller started, which periods have ended and not been handled.
#[derive(Debug, Clone)]
pub struct PeriodClock {
    period: Duration,
    handled: u64,
}

impl PeriodClock {
    /// A clock of periods of `time_scale` (see [`lab_period`]).
    pub fn new(time_scale: u32) -> Self {
        PeriodClock {
            period: lab_period(time_scale),
            handled: 0,
        }
    }

    /// A period's length on the lab's clock.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The periods that ended by `elapsed` (wall time since the start)
    /// and were not handled yet, as their indices (0 is the first
    /// minute); they count as handled from now on. More than one when
    /// the caller was late (an apply took several periods).
    pub fn ended(&mut self, elapsed: Duration) -> std::ops::Range<u64> {
        let ended = (elapsed.as_nanos() / self.period.as_nanos().max(1)) as u64;
        let from = self.handled;
        self.handled = self.handled.max(ended);
        from..self.handled
    }

    /// Wall time since the start at which the next period ends.
    pub fn next_end(&self) -> Duration {
        self.period * (self.handled + 1) as u32
    }

    /// AWS's time at `elapsed` (wall time since the start): `time_scale`
    /// times it. When an instance launched by an apply that took several
    /// periods came in service is this, not the start of the period the
    /// apply began in.
    pub fn aws_time_at(&self, elapsed: Duration) -> Duration {
        let nanos = elapsed.as_nanos() * AWS_PERIOD.as_nanos() / self.period.as_nanos().max(1);
        Duration::from_nanos(nanos.min(u128::from(u64::MAX)) as u64)
    }

    /// AWS's time at the start of period `index`: what the controller is
    /// told (`index` minutes).
    pub fn aws_time(index: u64) -> Duration {
        Duration::from_secs(index.saturating_mul(AWS_PERIOD.as_secs()))
    }
}

/// Why a metric could not be read this period.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metric unavailable: {0}")]
pub struct Unavailable(pub String);

/// The requests each server has answered, read from `show stat`: its
/// `req_tot` (HTTP requests) where HAProxy gives one, else `stot` (in
/// HTTP mode a stream per request). Rows are `(backend, server)`;
/// `BACKEND` and `FRONTEND` rows are left out.
pub fn request_totals(show_stat: &str) -> Result<BTreeMap<(String, String), u64>, Unavailable> {
    let table = ShowStat::parse(show_stat)
        .ok_or_else(|| Unavailable("`show stat` gave no CSV header".into()))?;
    if !table.has(&["pxname", "svname", "stot"]) {
        return Err(Unavailable(
            "`show stat` has no pxname, svname or stot column".into(),
        ));
    }
    let mut out = BTreeMap::new();
    for r in table.servers() {
        let (Some(backend), Some(server)) = (r.get("pxname"), r.get("svname")) else {
            continue;
        };
        let value = r
            .get("req_tot")
            .filter(|v| !v.is_empty())
            .or_else(|| r.get("stot"))
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(v) = value {
            out.insert((backend.to_string(), server.to_string()), v);
        }
    }
    Ok(out)
}

/// The requests a group's servers answered in each period: the growth of
/// their counters between two readings of `show stat`.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    servers: Vec<String>,
    last: Option<BTreeMap<(String, String), u64>>,
}

impl RequestCounter {
    /// A counter over the servers named `servers` (in any backend): the
    /// group's slots.
    pub fn new(servers: Vec<String>) -> Self {
        RequestCounter {
            servers,
            last: None,
        }
    }

    /// Reads `show_stat`: the requests since the last reading (none at
    /// the first, which only sets the baseline). A counter that went
    /// down (HAProxy reloaded) counts from 0.
    pub fn read(&mut self, show_stat: &str) -> Result<Option<u64>, Unavailable> {
        let now = request_totals(show_stat)?;
        let mine = |k: &(String, String)| self.servers.contains(&k.1);
        if !now.keys().any(mine) {
            return Err(Unavailable(format!(
                "HAProxy lists none of the group's servers ({})",
                self.servers.join(", ")
            )));
        }
        let grown = self.last.as_ref().map(|last| {
            now.iter()
                .filter(|(k, _)| mine(k))
                .map(|(k, &v)| match last.get(k) {
                    Some(&before) if before <= v => v - before,
                    _ => v,
                })
                .sum()
        });
        self.last = Some(now);
        Ok(grown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `show stat` of the example's ALB on HAProxy 2.6, cut to the columns
    /// read, with a frontend, a backend and its slots.
    fn stat(a1: u64, c1: u64, slot3: u64) -> String {
        format!(
            "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,req_tot\n\
             l80,FRONTEND,,,0,2,2000,{f},0,0,{f}\n\
             b80,web-asg-1,0,0,0,1,,{a1},0,0,\n\
             b80,web-asg-2,0,0,0,1,,{c1},0,0,\n\
             b80,web-asg-3,0,0,0,1,,{slot3},0,0,\n\
             b80,web-asg-4,0,0,0,0,,0,0,0,\n\
             b80,BACKEND,0,0,0,2,200,{f},0,0,{f}\n",
            f = a1 + c1 + slot3
        )
    }

    #[test]
    fn requests_are_read_per_server_and_backend_rows_left_out() {
        let t = request_totals(&stat(7, 9, 0)).expect("parses");
        assert_eq!(t.len(), 4);
        assert_eq!(t[&("b80".into(), "web-asg-1".into())], 7);
        assert_eq!(t[&("b80".into(), "web-asg-2".into())], 9);
        // a server row's req_tot, where HAProxy fills it, wins over stot
        let with_req = "# pxname,svname,stot,req_tot\nb80,web-asg-1,3,5\n";
        assert_eq!(
            request_totals(with_req).expect("parses")[&("b80".into(), "web-asg-1".into())],
            5
        );
    }

    #[test]
    fn a_period_counts_the_growth_of_the_groups_servers() {
        let slots = (1..=4).map(|k| format!("web-asg-{k}")).collect();
        let mut c = RequestCounter::new(slots);
        assert_eq!(c.read(&stat(100, 100, 0)), Ok(None), "the baseline");
        assert_eq!(c.read(&stat(160, 150, 0)), Ok(Some(110)));
        // a slot filled since: all its requests are new
        assert_eq!(c.read(&stat(200, 190, 30)), Ok(Some(110)));
        // HAProxy reloaded: counters start again
        assert_eq!(c.read(&stat(5, 4, 1)), Ok(Some(10)));
    }

    #[test]
    fn no_group_server_or_no_header_is_metric_unavailable() {
        let mut c = RequestCounter::new(vec!["db-asg-1".into()]);
        let e = c.read(&stat(1, 1, 1)).expect_err("not the group's");
        assert!(e.to_string().starts_with("metric unavailable"), "{e}");
        let e = request_totals("b80,web-asg-1,0\n").expect_err("no header");
        assert!(e.to_string().contains("no CSV header"), "{e}");
    }

    #[test]
    fn periods_are_a_minute_over_the_time_scale() {
        assert_eq!(lab_period(60), Duration::from_secs(1));
        assert_eq!(lab_period(6), Duration::from_secs(10));
        assert_eq!(lab_period(1), Duration::from_secs(60));
        assert_eq!(
            lab_period(0),
            Duration::from_secs(60),
            "never a zero period"
        );
        let mut clock = PeriodClock::new(60);
        assert_eq!(clock.ended(Duration::from_millis(999)), 0..0);
        assert_eq!(clock.next_end(), Duration::from_secs(1));
        assert_eq!(clock.ended(Duration::from_millis(1001)), 0..1);
        assert_eq!(clock.ended(Duration::from_millis(1500)), 1..1);
        // an apply took three and a half periods: three ended meanwhile
        assert_eq!(clock.ended(Duration::from_millis(4600)), 1..4);
        assert_eq!(clock.next_end(), Duration::from_secs(5));
        assert_eq!(PeriodClock::aws_time(3), Duration::from_secs(180));
    }

    #[test]
    fn aws_time_runs_time_scale_times_the_wall_clock() {
        // a replacement that began in period 7 and took 5.5 s (its
        // deregistration drained for the 5 s delay) ended at AWS's 12.5
        // minutes: its new instance's 5-minute grace period runs to 17.5,
        // not to 12 (when the next period would replace it again)
        let clock = PeriodClock::new(60);
        assert_eq!(
            clock.aws_time_at(Duration::from_millis(12_500)),
            Duration::from_secs(750)
        );
        assert_eq!(
            PeriodClock::new(6).aws_time_at(Duration::from_secs(10)),
            Duration::from_secs(60)
        );
    }
}
