//! A partner's connection to one provider: where their vendor instance lives and how healthy the
//! link is. The credentials themselves live behind the `Secrets` port, never here.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Provider;

/// Where a connection stands, as the integration card shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Never connected, or revoked. Not stored: the absence of a connection means this.
    NotConnected,
    /// Credentials work; syncs run.
    Connected,
    /// The vendor refused our credentials or refresh token; the partner must connect again.
    NeedsReconnect,
    /// The last attempt failed for another reason (see `last_error`); syncs keep trying.
    Error,
}

impl ConnectionStatus {
    /// Whether scheduled syncs should run for a connection in this state.
    pub fn is_active(self) -> bool {
        matches!(self, ConnectionStatus::Connected | ConnectionStatus::Error)
    }
}

/// NinjaOne's regional instances: a fixed list, so no partner input ever picks a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NinjaRegion {
    /// app.ninjarmm.com
    Us,
    /// us2.ninjarmm.com
    Us2,
    /// eu.ninjarmm.com
    Eu,
    /// oc.ninjarmm.com
    Oc,
    /// ca.ninjarmm.com
    Ca,
    /// NinjaOne for US government.
    Fed,
}

/// The vendor instance a connection points at: not secret, shown on the card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum VendorInstance {
    /// Autotask: the zone the API user lives in and the partner's database id (`ci`).
    Autotask {
        /// REST base of the zone, e.g. `https://webservices5.autotask.net/ATServicesRest/`.
        zone_url: String,
        /// The zone's web UI, for links back to Autotask.
        web_url: String,
        /// The partner's Autotask database id; a re-connect must keep it.
        database_id: i64,
    },
    /// HaloPSA: the partner's site and, for hosted instances, the tenant name.
    Halopsa {
        /// `https://partner.halopsa.com`
        site_url: String,
        /// Hosted tenant, when the instance needs one.
        tenant: Option<String>,
        /// The authorisation server, as `/api/authinfo` named it (or `{site}/auth`).
        auth_url: String,
    },
    /// NinjaOne: the region whose instance the partner's account lives in.
    Ninjaone {
        /// One of the fixed regions.
        region: NinjaRegion,
    },
    /// ConnectWise PSA: the API host, the partner's login company and the codebase
    /// `login/companyinfo` named (it moves when a cloud instance is upgraded).
    Connectwise {
        /// The API host, `api-na.myconnectwise.net` or an on-premise host (the sandbox's
        /// `http://` origin in sandbox mode).
        site: String,
        /// The login company id (short name); a re-connect must keep it.
        company_id: String,
        /// Codebase path segment, `v4_6_release/` or `v2025_1/`.
        codebase: String,
    },
}

impl VendorInstance {
    /// The provider this instance belongs to.
    pub fn provider(&self) -> Provider {
        match self {
            VendorInstance::Autotask { .. } => Provider::Autotask,
            VendorInstance::Halopsa { .. } => Provider::Halopsa,
            VendorInstance::Ninjaone { .. } => Provider::Ninjaone,
            VendorInstance::Connectwise { .. } => Provider::Connectwise,
        }
    }
}

/// A partner's stored connection to one provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// Current state.
    pub status: ConnectionStatus,
    /// Which vendor instance.
    pub instance: VendorInstance,
    /// Name of the secret holding the credentials (a name, never the value).
    pub secret_name: String,
    /// When the partner connected.
    #[serde(with = "time::serde::rfc3339")]
    pub connected_at: OffsetDateTime,
    /// When anything about the connection last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The last failure, in words the partner can act on (the vendor's own message where it had one).
    pub last_error: Option<String>,
    /// Optimistic-concurrency version, set by the store.
    #[serde(default)]
    pub version: u64,
}

impl Connection {
    /// The provider this connection is to.
    pub fn provider(&self) -> Provider {
        self.instance.provider()
    }
}
