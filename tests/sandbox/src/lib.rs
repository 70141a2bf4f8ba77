//! Sandbox vendor servers (Autotask, ConnectWise PSA, HaloPSA, NinjaOne) on loopback that behave like the real vendors for every call the
//! product makes: wire format, authentication, limits, error shapes, and injectable faults.
//! The tests and the local runner's sandbox mode both use them.

pub mod autotask;
pub mod connectwise;
pub mod halopsa;
pub mod ninjaone;
mod server;

pub use server::{Fault, FaultKind};
