//! How a policy turns a metric into a new capacity: target tracking's
//! proportional formula, step scaling's choice of step, and the three
//! adjustment types with AWS's rounding of percentages.

use crate::model::scaling::{AdjustmentType, StepAdjustment};

/// Target tracking's new capacity: the capacity that brings the metric
/// back to the target if the load stays, `ceil(current × metric /
/// target)` (before the group's min and max).
pub fn target_tracking_capacity(current: u32, metric: f64, target: f64) -> u32 {
    let wanted = (f64::from(current) * metric / target).ceil();
    if wanted.is_finite() && wanted > 0.0 {
        wanted.min(f64::from(u32::MAX)) as u32
    } else {
        0
    }
}

/// The step whose bounds hold `metric - threshold`. Above the threshold
/// a step's lower bound is inclusive; below it, its upper bound is.
pub fn step_for(steps: &[StepAdjustment], difference: f64) -> Option<&StepAdjustment> {
    steps.iter().find(|s| {
        let lower = s.lower.unwrap_or(f64::NEG_INFINITY);
        let upper = s.upper.unwrap_or(f64::INFINITY);
        if difference >= 0.0 {
            lower <= difference && difference < upper
        } else {
            lower < difference && difference <= upper
        }
    })
}

/// A percentage of the capacity rounded as Auto Scaling rounds it: above
/// 1 down, between 0 and 1 to 1, between -1 and 0 to -1, below -1 up
/// (towards 0).
pub fn rounded_percent_change(current: u32, percent: i64) -> i64 {
    let change = f64::from(current) * percent as f64 / 100.0;
    if change == 0.0 {
        0
    } else if change > 0.0 && change < 1.0 {
        1
    } else if change < 0.0 && change > -1.0 {
        -1
    } else {
        change.trunc() as i64
    }
}

/// The capacity after an adjustment of `kind` to `current` (before the
/// group's min and max).
pub fn adjusted_capacity(
    current: u32,
    kind: AdjustmentType,
    adjustment: i64,
    min_magnitude: Option<u32>,
) -> u32 {
    let new = match kind {
        AdjustmentType::ExactCapacity => adjustment,
        AdjustmentType::ChangeInCapacity => i64::from(current) + adjustment,
        AdjustmentType::PercentChangeInCapacity => {
            let mut change = rounded_percent_change(current, adjustment);
            if let Some(m) = min_magnitude {
                if change != 0 && change.abs() < i64::from(m) {
                    change = change.signum() * i64::from(m);
                }
            }
            i64::from(current) + change
        }
    };
    new.clamp(0, i64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "Scaling adjustment types", Amazon EC2 Auto Scaling User Guide
    /// (docs.aws.amazon.com/autoscaling/ec2/userguide/as-scaling-simple-step.html#as-scaling-adjustment):
    /// 12.7 rounds to 12, 0.67 to 1, -0.58 to -1, -6.67 to -6.
    #[test]
    fn percent_changes_round_as_the_user_guide_says() {
        // 127 % of 10 is 12.7; 67 % of 1 is 0.67; -58 % of 1; -667 % of 1
        assert_eq!(rounded_percent_change(10, 127), 12);
        assert_eq!(rounded_percent_change(1, 67), 1);
        assert_eq!(rounded_percent_change(1, -58), -1);
        assert_eq!(rounded_percent_change(1, -667), -6);
        assert_eq!(rounded_percent_change(10, 0), 0);
    }

    /// `MinAdjustmentMagnitude`, Amazon EC2 Auto Scaling API Reference
    /// (docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutScalingPolicy.html):
    /// 25 percent of 4 instances is 1; with a magnitude of 2 the group
    /// grows by 2.
    #[test]
    fn min_adjustment_magnitude_raises_a_small_percent_change() {
        let kind = AdjustmentType::PercentChangeInCapacity;
        assert_eq!(adjusted_capacity(4, kind, 25, None), 5);
        assert_eq!(adjusted_capacity(4, kind, 25, Some(2)), 6);
        assert_eq!(adjusted_capacity(4, kind, -25, Some(2)), 2);
    }

    #[test]
    fn exact_and_change_in_capacity() {
        assert_eq!(
            adjusted_capacity(4, AdjustmentType::ExactCapacity, 7, None),
            7
        );
        assert_eq!(
            adjusted_capacity(4, AdjustmentType::ChangeInCapacity, -5, None),
            0
        );
        assert_eq!(
            adjusted_capacity(4, AdjustmentType::ChangeInCapacity, 2, None),
            6
        );
    }

    #[test]
    fn step_bounds_are_inclusive_on_the_thresholds_side() {
        // "StepAdjustment", API Reference: threshold 50; 50 <= m < 60 is
        // lower 0, upper 10; 40 < m <= 50 is lower -10, upper 0
        let steps = [
            StepAdjustment {
                lower: Some(-10.0),
                upper: Some(0.0),
                adjustment: -1,
            },
            StepAdjustment {
                lower: Some(0.0),
                upper: Some(10.0),
                adjustment: 1,
            },
        ];
        let adj = |m: f64| step_for(&steps, m - 50.0).map(|s| s.adjustment);
        assert_eq!(adj(50.0), Some(1));
        assert_eq!(adj(59.9), Some(1));
        assert_eq!(adj(60.0), None);
        assert_eq!(adj(49.9), Some(-1));
        assert_eq!(adj(40.5), Some(-1));
        assert_eq!(adj(40.0), None, "40 is not greater than 40");
    }

    #[test]
    fn target_tracking_rounds_up() {
        assert_eq!(target_tracking_capacity(2, 3520.0, 1800.0), 4);
        assert_eq!(target_tracking_capacity(4, 500.0, 1800.0), 2);
        assert_eq!(target_tracking_capacity(2, 0.0, 1800.0), 0);
    }
}
