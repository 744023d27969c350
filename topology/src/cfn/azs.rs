//! Availability zones per region, for `Fn::GetAZs`.
//!
//! `Fn::GetAZs` returns the zones of the region that the deploying ACCOUNT
//! sees (those with a default subnet, or all of them without a default
//! VPC), and AWS maps zone names to physical zones per account. This table
//! holds the zone names that commonly exist; a real stack may get fewer (in
//! us-west-1 an account sees two of `a`, `b`, `c`, usually `a` and `c`; in
//! us-east-1 older accounts may lack `f`). Give the real list with
//! [`crate::cfn::ImportOptions::azs`] when it matters.

/// Regions and the letters of their zones.
const TABLE: &[(&str, &str)] = &[
    ("us-east-1", "abcdef"),
    ("us-east-2", "abc"),
    ("us-west-1", "ac"),
    ("us-west-2", "abcd"),
    ("ca-central-1", "abd"),
    ("sa-east-1", "abc"),
    ("eu-west-1", "abc"),
    ("eu-west-2", "abc"),
    ("eu-west-3", "abc"),
    ("eu-central-1", "abc"),
    ("eu-north-1", "abc"),
    ("eu-south-1", "abc"),
    ("ap-northeast-1", "acd"),
    ("ap-northeast-2", "abcd"),
    ("ap-northeast-3", "abc"),
    ("ap-southeast-1", "abc"),
    ("ap-southeast-2", "abc"),
    ("ap-south-1", "abc"),
    ("ap-east-1", "abc"),
    ("me-south-1", "abc"),
    ("af-south-1", "abc"),
    ("cn-north-1", "abd"),
    ("cn-northwest-1", "abc"),
    ("us-gov-west-1", "abc"),
    ("us-gov-east-1", "abc"),
];

/// The zone names of `region` (`us-east-1a` ...), or `None` for a region
/// the table does not know.
pub fn azs(region: &str) -> Option<Vec<String>> {
    TABLE
        .iter()
        .find(|(r, _)| *r == region)
        .map(|(r, letters)| letters.chars().map(|c| format!("{r}{c}")).collect())
}

#[cfg(test)]
mod tests {
    use super::azs;

    #[test]
    fn known_regions() {
        assert_eq!(
            azs("us-east-1").unwrap(),
            [
                "us-east-1a",
                "us-east-1b",
                "us-east-1c",
                "us-east-1d",
                "us-east-1e",
                "us-east-1f"
            ]
        );
        assert_eq!(azs("us-west-1").unwrap(), ["us-west-1a", "us-west-1c"]);
        assert_eq!(
            azs("ap-northeast-1").unwrap(),
            ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"]
        );
        assert_eq!(
            azs("ca-central-1").unwrap(),
            ["ca-central-1a", "ca-central-1b", "ca-central-1d"]
        );
        assert_eq!(azs("us-west-2").unwrap().len(), 4);
        assert_eq!(azs("ap-northeast-2").unwrap().len(), 4);
        for r in [
            "us-east-2",
            "eu-west-1",
            "eu-central-1",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-south-1",
            "sa-east-1",
        ] {
            let z = azs(r).unwrap();
            assert_eq!(z.len(), 3, "{r}");
            assert!(z.iter().all(|a| a.starts_with(r)));
        }
    }

    #[test]
    fn unknown_region() {
        assert_eq!(azs("mars-north-1"), None);
        assert_eq!(azs(""), None);
    }
}
