//! AWS regions and the names of their availability zones: what the
//! resolver checks a file's `region` and `azs` against, and what the
//! CloudFormation importer's `Fn::GetAZs` returns.
//!
//! `Fn::GetAZs` returns the zones of the region that the deploying ACCOUNT
//! sees (those with a default subnet, or all of them without a default
//! VPC), and AWS maps zone names to physical zones per account. This table
//! holds the zone names that commonly exist; a real stack may get fewer (in
//! us-west-1 an account sees two of `a`, `b`, `c`, usually `a` and `c`; in
//! us-east-1 older accounts may lack `f`). Give the real list to the
//! importer (`--azs`) when it matters.

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

/// What a region's name looks like, for messages.
pub const REGION_EXPECTED: &str =
    "an AWS region such as us-east-1, ap-northeast-2 or us-gov-west-1";

/// Whether `region` is named as AWS names regions: a two-letter area, an
/// optional partition mark (`gov`, `iso`, `isob` ...), a direction and a
/// number (`us-east-1`, `ap-northeast-2`, `us-gov-west-1`). A region not in
/// the table but named so is accepted (`Fn::GetAZs` then needs `--azs`).
pub fn check_region(region: &str) -> Result<(), String> {
    let parts: Vec<&str> = region.split('-').collect();
    let lower = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    let well_formed = match parts.as_slice() {
        [area, rest @ .., direction, number] => {
            area.len() == 2
                && lower(area)
                && match rest {
                    [] => true,
                    [mark] => *mark == "gov" || (mark.starts_with("iso") && lower(mark)),
                    _ => false,
                }
                && lower(direction)
                && !number.is_empty()
                && number.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    };
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "`{region}` is not a region name: expected {REGION_EXPECTED}"
        ))
    }
}

/// Whether `zone` can be a zone of `region`: the region's name and a
/// zone letter (`us-east-1a`), or a Local or Wavelength Zone's suffix
/// (`us-east-1-bos-1a`).
pub fn check_zone(region: &str, zone: &str) -> Result<(), String> {
    let ok = zone.strip_prefix(region).is_some_and(|rest| {
        let letter = |b: u8| b.is_ascii_lowercase();
        match rest.as_bytes() {
            [b] => letter(*b),
            [b'-', tail @ ..] => {
                tail.last().copied().is_some_and(letter)
                    && tail
                        .iter()
                        .all(|&b| letter(b) || b.is_ascii_digit() || b == b'-')
            }
            _ => false,
        }
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{zone}` is not a zone of {region}: expected {region} and a zone letter, such as {region}a"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::{azs, check_region, check_zone};

    #[test]
    fn region_names() {
        for ok in [
            "us-east-1",
            "ap-northeast-2",
            "us-gov-west-1",
            "cn-northwest-1",
            "us-isob-east-1",
            "mx-central-1",
        ] {
            assert_eq!(check_region(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "us",
            "us-east",
            "US-EAST-1",
            "us-east-1a",
            "us_east_1",
            "useast-1",
            "us--1",
            "us-east-x",
            "us-gov-foo-west-1",
        ] {
            assert!(check_region(bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_region(""),
            Err("`` is not a region name: expected an AWS region such as us-east-1, ap-northeast-2 or us-gov-west-1".into())
        );
    }

    #[test]
    fn zone_names() {
        assert_eq!(check_zone("us-east-1", "us-east-1a"), Ok(()));
        assert_eq!(check_zone("us-east-1", "us-east-1-bos-1a"), Ok(()));
        for bad in [
            "eu-west-1a",
            "us-east-1",
            "us-east-1ab",
            "us-east-11",
            "a",
            "",
        ] {
            assert!(check_zone("us-east-1", bad).is_err(), "{bad}");
        }
    }

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
