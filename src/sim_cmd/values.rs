//! The values `vifgate sim` options take, each checked when the command
//! line is read (clap's `value_parser`), before anything touches the disk
//! or the kernel: lab names, durations, rates, percentages, probe
//! timeouts, flow log settings.

use std::time::Duration;

use sim::layout;
use sim::plan;
use topology::units::UnitError;

/// A lab name, checked by the rule `sim up` applies before anything
/// touches the disk: a name such as `..` or `/tmp/x` never reaches a path.
pub(super) fn parse_lab_name(s: &str) -> Result<String, String> {
    if layout::valid_lab_name(s) {
        Ok(s.to_string())
    } else {
        Err(plan::PlanError::LabName(s.into()).to_string())
    }
}

/// A port the lab listens on and probes, or a flow's destination port for
/// the analysis: 1 to 65535, the rule `check` applies to an `[[expect]]`.
/// Port 0 can be neither listened on nor connected to (`sim up --ports 0`
/// failed after 10 s, its listeners never ready).
pub(crate) fn parse_port(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(0) => Err(
            "port 0 can be neither listened on nor connected to: give ports from 1 to 65535".into(),
        ),
        Ok(p) => Ok(p),
        Err(_) => Err(format!(
            "`{s}` is not a port: give ports from 1 to 65535, separated by commas"
        )),
    }
}

/// A duration as topology files write them (`20ms`, `500us`, `1s`).
pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    match topology::units::parse_duration(s) {
        Ok(d) if d <= Duration::from_secs(10) => Ok(d),
        Ok(_) | Err(UnitError::OutOfRange) => Err(format!("`{s}`: from 0 to 10s")),
        Err(UnitError::Malformed) => Err(format!(
            "`{s}` is not a duration: give a unit, e.g. 20ms, 500us, 1s"
        )),
    }
}

/// The smallest rate a link can be given: one byte a second (tbf and
/// netem count bytes).
const MIN_RATE_BPS: u64 = 8;

/// A rate in bits per second (`100mbit`, `1Gbps`), at least
/// [`MIN_RATE_BPS`]; zero (in any unit) is 0: take the rate off, as
/// `--delay 0` and `--loss 0%` do.
pub(super) fn parse_rate(s: &str) -> Result<u64, String> {
    use topology::units;
    let rate = units::parse_rate(s).map_err(|_| match units::rate_suggestion(s) {
        Some(meant) => format!("`{s}` is not a rate: did you mean {meant}?"),
        None => format!("`{s}` is not a rate (e.g. 100mbit, 1Gbps)"),
    })?;
    if rate.is_negative() {
        return Err(format!("`{s}`: a rate is not negative"));
    }
    // the number as written (the form is checked: digits and one dot)
    let number: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    if units::parse_decimal(&number) == Some(0.0) {
        return Ok(0);
    }
    let below = || {
        format!(
            "`{s}` is below one byte a second: the smallest rate is {MIN_RATE_BPS}bit (0 takes the rate off)"
        )
    };
    match rate.bps() {
        Ok(bps) if bps >= MIN_RATE_BPS => Ok(bps),
        Ok(_) => Err(below()),
        // out of range below 1 bit/s, or above u64
        Err(_) if number.parse::<f64>().is_ok_and(|n| n < 1.0) => Err(below()),
        Err(_) => Err(format!("`{s}`: too large a rate")),
    }
}

/// A per-probe timeout of `sim test`, in milliseconds: at least
/// [`MIN_PROBE_TIMEOUT_MS`].
pub(super) fn parse_timeout_ms(s: &str) -> Result<u64, String> {
    let ms: u64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of milliseconds"))?;
    if ms < MIN_PROBE_TIMEOUT_MS {
        return Err(format!(
            "{ms} ms is too short: a lost SYN is sent again after 1 s, so a probe waits at least {MIN_PROBE_TIMEOUT_MS} ms (shorter gives disagreements that are not real)"
        ));
    }
    Ok(ms)
}

/// The shortest per-probe timeout `sim test` takes: a lost SYN's
/// retransmission leaves after 1 s.
const MIN_PROBE_TIMEOUT_MS: u64 = 1000;

/// AWS's custom flow log format, as the gateway parses it.
pub(super) fn parse_flow_log_format(s: &str) -> Result<gateway::flow_log::Format, String> {
    gateway::flow_log::Format::parse(s).map_err(|e| format!("{} (at byte {})", e.message, e.offset))
}

/// How long a command runs (`90s`, `10m`, `2h`): above 0.
pub(super) fn parse_run_time(s: &str) -> Result<Duration, String> {
    match topology::units::parse_long_duration(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) | Err(UnitError::OutOfRange) => Err(format!("`{s}`: give a time above 0")),
        Err(UnitError::Malformed) => Err(format!(
            "`{s}` is not a duration: give a unit, e.g. 90s, 10m, 2h"
        )),
    }
}

/// An AWS account id: 12 digits.
pub(super) fn parse_account_id(s: &str) -> Result<String, String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` is not an AWS account id: 12 digits"))
    }
}

/// A flow log aggregation interval: 10 or 60 seconds.
pub(super) fn parse_interval(s: &str) -> Result<u64, String> {
    match s {
        "10" => Ok(10),
        "60" => Ok(60),
        _ => Err(format!("`{s}`: AWS aggregates over 10 or 60 seconds")),
    }
}

/// A percentage (`1%`, `0.5%`).
pub(super) fn parse_percent(s: &str) -> Result<f64, String> {
    match topology::units::parse_percent(s) {
        Ok(v) => Ok(v),
        Err(UnitError::OutOfRange) => Err(format!("`{s}`: between 0% and 100%")),
        Err(UnitError::Malformed) => Err(format!("`{s}` is not a percentage (e.g. 1%)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_zero_or_at_least_a_byte_a_second() {
        assert_eq!(parse_rate("0bit"), Ok(0));
        assert_eq!(parse_rate("0.0Gbps"), Ok(0));
        assert_eq!(parse_rate("8bit"), Ok(8));
        assert_eq!(parse_rate("100mbit"), Ok(100_000_000));
        for below in ["7bit", "1bit", "0.5bit", "0.001kbit"] {
            let e = parse_rate(below).expect_err(below);
            assert!(e.contains("below one byte a second"), "{below}: {e}");
        }
        assert!(parse_rate("99999999999999999999Gbit")
            .expect_err("too large")
            .contains("too large"));
    }

    #[test]
    fn ports_are_those_a_lab_can_listen_on() {
        assert_eq!(parse_port("22"), Ok(22));
        assert_eq!(parse_port("65535"), Ok(65535));
        for bad in ["0", "65536", "-1", "", "1-65535"] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lab_names_are_those_sim_up_takes() {
        assert_eq!(parse_lab_name("yh-2"), Ok("yh-2".to_string()));
        for bad in ["..", "/tmp/x", "a/b", "", "-x", "Yh"] {
            assert!(parse_lab_name(bad).is_err(), "{bad}");
        }
    }
}
