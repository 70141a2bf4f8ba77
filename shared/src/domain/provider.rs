//! The vendors a partner can connect.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// A vendor system the platform integrates with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Autotask PSA (Datto/Kaseya).
    Autotask,
    /// HaloPSA.
    Halopsa,
    /// NinjaOne RMM.
    Ninjaone,
    /// ConnectWise PSA (formerly ConnectWise Manage).
    Connectwise,
}

/// What a provider is to the partner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Professional services automation: contracts, seats, tickets.
    Psa,
    /// Remote monitoring and management: organizations and devices.
    Rmm,
}

/// The path or body named a provider we do not integrate with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider {0:?}: expected one of autotask, halopsa, ninjaone, connectwise")]
pub struct UnknownProvider(pub String);

impl Provider {
    /// Every provider, in the order the portal shows their cards.
    pub const ALL: [Provider; 4] = [
        Provider::Autotask,
        Provider::Halopsa,
        Provider::Ninjaone,
        Provider::Connectwise,
    ];

    /// The provider's name in paths, keys and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Autotask => "autotask",
            Provider::Halopsa => "halopsa",
            Provider::Ninjaone => "ninjaone",
            Provider::Connectwise => "connectwise",
        }
    }

    /// The vendor's product name as partners write it.
    pub fn display_name(self) -> &'static str {
        match self {
            Provider::Autotask => "Autotask",
            Provider::Halopsa => "HaloPSA",
            Provider::Ninjaone => "NinjaOne",
            Provider::Connectwise => "ConnectWise PSA",
        }
    }

    /// PSA or RMM.
    pub fn kind(self) -> ProviderKind {
        match self {
            Provider::Autotask | Provider::Halopsa | Provider::Connectwise => ProviderKind::Psa,
            Provider::Ninjaone => ProviderKind::Rmm,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownProvider(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Provider::ALL {
            assert_eq!(p.as_str().parse::<Provider>(), Ok(p));
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
        }
        assert!("Autotask".parse::<Provider>().is_err());
    }
}
