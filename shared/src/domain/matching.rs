//! Auto-match of platform organizations to vendor organizations by name (seed 003: "we allow
//! 3 characters difference between the two names"), only where the best match is unique.

use serde::Serialize;

use super::OrgId;

/// Most edits (insertions, deletions, substitutions) between normalized names.
pub const MAX_DISTANCE: usize = 3;

/// Legal-form words that say nothing about which customer it is.
const NOISE: [&str; 16] = [
    "inc",
    "incorporated",
    "llc",
    "ltd",
    "limited",
    "corp",
    "corporation",
    "co",
    "company",
    "gmbh",
    "plc",
    "pty",
    "pte",
    "sa",
    "bv",
    "the",
];

/// A name as compared: lower case, letters and digits, `&` as `and`, legal forms dropped.
pub fn normalize(name: &str) -> String {
    let spaced: String = name
        .to_lowercase()
        .replace('&', " and ")
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    spaced
        .split_whitespace()
        .filter(|w| !NOISE.contains(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A vendor organization that could be linked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// Vendor id.
    pub id: i64,
    /// Vendor name.
    pub name: String,
    /// Edits between the normalized names.
    pub distance: usize,
}

/// What auto-match decided for one platform organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatchOutcome {
    /// One best candidate within the distance.
    Matched(Candidate),
    /// Several candidates share the best distance, or the best one is also another
    /// organization's best: the partner picks.
    Ambiguous(Vec<Candidate>),
    /// Nothing within the distance.
    Unmatched,
}

/// Matches each platform organization against the vendor organizations still free to link.
/// A vendor organization that is the unique best of two platform organizations is ambiguous
/// for both, so one run never links two organizations to it.
pub fn auto_match(
    platform: &[(OrgId, String)],
    vendor: &[(i64, String)],
) -> Vec<(OrgId, MatchOutcome)> {
    let vendor: Vec<(i64, &String, String)> = vendor
        .iter()
        .map(|(id, name)| (*id, name, normalize(name)))
        .collect();
    let mut outcomes: Vec<(OrgId, MatchOutcome)> = platform
        .iter()
        .map(|(org, name)| {
            let wanted = normalize(name);
            let mut close: Vec<Candidate> = vendor
                .iter()
                .filter(|(_, _, n)| !wanted.is_empty() && !n.is_empty())
                .map(|(id, original, n)| Candidate {
                    id: *id,
                    name: (*original).clone(),
                    distance: strsim::levenshtein(&wanted, n),
                })
                .filter(|c| c.distance <= MAX_DISTANCE)
                .collect();
            close.sort_by_key(|c| (c.distance, c.id));
            let outcome = match close.as_slice() {
                [] => MatchOutcome::Unmatched,
                [best] => MatchOutcome::Matched(best.clone()),
                [best, second, ..] if best.distance < second.distance => {
                    MatchOutcome::Matched(best.clone())
                }
                _ => {
                    let best = close[0].distance;
                    MatchOutcome::Ambiguous(
                        close.into_iter().filter(|c| c.distance == best).collect(),
                    )
                }
            };
            (org.clone(), outcome)
        })
        .collect();
    let chosen: Vec<i64> = outcomes
        .iter()
        .filter_map(|(_, o)| match o {
            MatchOutcome::Matched(c) => Some(c.id),
            _ => None,
        })
        .collect();
    for (_, outcome) in &mut outcomes {
        if let MatchOutcome::Matched(c) = outcome
            && chosen.iter().filter(|id| **id == c.id).count() > 1
        {
            *outcome = MatchOutcome::Ambiguous(vec![c.clone()]);
        }
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(s: &str) -> OrgId {
        OrgId::new(s).unwrap()
    }

    #[test]
    fn normalizing_drops_case_punctuation_and_legal_forms() {
        assert_eq!(normalize("Acme Dental, Inc."), "acme dental");
        assert_eq!(normalize("SMITH & SONS LLC"), "smith and sons");
        assert_eq!(normalize("The O'Brien Group Ltd"), "o brien group");
    }

    /// Real-looking MSP client names.
    #[test]
    fn msp_client_names() {
        let vendor: Vec<(i64, String)> = [
            (1, "Acme Dental Inc"),
            (2, "Smith & Sons Plumbing, LLC"),
            (3, "Northwind Traders"),
            (4, "Northwind Traders Ltd."),
            (5, "Contoso Legal Group"),
            (6, "Fabrikam Medical"),
            (7, "Fabrikam Medica"),
            (8, "Bluebird Veterinary Clinic"),
            (9, "Tailspin Toys GmbH"),
            (10, "Wide World Importers"),
        ]
        .into_iter()
        .map(|(id, n)| (id, n.to_owned()))
        .collect();
        let platform: Vec<(OrgId, String)> = [
            ("acme", "ACME Dental, Inc."),
            ("smith", "Smith and Sons Plumbing"),
            ("northwind", "Northwind Traders"),
            ("contoso", "Contoso Legal Grp"),
            ("fabrikam", "Fabrikam Medical Centre"),
            ("bluebird", "Blue Bird Veterinary Clinic"),
            ("tailspin", "Tailspin Toys"),
            ("woodgrove", "Woodgrove Bank"),
            ("wideworld", "Wide World Imports"),
        ]
        .into_iter()
        .map(|(o, n)| (org(o), n.to_owned()))
        .collect();
        let outcomes: std::collections::HashMap<String, MatchOutcome> =
            auto_match(&platform, &vendor)
                .into_iter()
                .map(|(o, m)| (o.to_string(), m))
                .collect();
        let matched = |o: &str| match &outcomes[o] {
            MatchOutcome::Matched(c) => Some(c.id),
            _ => None,
        };
        assert_eq!(matched("acme"), Some(1), "case, punctuation, Inc");
        assert_eq!(matched("smith"), Some(2), "& vs and, LLC");
        assert_eq!(matched("contoso"), Some(5), "Grp: 2 edits");
        assert_eq!(matched("bluebird"), Some(8), "one space");
        assert_eq!(matched("tailspin"), Some(9), "GmbH");
        assert_eq!(
            matched("wideworld"),
            Some(10),
            "Imports vs Importers: 2 edits"
        );
        // "Northwind Traders" and "Northwind Traders Ltd." normalize alike: ambiguous.
        assert!(matches!(&outcomes["northwind"], MatchOutcome::Ambiguous(c) if c.len() == 2));
        // "Fabrikam Medical Centre" is 7 edits from either: unmatched.
        assert_eq!(outcomes["fabrikam"], MatchOutcome::Unmatched);
        assert_eq!(outcomes["woodgrove"], MatchOutcome::Unmatched);
    }

    #[test]
    fn one_vendor_org_is_never_linked_twice_in_a_run() {
        let vendor = vec![(1, "Acme".to_owned())];
        let platform = vec![
            (org("a"), "Acme".to_owned()),
            (org("b"), "Acme.".to_owned()),
        ];
        for (_, outcome) in auto_match(&platform, &vendor) {
            assert!(matches!(outcome, MatchOutcome::Ambiguous(_)));
        }
    }
}
