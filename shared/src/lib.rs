//! Everything the msp-integrations functions share: the domain, the ports it needs, the storage
//! back ends behind those ports, and the HTTP API that every Lambda and the local runner serve.
//!
//! The functions in `functions/` only wire: they build an [`api::App`] once per cold start and
//! hand requests to [`api::handle`] (through [`lambda`] on AWS, through the local runner's server
//! on a developer's machine).

pub mod api;
pub mod app;
pub mod aws;
pub mod config;
pub mod context;
pub mod domain;
pub mod jobs;
pub mod lambda;
pub mod metrics;
pub mod ports;
pub mod providers;
pub mod queue;
pub mod sdk_http;
pub mod store;
pub mod telemetry;
pub mod tls;
