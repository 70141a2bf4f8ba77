//! What every handler and job works with, built once per cold start.

use std::{collections::HashMap, sync::Arc};

use crate::{
    config::Settings,
    domain::Provider,
    ports::{Clock, Integration, RunQueue, Secrets, Store},
};

/// The providers this deployment integrates with.
#[derive(Clone, Default)]
pub struct Integrations(HashMap<Provider, Arc<dyn Integration>>);

impl Integrations {
    /// Adds a provider's integration.
    pub fn with(mut self, integration: Arc<dyn Integration>) -> Self {
        self.0.insert(integration.provider(), integration);
        self
    }

    /// A provider's integration, if this build has it.
    pub fn get(&self, provider: Provider) -> Option<&dyn Integration> {
        self.0.get(&provider).map(|i| i.as_ref())
    }
}

/// The API's and the jobs' dependencies.
#[derive(Clone)]
pub struct App {
    /// Everything stored that is not a secret.
    pub store: Arc<dyn Store>,
    /// Partner credentials.
    pub secrets: Arc<dyn Secrets>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Deployment settings.
    pub settings: Arc<Settings>,
    /// Vendor capabilities.
    pub integrations: Integrations,
    /// Where sync runs go; `None` runs them in the request that asked.
    pub queue: Option<Arc<dyn RunQueue>>,
}
