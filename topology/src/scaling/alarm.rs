//! CloudWatch alarms on one-minute datapoints, as Auto Scaling's policies
//! see them: ALARM when `datapoints` of the last `evaluation_periods`
//! breach, INSUFFICIENT_DATA when none of them is there (missing data is
//! treated as missing, CloudWatch's default), OK otherwise.

use std::collections::VecDeque;
use std::fmt;

use crate::model::scaling::Comparison;

/// An alarm's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmState {
    /// Too few breaching datapoints.
    Ok,
    /// Enough breaching datapoints: the policy acts.
    Alarm,
    /// No datapoint in the evaluation range: nothing acts.
    InsufficientData,
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        })
    }
}

/// An alarm: its rule and the datapoints it has seen.
#[derive(Debug, Clone)]
pub struct Alarm {
    threshold: f64,
    comparison: Comparison,
    datapoints: usize,
    periods: usize,
    /// Whether each of the last datapoints breached; `None` when missing.
    window: VecDeque<Option<bool>>,
}

impl Alarm {
    /// An alarm that has seen nothing yet.
    pub fn new(threshold: f64, comparison: Comparison, datapoints: u32, periods: u32) -> Self {
        let periods = periods.max(1) as usize;
        Alarm {
            threshold,
            comparison,
            datapoints: (datapoints as usize).clamp(1, periods),
            periods,
            window: VecDeque::with_capacity(periods),
        }
    }

    /// Its threshold.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Takes the next one-minute datapoint (`None`: missing) and gives
    /// the new state.
    pub fn observe(&mut self, value: Option<f64>) -> AlarmState {
        if self.window.len() == self.periods {
            self.window.pop_front();
        }
        self.window
            .push_back(value.map(|v| self.comparison.breaches(v, self.threshold)));
        self.state()
    }

    /// The state after the datapoints seen so far.
    pub fn state(&self) -> AlarmState {
        if self.window.iter().all(Option::is_none) {
            return AlarmState::InsufficientData;
        }
        let breaching = self.window.iter().filter(|b| **b == Some(true)).count();
        if breaching >= self.datapoints {
            AlarmState::Alarm
        } else {
            AlarmState::Ok
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_of_three_needs_three_breaching_minutes_in_a_row() {
        let mut a = Alarm::new(100.0, Comparison::Greater, 3, 3);
        assert_eq!(a.state(), AlarmState::InsufficientData);
        assert_eq!(a.observe(Some(150.0)), AlarmState::Ok);
        assert_eq!(a.observe(Some(150.0)), AlarmState::Ok);
        assert_eq!(a.observe(Some(150.0)), AlarmState::Alarm);
        assert_eq!(
            a.observe(Some(100.0)),
            AlarmState::Ok,
            "100 is not above 100"
        );
    }

    #[test]
    fn missing_datapoints_leave_insufficient_data() {
        let mut a = Alarm::new(100.0, Comparison::Greater, 2, 3);
        for _ in 0..3 {
            assert_eq!(a.observe(None), AlarmState::InsufficientData);
        }
        assert_eq!(a.observe(Some(101.0)), AlarmState::Ok);
        assert_eq!(a.observe(Some(101.0)), AlarmState::Alarm);
    }
}
